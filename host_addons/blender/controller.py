"""The add-on's session glue, without Blender: the bridge's host session pumped by a worker thread,
its results applied on Blender's main thread.

:class:`JobRunner` owns a threaded :class:`Session` and the worker thread that pumps it (the client
socket lives and dies there; ZeroMQ sockets are not thread-safe). The main thread captures and
submits through :class:`Controller` and applies finished results from ``bpy.app.timers`` or the
modal operator's timer (:meth:`Controller.tick`), each exactly once, by output kind, through the
host adapter's hooks. Scripts and background mode (``blender -b``) wait instead (:meth:`Controller.run_blocking`).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .deps import CANCELLED, DONE, FAILED, Capture, Job, Outcome, Policy, PromptTarget, Session, hostspec

__all__ = ["CANCELLED", "DONE", "FAILED", "Controller", "JobRunner", "Outcome", "UserError"]
UI_WAIT = 1.0  # longest the UI thread waits for a first answer from the daemon


class UserError(ValueError):
    """Something the user can fix; its text is shown as the operator's report."""


class JobRunner:
    """A threaded host session and its worker. ``make_client(endpoint, name, timeout)`` builds the client."""

    def __init__(self, endpoint: str, name: str = "blender", timeout: float = 3.0,
                 make_client: Callable[..., Any] | None = None):
        self.session = Session(hostspec.host_manager(), endpoint=endpoint, name=name, timeout=timeout,
                               make_client=make_client, threaded=True, policy=Policy(hello="before_submit"))
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- main thread ------------------------------------------------------------------------
    endpoint = property(lambda self: self.session.endpoint)
    status_error = property(lambda self: self.session.status_error)
    busy = property(lambda self: self.session.busy)

    @property
    def timeout(self) -> float:
        return self.session.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.session.timeout = value

    @property
    def status(self):
        """The daemon's last ``status`` (capabilities …), None until one arrives or after ``status = None``."""
        return self.session.status

    @status.setter
    def status(self, value) -> None:
        self.session.status = value

    def submit(self, capability: str, payloads: dict | None = None, params: dict | None = None,
               context: Any = None) -> Job:
        """Queue a job for the worker; returns at once."""
        job = self.session.submit(capability, Capture(dict(payloads or {}), target=context), dict(params or {}))
        self._ensure_thread()
        return job

    def refresh(self) -> int:
        """Ask the daemon for its status in the background; returns a ticket (``session.status_answered``)."""
        ticket = self.session.request_status()
        self._ensure_thread()
        return ticket

    def set_endpoint(self, endpoint: str) -> None:
        self.session.set_endpoint(endpoint)

    def wait(self, job: Job, timeout: float, tick: Callable[[], Any] | None = None, interval: float = 0.05) -> bool:
        """Block the caller until ``job`` finishes or ``timeout`` s pass (cancelling it then). For
        scripts and background mode; ``tick`` runs between polls (e.g. to apply results)."""
        deadline = time.monotonic() + timeout
        while not job.finished:
            if time.monotonic() > deadline:
                job.request_cancel()
                return False
            time.sleep(interval)
        if tick is not None:
            tick()
        return True

    def stop(self, timeout: float = 3.0) -> None:
        """Cancel running jobs, close the client and end the worker (call from unregister)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
        self._stop = threading.Event()

    # ---- worker thread ----------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="muselink-blender", daemon=True)
            self._thread.start()

    def _loop(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.session.pump(wait=0.05 if self.session.jobs else 0.0)
                if not self.session.jobs:
                    stop.wait(0.05)
        finally:  # stopping: send the cancels before closing
            self.session.close("the add-on was stopped")


class Controller:
    """What Blender's operators and timers call: capture + submit, and apply on the main thread."""

    def __init__(self, runner: JobRunner, *adapters: Any):
        self.runner = runner
        self.pm = hostspec.host_manager(*adapters)
        self.session = runner.session
        self.session.attach(self.pm)
        self.last: Job | None = None
        self._asked: int | None = None  # a status request still in flight
        self.offers: dict[str, str] = {}  # prompt field -> its expansion, offered beside it until used

    def host_info(self):
        return self.session.info

    def capabilities(self, timeout: float, block: bool = True) -> list:
        """The daemon's capability specs (asks it when not known yet). Raises UserError when the
        daemon cannot be reached within ``timeout`` s. With ``block=False`` (Blender's UI thread)
        it waits at most UI_WAIT s and lets the request go on in the background, so a down
        daemon never freezes the interface; the next call picks up the answer."""
        if self.runner.status is None:
            pending = self._asked if self._asked is not None and not self.session.status_answered(self._asked) else None
            ticket = self._asked = pending or self.runner.refresh()
            deadline = time.monotonic() + (timeout if block else min(timeout, UI_WAIT))
            while not self.session.status_answered(ticket) and time.monotonic() < deadline:
                time.sleep(0.02)
            if not self.session.status_answered(ticket):
                if block:
                    raise UserError(f"muselink daemon at {self.runner.endpoint} did not answer within {timeout:.0f} s")
                raise UserError(f"still connecting to the muselink daemon at {self.runner.endpoint} "
                                "(is 'muselink serve' running?); try again in a moment")
            if self.runner.status is None:
                raise UserError(self.runner.status_error or "could not reach the muselink daemon")
        return list(self.runner.status.capabilities)

    def start(self, request, params: dict) -> Job:
        """Capture for ``request`` (a CaptureRequest) and submit; raises UserError when there is nothing
        to send or a parameter is wrong."""
        try:
            job = self.session.start(request, params)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        self.runner._ensure_thread()
        self.last = job
        return job

    def tick(self) -> list[Outcome]:
        """Main thread: apply every newly finished job (an expanded prompt is offered beside its field);
        returns their outcomes."""
        outcomes = self.session.apply_ready()
        for outcome in outcomes:
            target = outcome.job.context
            if isinstance(target, PromptTarget) and outcome.ok:
                self.offers[target.field] = outcome.applied[0].handle
        return outcomes

    # ---- prompt expansion (the bridge's, beside each prompt field) ----------------------------------
    def expandable(self, capability: str) -> tuple[str, ...]:
        """The prompt parameters of ``capability`` that get an expand button."""
        return self.session.expandable(capability)

    def expansion(self, field: str) -> Job | None:
        """The expansion of prompt field ``field`` in flight, if any."""
        return next((j for j in self.session.jobs if isinstance(j.context, PromptTarget)
                     and j.context.field == field and not j.finished), None)

    def expand(self, capability: str, param: str, text: str, seed=None, field: str = "") -> Job:
        """Expand a prompt field's text; UserError when it cannot (empty, no expander, one already running)."""
        field = field or param
        if self.expansion(field) is not None:
            raise UserError("this prompt is already being expanded; stop it or wait")
        try:
            job = self.session.expand(capability, param, text, seed, field=field)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        self.offers.pop(field, None)
        self.runner._ensure_thread()
        self.last = job
        return job

    def take_offer(self, field: str) -> str:
        """The expansion offered for ``field`` (removed once taken); UserError when there is none."""
        if field not in self.offers:
            raise UserError("there is no expanded prompt to use; expand one first")
        return self.offers.pop(field)

    def run_blocking(self, job: Job, timeout: float) -> Outcome:
        """Wait for ``job`` (scripts, background mode) and apply it; on timeout cancel it."""
        if not self.runner.wait(job, timeout):
            self.runner.wait(job, 3.0)
            if not job.finished:
                job.error, job.state = f"no result within {timeout:.0f} s; cancelled", FAILED
        self.tick()
        return job.outcome or Outcome(job, error=job.error or "not applied")

    @property
    def jobs(self) -> list[Job]:
        return self.session.jobs

    @property
    def busy(self) -> bool:
        return self.session.busy

    def cancel_all(self) -> None:
        for job in self.session.jobs:
            job.request_cancel()

    def stop(self) -> None:
        self.cancel_all()
        self.runner.stop()
