"""Playing an answer in time: note events on a timeline, and never a hanging note.

Pure: builds ``mido.Message`` objects (no port is opened here) and hands them out when due.
Every note-on has its note-off scheduled; ``cancel()`` and ``all_off()`` release whatever sounds
and send All Notes Off (CC 123) on every channel the player has used.
"""
from __future__ import annotations

import heapq
import itertools

import mido

from muselink.bridge.payloads import NotesData

from .timing import BeatMap

ALL_NOTES_OFF = 123


def untangle(notes) -> list:
    """Sort notes and cut a note short where the same pitch starts again on its channel, so each
    note-off belongs to exactly one note-on."""
    notes = sorted(notes, key=lambda n: (n.channel, n.pitch, n.start))
    out = []
    for i, n in enumerate(notes):
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        end = n.start + n.duration
        if nxt is not None and (nxt.channel, nxt.pitch) == (n.channel, n.pitch) and nxt.start < end:
            end = nxt.start
        if end > n.start:
            out.append((n.start, end, n))
    return sorted(out, key=lambda item: (item[0], item[2].pitch))


class Player:
    """A timeline of outgoing note events. ``due(now)`` returns what must be sent now."""

    def __init__(self):
        self._heap: list = []
        self._order = itertools.count()
        self.sounding: dict = {}  # (channel, pitch) -> True
        self.channels_used: set = {0}
        self.first_on_sent: float | None = None  # when the current answer's first note-on went out
        self.label: str | None = None

    @property
    def active(self) -> bool:
        return bool(self._heap) or bool(self.sounding)

    def schedule(self, notes: NotesData, beats: BeatMap, shift: float = 0.0, label: str = "") -> list:
        """Queue every note of ``notes`` at ``beats`` + ``shift`` s; returns ``[(time, msg)]`` queued."""
        queued = []
        for start, end, n in untangle(notes.notes):
            on_t = beats.tick_to_time(start) + shift
            off_t = beats.tick_to_time(end) + shift
            queued.append((on_t, mido.Message("note_on", note=n.pitch, velocity=max(1, n.velocity), channel=n.channel)))
            queued.append((off_t, mido.Message("note_off", note=n.pitch, velocity=0, channel=n.channel)))
            self.channels_used.add(n.channel)
        for t, msg in queued:
            # at equal times note-offs go first (priority 0), so a repeated pitch re-sounds
            heapq.heappush(self._heap, (t, 0 if msg.type == "note_off" else 1, next(self._order), msg))
        self.first_on_sent = None
        self.label = label
        return sorted(queued, key=lambda item: item[0])

    def next_time(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list:
        """Pop every event due at ``now``; keeps track of what sounds."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            t, _, _, msg = heapq.heappop(self._heap)
            key = (msg.channel, msg.note)
            if msg.type == "note_on":
                if key in self.sounding:  # never stack two note-ons of one key
                    out.append(mido.Message("note_off", note=msg.note, velocity=0, channel=msg.channel))
                self.sounding[key] = True
                if self.first_on_sent is None:
                    self.first_on_sent = now
            else:
                if key not in self.sounding:
                    continue
                del self.sounding[key]
            out.append(msg)
        return out

    def cancel(self) -> list:
        """Drop what is still to come; return note-offs for sounding notes plus All Notes Off."""
        self._heap.clear()
        out = [mido.Message("note_off", note=pitch, velocity=0, channel=ch) for ch, pitch in sorted(self.sounding)]
        channels = sorted({ch for ch, _ in self.sounding})
        self.sounding.clear()
        out += [mido.Message("control_change", control=ALL_NOTES_OFF, value=0, channel=ch) for ch in channels]
        return out

    def all_off(self) -> list:
        """For exit: ``cancel()`` plus All Notes Off on every channel this player has used."""
        out = self.cancel()
        sent = {m.channel for m in out if m.type == "control_change"}
        out += [mido.Message("control_change", control=ALL_NOTES_OFF, value=0, channel=ch)
                for ch in sorted(self.channels_used - sent)]
        return out
