"""The host session's jobs: what one submitted job is, how it ended, the session's policy, and what
the session needs of a client.

A :class:`Job` is written by the thread that pumps the session (replies from the daemon) and read by
the host's UI thread; its ``state`` is written last, so once :attr:`Job.finished` is true its result
or error is complete. Its :class:`Outcome` is set once, on the thread that applies results.
Stdlib only.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import protocol as P
from .client import JobHandle
from .host import Applied, Capture
from .payloads import ImageData, Payload
from .protocol import Result

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)


@dataclass(frozen=True)
class Policy:
    """How a session keeps its connection and what it does with a job the daemon never got.

    ``hello``: ``keepalive`` sends a non-blocking hello every ``hello_every_down`` s while disconnected
    and every ``hello_every_up`` s while connected, and counts the daemon gone when one is unanswered
    for ``hello_timeout`` s (UI threads); ``before_submit`` asks with a blocking hello before the first
    job and when asked to refresh (worker threads); ``never`` leaves it to the caller.
    ``retry_for`` > 0: a job whose send fails, or that ends ``disconnected``, is sent again every
    ``retry_every`` s for that long (its capture is kept); 0: it fails at once."""

    hello: str = "keepalive"
    hello_every_down: float = 1.0
    hello_every_up: float = 5.0
    hello_timeout: float = 4.0
    retry_every: float = 1.0
    retry_for: float = 0.0

    def __post_init__(self) -> None:
        if self.hello not in ("keepalive", "before_submit", "never"):
            raise ValueError(f"hello must be keepalive, before_submit or never, got {self.hello!r}")


@dataclass(eq=False)
class Job:
    """One job of a session: what was captured for it, and its progress as the daemon reports it."""

    capability: str
    capture: Capture = field(repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    live: bool = False  # sent with the session's live id: the daemon keeps only the newest queued one
    live_seq: int = 0  # the live scheduler's number for it (0: not from live mode)
    id: str = ""
    state: str = QUEUED
    fraction: float = 0.0
    message: str = ""
    lane: str = ""
    position: int = 0
    preview: ImageData | None = field(default=None, repr=False)
    result: Result | None = field(default=None, repr=False)
    error: str = ""
    error_code: str = ""
    started: float = field(default_factory=time.monotonic)
    retry_until: float | None = None
    retry_at: float | None = None
    outcome: Outcome | None = field(default=None, repr=False)  # set once, where results are applied
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _handle: Any = field(default=None, repr=False)  # the client's JobHandle once sent
    _seen: int = field(default=0, repr=False)  # replies of the handle already read

    @property
    def finished(self) -> bool:
        return self.state in ENDED

    @property
    def context(self) -> Any:
        """Where the result belongs (the capture's host-specific target)."""
        return self.capture.target

    def request_cancel(self) -> None:
        """Thread-safe: cancel the job (on the daemon when it was already sent)."""
        self._cancel.set()
        handle = self._handle
        if handle is not None:
            handle.request_cancel()

    def describe(self) -> str:
        """One line for a status bar: ``style.fast 40% stylizing``."""
        if self.state == FAILED:
            return f"{self.capability} failed: {self.error}"
        if self.state in (DONE, CANCELLED):
            return f"{self.capability} {self.state}"
        pct = f" {round(self.fraction * 100)}%" if self.state == RUNNING else f" {self.state}"
        return f"{self.capability}{pct}{' ' + self.message if self.message else ''}"


@dataclass
class Outcome:
    """How a job ended in the host: what applying its outputs created, or why nothing was."""

    job: Job
    applied: list[Applied] = field(default_factory=list)
    error: str = ""
    stale: bool = False  # a live result older than one already shown: dropped on purpose

    @property
    def ok(self) -> bool:
        return bool(self.applied) and not self.error

    def report(self) -> tuple[str, str]:
        """(level, text): INFO, WARNING or ERROR, for a status line or Blender's ``Operator.report``."""
        job = self.job
        if self.ok:
            made = ", ".join(f"{a.kind} '{a.name}'" for a in self.applied)
            return "INFO", f"muselink: {job.capability} → {made}"
        if job.state == CANCELLED:
            return "WARNING", f"muselink: {job.capability} cancelled"
        why = self.error or job.error or (job.state == DONE and "the host could not place the result (its target is gone)")
        return "ERROR", f"muselink: {job.capability} failed: {why or 'not applied'}"


class ClientLike(Protocol):
    """What the session uses of :class:`~.client.Client` (tests pass stand-ins)."""

    endpoint: str
    connected: bool

    def submit(self, capability: str, payloads: dict[str, Payload] | None = None, params: dict[str, Any] | None = None,
               *, session: str | None = None) -> JobHandle: ...
    def drain(self) -> list[P.Message]: ...
    def poll(self, timeout: float) -> list[P.Message]: ...
    def cancel(self, job_id: str) -> None: ...
    def send_hello(self) -> None: ...
    def hello(self, timeout: float | None = None) -> P.Status: ...
    def close(self) -> None: ...
