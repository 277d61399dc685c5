"""The muselink daemon: one ROUTER socket, lanes of workers, replies routed back by identity.

Only the main thread touches the ROUTER socket. Workers hand their replies to it through an
inproc PUSH/PULL pair (one PUSH socket per worker thread), so progress and results stream out
while the main loop keeps answering ``ping``/``status``/``cancel`` at once.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time
import traceback

import zmq

from muselink.bridge import protocol as P
from muselink.bridge.fields import show
from muselink.bridge.payloads import ProtocolError

from . import __version__
from .capability import JobCancelled, JobContext
from .config import DaemonConfig
from .endpoints import check_bind
from .lanes import Job, Lane
from .models import ModelCache
from .peers import PeerWatch
from .registry import Registry

log = logging.getLogger("muselink.daemon")
OUTBOX = "inproc://muselink-outbox"


class Outbox:
    """Thread-safe reply sending: each thread gets its own PUSH socket into the main loop."""

    def __init__(self, context: zmq.Context):
        self._context = context
        self._local = threading.local()
        self._sockets: list[zmq.Socket] = []
        self._lock = threading.Lock()

    def send(self, identity: bytes, message: P.Message) -> None:
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self._context.socket(zmq.PUSH)
            sock.linger = 1000
            sock.connect(OUTBOX)
            self._local.sock = sock
            with self._lock:
                self._sockets.append(sock)
        sock.send_multipart([identity, *P.encode(message)], copy=False)

    def close(self) -> None:
        with self._lock:
            for sock in self._sockets:
                sock.close(linger=0)
            self._sockets.clear()


def jsonable(value: object, depth: int = 0) -> object:
    """``value`` made safe for the JSON wire: non-finite floats become None, unknown objects their str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if depth > 16:
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    item = getattr(value, "item", None)  # numpy / torch scalars
    return jsonable(item(), depth + 1) if callable(item) else str(value)


def resolve_device(requested: str) -> str:
    """``auto`` → cuda > mps > cpu, as far as torch (if installed) can see."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class Daemon:
    def __init__(self, config: DaemonConfig, registry: Registry | None = None):
        self.config = config
        self.registry = registry or Registry()
        self.models = ModelCache(config.model_memory_bytes)
        self.device = resolve_device(config.device)
        self.jobs: dict[tuple[bytes, str], Job] = {}
        self.lanes = {name: Lane(name, n, self._execute) for name, n in config.lanes.items()}
        self._stop = threading.Event()
        self.context = zmq.Context()
        self.outbox = Outbox(self.context)
        self.started_at = time.time()
        self._auth = None

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
        if curve:
            self._enable_curve()
        self.router.bind(self.config.endpoint)
        self.inbox = self.context.socket(zmq.PULL)
        self.inbox.bind(OUTBOX)

    def _enable_curve(self) -> None:
        import zmq.auth
        from zmq.auth.thread import ThreadAuthenticator

        public, secret = zmq.auth.load_certificate(self.config.curve_secret_key)
        if secret is None:
            raise ValueError(f"{self.config.curve_secret_key} holds no secret key (use the .key_secret file)")
        self._auth = ThreadAuthenticator(self.context)
        self._auth.start()
        self._auth.configure_curve(domain="*", location=self.config.curve_clients_dir or zmq.auth.CURVE_ALLOW_ANY)
        self.router.curve_secretkey = secret
        self.router.curve_publickey = public
        self.router.curve_server = True

    def status(self) -> P.Status:
        lanes = {name: lane.stats() for name, lane in self.lanes.items()}
        return P.Status(protocol=P.PROTOCOL_VERSION, daemon_version=__version__,
                        capabilities=[c.to_json() for c in self.registry.capabilities.values()],
                        lanes=lanes, plugins={"loaded": self.registry.plugins, "device": self.device,
                                              "models": self.models.stats(),
                                              "uptime_s": round(time.time() - self.started_at, 1)},
                        max_message_bytes=self.config.max_message_bytes)

    # ---- main loop ------------------------------------------------------------------------
    def serve(self, install_signals: bool = True, ready: threading.Event | None = None) -> int:
        self.bind()
        self.registry.pm.hook.muselink_configure(config=self.config)
        for lane in self.lanes.values():
            lane.start()
        if install_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self._stop.set())
        log.info("muselink %s serving on %s (device %s, lanes %s, %d capabilities)", __version__,
                 self.config.endpoint, self.device, dict(self.config.lanes), len(self.registry.capabilities))
        if ready is not None:
            ready.set()
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.inbox, zmq.POLLIN)
        poller.register(self.peers.monitor, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                try:
                    events = dict(poller.poll(200))
                    if self.inbox in events:
                        self._flush_outbox()
                    if self.router in events:
                        self._drain_router()
                    if self.peers.monitor in events:
                        self._forget_gone_peers()
                except zmq.ContextTerminated:
                    raise
                except Exception:  # last resort: log and keep serving every other client
                    log.exception("internal error in the daemon's main loop; serving on")
                    time.sleep(0.05)
        finally:
            self._shutdown()
        return 0

    def stop(self) -> None:
        self._stop.set()

    def _flush_outbox(self) -> None:
        while True:
            try:
                frames = self.inbox.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.router.send_multipart(frames, copy=False)

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
        except (TypeError, ValueError) as exc:  # e.g. a plugin's metadata that JSON cannot carry
            log.exception("cannot encode %s for %s", message.command, identity.hex())
            frames = P.encode(P.Error(code="internal", job=getattr(message, "job", None),
                                      message=f"the daemon could not encode its {message.command} reply: {exc}"))
        self.router.send_multipart([identity, *frames], copy=False)

    def _forget_gone_peers(self) -> None:
        """Cancel every job of clients whose connection closed: queued ones at once, running ones at
        their next step, so a dead client's work frees its lane."""
        for identity in self.peers.gone():
            gone = [job for job in self.jobs.values() if job.identity == identity]
            if gone:
                log.info("client %s disconnected; cancelling its %d job(s)", identity.hex(), len(gone))
            for job in gone:
                self._cancel_job(job, "client disconnected")

    def _handle(self, identity: bytes, frames: list) -> None:
        try:
            msg = P.decode(frames, P.CLIENT_MESSAGES)
        except ProtocolError as exc:
            log.debug("bad message from %s: %s", identity.hex(), exc.message)
            self.reply(identity, P.Error(code=exc.code, message=exc.message, job=P.job_of(frames)))
            return
        if isinstance(msg, P.Hello):
            if msg.protocol != P.PROTOCOL_VERSION:
                self.reply(identity, P.Error(code="protocol_version", message=(
                    f"protocol mismatch: client {msg.client!r} speaks version {msg.protocol}, this daemon "
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

    def _submit(self, identity: bytes, msg: P.Submit) -> None:
        def refuse(code: str, text: str) -> None:
            self.reply(identity, P.Error(code=code, message=text, job=msg.job))

        key = (identity, msg.job)
        if key in self.jobs:
            return refuse("duplicate_job", f"job id {msg.job!r} is already in use by this client")
        try:
            cap = self.registry.get(msg.capability)
        except KeyError as exc:
            return refuse("unknown_capability", exc.args[0])
        reason = cap.unavailable_reason()
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
        ctx = JobContext(job_id=msg.job, models=self.models, device=self.device)
        job = Job(identity=identity, job_id=msg.job, capability=cap, params=params, payloads=msg.payloads,
                  ctx=ctx, session=msg.session)
        self.jobs[key] = job
        position, superseded = lane.submit(job)
        self.reply(identity, P.Accepted(job=msg.job, lane=lane.name, position=position))
        for old in superseded:
            self._end(old, P.Cancelled(job=old.job_id, reason=f"superseded by newer request {msg.job!r}"), direct=True)
        log.debug("job %s %s queued in %s at %d", msg.job, cap.name, lane.name, position)

    def lane_of(self, cap) -> Lane:
        return self.lanes.get(cap.lane) or next(iter(self.lanes.values()))

    def _cancel(self, identity: bytes, job_id: str) -> None:
        job = self.jobs.get((identity, job_id))
        if job is None:
            self.reply(identity, P.Error(code="unknown_job", message=f"no active job {show(job_id)} for this client", job=job_id))
            return
        self._cancel_job(job, "cancelled by client")

    def _cancel_job(self, job: Job, reason: str) -> None:
        job.cancel(reason)
        if self.lane_of(job.capability).remove(job):
            self._end(job, P.Cancelled(job=job.job_id, reason=f"{reason} before it started"), direct=True)
        # a running job notices the flag at its next step and ends as ``cancelled``

    def _end(self, job: Job, message: P.Message, direct: bool = False) -> None:
        """Send ``job``'s one terminal reply (from the main thread if ``direct``, else via the outbox)."""
        if not job.finish():
            return
        self.jobs.pop(job.key, None)
        (self.reply if direct else self.outbox.send)(job.identity, message)

    # ---- workers --------------------------------------------------------------------------
    def _execute(self, job: Job) -> None:
        ctx, cap = job.ctx, job.capability
        if ctx.cancelled:
            return self._end(job, P.Cancelled(job=job.job_id, reason=job.cancel_reason))

        def report(fraction, message, step, total, preview):
            if job.state != "done":
                payloads = {"preview": preview} if preview is not None else {}
                self.outbox.send(job.identity, P.Progress(job=job.job_id, fraction=fraction, message=message,
                                                          step=step, total=total, payloads=payloads))

        ctx.report = report
        started = time.perf_counter()
        try:
            output = cap.run(job.payloads, job.params, ctx)
            if ctx.cancelled:
                raise JobCancelled()
            meta = jsonable({"capability": cap.name, "params": job.params, "seconds": round(time.perf_counter() - started, 4),
                             "muselink_version": __version__, **output.meta})
            self._end(job, P.Result(job=job.job_id, payloads=output.payloads, meta=meta))
        except JobCancelled:
            self._end(job, P.Cancelled(job=job.job_id, reason=job.cancel_reason))
        except ValueError as exc:
            self._end(job, P.Error(code="bad_input", message=f"{cap.name}: {exc}", job=job.job_id))
        except MemoryError:
            self._end(job, P.Error(code="out_of_memory", message=f"{cap.name} ran out of memory; try a smaller image or size",
                                   job=job.job_id))
        except Exception as exc:  # events, not exceptions, cross the process boundary
            log.exception("job %s (%s) failed", job.job_id, cap.name)
            self._end(job, P.Error(code="failed", message=f"{cap.name} failed: {type(exc).__name__}: {exc}",
                                   job=job.job_id, traceback=traceback.format_exc()))

    # ---- shutdown -------------------------------------------------------------------------
    def _shutdown(self) -> None:
        log.info("shutting down: cancelling %d job(s)", len(self.jobs))
        for lane in self.lanes.values():
            for job in lane.drain():
                self._end(job, P.Cancelled(job=job.job_id, reason="daemon shutting down"), direct=True)
        for job in list(self.jobs.values()):
            job.cancel("daemon shutting down")
        deadline = time.monotonic() + 5.0
        while self.jobs and time.monotonic() < deadline:  # let running jobs reach their next step
            if self.inbox.poll(50):
                self._flush_outbox()
        self._flush_outbox()
        for job in list(self.jobs.values()):  # stuck in a step that never checks: answer for it
            self._end(job, P.Cancelled(job=job.job_id, reason="daemon shutting down"), direct=True)
        for lane in self.lanes.values():
            lane.stop(timeout=0.5)
        self._flush_outbox()
        try:
            self.registry.pm.hook.muselink_shutdown()
        except Exception:
            log.exception("a plugin failed during shutdown")
        self.outbox.close()
        self.peers.close()
        self.inbox.close(linger=0)
        self.router.close(linger=500)
        if self._auth is not None:
            self._auth.stop()
        self.context.term()
        log.info("stopped")
