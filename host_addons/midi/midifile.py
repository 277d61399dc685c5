"""Note lists from results, tick rescaling and joining; MIDI files via :mod:`muselink.core.midifile`."""
from __future__ import annotations

from muselink.bridge.payloads import BlobData, Note, NotesData
from muselink.core.midifile import midi_from_notes, notes_from_midi  # noqa: F401 (re-exported)


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
