"""Wire protocol: pure encode/decode round trips and every malformed case."""
import json

import numpy as np
import pytest

from muselink.bridge import protocol as P
from muselink.bridge.payloads import BlobData, ImageData, Note, NotesData, ProtocolError


def roundtrip(message, registry):
    frames = [bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in P.encode(message)]
    return P.decode(frames, registry)


def test_every_client_message_round_trips():
    """Each client→daemon message decodes to an equal message."""
    img = ImageData.from_numpy(np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4))
    for msg in (P.Hello(client="krita"), P.StatusRequest(), P.Cancel(job="j1"), P.Ping(nonce=7)):
        assert roundtrip(msg, P.CLIENT_MESSAGES) == msg
    sub = roundtrip(P.Submit(job="j", capability="style.fast", params={"style": "mosaic"},
                             payloads={"image": img}, session="live"), P.CLIENT_MESSAGES)
    assert (sub.job, sub.capability, sub.params, sub.session) == ("j", "style.fast", {"style": "mosaic"}, "live")
    assert np.array_equal(sub.payloads["image"].to_numpy(), img.to_numpy())


def test_every_daemon_message_round_trips():
    """Each daemon→client message decodes to an equal message (payloads compared by content)."""
    plain = (P.Status(protocol=1, daemon_version="0.1", capabilities=[{"name": "x"}], lanes={"heavy": {}}),
             P.Accepted(job="j", lane="heavy", position=2), P.Cancelled(job="j", reason="superseded"),
             P.Error(code="bad_parameter", message="nope", job="j", traceback="tb"), P.Pong(nonce=3))
    for msg in plain:
        assert roundtrip(msg, P.DAEMON_MESSAGES) == msg
    preview = ImageData.from_numpy(np.zeros((4, 4, 3), np.uint8))
    prog = roundtrip(P.Progress(job="j", fraction=0.5, message="half", step=5, total=10,
                                payloads={"preview": preview}), P.DAEMON_MESSAGES)
    assert (prog.fraction, prog.step, prog.total, prog.preview.width) == (0.5, 5, 10, 4)
    notes = NotesData(notes=(Note(0, 480, 60, 90, 0), Note(480, 240, 62)), ppq=480, bpm=96.0, key="C major")
    res = roundtrip(P.Result(job="j", payloads={"notes": notes, "midi": BlobData("audio/midi", b"MThd")},
                             meta={"seed": 1}), P.DAEMON_MESSAGES)
    assert res.payloads["notes"] == notes and res.payloads["midi"].to_bytes() == b"MThd" and res.meta == {"seed": 1}


def test_image_frames_are_sent_without_copying():
    """The encoded frame is the caller's numpy buffer itself, not a copy."""
    array = np.zeros((8, 8, 4), np.uint8)
    frames = P.encode(P.Submit(job="j", capability="c", payloads={"image": ImageData.from_numpy(array)}))
    assert frames[3] is array


def test_strided_image_buffer_is_read_row_by_row():
    """A stride wider than the row is honoured when viewing the pixels."""
    rows = np.zeros((2, 16), np.uint8)
    rows[:, :12] = np.arange(12)
    img = ImageData.from_frame({"width": 3, "height": 2, "channels": 4, "stride": 16}, rows.tobytes(), "t")
    assert img.to_numpy().shape == (2, 3, 4) and img.to_numpy()[1, 2, 3] == 11


def frames_of(command, header, *binary, tag=P.TAG):
    return [tag, command.encode(), json.dumps(header).encode() if not isinstance(header, bytes) else header, *binary]


@pytest.mark.parametrize("frames, code, fragment", [
    ([P.TAG, b"hello"], "frame_count", "at least 3 frames"),
    (frames_of("hello", {}, tag=b"zmtp-junk"), "bad_tag", "protocol tag"),
    (frames_of("hello", {}, tag=b"muselink/9"), "protocol_version", "muselink/9"),
    (frames_of("dance", {}), "unknown_command", "'dance'"),
    (frames_of("submit", b"{not json"), "bad_json", "not valid JSON"),
    (frames_of("submit", b"[1, 2]"), "bad_json", "JSON object"),
    (frames_of("submit", {"job": 5, "capability": "x"}), "bad_message", "'job'"),
    (frames_of("submit", {"job": "j", "capability": ""}), "bad_message", "'capability'"),
    (frames_of("submit", {"job": "j", "capability": "x", "params": []}), "bad_message", "'params'"),
    (frames_of("cancel", {"job": "j"}, b"extra"), "frame_count", "takes no binary frames"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {
        "image": {"kind": "image", "width": 4, "height": 4, "channels": 4, "frame": 0}}}, b"\0" * 60),
     "frame_size", "60 bytes but its header says 64"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {
        "image": {"kind": "image", "width": 4, "height": 4, "channels": 4, "frame": 1}}}, b"\0" * 64),
     "frame_count", "refers to frame 1"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {}}, b"stray"), "frame_count", "uses 0"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {
        "image": {"kind": "image", "width": 4, "height": 4, "channels": 7, "frame": 0}}}, b"\0" * 112),
     "bad_message", "'channels'"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {
        "image": {"kind": "video", "frame": 0}}}, b"\0"), "bad_message", "'kind'"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {
        "notes": {"kind": "notes", "ppq": 480, "bpm": 120, "notes": [[0, 0, 60, 90, 0]]}}}),
     "bad_message", "notes[0] out of range"),
    (frames_of("submit", {"job": "j", "capability": "x", "payloads": {
        "notes": {"kind": "notes", "ppq": 480, "bpm": 4000, "notes": []}}}), "bad_message", "'bpm'"),
])
def test_malformed_message_is_refused_with_a_named_problem(frames, code, fragment):
    """Every malformed message raises ProtocolError with a code and a message naming the problem."""
    with pytest.raises(ProtocolError) as info:
        P.decode(frames, P.CLIENT_MESSAGES)
    assert info.value.code == code
    assert fragment in info.value.message


def test_job_id_is_recovered_from_a_message_that_fails_validation():
    """An error reply can name the job even when the rest of the message is bad."""
    frames = frames_of("submit", {"job": "j42", "capability": 3})
    assert P.job_of(frames) == "j42"
    assert P.job_of([b"a", b"b", b"{bad"]) is None


def test_strided_image_rows_and_packed_bytes_drop_the_padding():
    """rows()/packed() give the pixels without stride padding, with or without numpy."""
    rows = np.zeros((2, 16), np.uint8)
    rows[:, :12] = np.arange(12)
    img = ImageData.from_frame({"width": 3, "height": 2, "channels": 4, "stride": 16}, rows.tobytes(), "t")
    assert img.rows() == [bytes(range(12))] * 2
    assert img.packed() == bytes(range(12)) * 2
    tight = ImageData.from_numpy(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert tight.packed() == bytes(range(24))
