"""Jobs and lanes: each lane has its own worker threads and a queue that is fair between clients.

A lane keeps one FIFO per client and its workers take from the clients in turn (round robin),
so one client's long batch never starves another. A job submitted with a ``session`` replaces
that client's queued job of the same session (live mode: latest wins).
"""
from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from collections.abc import Callable

from .capability import Capability, JobContext


@dataclass(eq=False)
class Job:
    identity: bytes
    job_id: str
    capability: Capability
    params: dict
    payloads: dict
    ctx: JobContext
    session: str | None = None
    state: str = "queued"  # queued | running | done
    cancel_reason: str = "cancelled by client"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.identity, self.job_id)

    def finish(self) -> bool:
        """Mark done; True only for the first caller, so a job gets exactly one terminal reply."""
        with self._lock:
            if self.state == "done":
                return False
            self.state = "done"
            return True

    def cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        self.ctx.cancel_event.set()


class Lane:
    """A named queue with ``workers`` threads that call ``execute(job)``."""

    def __init__(self, name: str, workers: int, execute: Callable[[Job], None]):
        self.name = name
        self.workers = workers
        self._execute = execute
        self._queues: OrderedDict[bytes, deque[Job]] = OrderedDict()
        self._cond = threading.Condition()
        self._running = 0
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"lane-{name}-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> tuple[int, list[Job]]:
        """Queue ``job``; return its position and the queued jobs it superseded (already removed)."""
        with self._cond:
            queue = self._queues.setdefault(job.identity, deque())
            superseded = []
            if job.session is not None:
                superseded = [j for j in queue if j.session == job.session]
                for old in superseded:
                    queue.remove(old)
            queue.append(job)
            position = sum(len(q) for q in self._queues.values()) - 1
            self._cond.notify()
            return position, superseded

    def queued_for(self, identity: bytes) -> int:
        with self._cond:
            return len(self._queues.get(identity, ()))

    def has_session(self, identity: bytes, session: str | None) -> bool:
        """True when ``identity`` has a queued job of ``session`` (a new one would supersede it)."""
        if session is None:
            return False
        with self._cond:
            return any(j.session == session for j in self._queues.get(identity, ()))

    def remove(self, job: Job) -> bool:
        """Take a still-queued job out of the queue; False if a worker already took it."""
        with self._cond:
            queue = self._queues.get(job.identity)
            if queue and job in queue:
                queue.remove(job)
                return True
            return False

    def drain(self) -> list[Job]:
        """Remove and return every queued job (used at shutdown)."""
        with self._cond:
            jobs = [j for q in self._queues.values() for j in q]
            self._queues.clear()
            return jobs

    def _next(self) -> Job | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                for identity in list(self._queues):
                    queue = self._queues[identity]
                    if queue:
                        job = queue.popleft()
                        self._queues.move_to_end(identity)  # round robin: this client goes last
                        if not queue:
                            del self._queues[identity]
                        job.state = "running"
                        self._running += 1
                        return job
                    del self._queues[identity]
                self._cond.wait()

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._execute(job)
            finally:
                with self._cond:
                    self._running -= 1

    def stats(self) -> dict:
        with self._cond:
            return {"workers": self.workers, "queued": sum(len(q) for q in self._queues.values()),
                    "running": self._running}

    def stop(self, timeout: float) -> bool:
        """Stop taking jobs and wait up to ``timeout`` s for running ones; True if all ended."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout)
        return not any(t.is_alive() for t in self._threads)
