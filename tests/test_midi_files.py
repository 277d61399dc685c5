"""DAW bridge, file workflows: MIDI file round trip, continue/infill/watch with a fake client, CLI errors."""
import os
import subprocess
import sys

import pytest

from muselink.bridge import protocol as P
from muselink.bridge.payloads import BlobData, Note, NotesData
from muselink.core.demo import free_endpoint
from muselink.core.midifile import midi_from_notes, notes_from_midi
from muselink.plugins.hosts import midi_files as files
from muselink.plugins.hosts.midi_files import notes_from_payloads

PHRASE = NotesData((Note(0, 240, 60, 90), Note(240, 240, 64, 80), Note(480, 480, 67, 70, 1)), ppq=480, bpm=96.0,
                   time_signature=(3, 4))
ANSWER = NotesData((Note(960, 480, 72), Note(1440, 480, 71)), ppq=480, bpm=96.0, time_signature=(3, 4))


class FakeClient:
    """Stands in for the bridge client: answers with given notes (or the midi blob) and records calls."""

    def __init__(self, answer=ANSWER, as_blob=False):
        self.calls = []
        self.answer = answer
        self.as_blob = as_blob

    def run(self, capability, payloads, params, timeout=None):
        self.calls.append((capability, payloads, params))
        payload = BlobData("audio/midi", midi_from_notes(self.answer)) if self.as_blob else self.answer
        return P.Result(job="j1", payloads={"midi" if self.as_blob else "notes": payload})


def test_midi_file_round_trip_keeps_notes_tempo_and_meter():
    """NotesData -> .mid bytes -> NotesData gives the same notes, tempo and time signature."""
    back = notes_from_midi(midi_from_notes(PHRASE))
    assert back.notes == PHRASE.notes and back.bpm == pytest.approx(96.0) and back.time_signature == (3, 4)


def test_broken_midi_file_is_a_clear_error():
    """Bytes that are not a MIDI file raise ValueError naming the file."""
    with pytest.raises(ValueError, match="song.mid is not a valid standard MIDI file"):
        notes_from_midi(b"RIFF....", "song.mid")


def test_answer_payload_may_be_notes_or_a_midi_blob():
    """A result with only the midi blob is parsed; one with neither is a clear error."""
    blob = {"midi": BlobData("audio/midi", midi_from_notes(ANSWER))}
    assert notes_from_payloads(blob).notes == ANSWER.notes
    with pytest.raises(ValueError, match="no notes"):
        notes_from_payloads({"image": object()})


def test_continue_file_writes_input_then_answer(tmp_path):
    """`midi continue` sends the file's notes with the sampling params and writes input + continuation."""
    src, dst = tmp_path / "in.mid", tmp_path / "out" / "out.mid"
    src.write_bytes(midi_from_notes(PHRASE))
    client = FakeClient(as_blob=True)
    files.continue_file(client, src, dst, {"bars": 2, "seed": 3})
    cap, payloads, params = client.calls[0]
    assert cap == "music.continue" and params == {"bars": 2, "seed": 3}
    assert payloads["notes"].notes == PHRASE.notes
    assert notes_from_midi(dst.read_bytes()).notes == PHRASE.notes + ANSWER.notes


def test_continue_file_answer_only(tmp_path):
    """--answer-only writes just the new notes."""
    src, dst = tmp_path / "in.mid", tmp_path / "out.mid"
    src.write_bytes(midi_from_notes(PHRASE))
    files.continue_file(FakeClient(), src, dst, {}, answer_only=True)
    assert notes_from_midi(dst.read_bytes()).notes == ANSWER.notes


def test_infill_passes_the_bar_span_and_writes_the_whole_piece(tmp_path):
    """`midi infill --from 1 --to 3` asks music.infill for bars 1..3 and writes the piece it returns."""
    src, dst = tmp_path / "in.mid", tmp_path / "filled.mid"
    src.write_bytes(midi_from_notes(PHRASE))
    whole = NotesData(PHRASE.notes + ANSWER.notes, 480, 96.0, (3, 4))
    client = FakeClient(answer=whole)
    files.infill_file(client, src, dst, 1, 3, {"seed": 1})
    assert client.calls[0][0] == "music.infill" and client.calls[0][2] == {"seed": 1, "from_bar": 1, "to_bar": 3}
    assert notes_from_midi(dst.read_bytes()).notes == whole.notes
    with pytest.raises(ValueError, match="--to"):
        files.infill_file(client, src, dst, 3, 2, {})


def test_infill_keeps_the_bars_outside_the_span_when_the_model_returns_only_the_span(tmp_path):
    """Bars outside --from/--to come from the input; bars inside from the model."""
    piece = NotesData(tuple(Note(i * 480, 480, 60 + i) for i in range(12)), 480, 120.0, (4, 4))  # 3 bars
    src, dst = tmp_path / "in.mid", tmp_path / "filled.mid"
    src.write_bytes(midi_from_notes(piece))
    span_only = NotesData((Note(1920, 960, 80), Note(2880, 960, 81)), 480, 120.0, (4, 4))
    out = files.infill_file(FakeClient(answer=span_only), src, dst, 2, 2, {})
    assert [n.pitch for n in out.notes] == [60, 61, 62, 63, 80, 81, 68, 69, 70, 71]
    assert notes_from_midi(dst.read_bytes()).notes == out.notes


def test_empty_or_missing_input_file_is_a_clear_error(tmp_path):
    """A missing file or one without notes is refused before anything is sent."""
    client = FakeClient()
    with pytest.raises(ValueError, match="not found"):
        files.continue_file(client, tmp_path / "nope.mid", tmp_path / "o.mid", {})
    empty = tmp_path / "empty.mid"
    empty.write_bytes(midi_from_notes(NotesData(())))
    with pytest.raises(ValueError, match="no notes"):
        files.continue_file(client, empty, tmp_path / "o.mid", {})
    assert client.calls == []


def test_watch_answers_each_new_file_once_and_reports_bad_ones(tmp_path):
    """The drop folder gets <name>.muselink.mid beside each .mid; answers and broken files are not re-sent."""
    (tmp_path / "a.mid").write_bytes(midi_from_notes(PHRASE))
    (tmp_path / "b.midi").write_bytes(midi_from_notes(PHRASE))
    (tmp_path / "broken.mid").write_bytes(b"nope")
    (tmp_path / "notes.txt").write_text("ignored")
    client, lines = FakeClient(), []
    assert files.watch(client, tmp_path, {"bars": 1}, once=True, report=lines.append) == 2
    assert (tmp_path / "a.muselink.mid").exists() and (tmp_path / "b.muselink.mid").exists()
    assert notes_from_midi((tmp_path / "a.muselink.mid").read_bytes()).notes == ANSWER.notes
    assert any("broken.mid" in line and "not a valid standard MIDI file" in line for line in lines)
    assert files.watch(client, tmp_path, {"bars": 1}, once=True, report=lines.append) == 0
    assert len(client.calls) == 2


def test_watch_waits_for_a_file_to_stop_growing(tmp_path):
    """In watch mode a file is answered only after its size has settled."""
    (tmp_path / "late.mid").write_bytes(midi_from_notes(PHRASE))
    client = FakeClient()
    stop_after = {"n": 0}

    def stop():
        stop_after["n"] += 1
        return stop_after["n"] > 3

    files.watch(client, tmp_path, {}, interval=0.01, settle=0.0, stop=stop, report=lambda line: None)
    assert (tmp_path / "late.muselink.mid").exists() and len(client.calls) == 1


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "muselink.core.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_cli_bridge_without_jack_or_alsa_says_what_to_start():
    """`muselink midi bridge --api jack` with no JACK server exits 1 and says how to start one."""
    proc = run_cli("midi", "bridge", "--api", "jack", "--duration", "1",
                   env={"JACK_DEFAULT_SERVER": f"muselink-absent-{os.getpid()}", "JACK_NO_START_SERVER": "1"})
    assert proc.returncode == 1
    assert "no JACK server is running" in proc.stderr and "jackd" in proc.stderr


def test_cli_continue_with_daemon_down_is_one_clear_line(tmp_path):
    """`muselink midi continue` against no daemon fails with 'muselink serve' in the message, no traceback."""
    src = tmp_path / "in.mid"
    src.write_bytes(midi_from_notes(PHRASE))
    proc = run_cli("midi", "continue", str(src), "-o", str(tmp_path / "o.mid"), "--endpoint", free_endpoint(),
                   "--timeout", "0.5")
    assert proc.returncode == 1 and "muselink serve" in proc.stderr and "Traceback" not in proc.stderr
