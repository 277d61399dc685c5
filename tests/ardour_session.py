"""Reading what Ardour 7 saved: the regions of a playlist and the notes they show (from the session's
``.ardour`` XML and its MIDI source files). Times are Ardour ticks (1920 per quarter note)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

import mido

TPB = 1920
BEATS = re.compile(r"b(-?\d+)")
SPAN = re.compile(r"b(-?\d+)@b(-?\d+)")


class Region(NamedTuple):
    name: str
    id: str
    position: int  # on the timeline
    length: int
    start: int  # offset into its source
    source: str  # the source's id

    @property
    def end(self) -> int:
        return self.position + self.length


def _beats(text: str, what: str) -> int:
    found = BEATS.fullmatch(text or "")
    assert found, f"{what} is not in beat time: {text!r}"
    return int(found.group(1))


def regions(snapshot: Path, playlist: str) -> list[Region]:
    """The regions of ``playlist`` in the snapshot, in timeline order."""
    root = ET.parse(snapshot).getroot()
    found = [pl for pl in root.iter("Playlist") if pl.get("name") == playlist]
    assert len(found) == 1, f"{snapshot.name}: {len(found)} playlists named {playlist!r}"
    out = []
    for r in found[0].findall("Region"):
        span = SPAN.fullmatch(r.get("length", ""))
        assert span, f"region {r.get('name')!r} has no beat-time length: {r.get('length')!r}"
        out.append(Region(r.get("name"), r.get("id"), int(span.group(2)), int(span.group(1)),
                          _beats(r.get("start"), "region start"), r.get("source-0")))
    return sorted(out, key=lambda r: r.position)


def source_notes(snapshot: Path, source_id: str) -> list[tuple[int, int, int, int, int]]:
    """(start, duration, pitch, velocity, channel) of a MIDI source, ticks from the source's start."""
    root = ET.parse(snapshot).getroot()
    names = [s.get("name") for s in root.find("Sources") if s.get("id") == source_id]
    assert names, f"{snapshot.name}: no source {source_id}"
    files = list(snapshot.parent.glob(f"interchange/*/midifiles/{names[0]}"))
    assert files, f"MIDI source file {names[0]} missing"
    mid = mido.MidiFile(files[0])
    scale = TPB / mid.ticks_per_beat
    t, sounding, notes = 0, {}, []
    for msg in mido.merge_tracks(mid.tracks):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[(msg.channel, msg.note)] = (t, msg.velocity)
        elif msg.type in ("note_on", "note_off") and (msg.channel, msg.note) in sounding:
            on, vel = sounding.pop((msg.channel, msg.note))
            notes.append((round(on * scale), round((t - on) * scale), msg.note, vel, msg.channel))
    return sorted(notes)


def region_notes(snapshot: Path, region: Region) -> list[tuple[int, int, int, int, int]]:
    """The notes ``region`` shows, on the timeline: those of its source that start inside its bounds."""
    return [(region.position + s - region.start, d, p, v, c) for s, d, p, v, c in source_notes(snapshot, region.source)
            if region.start <= s < region.start + region.length]


def undo_transactions(history: Path) -> list[ET.Element]:
    return list(ET.parse(history).getroot().iter("UndoTransaction"))
