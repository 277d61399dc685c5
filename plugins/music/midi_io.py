"""Input checks and MIDI conversion: ``NotesData`` ↔ standard MIDI files (mido), with provenance."""
from __future__ import annotations

from muselink.bridge.payloads import BlobData, NotesData
from muselink.core.api import MIDI_MEDIA_TYPES, midi_from_notes, notes_from_midi

MIN_BPM, MAX_BPM = 20.0, 300.0


def as_notes(payload, where: str = "input 'notes'") -> NotesData:
    """A NotesData or a MIDI blob → NotesData, or ValueError saying what is wrong."""
    if isinstance(payload, BlobData):
        if payload.media_type not in MIDI_MEDIA_TYPES:
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
    """A MIDI file → NotesData for the model: drums (channel 10) dropped, tempo and ppq checked."""
    notes = notes_from_midi(data, where)
    check_timing(notes.bpm, notes.ppq, where)
    pitched = tuple(n for n in notes.notes if n.channel != 9)
    return NotesData(notes=pitched, ppq=notes.ppq, bpm=notes.bpm, time_signature=notes.time_signature, key=notes.key)


def to_midi(notes: NotesData, provenance: dict, title: str = "muselink") -> bytes:
    """A type-0 MIDI file of ``notes`` with tempo, meter, key and a text event carrying ``provenance``."""
    return midi_from_notes(notes, provenance, title)
