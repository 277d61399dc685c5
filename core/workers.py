"""The broker's view of its workers: one slot per worker, and the pool that starts, feeds and kills them.

:class:`LocalPool` runs each worker as a local process (``spawn`` start method: a fresh interpreter,
safe with CUDA), connected to the broker over an ``ipc://`` socket: job frames travel both ways
without a copy in Python. ``ray_pool.RayPool`` offers the same interface over Ray actors. The broker
(``daemon.py``) only sees :class:`WorkerSlot` and :class:`WorkerEvent`.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from muselink.bridge import protocol as P
from muselink.bridge.fields import ProtocolError

from . import shm
from .config import DaemonConfig
from .worker import EXIT_OUT_OF_MEMORY, WorkerSpec, rss_bytes, worker_main

log = logging.getLogger("muselink.workers")
TERMINAL_COMMANDS = {b"result", b"cancelled", b"error"}  # a job's one last reply


@dataclass(eq=False)
class WorkerSlot:
    """One worker of a lane, across its restarts."""

    name: str
    lane: str
    state: str = "starting"  # starting | idle | busy | waiting (to restart) | stopped
    job: Any = None  # the lanes.Job it runs
    pid: int | None = None
    restarts: int = 0
    started_at: float = 0.0
    retry_at: float = 0.0
    backoff: float = 0.0
    kill_reason: str | None = None  # why the broker stopped it: "cancel" | "out_of_memory" | "shutdown"
    paused: bool = False  # stopped for a while so a latency lane's job runs alone (yielding.py)
    stats: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  # the pool's own handle (a Process, an actor)

    def describe(self) -> dict[str, Any]:
        models = self.stats.get("models", {})
        return {"name": self.name, "lane": self.lane, "pid": self.pid, "state": self.state, "restarts": self.restarts,
                "job": self.job.job_id if self.job is not None else None, "device": self.stats.get("device"),
                "models": sorted(models.get("loaded", {})), "rss_bytes": self.stats.get("rss_bytes", 0),
                "paused": self.paused, "shared_memory": self.stats.get("shm", {})}


@dataclass(frozen=True)
class WorkerEvent:
    """Something a worker did: ``ready`` (started), ``reply`` (job frames for the client), ``stats``
    (models and memory), ``exit`` (the process or actor ended; ``code`` says how)."""

    kind: str
    slot: WorkerSlot
    frames: list[Any] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    code: int | None = None
    detail: str = ""


def describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped unexpectedly"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (often the out-of-memory killer)" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}"
    if code == EXIT_OUT_OF_MEMORY:
        return "over its memory cap"
    return f"exit code {code}"


class LocalPool:
    """Workers as local processes, talking to the broker over one ROUTER socket on ``ipc://``; frames of a
    megabyte or more travel in shared memory (``shm.py``)."""

    kind = "local"

    def __init__(self, config: DaemonConfig, context: zmq.Context[Any], lanes: dict[str, int]):
        self.config = config
        self._dir = tempfile.mkdtemp(prefix="muselink-workers-")
        self.endpoint = f"ipc://{self._dir}/broker"
        self.router = context.socket(zmq.ROUTER)
        self.router.linger = 0
        self.router.router_mandatory = True  # a message for a worker that is gone fails loudly
        self.router.bind(self.endpoint)
        self.slots = [WorkerSlot(name=f"{lane}-{i}", lane=lane) for lane, n in lanes.items() for i in range(n)]
        self._by_name = {slot.name.encode(): slot for slot in self.slots}
        self._mp = multiprocessing.get_context("spawn")
        self._memory_checked = 0.0
        self.link = shm.BrokerLink()

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, slot: WorkerSlot) -> None:
        spec = WorkerSpec(name=slot.name, lane=slot.lane, endpoint=self.endpoint, config=self.config,
                          broker_pid=os.getpid(), log_level=logging.getLogger().getEffectiveLevel(),
                          shm_probe=self.link.probe)
        process = self._mp.Process(target=worker_main, args=(spec,), name=f"muselink-{slot.name}", daemon=True)
        process.start()
        slot.handle, slot.pid, slot.state = process, process.pid, "starting"
        slot.started_at, slot.kill_reason, slot.stats, slot.paused = time.monotonic(), None, {}, False

    can_pause = hasattr(signal, "SIGSTOP")

    def pause(self, slot: WorkerSlot, paused: bool) -> bool:
        """Stop (SIGSTOP) or continue (SIGCONT) a worker process; False when it is not there."""
        if slot.pid is None:
            return False
        try:
            os.kill(slot.pid, signal.SIGSTOP if paused else signal.SIGCONT)
        except OSError:
            return False
        slot.paused = paused
        return True

    def kill(self, slot: WorkerSlot, reason: str) -> None:
        """Stop a worker at once (its exit arrives as an event); ``reason`` is remembered for it."""
        slot.kill_reason = reason
        if slot.handle is not None and slot.handle.is_alive():
            slot.handle.kill()

    def stop_all(self, timeout: float) -> None:
        """Ask every worker to leave (SIGTERM: plugin shutdown hooks run), then kill stragglers."""
        for slot in self.slots:
            slot.kill_reason = "shutdown"
            if slot.handle is not None and slot.handle.is_alive():
                slot.handle.terminate()
        deadline = time.monotonic() + timeout
        for slot in self.slots:
            if slot.handle is not None:
                slot.handle.join(max(0.0, deadline - time.monotonic()))
                if slot.handle.is_alive():
                    slot.handle.kill()
                    slot.handle.join(1)
            slot.state = "stopped"

    def close(self) -> None:
        self.router.close(linger=0)
        self.link.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    # ---- messages -------------------------------------------------------------------------
    def send(self, slot: WorkerSlot, message: P.Message) -> bool:
        frames = self.link.pack(slot.name, P.encode(message), job=isinstance(message, P.Submit))
        if self._send(slot.name, frames):
            return True
        self.link.ended(slot.name)
        return False

    def _send(self, name: str, frames: list[Any]) -> bool:
        try:
            self.router.send_multipart([name.encode(), *frames], copy=False)
            return True
        except zmq.ZMQError:  # not connected (starting, or just died): the exit event follows
            return False

    def poll_items(self) -> list[Any]:
        return [self.router] + [s.handle.sentinel for s in self.slots if s.handle is not None and s.state != "stopped"]

    def events(self, ready: dict[Any, int]) -> list[WorkerEvent]:
        """Everything the workers did since the last call (never blocks)."""
        found: list[WorkerEvent] = []
        if self.router in ready:
            for _ in range(1000):
                try:
                    frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                slot = self._by_name.get(frames[0].bytes)
                event = self._classify(slot, frames[1:]) if slot is not None else None
                if event is not None:
                    found.append(event)
        for slot in self.slots:
            process = slot.handle
            if process is not None and slot.state != "stopped" and process.sentinel in ready:
                process.join(1)
                code = process.exitcode
                slot.handle = None
                self.link.gone(slot.name, slot.pid)
                found.append(WorkerEvent("exit", slot, code=code, detail=describe_exit(code)))
        pids = {slot.name: slot.pid for slot in self.slots}
        for name, pid, release in self.link.releases():
            if pids.get(name) == pid:
                self._send(name, release)
        self.link.trim()
        return found

    def _classify(self, slot: WorkerSlot, frames: list[Any]) -> WorkerEvent | None:
        if shm.is_control(frames):
            answer = self.link.control(slot.name, frames)
            if answer is not None:
                self._send(slot.name, answer)
            return None
        try:
            frames = self.link.unpack(slot.name, slot.pid, frames)
        except ValueError as exc:  # the job's frames are lost: end it with an error instead of waiting forever
            log.error("worker %s sent frames that cannot be read: %s", slot.name, exc)
            frames = [zmq.Frame(f) for f in P.encode(P.Error(code="internal", job=P.job_of(frames[:-1]), message=(
                f"the result of worker {slot.name} could not be read from shared memory ({exc})")))]
        command = bytes(shm.buffer_of(frames[1])) if len(frames) > 1 else b""
        if command in TERMINAL_COMMANDS:
            self.link.ended(slot.name)
        if command == b"hello":
            return WorkerEvent("ready", slot)
        if command == b"status":
            try:
                status = P.decode(frames, P.DAEMON_MESSAGES)
                return WorkerEvent("stats", slot, stats=status.plugins if isinstance(status, P.Status) else {})
            except ProtocolError:
                return WorkerEvent("stats", slot)
        return WorkerEvent("reply", slot, frames=frames)

    def over_memory(self) -> list[WorkerSlot]:
        """Busy workers over ``--worker-memory`` (checked at most 4 times a second)."""
        cap = self.config.worker_memory_bytes
        now = time.monotonic()
        if not cap or now - self._memory_checked < 0.25:
            return []
        self._memory_checked = now
        return [s for s in self.slots if s.state == "busy" and s.pid and rss_bytes(s.pid) > cap]
