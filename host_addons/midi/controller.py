"""The DAW bridge's session glue: phrase in, ``music.continue``, answer out in time.

Single-threaded: the real-time loop (:mod:`.host.ports`) calls ``feed(msg, t)`` for every incoming
message and ``tick(now)`` whenever it wakes. The bridge's host :class:`Session` does the daemon side
(submit, retry while the daemon is down, apply each answer once through the host hooks); the
:class:`~.host.adapter.MidiHost` holds the phrase recorder, the tempo and the player. This module
decides when a phrase is over and reports what happens.

Rules: a new phrase (a note-on) or the trigger CC cancels the answer still being generated or
played (latest wins); every note-on sent gets its note-off, and ``shutdown`` sends All Notes Off.
When the daemon is down the phrase is kept and re-sent every ``retry_every`` s for ``retry_for`` s
while the ports stay open.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from muselink.bridge.host import CaptureRequest
from muselink.bridge.jobs import CANCELLED, DONE, Job, Outcome, Policy
from muselink.bridge.session import NothingCaptured, Session
from muselink.host_addons.hostspec import host_manager

from .host.adapter import BridgeSettings, MidiHost

__all__ = ["SESSION", "BridgeSettings", "CallResponse"]
log = logging.getLogger("muselink.midi")
SESSION = "midi-bridge"


def _default_report(event: str, **fields) -> None:
    log.info("%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()))


class CallResponse:
    def __init__(self, client, settings: BridgeSettings, send: Callable, clock: Callable[[], float] = time.perf_counter,
                 report: Callable[..., None] = _default_report):
        self.host = MidiHost(settings, send, clock)
        self.pm = host_manager(self.host)
        self.session = Session(self.pm, client=client, name=SESSION, live_session=SESSION, clock=clock,
                               policy=Policy(hello="never", retry_every=settings.retry_every, retry_for=settings.retry_for))
        self.session.listeners.append(self._on_session)
        self.settings, self.clock, self.report = settings, clock, report
        self.job: Job | None = None  # the answer being generated (or waiting to be re-sent)
        self.answer_release: float | None = None  # last release of the phrase being answered
        self.latencies: list = []  # s from the phrase's last note-off to the first answered note-on
        self.answers: list = []  # every applied answer, for logs and tests

    # ---- the host's state ---------------------------------------------------------------------
    recorder = property(lambda self: self.host.recorder)
    tempo = property(lambda self: self.host.tempo)
    player = property(lambda self: self.host.player)
    send = property(lambda self: self.host.send, lambda self, send: setattr(self.host, "send", send))

    def bpm(self, now: float) -> float:
        return self.host.bpm(now)

    def send_all(self, messages) -> None:
        self.host.send_all(messages)

    @property
    def busy(self) -> bool:
        """An answer is being generated, retried or played."""
        return self.job is not None or self.player.active

    def cancel_answer(self, why: str) -> None:
        """Latest wins: cancel the job in flight and silence what is playing."""
        if self.job is not None:
            try:
                self.session.cancel(self.job, forget=True)
            except Exception as exc:  # noqa: BLE001 - a dead daemon must not stop the music side
                log.debug("cancel failed: %s", exc)
            self.report("cancelled", job=self.job.id, why=why)
            self.job = None
        if self.player.active:
            self.report("stopped", why=why)
        self.send_all(self.player.cancel())
        self.session.live_applied.clear()

    # ---- input ------------------------------------------------------------------------------
    def feed(self, msg, t: float | None = None) -> None:
        t = self.clock() if t is None else t
        kind = getattr(msg, "type", "")
        if kind == "clock":
            self.tempo.clock(t)
            return
        if kind in ("start", "continue", "stop"):
            getattr(self.tempo, "continue_" if kind == "continue" else kind)(t)
            return
        what = self.recorder.feed(msg, t)
        if what == "note_on" and self.busy:
            self.cancel_answer("new phrase")
        elif what == "trigger":
            if self.busy:
                self.cancel_answer("trigger")
            if not self.recorder.empty:
                self.submit(t)

    # ---- the loop ---------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> float | None:
        """Do what is due at ``now``; returns when the engine next needs to run (None: on input)."""
        now = self.clock() if now is None else now
        for outcome in self.session.tick(now):
            self._finished(outcome, now)
        pause = self.settings.pause_beats * 60.0 / self.bpm(now)
        if self.recorder.pause_complete(now, pause):
            self.submit(now)
        self.send_all(self.player.due(now))
        if self.player.first_on_sent is not None and self.answer_release is not None:
            latency = self.player.first_on_sent - self.answer_release
            self.latencies.append(latency)
            self.report("playing", job=self.player.label, latency_ms=round(latency * 1000, 1))
            self.answer_release = None
        wake = [t for t in (self.player.next_time(), self.job.retry_at if self.job else None) if t is not None]
        if self.recorder.last_activity is not None and self.recorder.phrase.notes and not self.recorder.held:
            wake.append(self.recorder.last_activity + pause)
        if self.job is not None and self.job._handle is not None:
            wake.append(now + 0.005)
        return min(wake) if wake else None

    def submit(self, now: float) -> None:
        """Capture the phrase through the host and send it to the daemon (retried while it is down)."""
        request = CaptureRequest(self.settings.capability, "phrase", {"now": now})
        try:
            capture, params = self.session.prepare(request, self.settings.params)
        except NothingCaptured:
            return
        except ValueError as exc:
            self.report("error", message=str(exc))
            return
        self.report("phrase", notes=len(next(iter(capture.payloads.values())).notes),
                    bpm=round(capture.target.beats.bpm, 2))
        self.job = self.session.submit(self.settings.capability, capture, params, live=True)

    def _on_session(self, event: str, job: Job | None) -> None:
        if job is None:
            return
        s = self.settings
        if event == "submitted":
            self.report("submitted", job=job.id)
        elif event == "down":
            self.report("daemon_down", message=f"{job.error} — the MIDI ports stay open; retrying every "
                                               f"{s.retry_every:g} s (start it with 'muselink serve')")
        elif event == "back":
            self.report("daemon_back")
        elif event == "gave_up":
            self.report("gave_up", message=f"daemon still unreachable after {s.retry_for:g} s; phrase dropped")

    def _finished(self, outcome: Outcome, now: float) -> None:
        job = outcome.job
        if job is self.job:
            self.job = None
        if job.state == DONE and outcome.applied:
            return self._played(job, outcome.applied[0].handle, now)
        if job.state == DONE:
            if outcome.error:
                self.report("error", job=job.id, message=outcome.error)
            else:
                self.report("empty_answer", job=job.id)
        elif job.state == CANCELLED:
            self.report("cancelled", job=job.id, why=job.message)
        elif job.error_code != "unreachable":  # a daemon that stayed away was reported as gave_up
            self.report("error", job=job.id, code=job.error_code, message=job.error)

    def _played(self, job: Job, answer: dict, now: float) -> None:
        target = job.capture.target
        self.answer_release = target.last_release
        self.answers.append(answer)
        notes = answer["notes"]
        first_at = target.beats.tick_to_time(notes.notes[0].start) + answer["shift"]
        self.report("answer", job=job.id, count=len(notes.notes), shift_s=round(answer["shift"], 3),
                    since_release_s=round(now - target.last_release, 3), first_at=round(first_at, 6),
                    model_s=job.result.meta.get("seconds") if job.result is not None else None,
                    ppq=notes.ppq, bpm=round(target.beats.bpm, 3),
                    notes=[[n.start, n.duration, n.pitch, n.velocity, n.channel] for n in notes.notes])

    def shutdown(self) -> None:
        """Cancel what is in flight and send All Notes Off (on cancel, Ctrl-C and exit)."""
        if self.job is not None:
            try:
                self.session.cancel(self.job, forget=True)
            except Exception:  # noqa: BLE001
                pass
            self.job = None
        self.send_all(self.player.all_off())
