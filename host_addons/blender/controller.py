"""The add-on's controller, without Blender: capture through the host adapter's hooks, run the
job on the :class:`~.jobs.JobRunner`, and apply finished results on the caller's (main) thread.

Blender calls :meth:`Controller.tick` from ``bpy.app.timers`` or a modal operator; it applies
every finished job exactly once and records an :class:`Outcome` on the job.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ._compat import hostspec
from .jobs import CANCELLED, DONE, FAILED, Job, JobRunner


UI_WAIT = 1.0  # longest the UI thread waits for a first answer from the daemon


class UserError(ValueError):
    """Something the user can fix; its text is shown as the operator's report."""


@dataclass
class Outcome:
    job: Job
    applied: Any = None  # hostspec.Applied
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.applied is not None and not self.error

    def report(self) -> tuple[str, str]:
        """(level, text) for Blender's ``Operator.report``: INFO, WARNING or ERROR."""
        job = self.job
        if self.ok:
            return "INFO", f"muselink: {job.capability} → {self.applied.kind} '{self.applied.name}'"
        if job.state == CANCELLED:
            return "WARNING", f"muselink: {job.capability} cancelled"
        return "ERROR", f"muselink: {job.capability} failed: {self.error or job.error}"


class Controller:
    def __init__(self, runner: JobRunner, *adapters: Any):
        self.runner = runner
        self.pm = hostspec.host_manager(*adapters)
        self.jobs: list = []
        self.last: Job | None = None
        self._hello: Job | None = None  # a status request still in flight

    def host_info(self):
        return self.pm.hook.muselink_host_info()

    def capabilities(self, timeout: float, block: bool = True) -> list:
        """The daemon's capability list (asks it when not known yet). Raises UserError when the
        daemon cannot be reached within ``timeout`` s. With ``block=False`` (Blender's UI thread)
        it waits at most UI_WAIT s and lets the request go on in the background, so a down
        daemon never freezes the interface; the next call picks up the answer."""
        if self.runner.status is None:
            pending = self._hello if self._hello is not None and not self._hello.finished else None
            job = self._hello = pending or self.runner.refresh()
            if block:
                if not self.runner.wait(job, timeout):
                    raise UserError(f"muselink daemon at {self.runner.endpoint} did not answer within {timeout:.0f} s")
            else:
                deadline = time.monotonic() + min(timeout, UI_WAIT)
                while not job.finished and time.monotonic() < deadline:
                    time.sleep(0.02)
                if not job.finished:
                    raise UserError(f"still connecting to the muselink daemon at {self.runner.endpoint} "
                                    "(is 'muselink serve' running?); try again in a moment")
            if job.state != DONE:
                raise UserError(job.error or "could not reach the muselink daemon")
        return list(self.runner.status.capabilities)

    def start(self, request, params: dict) -> Job:
        """Capture for ``request`` (a hostspec CaptureRequest) and submit; raises UserError when
        there is nothing to send."""
        try:
            capture = self.pm.hook.muselink_host_capture(request=request)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if capture is None:
            raise UserError(f"nothing to send to {request.capability} (source: {request.source or 'default'})")
        job = self.runner.submit(request.capability, capture.payloads, params, context=capture)
        self.jobs.append(job)
        self.last = job
        return job

    def tick(self) -> list:
        """Main thread: apply every newly finished job; returns their outcomes."""
        outcomes = []
        for job in [j for j in self.jobs if j.finished]:
            self.jobs.remove(job)
            outcome = Outcome(job)
            if job.state == DONE:
                try:
                    outcome.applied = self.pm.hook.muselink_host_apply(
                        capture=job.context, payloads=job.result.payloads, meta=dict(job.result.meta), replace=None)
                    if outcome.applied is None:
                        outcome.error = "the host could not place the result (its target is gone)"
                except Exception as exc:  # never let a failure escape into Blender's timer
                    outcome.error = f"could not apply the result: {exc}"
            elif job.state == FAILED:
                outcome.error = job.error
            job.outcome = outcome
            outcomes.append(outcome)
        return outcomes

    def run_blocking(self, job: Job, timeout: float) -> Outcome:
        """Wait for ``job`` (scripts, background mode) and apply it; on timeout cancel it."""
        if not self.runner.wait(job, timeout):
            self.runner.wait(job, 3.0)
            if not job.finished:
                job.state, job.error = FAILED, f"no result within {timeout:.0f} s; cancelled"
        self.tick()
        return job.outcome or Outcome(job, error=job.error or "not applied")

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def cancel_all(self) -> None:
        for job in self.jobs:
            job.request_cancel()

    def stop(self) -> None:
        self.cancel_all()
        self.runner.stop()
        self.jobs.clear()


__all__ = ["Controller", "Outcome", "UserError"]
