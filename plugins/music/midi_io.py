"""Input checks and MIDI conversion: ``NotesData`` ↔ standard MIDI files (mido), with provenance."""
from __future__ import annotations

import io
import json

from muselink.bridge.payloads import BlobData, Note, NotesData

MIN_BPM, MAX_BPM = 20.0, 300.0
MIDI_TYPES = ("audio/midi", "audio/x-midi", "audio/mid")


def as_notes(payload, where: str = "input 'notes'") -> NotesData:
    """A NotesData or a MIDI blob → NotesData, or ValueError saying what is wrong."""
    if isinstance(payload, BlobData):
        if payload.media_type not in MIDI_TYPES:
            raise ValueError(f"{where} must be a standard MIDI file (audio/midi), got {payload.media_type!r}")
        return parse_midi(payload.to_bytes(), where)
    if not isinstance(payload, NotesData):
        raise ValueError(f"{where} must be notes or a MIDI file, got {getattr(payload, 'kind', type(payload).__name__)}")
    return payload


def check_timing(bpm: float, ppq: int, where: str = "input 'notes'") -> None:
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise ValueError(f"{where}: tempo {bpm:g} bpm is outside the supported {MIN_BPM:g}-{MAX_BPM:g} bpm")
    if not 1 <= ppq <= 32767:
        raise ValueError(f"{where}: ticks per quarter (ppq) must be 1-32767, got {ppq}")


def parse_midi(data: bytes, where: str = "input 'notes'") -> NotesData:
    import mido

    if not data:
        raise ValueError(f"{where}: the MIDI file is empty (0 bytes)")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError on corrupt data
        raise ValueError(f"{where} is not a valid standard MIDI file: {exc or type(exc).__name__}") from None
    if mid.type == 2:
        raise ValueError(f"{where}: MIDI type 2 (sequential songs) is not supported; use type 0 or 1")
    if mid.ticks_per_beat <= 0:
        raise ValueError(f"{where}: the MIDI file uses SMPTE time, which is not supported; use ticks per beat")
    tempo, ts, key = None, None, None
    notes = []
    for track in mid.tracks:
        now, open_notes = 0, {}
        for msg in track:
            now += msg.time
            if msg.type == "set_tempo" and tempo is None:
                tempo = msg.tempo
            elif msg.type == "time_signature" and ts is None:
                ts = (msg.numerator, msg.denominator)
            elif msg.type == "key_signature" and key is None:
                key = msg.key
            elif msg.type == "note_on" and msg.velocity > 0:
                if msg.channel == 9:
                    continue  # drums
                open_notes.setdefault((msg.channel, msg.note), []).append((now, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                stack = open_notes.get((msg.channel, msg.note))
                if stack:
                    start, vel = stack.pop(0)
                    if now > start:
                        notes.append(Note(start, now - start, msg.note, vel, msg.channel))
    bpm = 60_000_000 / tempo if tempo else 120.0
    check_timing(bpm, mid.ticks_per_beat, where)
    if key:
        key = f"{key[:-1]} minor" if key.endswith("m") else f"{key} major"
    return NotesData(notes=tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), ppq=mid.ticks_per_beat,
                     bpm=round(bpm, 3), time_signature=ts or (4, 4), key=key)


def mido_key(key_name: str) -> str:
    tonic, mode = key_name.split()
    return tonic + ("m" if mode == "minor" else "")


def to_midi(notes: NotesData, provenance: dict, title: str = "muselink") -> bytes:
    """A type-0 MIDI file of ``notes`` with tempo, meter, key and a text event carrying ``provenance``."""
    import mido

    mid = mido.MidiFile(type=0, ticks_per_beat=notes.ppq)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    events = [(0, 0, mido.MetaMessage("track_name", name=title, time=0)),
              (0, 0, mido.MetaMessage("text", text="muselink " + json.dumps(provenance, sort_keys=True), time=0)),
              (0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(notes.bpm), time=0)),
              (0, 0, mido.MetaMessage("time_signature", numerator=notes.time_signature[0],
                                      denominator=notes.time_signature[1], time=0))]
    if notes.key:
        events.append((0, 0, mido.MetaMessage("key_signature", key=mido_key(notes.key), time=0)))
    for n in notes.notes:
        events.append((n.start, 2, mido.Message("note_on", note=n.pitch, velocity=n.velocity, channel=n.channel)))
        events.append((n.start + n.duration, 1, mido.Message("note_off", note=n.pitch, velocity=0, channel=n.channel)))
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for at, _, msg in events:
        track.append(msg.copy(time=at - now))
        now = at
    track.append(mido.MetaMessage("end_of_track", time=0))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def provenance_of(data: bytes) -> dict | None:
    """The provenance dict from a MIDI file written by :func:`to_midi`, or None."""
    import mido

    for track in mido.MidiFile(file=io.BytesIO(data)).tracks:
        for msg in track:
            if msg.type == "text" and msg.text.startswith("muselink "):
                return json.loads(msg.text[len("muselink "):])
    return None
