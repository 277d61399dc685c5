"""Standard MIDI files <-> :class:`NotesData` (in memory; no ports)."""
from __future__ import annotations

import io

import mido

from muselink.bridge.payloads import BlobData, Note, NotesData


def _key_name(mido_key: str) -> str:
    """mido's key_signature (``C``, ``F#``, ``Bbm``) -> ``C major`` / ``bb minor``."""
    if mido_key.endswith("m"):
        return f"{mido_key[:-1].lower()} minor"
    return f"{mido_key} major"


def notes_from_midi(data: bytes, where: str = "MIDI file") -> NotesData:
    """Parse a type 0/1 MIDI file: all tracks merged, first tempo/meter/key kept."""
    try:
        mid = mido.MidiFile(file=io.BytesIO(bytes(data)))
    except Exception as exc:  # mido raises OSError/EOFError/KeyError/ValueError on broken files
        raise ValueError(f"{where} is not a readable MIDI file ({str(exc) or type(exc).__name__})") from None
    if mid.type == 2:
        raise ValueError(f"{where} is a type 2 MIDI file (independent patterns); save it as type 0 or 1")
    bpm, ts, key = None, None, None
    held: dict = {}
    notes = []
    tick = 0
    for msg in mido.merge_tracks(mid.tracks):
        tick += msg.time
        if msg.type == "set_tempo" and bpm is None:
            bpm = mido.tempo2bpm(msg.tempo)
        elif msg.type == "time_signature" and ts is None:
            ts = (msg.numerator, msg.denominator)
        elif msg.type == "key_signature" and key is None:
            key = _key_name(msg.key)
        elif msg.type == "note_on" and msg.velocity > 0:
            held.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
        elif msg.type in ("note_off", "note_on"):
            stack = held.get((msg.channel, msg.note))
            if stack:
                start, velocity = stack.pop(0)
                notes.append(Note(start, max(1, tick - start), msg.note, velocity, msg.channel))
    for (channel, pitch), stack in held.items():  # notes never released end with the file
        for start, velocity in stack:
            notes.append(Note(start, max(1, tick - start), pitch, velocity, channel))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return NotesData(notes=tuple(notes), ppq=mid.ticks_per_beat, bpm=round(bpm or 120.0, 3),
                     time_signature=ts or (4, 4), key=key)


def midi_from_notes(notes: NotesData) -> bytes:
    """A type 0 MIDI file with tempo, meter and the notes."""
    mid = mido.MidiFile(type=0, ticks_per_beat=notes.ppq)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    num, den = notes.time_signature
    events = [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(notes.bpm), time=0)),
              (0, 0, mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))]
    for n in notes.notes:
        events.append((n.start, 2, mido.Message("note_on", note=n.pitch, velocity=max(1, n.velocity), channel=n.channel)))
        events.append((n.start + n.duration, 1, mido.Message("note_off", note=n.pitch, velocity=0, channel=n.channel)))
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def notes_from_payloads(payloads: dict, where: str = "answer") -> NotesData:
    """The ``notes`` payload of a result, or its ``midi`` blob parsed; ValueError when neither."""
    notes = payloads.get("notes")
    if isinstance(notes, NotesData):
        return notes
    for payload in payloads.values():
        if isinstance(payload, BlobData) and payload.media_type in ("audio/midi", "audio/x-midi"):
            return notes_from_midi(payload.to_bytes(), where)
    raise ValueError(f"{where} has no notes: expected a 'notes' or 'midi' payload, got {sorted(payloads)}")


def rescale(notes: NotesData, ppq: int) -> NotesData:
    """The same notes at another ticks-per-quarter."""
    if notes.ppq == ppq:
        return notes
    f = ppq / notes.ppq
    scaled = tuple(Note(round(n.start * f), max(1, round(n.duration * f)), n.pitch, n.velocity, n.channel)
                   for n in notes.notes)
    return NotesData(scaled, ppq, notes.bpm, notes.time_signature, notes.key)


def append(first: NotesData, second: NotesData) -> NotesData:
    """``first`` followed by ``second`` (whose ticks already count from ``first``'s start)."""
    second = rescale(second, first.ppq)
    merged = tuple(sorted(first.notes + second.notes, key=lambda n: (n.start, n.pitch)))
    return NotesData(merged, first.ppq, first.bpm, first.time_signature, first.key)
