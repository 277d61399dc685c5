"""The MIDI host: what the player plays (phrase recorder, tempo from MIDI clock) and what answers play.

The host hooks over that state: "capture" takes the phrase the player just finished (quantised, in
ticks from the beat it started on); "apply" puts a ``notes`` output on the outgoing timeline,
aligned to the beat. Opens no port: the answer's messages go out through ``send`` (a port's send,
wired by :mod:`.ports`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from muselink.bridge.host import Applied, Capture, CaptureRequest, HostInfo
from muselink.bridge.payloads import NotesData
from muselink.host_addons.hostspec import hookimpl

from ..notes import rescale
from ..phrase import Phrase, PhraseRecorder
from ..player import Player
from ..timing import BeatMap, Grid, TempoTracker, alignment_shift, phrase_origin, quantise_notes


@dataclass
class BridgeSettings:
    bpm: float = 120.0  # used when no MIDI clock arrives
    pause_beats: float = 2.0
    grid: Grid = field(default_factory=lambda: Grid.parse("1/16"))
    trigger_cc: int | None = 20
    channel: int | None = None
    align: str = "beat"  # bar | beat | grid | none
    lead: float = 0.02  # s of headroom before the first answered note
    time_signature: tuple = (4, 4)
    key: str | None = None
    ppq: int = 480
    capability: str = "music.continue"
    params: dict = field(default_factory=lambda: {"bars": 2})
    retry_every: float = 1.0
    retry_for: float = 60.0

    def __post_init__(self):
        if self.align not in ("bar", "beat", "grid", "none"):
            raise ValueError(f"align must be bar, beat, grid or none, got {self.align!r}")
        if not 10 <= self.bpm <= 400:
            raise ValueError(f"bpm must be between 10 and 400, got {self.bpm}")
        if self.pause_beats <= 0:
            raise ValueError(f"pause beats must be positive, got {self.pause_beats}")
        if self.trigger_cc is not None and not 0 <= self.trigger_cc <= 127:
            raise ValueError(f"trigger CC must be 0-127, got {self.trigger_cc}")


@dataclass(frozen=True)
class PhraseTarget:
    """Where an answer belongs: the phrase's beat map (tick 0 = its first beat) and its end."""

    beats: BeatMap
    last_release: float
    phrase: Phrase
    notes: NotesData


class MidiHost:
    """The host state and its hooks: phrases in, answers scheduled on the player, sent with ``send``."""

    def __init__(self, settings: BridgeSettings, send: Callable[[Any], None], clock: Callable[[], float] = time.perf_counter):
        self.settings, self.send, self.clock = settings, send, clock
        self.recorder = PhraseRecorder(settings.trigger_cc, settings.channel)
        self.tempo = TempoTracker()
        self.player = Player()

    def bpm(self, now: float) -> float:
        return self.tempo.bpm(now) or self.settings.bpm

    def send_all(self, messages) -> None:
        for msg in messages:
            self.send(msg)

    @hookimpl
    def muselink_host_info(self) -> HostInfo:
        return HostInfo(name="midi", captures=("notes",), applies=("notes",), label="the MIDI bridge")

    @hookimpl
    def muselink_host_capture(self, request: CaptureRequest) -> Capture | None:
        now = request.options.get("now", self.clock())
        phrase = request.options.get("phrase")
        if phrase is None:
            if self.recorder.empty:
                return None
            phrase = self.recorder.take(now)
        s = self.settings
        bpm = self.bpm(now)
        beats = BeatMap(phrase_origin(phrase.first_onset, bpm, self.tempo.beat_anchor(now)), bpm, s.ppq)
        notes = phrase.to_notes_data(beats, s.grid.step_ticks(s.ppq), s.time_signature, s.key)
        spec = request.wants("notes") or request.wants("midi")
        return Capture(payloads={spec.name if spec else "notes": notes},
                       target=PhraseTarget(beats, phrase.last_release, phrase, notes),
                       description=f"{len(notes.notes)} notes at {bpm:.1f} bpm")

    @hookimpl
    def muselink_host_apply(self, capture: Capture, output, meta: dict, replace: Applied | None) -> Applied | None:
        s = self.settings
        target: PhraseTarget = capture.target
        beats = target.beats
        if not isinstance(output.payload, NotesData):
            raise ValueError(f"output '{output.name}' is not notes")
        answer = rescale(output.payload, beats.ppq)
        notes = quantise_notes(answer.notes, s.grid.step_ticks(beats.ppq))
        if not notes:
            return None
        if replace is not None:
            self.send_all(self.player.cancel())
        spb = beats.seconds_per_beat
        beats_per_bar = s.time_signature[0] * 4 / s.time_signature[1]
        unit = {"bar": spb * beats_per_bar, "beat": spb, "grid": s.grid.step_beats() * spb, "none": 0.0}[s.align]
        shift = alignment_shift(beats.tick_to_time(notes[0].start), self.clock() + s.lead, unit)
        answer = NotesData(notes, beats.ppq, answer.bpm, answer.time_signature, answer.key)
        events = self.player.schedule(answer, beats, shift, label=meta.get("job", ""))
        return Applied(kind="answer", name=f"{len(notes)} notes", handle={"notes": answer, "events": events, "shift": shift})
