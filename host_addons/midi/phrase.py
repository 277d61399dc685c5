"""Phrase capture: collect what the player plays and decide when a phrase is over.

Pure: fed with ``(message, time)`` where ``message`` is any object with mido's attributes
(``type``, ``note``, ``velocity``, ``channel``, ``control``, ``value``). A phrase ends when the
player pauses — no key held and nothing played for ``pause_beats`` beats — or on a trigger CC.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from muselink.bridge.payloads import Note, NotesData

from .timing import BeatMap, quantise_notes


@dataclass(frozen=True)
class PlayedNote:
    """A note as played, in seconds."""

    on: float
    off: float
    pitch: int
    velocity: int
    channel: int


@dataclass
class Phrase:
    """A captured phrase: the notes in seconds, and when the last key was released."""

    notes: list = field(default_factory=list)

    @property
    def first_onset(self) -> float:
        return min(n.on for n in self.notes)

    @property
    def last_release(self) -> float:
        return max(n.off for n in self.notes)

    def to_notes_data(self, beats: BeatMap, step: int, time_signature=(4, 4), key=None) -> NotesData:
        """The phrase in ticks at ``beats`` (tick 0 = ``beats.origin``), quantised to ``step`` ticks."""
        raw = []
        for n in self.notes:
            start = max(0, round(beats.time_to_tick(n.on)))
            end = max(start + 1, round(beats.time_to_tick(n.off)))
            raw.append(Note(start, end - start, n.pitch, max(1, n.velocity), n.channel))
        return NotesData(notes=quantise_notes(raw, step), ppq=beats.ppq, bpm=round(beats.bpm, 3),
                         time_signature=tuple(time_signature), key=key)


class PhraseRecorder:
    """Tracks held keys and the current phrase; reports when it is complete."""

    def __init__(self, trigger_cc: int | None = None, channel: int | None = None):
        self.trigger_cc = trigger_cc
        self.channel = channel  # listen to one channel (0-15) or all (None)
        self.held: dict = {}  # (channel, pitch) -> (on time, velocity)
        self.phrase = Phrase()
        self.last_activity: float | None = None

    @property
    def empty(self) -> bool:
        return not self.phrase.notes and not self.held

    def feed(self, msg, t: float) -> str:
        """Record one message; returns what it was: ``note_on``, ``note_off``, ``trigger`` or ``other``."""
        kind = getattr(msg, "type", "")
        if self.channel is not None and getattr(msg, "channel", self.channel) != self.channel:
            return "other"
        if kind == "note_on" and msg.velocity > 0:
            key = (msg.channel, msg.note)
            if key in self.held:  # a repeated note-on without note-off: close the first one
                self._close(key, t)
            self.held[key] = (t, msg.velocity)
            self.last_activity = t
            return "note_on"
        if kind == "note_off" or kind == "note_on" and msg.velocity == 0:
            key = (msg.channel, msg.note)
            if key in self.held:
                self._close(key, t)
                self.last_activity = t
            return "note_off"
        if kind == "control_change" and self.trigger_cc is not None and msg.control == self.trigger_cc:
            return "trigger" if msg.value >= 64 else "other"
        if kind == "control_change" and msg.control in (120, 123):  # all sound/notes off from the DAW
            for key in list(self.held):
                self._close(key, t)
        return "other"

    def _close(self, key, t: float) -> None:
        on, velocity = self.held.pop(key)
        self.phrase.notes.append(PlayedNote(on, max(t, on), key[1], velocity, key[0]))

    def pause_complete(self, now: float, pause_seconds: float) -> bool:
        """True when a phrase exists, no key is held and nothing happened for ``pause_seconds``."""
        return (bool(self.phrase.notes) and not self.held and self.last_activity is not None
                and now - self.last_activity >= pause_seconds)

    def take(self, now: float) -> Phrase:
        """Return the phrase so far (held keys are released at ``now``) and start a new one."""
        for key in list(self.held):
            self._close(key, now)
        phrase, self.phrase = self.phrase, Phrase()
        self.last_activity = None
        return phrase
