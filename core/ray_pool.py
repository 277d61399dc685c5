"""Workers as Ray actors: the same lanes on a Ray cluster (``muselink serve --executor ray``).

Each worker slot is one actor (``num_cpus``/``num_gpus`` from its lane's config) wrapping the same
:class:`~muselink.core.worker.WorkerRuntime` a local worker process runs. A job goes to its actor
through Ray's object store (images as numpy arrays: shared memory on the node, no copy); the actor
streams the job's events back as a Ray streaming generator. A thread per running job turns them
into the same frames a local worker sends and hands them to the broker's loop over an ``inproc``
socket, so the broker cannot tell the difference. Soft cancel is an actor call; the hard stop
after the grace period, and the memory cap's, is ``ray.kill`` followed by a fresh actor.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import zmq

from muselink.bridge import protocol as P
from muselink.bridge.payloads import BlobData, ImageData

from . import __version__
from .config import DaemonConfig, LaneConfig
from .workers import WorkerEvent, WorkerSlot

log = logging.getLogger("muselink.ray")
EVENTS = "inproc://muselink-ray-events"


class WorkerActor:
    """The body of a Ray actor: one lane's runtime, one job at a time (plus concurrent cancel/stats)."""

    def __init__(self, config: DaemonConfig, lane: str):
        from .worker import WorkerRuntime

        self.runtime = WorkerRuntime(config, lane)
        self.cancels: dict[str, threading.Event] = {}

    def ready(self) -> int:
        return os.getpid()

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    def cancel(self, job_id: str) -> None:
        event = self.cancels.get(job_id)
        if event is not None:
            event.set()

    def run(self, submit: P.Submit) -> Any:
        """A generator of the job's messages: progress, stats, then its terminal reply."""
        cancel = self.cancels.setdefault(submit.job, threading.Event())
        events: queue.Queue[P.Message | None] = queue.Queue()

        def work() -> None:
            try:
                self.runtime.run(submit, events.put, cancel)
            finally:
                events.put(None)

        threading.Thread(target=work, name=f"job-{submit.job}", daemon=True).start()
        try:
            while (message := events.get()) is not None:
                yield _portable(message)
        finally:
            self.cancels.pop(submit.job, None)


def _portable(message: P.Message) -> P.Message:
    """The message with payload buffers Ray can put in its object store (numpy arrays, bytes)."""
    payloads = message.payload_map()
    if not payloads:
        return message
    moved: dict[str, Any] = {}
    for name, payload in payloads.items():
        if isinstance(payload, ImageData):
            moved[name] = ImageData.from_numpy(payload.to_numpy())
        elif isinstance(payload, BlobData):
            moved[name] = BlobData(payload.media_type, bytes(payload.data))
        else:
            moved[name] = payload
    return replace(message, payloads=moved)  # type: ignore[call-arg]


class RayPool:
    kind = "ray"

    def __init__(self, config: DaemonConfig, context: zmq.Context[Any], lanes: dict[str, int],
                 lane_configs: dict[str, LaneConfig]):
        import ray

        self.ray = ray
        self.config = config
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            address = config.ray_address
            options: dict[str, Any] = {"address": address} if address else {"num_cpus": os.cpu_count() or 2}
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, **options)
        self.inbox = context.socket(zmq.PULL)
        self.inbox.bind(EVENTS)
        self._context = context
        self.slots = [WorkerSlot(name=f"{lane}-{i}", lane=lane) for lane, n in lanes.items() for i in range(n)]
        self._by_name = {slot.name.encode(): slot for slot in self.slots}
        self._lane_configs = lane_configs
        self._actor_class = ray.remote(WorkerActor)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, slot: WorkerSlot) -> None:
        lane = self._lane_configs.get(slot.lane, LaneConfig())
        actor = self._actor_class.options(num_cpus=lane.num_cpus, num_gpus=lane.num_gpus, max_concurrency=4,
                                          name=None).remote(self.config, slot.lane)
        slot.handle, slot.state, slot.kill_reason, slot.stats = actor, "starting", None, {}
        slot.started_at = time.monotonic()

        def wait_ready() -> None:
            with self._pusher() as push:
                try:
                    pid = self.ray.get(actor.ready.remote())
                except Exception as exc:  # the actor failed to start (e.g. a plugin crashed its import)
                    push(slot, b"exit", type(exc).__name__.encode())
                    return
                slot.pid = pid
                push(slot, b"ready")

        threading.Thread(target=wait_ready, daemon=True).start()

    can_pause = False  # actors may run on other machines: latency lanes do not pause them

    def pause(self, slot: WorkerSlot, paused: bool) -> bool:
        return False

    def kill(self, slot: WorkerSlot, reason: str) -> None:
        slot.kill_reason = reason
        actor, slot.handle = slot.handle, None
        if actor is not None:
            self.ray.kill(actor, no_restart=True)
            if slot.job is None:  # no job thread to notice: say so ourselves
                with self._pusher() as push:
                    push(slot, b"exit", b"stopped by the broker")

    def stop_all(self, timeout: float) -> None:
        for slot in self.slots:
            slot.kill_reason = "shutdown"
            if slot.handle is not None:
                try:
                    slot.handle.__ray_terminate__.remote()  # graceful: plugins' shutdown hooks run
                except Exception:
                    pass
            slot.state = "stopped"

    def close(self) -> None:
        self.inbox.close(linger=0)
        if self._owns_ray:
            self.ray.shutdown()

    # ---- messages -------------------------------------------------------------------------
    @contextmanager
    def _pusher(self) -> Iterator[Any]:
        """A function sending events into the broker's loop, for one helper thread."""
        sock = self._context.socket(zmq.PUSH)
        sock.linger = 1000
        sock.connect(EVENTS)
        try:
            yield lambda slot, kind, *frames: sock.send_multipart([slot.name.encode(), kind, *frames], copy=False)
        finally:
            sock.close()

    def send(self, slot: WorkerSlot, message: P.Message) -> bool:
        actor = slot.handle
        if actor is None:
            return False
        if isinstance(message, P.Submit):
            threading.Thread(target=self._run, args=(slot, actor, _portable(message)), daemon=True).start()
        elif isinstance(message, P.Cancel):
            actor.cancel.remote(message.job)
        elif isinstance(message, P.StatusRequest):
            threading.Thread(target=self._stats, args=(slot, actor), daemon=True).start()
        return True

    def _run(self, slot: WorkerSlot, actor: Any, submit: P.Submit) -> None:
        with self._pusher() as push:
            try:
                for ref in actor.run.options(num_returns="streaming").remote(self.ray.put(submit)):
                    message = self.ray.get(ref)
                    push(slot, b"stats" if isinstance(message, P.Status) else b"reply", *P.encode(message))
            except Exception as exc:  # the actor died (crash, OOM kill, or ray.kill from the broker)
                log.debug("actor of %s ended: %s", slot.name, exc)
                push(slot, b"exit", type(exc).__name__.encode())

    def _stats(self, slot: WorkerSlot, actor: Any) -> None:
        try:
            stats = self.ray.get(actor.stats.remote())
        except Exception:
            return
        with self._pusher() as push:
            push(slot, b"stats", *P.encode(P.Status(protocol=P.PROTOCOL_VERSION, daemon_version=__version__, plugins=stats)))

    def poll_items(self) -> list[Any]:
        return [self.inbox]

    def events(self, ready: dict[Any, int]) -> list[WorkerEvent]:
        found: list[WorkerEvent] = []
        if self.inbox not in ready:
            return found
        while True:
            try:
                frames = self.inbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return found
            slot = self._by_name.get(frames[0].bytes)
            kind = frames[1].bytes
            if slot is None:
                continue
            if kind == b"ready":
                found.append(WorkerEvent("ready", slot))
            elif kind == b"reply":
                found.append(WorkerEvent("reply", slot, frames=frames[2:]))
            elif kind == b"stats":
                status = P.decode(frames[2:], P.DAEMON_MESSAGES)
                found.append(WorkerEvent("stats", slot, stats=status.plugins if isinstance(status, P.Status) else {}))
            elif kind == b"exit":
                if slot.handle is not None and slot.kill_reason is None:
                    slot.handle = None
                detail = frames[2].bytes.decode(errors="replace") if len(frames) > 2 else ""
                found.append(WorkerEvent("exit", slot, detail=f"its Ray actor died ({detail})"))

    def over_memory(self) -> list[WorkerSlot]:
        return []  # the cap is enforced inside each actor, at every progress step
