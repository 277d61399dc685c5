"""Note lists at another resolution, and one after another (pure; the bridge's ``NotesData`` only)."""
from __future__ import annotations

from muselink.bridge.payloads import Note, NotesData


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
