"""The call-and-response controller: phrase in, ``music.continue``, answer out in time.

Pure and single-threaded: the I/O loop (:mod:`.ports`) calls ``feed(msg, t)`` for every
incoming message and ``tick(now)`` whenever it wakes; the engine talks to the daemon through a
bridge :class:`~muselink.bridge.client.Client` (non-blocking ``drain``) and sends through the
``send`` callable it was given. Host work goes through the host-adapter hooks only.

Rules: a new phrase (a note-on) or the trigger CC cancels the answer still being generated or
played (latest wins); every note-on sent gets its note-off, and ``shutdown`` sends All Notes Off.
When the daemon is down the phrase is kept and re-sent every ``retry_every`` s for ``retry_for`` s
while the ports stay open.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from collections.abc import Callable

from muselink.bridge import protocol as P
from muselink.host_addons.hostspec import Capture, CaptureRequest, host_manager

from .adapter import MidiAdapter
from .phrase import PhraseRecorder
from .player import Player
from .timing import Grid, TempoTracker

log = logging.getLogger("muselink.midi")
SESSION = "midi-bridge"


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


def _default_report(event: str, **fields) -> None:
    log.info("%s %s", event, " ".join(f"{k}={v}" for k, v in fields.items()))


class CallResponse:
    def __init__(self, client, settings: BridgeSettings, send: Callable, clock: Callable[[], float] = time.perf_counter,
                 report: Callable[..., None] = _default_report):
        self.client = client
        self.settings = settings
        self.send = send
        self.clock = clock
        self.report = report
        self.recorder = PhraseRecorder(settings.trigger_cc, settings.channel)
        self.tempo = TempoTracker()
        self.player = Player()
        self.pm = host_manager(MidiAdapter(self))
        self.host = self.pm.hook.muselink_host_info()
        self.job = None  # the JobHandle in flight
        self.capture: Capture | None = None  # what the job (or the retry) answers
        self.retry_at: float | None = None
        self.retry_until: float | None = None
        self.daemon_down_since: float | None = None
        self.applied = None
        self.answer_release: float | None = None  # last release of the phrase being answered
        self.latencies: list = []  # s from the phrase's last note-off to the first answered note-on
        self.answers: list = []  # every applied answer, for logs and tests

    # ---- helpers ----------------------------------------------------------------------------
    def bpm(self, now: float) -> float:
        return self.tempo.bpm(now) or self.settings.bpm

    def send_all(self, messages) -> None:
        for msg in messages:
            self.send(msg)

    @property
    def busy(self) -> bool:
        """An answer is being generated, retried or played."""
        return self.job is not None or self.retry_at is not None or self.player.active

    def cancel_answer(self, why: str) -> None:
        """Latest wins: cancel the job in flight and silence what is playing."""
        if self.job is not None:
            try:
                self.client.cancel(self.job.id)
            except Exception as exc:  # noqa: BLE001 - a dead daemon must not stop the music side
                log.debug("cancel failed: %s", exc)
            self.report("cancelled", job=self.job.id, why=why)
            self.job = None
        self.retry_at = self.retry_until = None
        if self.player.active:
            self.report("stopped", why=why)
        self.send_all(self.player.cancel())
        self.applied = None

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
        self._drain()
        if self.job is not None and self.job.done:
            self._finish(self.job.terminal, now)
        pause = self.settings.pause_beats * 60.0 / self.bpm(now)
        if self.recorder.pause_complete(now, pause):
            self.submit(now)
        if self.retry_at is not None and now >= self.retry_at:
            self._retry(now)
        self.send_all(self.player.due(now))
        if self.player.first_on_sent is not None and self.answer_release is not None:
            latency = self.player.first_on_sent - self.answer_release
            self.latencies.append(latency)
            self.report("playing", job=self.player.label, latency_ms=round(latency * 1000, 1))
            self.answer_release = None
        wake = [t for t in (self.player.next_time(), self.retry_at) if t is not None]
        if self.recorder.last_activity is not None and self.recorder.phrase.notes and not self.recorder.held:
            wake.append(self.recorder.last_activity + pause)
        if self.job is not None:
            wake.append(now + 0.005)
        return min(wake) if wake else None

    def _drain(self) -> None:
        try:
            self.client.drain()
        except Exception as exc:  # noqa: BLE001 - keep the ports alive whatever the socket does
            log.debug("drain failed: %s", exc)

    def submit(self, now: float) -> None:
        """Capture the phrase through the adapter and send it to the daemon."""
        capture = self.pm.hook.muselink_host_capture(
            request=CaptureRequest(self.settings.capability, "phrase", {"now": now}))
        if capture is None:
            return
        self.report("phrase", notes=len(capture.payloads["notes"].notes), bpm=round(capture.target.beats.bpm, 2))
        self.capture = capture
        self.retry_until = now + self.settings.retry_for
        self._send_job(now)

    def _send_job(self, now: float) -> None:
        try:
            self.job = self.client.submit(self.settings.capability, self.capture.payloads, dict(self.settings.params),
                                          session=SESSION)
        except ConnectionError as exc:
            self._daemon_down(now, str(exc))
            return
        except ValueError as exc:
            self.report("error", message=str(exc))
            return
        self.retry_at = None
        self.report("submitted", job=self.job.id)

    def _daemon_down(self, now: float, why: str) -> None:
        self.job = None
        if self.daemon_down_since is None:
            self.daemon_down_since = now
            self.report("daemon_down", message=f"{why} — the MIDI ports stay open; retrying every "
                                               f"{self.settings.retry_every:g} s (start it with 'muselink serve')")
        if self.retry_until is not None and now < self.retry_until:
            self.retry_at = now + self.settings.retry_every
        else:
            self.retry_at = None
            self.report("gave_up", message=f"daemon still unreachable after {self.settings.retry_for:g} s; phrase dropped")

    def _retry(self, now: float) -> None:
        self.retry_at = None
        if self.capture is not None:
            self._send_job(now)

    def _finish(self, reply, now: float) -> None:
        job, self.job = self.job, None
        if isinstance(reply, P.Result):
            if self.daemon_down_since is not None:
                self.report("daemon_back")
                self.daemon_down_since = None
            self._apply(reply, job.id, now)
        elif isinstance(reply, P.Error) and reply.code == "disconnected":
            self._daemon_down(now, f"daemon went away while answering ({reply.message})")
        elif isinstance(reply, P.Error):
            self.report("error", job=job.id, code=reply.code, message=reply.message)
        else:
            self.report("cancelled", job=job.id, why=getattr(reply, "reason", ""))

    def _apply(self, result: P.Result, job_id: str, now: float) -> None:
        meta = {**result.meta, "job": job_id}
        try:
            applied = self.pm.hook.muselink_host_apply(capture=self.capture, payloads=result.payloads, meta=meta,
                                                       replace=self.applied)
        except ValueError as exc:
            self.report("error", job=job_id, message=str(exc))
            return
        if applied is None:
            self.report("empty_answer", job=job_id)
            return
        self.applied = applied
        self.answer_release = self.capture.target.last_release
        answer = applied.handle["notes"]
        self.answers.append(applied.handle)
        first_at = self.capture.target.beats.tick_to_time(answer.notes[0].start) + applied.handle["shift"]
        self.report("answer", job=job_id, count=len(answer.notes), shift_s=round(applied.handle["shift"], 3),
                    since_release_s=round(now - self.capture.target.last_release, 3), first_at=round(first_at, 6),
                    ppq=answer.ppq, bpm=round(self.capture.target.beats.bpm, 3),
                    notes=[[n.start, n.duration, n.pitch, n.velocity, n.channel] for n in answer.notes])

    def shutdown(self) -> None:
        """Cancel what is in flight and send All Notes Off (on cancel, Ctrl-C and exit)."""
        if self.job is not None:
            try:
                self.client.cancel(self.job.id)
            except Exception:  # noqa: BLE001
                pass
            self.job = None
        self.send_all(self.player.all_off())
