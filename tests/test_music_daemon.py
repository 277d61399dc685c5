"""music.* through a real daemon: payloads, provenance, reproducibility, infill span, clear errors."""
from __future__ import annotations

import io

import pytest

pytest.importorskip("miditok")
mido = pytest.importorskip("mido")

from muselink.bridge.client import JobFailed  # noqa: E402
from muselink.bridge.payloads import BlobData, Note, NotesData  # noqa: E402
from muselink.core.midifile import provenance_of  # noqa: E402
from muselink.plugins.music.midi_io import parse_midi, to_midi  # noqa: E402

TUNE = [62, 66, 69, 74, 73, 69, 71, 73, 74, 73, 71, 69, 67, 66, 64, 62]  # D major, eighths


def tune(ppq=480, key="D major") -> NotesData:
    return NotesData(notes=tuple(Note(i * ppq // 2, ppq // 2, p, 96, 2) for i, p in enumerate(TUNE)), ppq=ppq,
                     bpm=96.0, time_signature=(4, 4), key=key)


def midi_bytes(notes=True, bpm=120.0) -> bytes:
    mid = mido.MidiFile(ticks_per_beat=96)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    if notes:
        for p in (60, 62, 64, 65, 67, 65, 64, 62):
            track.append(mido.Message("note_on", note=p, velocity=80, time=0))
            track.append(mido.Message("note_off", note=p, velocity=0, time=96))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def test_continue_returns_only_new_notes_and_a_midi_file_with_provenance(client):
    """music.continue gives NotesData of new notes after the input plus a MIDI file whose text event names model, seed, params."""
    result = client.run("music.continue", {"notes": tune()}, {"bars": 2, "seed": 5}, timeout=120)
    notes, midi = result.payloads["notes"], result.payloads["midi"]
    assert isinstance(notes, NotesData) and notes.notes
    assert notes.ppq == 480 and notes.bpm == 96.0 and notes.key == "D major"
    assert min(n.start for n in notes.notes) >= 16 * 240
    assert max(n.start + n.duration for n in notes.notes) <= 16 * 240 + 2 * 1920
    assert {n.channel for n in notes.notes} == {2}
    assert result.meta["seed"] == 5 and len(result.meta["model_hash"]) == 16
    assert isinstance(midi, BlobData) and midi.media_type == "audio/midi"
    prov = provenance_of(midi.to_bytes())
    assert prov["model_hash"] == result.meta["model_hash"] and prov["seed"] == 5 and prov["params"]["bars"] == 2
    back = parse_midi(midi.to_bytes())
    assert [(n.start, n.duration, n.pitch) for n in back.notes] == [(n.start, n.duration, n.pitch) for n in notes.notes]


def test_continue_accepts_a_midi_file_and_the_same_seed_repeats(client):
    """A standard MIDI file works as input, and two runs with one seed give identical notes."""
    blob = BlobData("audio/midi", to_midi(tune(ppq=96), {}))
    a = client.run("music.continue", {"notes": blob}, {"bars": 1, "seed": 123}, timeout=120)
    b = client.run("music.continue", {"notes": blob}, {"bars": 1, "seed": 123}, timeout=120)
    assert a.payloads["notes"].notes == b.payloads["notes"].notes
    assert a.payloads["notes"].ppq == 96
    assert a.meta["seed"] == 123


def test_infill_changes_only_the_requested_bars(client):
    """music.infill from_bar 2 to_bar 3 returns notes inside bars 2-3 only (1-based bars)."""
    long = NotesData(notes=tuple(Note(i * 480, 480, p) for i, p in enumerate(TUNE)), ppq=480, bpm=100.0,
                     time_signature=(4, 4), key="D major")
    result = client.run("music.infill", {"notes": long}, {"from_bar": 2, "to_bar": 3, "seed": 9}, timeout=120)
    new = result.payloads["notes"].notes
    assert new and all(1920 <= n.start and n.start + n.duration <= 3 * 1920 for n in new)
    assert result.meta["start_tick"] == 1920 and result.meta["end_tick"] == 3 * 1920


def test_generate_makes_music_in_the_requested_key_meter_and_tempo(client):
    """music.generate with key/meter/tempo/style returns notes in that frame."""
    result = client.run("music.generate", {}, {"bars": 4, "key": "g minor", "meter": "3/4", "tempo": 72,
                                               "style": "folk", "seed": 2}, timeout=120)
    notes = result.payloads["notes"]
    assert notes.notes and notes.time_signature == (3, 4) and notes.bpm == 72.0 and notes.key == "G minor"
    assert max(n.start + n.duration for n in notes.notes) <= 4 * 3 * 480


@pytest.mark.parametrize("payload, params, message", [
    (BlobData("audio/midi", b""), {}, "empty"),
    (BlobData("audio/midi", b"MThd\x00\x00\x00\x06garbage-not-midi"), {}, "not a valid standard MIDI file"),
    (BlobData("audio/midi", midi_bytes(notes=False)), {}, "no notes"),
    (BlobData("audio/midi", midi_bytes(bpm=5000)), {}, "tempo 5000 bpm"),
    (BlobData("image/png", b"\x89PNG"), {}, "audio/midi"),
    (NotesData(notes=(), ppq=480), {}, "no notes"),
    (NotesData(notes=(Note(0, 480, 60),), ppq=480, bpm=350.0), {}, "tempo 350 bpm"),
    (NotesData(notes=(Note(0, 480, 60),), ppq=480, time_signature=(7, 8)), {}, "time signature 7/8"),
])
def test_bad_input_gets_a_clear_error_from_the_daemon(client, payload, params, message):
    """Empty/corrupt MIDI, no notes, absurd tempo, unsupported meter → a bad_input error that says so."""
    with pytest.raises(JobFailed) as err:
        client.run("music.continue", {"notes": payload}, params, timeout=60)
    assert err.value.reply.code == "bad_input"
    assert message in err.value.reply.message


def test_generate_with_a_nonsense_key_names_the_key(client):
    """A key that is not a key is refused with a message naming the key."""
    with pytest.raises(JobFailed, match="key"):
        client.run("music.generate", {}, {"key": "Q lydian"}, timeout=60)
