"""Jobs for the Blender add-on, without Blender: a worker thread owns the bridge ``Client``;
Blender's main thread submits, polls job state from a timer, and cancels.

The client socket lives and dies in the worker thread (ZeroMQ sockets are not thread-safe);
the main thread only touches :class:`Job` objects, whose fields the worker fills in. A job's
``state`` is written last, so once :attr:`Job.finished` is true its result/error are complete.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from ._compat import bridge_client, protocol as P

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
HELLO = "@hello"  # pseudo capability: ask the daemon for its status and capabilities


@dataclass(eq=False)
class Job:
    capability: str
    payloads: dict = field(default_factory=dict, repr=False)
    params: dict = field(default_factory=dict)
    context: Any = field(default=None, repr=False)  # the caller's data (e.g. the capture)
    id: str = ""
    state: str = QUEUED
    fraction: float = 0.0
    message: str = ""
    result: Any = field(default=None, repr=False)  # protocol Result (or Status for HELLO)
    error: str = ""
    error_code: str = ""
    started: float = field(default_factory=time.monotonic)
    outcome: Any = field(default=None, repr=False)  # set on the main thread once the result is applied
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _handle: Any = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)

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


class JobRunner:
    """Runs jobs on one worker thread. ``make_client(endpoint, name, timeout)`` builds the client."""

    def __init__(self, endpoint: str, name: str = "blender", timeout: float = 3.0,
                 make_client: Callable[..., Any] | None = None):
        self.endpoint = endpoint
        self.name = name
        self.timeout = timeout
        self._make_client = make_client or (lambda e, n, t: bridge_client.Client(e, name=n, timeout=t))
        self._commands: queue.Queue = queue.Queue()
        self._active: list = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.status = None  # last protocol Status (capabilities …) from the worker
        self.status_error = ""

    # ---- main thread ------------------------------------------------------------------------
    def submit(self, capability: str, payloads: dict | None = None, params: dict | None = None,
               context: Any = None) -> Job:
        job = Job(capability=capability, payloads=dict(payloads or {}), params=dict(params or {}), context=context)
        self._ensure_thread()
        self._commands.put(job)
        return job

    def refresh(self) -> Job:
        """Ask the daemon for its status (connection state, capabilities) in the background."""
        return self.submit(HELLO)

    def set_endpoint(self, endpoint: str) -> None:
        if endpoint != self.endpoint:
            self.endpoint = endpoint
            self.status, self.status_error = None, ""
            self._commands.put("reconnect")

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

    @property
    def busy(self) -> bool:
        return bool(self._active) or not self._commands.empty()

    def active_jobs(self) -> list:
        with self._lock:
            return list(self._active)

    def stop(self, timeout: float = 3.0) -> None:
        """Cancel running jobs, close the client and end the worker (call from unregister)."""
        for job in self.active_jobs():
            job.request_cancel()
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
        client = None
        try:
            while not stop.is_set():
                try:
                    command = self._commands.get(timeout=0.0 if self._active else 0.05)
                except queue.Empty:
                    command = None
                if command == "reconnect" and client is not None:
                    self._fail_active("the daemon address changed")
                    client.close()
                    client = None
                elif isinstance(command, Job):
                    client = client or self._make_client(self.endpoint, self.name, self.timeout)
                    self._start(client, command)
                if client is not None and self._active:
                    client.poll(0.05)
                    self._forget_finished()
            if client is not None and self._active:  # stopping: send the cancels before closing
                client.drain()
                self._fail_active("the add-on was stopped", state=CANCELLED)
        finally:
            if client is not None:
                client.close()

    def _start(self, client, job: Job) -> None:
        if job._cancel.is_set():
            self._finish(job, CANCELLED, message="cancelled before it was sent")
            return
        try:
            if job.capability == HELLO or not client.connected:
                status = client.hello()
                self.status, self.status_error = status, ""
                if job.capability == HELLO:
                    job.result = status
                    self._finish(job, DONE)
                    return
            job.id = client.new_job_id()
            handle = client.submit(job.capability, job.payloads, job.params, job_id=job.id,
                                   on_event=lambda event: self._on_event(job, event))
        except bridge_client.DaemonUnavailable as exc:
            self.status, self.status_error = None, str(exc)
            self._finish(job, FAILED, error=str(exc), code="unreachable")
            return
        except ValueError as exc:  # e.g. message bigger than the daemon accepts
            self._finish(job, FAILED, error=str(exc), code="bad_request")
            return
        job.payloads = {}  # the frames are sent; do not keep a second copy of the pixels
        job._handle = handle
        with self._lock:
            self._active.append(job)
        if job._cancel.is_set():
            handle.request_cancel()

    def _on_event(self, job: Job, event) -> None:
        if isinstance(event, P.Accepted):
            job.state = RUNNING
            job.message = f"queued in lane {event.lane}" if event.position else ""
        elif isinstance(event, P.Progress):
            job.fraction, job.message = event.fraction, event.message
            job.state = RUNNING
        elif isinstance(event, P.Result):
            job.result = event
            self._finish(job, DONE)
        elif isinstance(event, P.Cancelled):
            self._finish(job, CANCELLED, message=getattr(event, "reason", ""))
        elif isinstance(event, P.Error):
            self._finish(job, FAILED, error=event.message, code=event.code)

    def _finish(self, job: Job, state: str, error: str = "", code: str = "", message: str | None = None) -> None:
        job.error, job.error_code = error, code
        if message is not None:
            job.message = message
        if state == DONE:
            job.fraction = 1.0
        job.state = state  # last: readers on the main thread see a complete job

    def _forget_finished(self) -> None:
        with self._lock:
            self._active = [j for j in self._active if not j.finished]

    def _fail_active(self, why: str, state: str = FAILED) -> None:
        for job in self.active_jobs():
            if not job.finished:
                self._finish(job, state, error=why if state == FAILED else "", code="disconnected", message=why)
        self._forget_finished()
