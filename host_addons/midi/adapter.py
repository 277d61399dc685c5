"""The MIDI host adapter: the host-adapter hooks for the call-and-response bridge.

"Capture" takes the phrase the player just finished (quantised, in ticks from the beat it
started on); "apply" puts the model's answer on the outgoing timeline, aligned to the beat.
The adapter itself opens no port: the engine sends what the player hands out through the one
I/O module (:mod:`.ports`).
"""
from __future__ import annotations

from dataclasses import dataclass

from muselink.bridge.payloads import NotesData
from muselink.host_addons.hostspec import Applied, Capture, CaptureRequest, HostInfo, hookimpl

from .midifile import notes_from_payloads, rescale
from .phrase import Phrase
from .timing import BeatMap, alignment_shift, phrase_origin, quantise_notes


@dataclass(frozen=True)
class PhraseTarget:
    """Where an answer belongs: the phrase's beat map (tick 0 = its first beat) and its end."""

    beats: BeatMap
    last_release: float
    phrase: Phrase
    notes: NotesData


class MidiAdapter:
    """Hook implementations over a :class:`~.engine.CallResponse` engine's state."""

    def __init__(self, engine):
        self.engine = engine

    @hookimpl
    def muselink_host_info(self) -> HostInfo:
        import mido

        return HostInfo(name="midi", version=getattr(mido, "version_info", ""), captures=("notes",))

    @hookimpl
    def muselink_host_capture(self, request: CaptureRequest) -> Capture | None:
        engine = self.engine
        now = request.options.get("now", engine.clock())
        phrase = request.options.get("phrase")
        if phrase is None:
            if engine.recorder.empty:
                return None
            phrase = engine.recorder.take(now)
        s = engine.settings
        bpm = engine.bpm(now)
        beats = BeatMap(phrase_origin(phrase.first_onset, bpm, engine.tempo.beat_anchor(now)), bpm, s.ppq)
        notes = phrase.to_notes_data(beats, s.grid.step_ticks(s.ppq), s.time_signature, s.key)
        return Capture(payloads={"notes": notes}, target=PhraseTarget(beats, phrase.last_release, phrase, notes),
                       description=f"{len(notes.notes)} notes at {bpm:.1f} bpm")

    @hookimpl
    def muselink_host_apply(self, capture: Capture, payloads: dict, meta: dict, replace: Applied | None) -> Applied | None:
        engine, s = self.engine, self.engine.settings
        target: PhraseTarget = capture.target
        beats = target.beats
        answer = rescale(notes_from_payloads(payloads), beats.ppq)
        notes = quantise_notes(answer.notes, s.grid.step_ticks(beats.ppq))
        if not notes:
            return None
        if replace is not None:
            engine.send_all(engine.player.cancel())
        spb = beats.seconds_per_beat
        beats_per_bar = s.time_signature[0] * 4 / s.time_signature[1]
        unit = {"bar": spb * beats_per_bar, "beat": spb, "grid": s.grid.step_beats() * spb, "none": 0.0}[s.align]
        now = engine.clock()
        shift = alignment_shift(beats.tick_to_time(notes[0].start), now + s.lead, unit)
        answer = NotesData(notes, beats.ppq, answer.bpm, answer.time_signature, answer.key)
        events = engine.player.schedule(answer, beats, shift, label=meta.get("job", ""))
        return Applied(kind="answer", name=f"{len(notes)} notes", handle={"notes": answer, "events": events,
                                                                           "shift": shift})
