"""The muselink daemon: a broker in front of supervised workers (Majordomo's shape).

The broker owns the client ROUTER socket, the protocol, the lanes (queues fair between clients),
cancel, liveness and status; it never runs capability code. Each lane's jobs run in that lane's
workers, one job per worker at a time: local processes (``workers.LocalPool``) or Ray actors
(``ray_pool.RayPool``). A worker's replies are forwarded to the client frame for frame. A worker
that dies ends its job with ``worker_crashed`` (or ``out_of_memory``) and is restarted with
back-off; a cancelled job that does not stop within the grace period has its worker killed and
restarted. Only the main thread touches the sockets, and every job ends exactly once.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import zmq

from muselink.bridge import protocol as P
from muselink.bridge.fields import show
from muselink.bridge.payloads import ProtocolError

from . import __version__
from .capability import Capability
from .config import DaemonConfig, LaneConfig
from .endpoints import check_bind, enable_curve
from .lanes import Job, Lane
from .peers import PeerWatch
from .registry import Registry
from .worker import jsonable, resolve_device  # noqa: F401  (re-exported: used by benchmarks and plugins)
from .workers import TERMINAL_COMMANDS, WorkerEvent, WorkerSlot
from .yielding import Yielding

log = logging.getLogger("muselink.daemon")
STABLE_AFTER_S = 30.0  # a worker that lived this long before dying restarts without back-off
MAX_BACKOFF_S = 30.0


class Daemon:
    def __init__(self, config: DaemonConfig, registry: Registry | None = None):
        self.config = config
        self.registry = registry or Registry()
        self.jobs: dict[tuple[bytes, str], Job] = {}
        used = {cap.lane for cap in self.registry.capabilities.values()} or {"interactive"}
        self.lane_configs = {name: config.lanes.get(name, LaneConfig()) for name in sorted(used)}
        self.lanes = {name: Lane(name) for name in self.lane_configs}
        self._stop = threading.Event()
        self.context: zmq.Context[Any] = zmq.Context()
        self.started_at = time.time()
        self._auth: Any = None
        self.pool: Any = None
        self._specs: list[Any] = []
        self._specs_at = -1e9

    # ---- setup ----------------------------------------------------------------------------
    def bind(self) -> None:
        curve = bool(self.config.curve_secret_key)
        check_bind(self.config.endpoint, curve)
        self.router = self.context.socket(zmq.ROUTER)
        self.router.linger = 500
        self.router.router_mandatory = False
        self.peers = PeerWatch(self.router)
        if self.config.max_message_bytes:
            self.router.setsockopt(zmq.MAXMSGSIZE, self.config.max_message_bytes)
        if self.config.curve_secret_key:
            self._auth = enable_curve(self.context, self.router, self.config.curve_secret_key, self.config.curve_clients_dir)
        self.router.bind(self.config.endpoint)

    def _make_pool(self) -> Any:
        counts = {name: lane.workers for name, lane in self.lane_configs.items()}
        if self.config.executor == "ray":
            from .ray_pool import RayPool

            return RayPool(self.config, self.context, counts, self.lane_configs)
        from .workers import LocalPool

        return LocalPool(self.config, self.context, counts)

    def capability_specs(self) -> list[Any]:
        """Every capability's schema and availability, checked at most once a second: availability checks are
        plugin code, and the broker's one thread must keep answering every client."""
        now = time.monotonic()
        if now - self._specs_at > 1.0:
            self._specs = [c.spec() for c in self.registry.capabilities.values()]
            self._specs_at = now
        return self._specs

    def status(self) -> P.Status:
        slots = self.pool.slots if self.pool is not None else []
        lanes = {name: {"workers": self.lane_configs[name].workers, "queued": lane.queued(),
                        "running": sum(1 for s in slots if s.lane == name and s.state == "busy")}
                 for name, lane in self.lanes.items()}
        devices = sorted({s.stats["device"] for s in slots if s.stats.get("device")})
        models: dict[str, Any] = {"loaded": {}, "loads": {}}
        for slot in slots:  # each worker has its own cache; this is the sum
            cache = slot.stats.get("models", {})
            models["loaded"].update({f"{slot.name}:{k}": v for k, v in cache.get("loaded", {}).items()})
            for key, n in cache.get("loads", {}).items():
                models["loads"][key] = models["loads"].get(key, 0) + n
        return P.Status(protocol=P.PROTOCOL_VERSION, daemon_version=__version__,
                        capabilities=self.capability_specs(),
                        lanes=lanes, workers=[s.describe() for s in slots],
                        plugins={"loaded": self.registry.plugins, "device": ",".join(devices) or self.config.device,
                                 "executor": self.config.executor, "models": models, "uptime_s": round(time.time() - self.started_at, 1)},
                        max_message_bytes=self.config.max_message_bytes)

    # ---- main loop ------------------------------------------------------------------------
    def serve(self, install_signals: bool = True, ready: threading.Event | None = None) -> int:
        self.bind()
        self.registry.pm.hook.muselink_configure(config=self.config)
        self.pool = self._make_pool()
        self.yielding = Yielding(self.pool, self.lane_configs)
        for slot in self.pool.slots:
            self.pool.start(slot)
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self._stop.set())
        log.info("muselink %s serving on %s (%s workers: %s, %d capabilities)", __version__, self.config.endpoint,
                 self.config.executor, {n: c.workers for n, c in self.lane_configs.items()}, len(self.registry.capabilities))
        if ready is not None:
            ready.set()
        try:
            while not self._stop.is_set():
                try:
                    self._loop_once(50 if self.yielding.paused else 200)
                except zmq.ContextTerminated:
                    raise
                except Exception:  # last resort: log and keep serving every other client
                    log.exception("internal error in the daemon's main loop; serving on")
                    time.sleep(0.05)
        finally:
            self._shutdown()
        return 0

    def _loop_once(self, timeout_ms: int) -> None:
        poller = zmq.Poller()
        for item in (self.router, self.peers.monitor, *self.pool.poll_items()):
            poller.register(item, zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
        for event in self.pool.events(ready):
            self._worker_event(event)
        if self.router in ready:
            self._drain_router()
        if self.peers.monitor in ready:
            self._forget_gone_peers()
        self._supervise()
        self._dispatch()

    def stop(self) -> None:
        self._stop.set()

    def _drain_router(self) -> None:
        for _ in range(1000):  # bounded so replies keep flowing under a flood
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            identity = frames[0].bytes
            self._forget_gone_peers()  # before this message: its connection may reuse a closed one's fd
            self.peers.seen(identity, frames[-1])
            try:
                self._handle(identity, frames[1:])
            except Exception as exc:  # last resort: a bug in handling one message never stops the daemon
                log.exception("internal error while handling a message from %s", identity.hex())
                self.reply(identity, P.Error(code="internal", job=P.job_of(frames[1:]),
                                             message=f"the daemon failed to handle this message ({type(exc).__name__}); "
                                                     "it keeps serving — please report this with the daemon's log"))

    def reply(self, identity: bytes, message: P.Message) -> None:
        try:
            frames = P.encode(message)
        except (TypeError, ValueError) as exc:  # e.g. metadata that JSON cannot carry
            log.exception("cannot encode %s for %s", message.command, identity.hex())
            frames = P.encode(P.Error(code="internal", job=getattr(message, "job", None),
                                      message=f"the daemon could not encode its {message.command} reply: {exc}"))
        self.router.send_multipart([identity, *frames], copy=False)

    def _forget_gone_peers(self) -> None:
        """Cancel every job of clients whose connection closed, so a dead client's work frees its lane."""
        for identity in self.peers.gone():
            gone = [job for job in self.jobs.values() if job.identity == identity]
            if gone:
                log.info("client %s disconnected; cancelling its %d job(s)", identity.hex(), len(gone))
            for job in gone:
                self._cancel_job(job, "client disconnected")

    # ---- client messages ------------------------------------------------------------------
    def _handle(self, identity: bytes, frames: list[Any]) -> None:
        try:
            msg = P.decode(frames, P.CLIENT_MESSAGES)
        except ProtocolError as exc:
            log.debug("bad message from %s: %s", identity.hex(), exc.message)
            self.reply(identity, P.Error(code=exc.code, message=exc.message, job=P.job_of(frames)))
            return
        if isinstance(msg, P.Hello):
            if msg.protocol != P.PROTOCOL_VERSION:
                self.reply(identity, P.Error(code="protocol_version", message=(
                    f"protocol mismatch: client {show(msg.client)} speaks version {msg.protocol}, this daemon "
                    f"speaks {P.PROTOCOL_VERSION}; update the add-on or the daemon so they match")))
            else:
                self.reply(identity, self.status())
        elif isinstance(msg, P.StatusRequest):
            self.reply(identity, self.status())
        elif isinstance(msg, P.Ping):
            self.reply(identity, P.Pong(nonce=msg.nonce))
        elif isinstance(msg, P.Submit):
            self._submit(identity, msg)
        elif isinstance(msg, P.Cancel):
            self._cancel(identity, msg.job)

    def lane_of(self, cap: Capability) -> Lane:
        return self.lanes.get(cap.lane) or next(iter(self.lanes.values()))

    def _submit(self, identity: bytes, msg: P.Submit) -> None:
        def refuse(code: str, text: str) -> None:
            self.reply(identity, P.Error(code=code, message=text, job=msg.job))

        if (identity, msg.job) in self.jobs:
            return refuse("duplicate_job", f"job id {show(msg.job)} is already in use by this client")
        try:
            cap = self.registry.get(msg.capability)
        except KeyError as exc:
            return refuse("unknown_capability", exc.args[0])
        reason = next((s.unavailable_reason for s in self.capability_specs() if s.name == cap.name), None)
        if reason:
            return refuse("unavailable", f"{cap.name} is not available: {reason}")
        try:
            params = cap.validate(msg.params, msg.payloads)
        except ValueError as exc:
            return refuse("bad_parameter", str(exc))
        lane = self.lane_of(cap)
        queued = sum(lane.queued_for(identity) for lane in self.lanes.values())
        if queued >= self.config.max_queued_per_client and not lane.has_session(identity, msg.session):
            return refuse("queue_full", f"this client already has {queued} queued jobs, the limit "
                                        f"(muselink serve --max-queued {self.config.max_queued_per_client}); "
                                        "wait for some to finish or cancel them")
        job = Job(identity=identity, job_id=msg.job, capability=cap, params=params, payloads=msg.payloads,
                  session=msg.session)
        self.jobs[job.key] = job
        position, superseded = lane.submit(job)
        self.reply(identity, P.Accepted(job=msg.job, lane=lane.name, position=position))
        for old in superseded:
            self._end(old, P.Cancelled(job=old.job_id, reason=f"superseded by newer request {show(msg.job)}"))
        log.debug("job %s %s queued in %s at %d", msg.job, cap.name, lane.name, position)

    def _cancel(self, identity: bytes, job_id: str) -> None:
        job = self.jobs.get((identity, job_id))
        if job is None:
            self.reply(identity, P.Error(code="unknown_job", message=f"no active job {show(job_id)} for this client", job=job_id))
            return
        self._cancel_job(job, "cancelled by client")

    def _cancel_job(self, job: Job, reason: str) -> None:
        """Queued: ends now. Running: its worker is asked to stop at the next step, and is killed and
        restarted if it has not within the grace period (the job still ends ``cancelled``)."""
        if self.lane_of(job.capability).remove(job):
            self._end(job, P.Cancelled(job=job.job_id, reason=f"{reason} before it started"))
            return
        if job.state != "running" or job.cancel_reason:
            return
        job.cancel_reason = reason
        job.cancel_deadline = time.monotonic() + self.config.cancel_grace_s
        if job.worker is not None:
            self.yielding.release(job.worker)
            self.pool.send(job.worker, P.Cancel(job=job.job_id))

    def _end(self, job: Job, message: P.Message | None, frames: list[Any] | None = None) -> None:
        """Send ``job``'s one terminal reply (a message, or a worker's frames forwarded as they are)."""
        if not job.finish():
            return
        self.jobs.pop(job.key, None)
        if frames is not None:
            self.router.send_multipart([job.identity, *frames], copy=False)
        elif message is not None:
            self.reply(job.identity, message)

    # ---- workers --------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Hand queued jobs to idle workers of their lane."""
        for slot in self.pool.slots:
            if slot.state != "idle":
                continue
            job = self.lanes[slot.lane].next() if slot.lane in self.lanes else None
            if job is None:
                continue
            submit = P.Submit(job=job.job_id, capability=job.capability.name, params=job.params, payloads=job.payloads)
            slot.job, slot.state, job.worker = job, "busy", slot
            if not self.pool.send(slot, submit):
                slot.state = "starting"  # it died between its hello and now; its exit event restarts it
            else:
                self.yielding.started(slot)

    def _worker_event(self, event: WorkerEvent) -> None:
        slot = event.slot
        if event.kind == "ready":
            slot.state = "idle" if slot.job is None else slot.state
            slot.backoff = slot.backoff if time.monotonic() - slot.started_at < STABLE_AFTER_S else 0.0
            self.pool.send(slot, P.StatusRequest())
        elif event.kind == "stats":
            slot.stats = event.stats
        elif event.kind == "reply":
            self._worker_reply(slot, event.frames)
        elif event.kind == "exit":
            self._worker_exit(slot, event)

    def _worker_reply(self, slot: WorkerSlot, frames: list[Any]) -> None:
        job = slot.job
        if job is None:
            return
        if bytes(frames[1].bytes) in TERMINAL_COMMANDS:
            slot.job, slot.state, job.worker = None, "idle", None
            self.yielding.ended(slot)
            if job.cancel_reason and bytes(frames[1].bytes) == b"cancelled":
                self._end(job, P.Cancelled(job=job.job_id, reason=job.cancel_reason))
            else:
                self._end(job, None, frames)
        elif job.state != "done":
            self.router.send_multipart([job.identity, *frames], copy=False)

    def _worker_exit(self, slot: WorkerSlot, event: WorkerEvent) -> None:
        job, reason = slot.job, slot.kill_reason
        slot.job, slot.pid, slot.paused = None, None, False
        self.yielding.ended(slot, exited=True)
        if job is not None:
            job.worker = None
            name = job.capability.name
            if reason == "cancel" or job.cancel_reason:
                self._end(job, P.Cancelled(job=job.job_id, reason=f"{job.cancel_reason or 'cancelled'} (its worker was "
                                                                   "stopped and restarted: the job did not stop in time)"))
            elif reason == "out_of_memory" or event.detail == "over its memory cap":
                self._end(job, P.Error(code="out_of_memory", job=job.job_id, message=(
                    f"{name} went over the worker memory cap ({self.config.worker_memory_bytes / 2**20:.0f} MiB, "
                    "muselink serve --worker-memory); its worker was restarted. Try a smaller image or size")))
            elif reason != "shutdown":
                self._end(job, P.Error(code="worker_crashed", job=job.job_id, message=(
                    f"{name} crashed its worker ({event.detail}); the worker is being restarted and other jobs "
                    "are unaffected. If it happens again with this input, please report it")))
        if reason == "shutdown" or self._stop.is_set():
            slot.state = "stopped"
            return
        deliberate = reason in ("cancel", "out_of_memory")
        if not deliberate:
            log.warning("worker %s (%s) %s; restarting", slot.name, slot.lane, event.detail)
            lived = time.monotonic() - slot.started_at
            slot.backoff = 0.5 if lived >= STABLE_AFTER_S or not slot.backoff else min(MAX_BACKOFF_S, slot.backoff * 2)
        slot.state, slot.restarts = "waiting", slot.restarts + 1
        slot.retry_at = time.monotonic() + (0.0 if deliberate else slot.backoff)

    def _supervise(self) -> None:
        """Restart workers whose back-off is over; enforce cancel grace periods and memory caps."""
        now = time.monotonic()
        self.yielding.tick()
        for slot in self.pool.slots:
            if slot.state == "waiting" and now >= slot.retry_at:
                self.pool.start(slot)
            job = slot.job
            if job is not None and job.cancel_deadline is not None and now >= job.cancel_deadline and slot.kill_reason is None:
                log.warning("job %s did not stop within %.1f s of its cancel; restarting worker %s",
                            job.job_id, self.config.cancel_grace_s, slot.name)
                self.pool.kill(slot, "cancel")
        for slot in self.pool.over_memory():
            if slot.kill_reason is None:
                log.warning("worker %s went over the memory cap; restarting it", slot.name)
                self.pool.kill(slot, "out_of_memory")

    # ---- shutdown -------------------------------------------------------------------------
    def _shutdown(self) -> None:
        log.info("shutting down: cancelling %d job(s)", len(self.jobs))
        self.yielding.enabled = False
        self.yielding.release_all()
        for lane in self.lanes.values():
            for job in lane.drain():
                self._end(job, P.Cancelled(job=job.job_id, reason="daemon shutting down"))
        for job in list(self.jobs.values()):
            self._cancel_job(job, "daemon shutting down")
        deadline = time.monotonic() + self.config.cancel_grace_s
        while self.jobs and time.monotonic() < deadline:  # let running jobs reach their next step
            poller = zmq.Poller()
            for item in self.pool.poll_items():
                poller.register(item, zmq.POLLIN)
            for event in self.pool.events(dict(poller.poll(50))):
                if event.kind == "reply":
                    self._worker_reply(event.slot, event.frames)
        for job in list(self.jobs.values()):  # stuck in a step that never checks: answer for it
            self._end(job, P.Cancelled(job=job.job_id, reason="daemon shutting down"))
        self.pool.stop_all(timeout=5.0)
        self.pool.close()
        try:
            self.registry.pm.hook.muselink_shutdown()
        except Exception:
            log.exception("a plugin failed during shutdown")
        self.peers.close()
        self.router.close(linger=500)
        if self._auth is not None:
            self._auth.stop()
        self.context.term()
        log.info("stopped")
