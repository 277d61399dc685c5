"""Jobs and lanes: each lane is a queue that is fair between clients, served by its own workers.

A lane keeps one FIFO per client and hands out jobs from the clients in turn (round robin), so one
client's long batch never starves another. A job submitted with a ``session`` replaces that
client's queued job of the same session (live mode: latest wins). Only the broker's main thread
touches lanes; the workers that run the jobs are processes (or Ray actors), see ``workers.py``.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from .capability import Capability


@dataclass(eq=False)
class Job:
    identity: bytes
    job_id: str
    capability: Capability
    params: dict[str, Any]
    payloads: dict[str, Any]
    session: str | None = None
    state: str = "queued"  # queued | running | done
    cancel_reason: str = ""  # set when a cancel was asked for
    cancel_deadline: float | None = None  # monotonic time by which a running job must have stopped
    worker: Any = None  # the WorkerSlot running it

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.identity, self.job_id)

    def finish(self) -> bool:
        """Mark done; True only for the first caller, so a job gets exactly one terminal reply."""
        if self.state == "done":
            return False
        self.state = "done"
        return True


class Lane:
    """A named queue, fair between clients, with latest-wins sessions."""

    def __init__(self, name: str):
        self.name = name
        self._queues: OrderedDict[bytes, deque[Job]] = OrderedDict()

    def submit(self, job: Job) -> tuple[int, list[Job]]:
        """Queue ``job``; return its position and the queued jobs it superseded (already removed)."""
        queue = self._queues.setdefault(job.identity, deque())
        superseded = []
        if job.session is not None:
            superseded = [j for j in queue if j.session == job.session]
            for old in superseded:
                queue.remove(old)
        queue.append(job)
        return self.queued() - 1, superseded

    def next(self) -> Job | None:
        """The next job to run, round robin between clients; None when the lane is empty."""
        for identity in list(self._queues):
            queue = self._queues[identity]
            if queue:
                job = queue.popleft()
                self._queues.move_to_end(identity)  # round robin: this client goes last
                if not queue:
                    del self._queues[identity]
                job.state = "running"
                return job
            del self._queues[identity]
        return None

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def queued_for(self, identity: bytes) -> int:
        return len(self._queues.get(identity, ()))

    def has_session(self, identity: bytes, session: str | None) -> bool:
        """True when ``identity`` has a queued job of ``session`` (a new one would supersede it)."""
        return session is not None and any(j.session == session for j in self._queues.get(identity, ()))

    def remove(self, job: Job) -> bool:
        """Take a still-queued job out of the queue; False if it is not queued (running or done)."""
        queue = self._queues.get(job.identity)
        if queue and job in queue:
            queue.remove(job)
            return True
        return False

    def drain(self) -> list[Job]:
        """Remove and return every queued job (used at shutdown)."""
        jobs = [j for q in self._queues.values() for j in q]
        self._queues.clear()
        return jobs
