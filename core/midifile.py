"""Standard MIDI files ↔ :class:`NotesData`, in memory, with optional provenance (mido).

The one conversion used by the music capabilities, the ``muselink midi`` file commands and the CLI
(published to plugins through :mod:`muselink.core.api`).
"""
from __future__ import annotations

import io
import json

from muselink.bridge.payloads import Note, NotesData

PROVENANCE_PREFIX = "muselink "
MIDI_MEDIA_TYPES = ("audio/midi", "audio/x-midi", "audio/mid")  # what a blob holding a MIDI file may be labelled


def _key_name(mido_key: str) -> str:
    """mido's key_signature (``C``, ``F#``, ``Bbm``) → ``C major`` / ``Bb minor``."""
    return f"{mido_key[:-1]} minor" if mido_key.endswith("m") else f"{mido_key} major"


def mido_key(key_name: str) -> str:
    """``C major`` / ``Bb minor`` → mido's ``C`` / ``Bbm``."""
    tonic, mode = key_name.split()
    return tonic[0].upper() + tonic[1:] + ("m" if mode == "minor" else "")


def notes_from_midi(data: bytes, where: str = "MIDI file") -> NotesData:
    """Parse a type 0/1 MIDI file: tracks merged, the first tempo/meter/key kept; notes still
    held at the end of the file end there. Raises ValueError saying what is wrong."""
    import mido

    data = bytes(data)
    if not data:
        raise ValueError(f"{where}: the MIDI file is empty (0 bytes)")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises OSError, EOFError, KeyError, ValueError on broken files
        raise ValueError(f"{where} is not a valid standard MIDI file ({str(exc) or type(exc).__name__})") from None
    if mid.type == 2:
        raise ValueError(f"{where} is a type 2 MIDI file (independent patterns); save it as type 0 or 1")
    if mid.ticks_per_beat <= 0:
        raise ValueError(f"{where} uses SMPTE time, which is not supported; save it with ticks per beat")
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
    for (channel, pitch), stack in held.items():
        for start, velocity in stack:
            notes.append(Note(start, max(1, tick - start), pitch, velocity, channel))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return NotesData(notes=tuple(notes), ppq=mid.ticks_per_beat, bpm=round(bpm or 120.0, 3),
                     time_signature=ts or (4, 4), key=key)


def midi_from_notes(notes: NotesData, provenance: dict | None = None, title: str | None = None,
                    lyrics: list[tuple[int, str]] | None = None) -> bytes:
    """A type 0 MIDI file with tempo, meter, key, the notes, and ``provenance`` as a text event.
    ``lyrics``: (tick, syllable) pairs written as standard lyric meta events, just before the notes
    that start at the same tick."""
    import mido

    mid = mido.MidiFile(type=0, ticks_per_beat=notes.ppq)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    num, den = notes.time_signature
    events = []
    if title:
        events.append((0, 0, mido.MetaMessage("track_name", name=title, time=0)))
    if provenance is not None:
        text = PROVENANCE_PREFIX + json.dumps(provenance, sort_keys=True, default=str)
        events.append((0, 0, mido.MetaMessage("text", text=text, time=0)))
    events += [(0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(notes.bpm), time=0)),
               (0, 0, mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))]
    if notes.key:
        events.append((0, 0, mido.MetaMessage("key_signature", key=mido_key(notes.key), time=0)))
    for tick, syllable in lyrics or ():
        events.append((tick, 1, mido.MetaMessage("lyrics", text=syllable, time=0)))
    for n in notes.notes:  # velocity 0 would be a note-off: clamp to 1
        events.append((n.start, 2, mido.Message("note_on", note=n.pitch, velocity=max(1, n.velocity), channel=n.channel)))
        events.append((n.start + n.duration, 1, mido.Message("note_off", note=n.pitch, velocity=0, channel=n.channel)))
    events.sort(key=lambda e: (e[0], e[1]))  # at equal ticks: meta, then note-offs and lyrics, then note-ons
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def provenance_of(data: bytes) -> dict | None:
    """The provenance written by :func:`midi_from_notes`, or None."""
    import mido

    for track in mido.MidiFile(file=io.BytesIO(bytes(data))).tracks:
        for msg in track:
            if msg.type == "text" and msg.text.startswith(PROVENANCE_PREFIX):
                return json.loads(msg.text[len(PROVENANCE_PREFIX):])
    return None


def lyrics_of(data: bytes) -> list[tuple[int, str]]:
    """The (tick, text) of every lyric meta event, all tracks, in time order."""
    import mido

    found = []
    for track in mido.MidiFile(file=io.BytesIO(bytes(data))).tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "lyrics":
                found.append((tick, msg.text))
    return sorted(found, key=lambda e: e[0])
