"""The host session: one connection, one capability list and one job loop for every host add-on.

A host add-on keeps only capture, apply and UI; this owns the rest. Krita's Qt timer and the MIDI
loop call :meth:`Session.tick`; Blender's worker thread calls :meth:`Session.pump` and its
``bpy.app.timers`` callback :meth:`Session.apply_ready`. Neither ever blocks (unless the policy says
``before_submit``, meant for worker threads) and neither raises into the host's loop.

It owns: the bridge :class:`~.client.Client` and its reconnect :class:`~.jobs.Policy`; the daemon's
capability specs (from ``status``), against which parameters are checked before anything is sent;
submitting a job together with what it was captured from; progress and preview; applying each
finished job's outputs exactly once, by output kind, through the host's ``muselink_host_apply``;
live mode (re-run when the work changes, latest wins); cancel and retry. The host is reached only
through the three host hooks (``muselink_hostspec``) of the manager it is given. Stdlib + the bridge.
"""
from __future__ import annotations

import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace as replaced
from typing import Any

from . import protocol as P
from .connection import DROPPED, Connection
from .host import Applied, Capture, CaptureRequest, HostManager, NothingCaptured, Output
from .jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, ClientLike, Job, Outcome, Policy
from .live import LiveScheduler, signature
from .payloads import ImageData
from .prompts import PromptTarget, expandable, expander, expansion_params, expansion_text
from .schema import CapabilitySpec, OutputSpec

__all__ = ["ClientLike", "HostManager", "NothingCaptured", "Session"]

LiveRequest = tuple[str, dict[str, Any], CaptureRequest]  # (capability, params, what to capture)


class Session(Connection):
    """A host's session: the connection (:class:`~.connection.Connection`) plus the job loop."""

    def __init__(self, host: HostManager, *, endpoint: str | None = None, name: str = "host", timeout: float = 0.25,
                 client: ClientLike | None = None, make_client: Callable[[str, str, float], ClientLike] | None = None,
                 policy: Policy | None = None, threaded: bool = False, live_session: str | None = None,
                 live_pause: float = 0.6, live_every: float = 0.3, clock: Callable[[], float] = time.monotonic):
        super().__init__(host, endpoint=endpoint, name=name, timeout=timeout, client=client, make_client=make_client,
                         policy=policy, threaded=threaded, clock=clock)
        self._jobs: list[Job] = []  # not yet applied: queued, in flight, waiting to retry, or ended
        self._lock = threading.Lock()
        self.live = LiveScheduler(pause=live_pause)
        self.live_session = live_session or f"{name}-live-{uuid.uuid4().hex[:8]}"
        self.live_every = live_every
        self.live_applied: dict[str, Applied] = {}  # output name -> what the newest live result made
        self.live_problem = ""
        self._live_request: Callable[[], LiveRequest] | None = None
        self._last_live_look = float("-inf")

    # ---- state for views ---------------------------------------------------------------------
    @property
    def jobs(self) -> list[Job]:
        """Jobs not yet applied (queued, running, waiting to retry, or ended and about to be applied)."""
        with self._lock:
            return list(self._jobs)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def spec(self, capability: str) -> CapabilitySpec | None:
        return self.capabilities.get(capability)

    def _in_flight(self) -> bool:
        return any(job._handle is not None and not job.finished for job in self.jobs)

    def _lost(self, why: str) -> None:
        for job in self.jobs:
            if job._handle is not None and not job.finished:
                self._end(job, FAILED, error=why, code="disconnected")

    # ---- jobs ----------------------------------------------------------------------------------
    def prepare(self, request: CaptureRequest, params: Mapping[str, Any]) -> tuple[Capture, dict[str, Any]]:
        """Check ``params`` against the capability's schema (when known) and capture its inputs.
        Raises ValueError naming what is wrong; nothing is sent."""
        spec = self.capabilities.get(request.capability)
        clean = spec.coerce_params(params, fill_defaults=False) if spec is not None else dict(params)
        if spec is not None and not request.inputs:
            request = replaced(request, inputs=spec.inputs)
        capture = self.host.hook.muselink_host_capture(request=request)
        if capture is None:
            raise NothingCaptured(f"nothing to send to {request.capability} (source: {request.source or 'default'})")
        if spec is not None:
            spec.check_inputs({name: payload.kind for name, payload in capture.payloads.items()})
        return capture, clean

    def start(self, request: CaptureRequest, params: Mapping[str, Any], live: bool = False) -> Job:
        """Capture for ``request`` and submit; raises ValueError when there is nothing to send."""
        capture, clean = self.prepare(request, params)
        return self.submit(request.capability, capture, clean, live=live)

    def submit(self, capability: str, capture: Capture, params: Mapping[str, Any], live: bool = False,
               live_seq: int = 0) -> Job:
        """Send ``capture``'s payloads (at once, or at the next pump when threaded); returns the job."""
        now = self.clock()
        job = Job(capability, capture, dict(params), live=live or bool(live_seq), live_seq=live_seq,
                  retry_until=now + self.policy.retry_for)
        with self._lock:
            self._jobs.append(job)
        self._emit("queued", job)
        if not self.threaded:
            self._send(job, now)
        return job

    def cancel(self, job: Job | None = None, forget: bool = False) -> None:
        """Cancel ``job`` (default: all). The daemon answers ``cancelled``; with ``forget`` the job is
        dropped now and anything it still brings is ignored (latest wins)."""
        for j in [job] if job is not None else self.jobs:
            if j.finished:
                continue
            if j._handle is None:
                self._end(j, CANCELLED, message="cancelled before it was sent")
            elif self.threaded:
                j.request_cancel()
            else:
                j._cancel.set()
                self.client.cancel(j._handle.id)
            if forget:
                with self._lock:
                    if j in self._jobs:
                        self._jobs.remove(j)
                j.state = CANCELLED
                if j.live_seq:
                    self.live.finished(j.live_seq, False)

    def _send(self, job: Job, now: float) -> None:
        if job._cancel.is_set():
            return self._end(job, CANCELLED, message="cancelled before it was sent")
        job.retry_at = None
        try:
            if self.policy.hello == "before_submit" and (self.status is None or not self.client.connected):
                self.set_status(self.client.hello(self.timeout))
            handle = self.client.submit(job.capability, job.capture.payloads, job.params,
                                        session=self.live_session if job.live else None)
        except ConnectionError as exc:
            return self._unreachable(job, str(exc), now)
        except ValueError as exc:  # e.g. a message bigger than the daemon accepts
            return self._end(job, FAILED, error=str(exc), code="bad_request")
        job._handle, job.id, job._seen, job.state = handle, handle.id, 0, QUEUED
        if self.policy.retry_for <= 0:  # sent: do not keep a second copy of the pixels
            job.capture = replaced(job.capture, payloads={})
        self._emit("submitted", job)

    def _unreachable(self, job: Job, why: str, now: float) -> None:
        """The daemon did not get ``job`` (or lost it): retry within the policy's window, else fail."""
        self.status_error, job.error, job._handle = why, why, None
        if self.down_since is None:
            self.down_since = now
            self._emit("down", job)
        if self.policy.retry_for > 0 and job.retry_until is not None and now < job.retry_until:
            job.retry_at, job.state = now + self.policy.retry_every, QUEUED
            return
        self._end(job, FAILED, error=why, code="unreachable")
        if self.policy.retry_for > 0:
            self._emit("gave_up", job)

    def _end(self, job: Job, state: str, error: str = "", code: str = "", message: str | None = None) -> None:
        job.error, job.error_code = error, code
        if message is not None:
            job.message = message
        if state == DONE:
            job.fraction = 1.0
        job.state = state  # last: a reader on another thread sees a complete job
        self._emit("ended", job)

    def _read(self, job: Job, now: float) -> None:
        handle = job._handle
        events = handle.events
        for event in events[job._seen:]:
            if isinstance(event, P.Accepted):
                job.lane, job.position, job.state = event.lane, event.position, RUNNING
                job.message = f"queued in lane {event.lane}" if event.position else ""
                self._emit("accepted", job)
            elif isinstance(event, P.Progress):
                job.fraction, job.message, job.state = event.fraction, event.message, RUNNING
                if isinstance(event.preview, ImageData):
                    job.preview = event.preview
                self._emit("progress", job)
        job._seen = len(events)
        reply = handle.terminal
        if reply is None:
            return
        if isinstance(reply, P.Result):
            job.result = reply
            if self.down_since is not None:
                self.down_since = None
                self._emit("back", job)
            self._end(job, DONE)
        elif isinstance(reply, P.Cancelled):
            self._end(job, CANCELLED, message=reply.reason)
        elif isinstance(reply, P.Error) and reply.code == "disconnected" and self.policy.retry_for > 0:
            self._unreachable(job, f"daemon went away while answering ({reply.message})", now)
        elif isinstance(reply, P.Error):
            if reply.code == "disconnected" and self.policy.hello == "keepalive":
                self._set_down(DROPPED)
            self._end(job, FAILED, error=reply.message, code=reply.code)

    # ---- the loop ------------------------------------------------------------------------------
    def pump(self, now: float | None = None, wait: float = 0.0) -> None:
        """Network work: send what is due, read every reply, keep the connection. ``wait`` > 0 (worker
        threads only) waits that long for replies first."""
        now = self.clock() if now is None else now
        if self._new_endpoint is not None:
            self._reconnect(now)
        self._hello_due()
        for job in self.jobs:
            if job.state == QUEUED and job._handle is None and (job.retry_at is None or now >= job.retry_at):
                self._send(job, now)
        if self._client is None:
            return
        was_connected = bool(getattr(self._client, "connected", False))
        replies = self._client.poll(wait) if wait > 0 else self._client.drain()
        for message in replies:
            if isinstance(message, P.Status):
                self.set_status(message)
        for job in self.jobs:
            if job._handle is not None and not job.finished:
                self._read(job, now)
        if self.policy.hello == "keepalive":
            self._keepalive(now, was_connected)

    def apply_ready(self) -> list[Outcome]:
        """On the host's thread: apply every newly finished job exactly once; returns their outcomes."""
        with self._lock:
            ready = [j for j in self._jobs if j.finished and j.outcome is None]
            self._jobs = [j for j in self._jobs if j not in ready]
        outcomes = []
        for job in ready:
            job.outcome = self._apply(job)
            outcomes.append(job.outcome)
            self._emit("finished", job)
        return outcomes

    def tick(self, now: float | None = None) -> list[Outcome]:
        """Everything due now, for a single-threaded host: pump, live mode, apply. Never blocks."""
        now = self.clock() if now is None else now
        self.pump(now)
        if self._live_request is not None and self.connected and now - self._last_live_look >= self.live_every:
            self._last_live_look = now
            self._live_step(now)
        return self.apply_ready()

    def _outputs(self, job: Job, result: P.Result) -> list[Output]:
        spec = self.capabilities.get(job.capability)
        declared = list(spec.outputs) if spec is not None else [OutputSpec.of(name) for name in result.payloads]
        return [Output(o.name, o.kind, result.payloads[o.name]) for o in declared
                if o.name in result.payloads and o.kind in self.info.applies]

    def _apply(self, job: Job) -> Outcome:
        outcome = Outcome(job)
        result = job.result
        if job.state != DONE or result is None:
            if job.live_seq:
                self.live.finished(job.live_seq, False)
            return outcome
        if job.live_seq and not self.live.finished(job.live_seq, True):
            outcome.stale = True
            return outcome
        if isinstance(job.capture.target, PromptTarget):  # for the form, not the user's work: no host hook
            text = expansion_text(result.payloads, self.capabilities.get(job.capability))
            if text is None:
                outcome.error = f"{job.capability} brought no text"
            else:
                outcome.applied.append(Applied("text", job.capture.target.param, handle=text))
            return outcome
        outputs = self._outputs(job, result)
        if not outputs:
            outcome.error = f"the result has nothing {self.info.called} can place (got {', '.join(result.payloads) or 'nothing'})"
            return outcome
        meta = {"capability": job.capability, "params": dict(job.params), **result.meta, "live": job.live, "job": job.id}
        for output in outputs:
            previous = self.live_applied.get(output.name) if job.live else None
            try:
                applied = self.host.hook.muselink_host_apply(capture=job.capture, output=output, meta=meta, replace=previous)
            except Exception as exc:  # host code: report it, never raise into the host's loop
                if not isinstance(exc, ValueError):
                    traceback.print_exc(file=sys.stderr)
                outcome.error = f"could not apply the result: {exc}"
                break
            if applied is not None:
                outcome.applied.append(applied)
                if job.live:
                    self.live_applied[output.name] = applied
        return outcome

    # ---- prompt expansion (bridge/prompts.py) ----------------------------------------------------
    def expandable(self, capability: str) -> tuple[str, ...]:
        """The parameters of ``capability`` whose field gets an "expand" action (prompts of type text,
        when the daemon offers ``text.expand_prompt`` and this host places text)."""
        return expandable(self.capabilities.get(capability), self.capabilities, self.info.applies)

    def expand(self, capability: str, param: str, text: str, seed: Any = None, field: str = "") -> Job:
        """Expand ``text``, the value of ``capability``'s ``param`` field, with the daemon's expander. Progress
        messages carry the text so far; the finished job's outcome holds ``Applied("text", param, handle=the
        expanded prompt)`` (nothing is placed in the user's work). ValueError when it cannot be offered."""
        spec = expander(self.capabilities, self.info.applies)
        if spec is None or param not in self.expandable(capability):
            raise ValueError(f"cannot expand '{param}' of {capability}: the daemon offers no prompt expander"
                             if spec is None else f"parameter '{param}' of {capability} is not a prompt to expand")
        params = spec.coerce_params(expansion_params(text, seed), fill_defaults=False)
        target = PromptTarget(capability, param, text, field or param)
        return self.submit(spec.name, Capture({}, target=target, description=f"the {param} of {capability}"), params)

    # ---- live mode -----------------------------------------------------------------------------
    def set_live(self, on: bool, request: Callable[[], LiveRequest] | None = None) -> None:
        """Live mode on/off. ``request() -> (capability, params, CaptureRequest)`` is read on every look;
        when what it would send changes and then settles, it is sent (latest wins)."""
        self._live_request = request if on else None
        self.live.reset()
        self.live_problem = ""
        self._last_live_look = float("-inf")
        if not on:
            self.live_applied.clear()
            for job in self.jobs:
                if job.live_seq:
                    self.cancel(job)

    def _live_step(self, now: float) -> None:
        assert self._live_request is not None
        try:
            capability, params, request = self._live_request()
            capture, clean = self.prepare(request, params)
        except ValueError as exc:
            if self.live_problem != str(exc):
                self.live_problem = str(exc)
                self._emit("live_problem")
            return
        self.live.observe(signature(capture, capability, clean), now)
        if self.live.due(now):
            self.submit(capability, capture, clean, live_seq=self.live.sent())

    # ---- the end -------------------------------------------------------------------------------
    def close(self, why: str = "the add-on was stopped") -> None:
        """Cancel every job on the daemon, end them here, and close the client (on the pumping thread)."""
        for job in self.jobs:
            if job.finished:
                continue
            if job._handle is not None and self._client is not None:
                try:
                    self._client.cancel(job._handle.id)
                except Exception:  # the daemon may be gone already
                    pass
            self._end(job, CANCELLED, message=why)
        if self._client is not None:
            self._client.close()
            self._client = None
