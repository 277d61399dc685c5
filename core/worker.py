"""A worker: runs one lane's jobs, one at a time, in a process of its own.

The broker (``daemon.py``) owns the sockets, queues, fairness and cancel; a worker only loads
plugins and models and runs what it is sent. It speaks the muselink protocol to the broker: it
receives ``submit`` (parameters already validated), ``cancel`` and ``status``, and answers with the
job's own ``progress`` and one terminal reply (the broker forwards those frames to the client
unchanged), plus ``hello`` when ready and ``status`` with its models and memory after each job.
SIGTERM asks it to stop; it also stops by itself when the broker process is gone.
:class:`WorkerRuntime` is the part shared by local worker processes and Ray actors.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from muselink.bridge import protocol as P
from muselink.bridge.fields import ProtocolError

from . import __version__, shm
from .capability import JobCancelled, JobContext
from .config import DaemonConfig, LaneConfig

log = logging.getLogger("muselink.worker")
EXIT_OUT_OF_MEMORY = 86  # the worker went over --worker-memory and left to give the memory back
EXIT_ORPHANED = 87  # the broker is gone
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


class WorkerOutOfMemory(MemoryError):
    pass


def rss_bytes(pid: int | None = None) -> int:
    """Resident memory of a process (this one by default), from /proc; 0 where unavailable."""
    try:
        with open(f"/proc/{pid or os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


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


def jsonable(value: object, depth: int = 0) -> object:
    """``value`` made safe for the JSON wire: non-finite floats become None, unknown objects their str."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
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


def apply_lane_limits(lane: LaneConfig) -> None:
    """Set this process's CPU priority and cap math-library threads, before any heavy import. A positive
    ``nice`` lowers the priority; a negative one raises it where the system allows (root, CAP_SYS_NICE, or a
    nice limit such as the one audio setups give the ``audio`` group, as JACK asks for real-time), else the
    worker stays at normal priority."""
    if lane.nice and hasattr(os, "nice"):
        try:
            os.nice(lane.nice)
        except OSError:
            log.log(logging.DEBUG if lane.nice < 0 else logging.WARNING,
                    "could not set this worker's priority to nice %d; it runs at normal priority", lane.nice)
    if lane.threads > 0:
        for var in THREAD_VARS:
            os.environ[var] = str(lane.threads)


def own_scheduling_group(nice: int) -> None:
    """Start a session of this worker's own and give it the lane's ``nice`` (local worker processes).

    Linux desktops group CPU time by session (``autogroup``, on when ``/proc/self/autogroup`` exists and the
    process is in the root CPU cgroup): the groups share the cores fairly and a process's nice ranks it only
    among the processes of its own session. In the daemon's session the lanes' nice would order its workers
    among themselves but not against Krita or Blender, and all of its workers together would get one app's
    share: the MIDI lane's short jobs wait behind the image and heavy lanes' work. A session per worker gives each
    lane a share of its own, and the lane's nice, set on the session's group, now ranks it against the hosts."""
    try:
        os.setsid()
    except OSError:  # already a session leader
        return
    if nice:
        try:
            with open("/proc/self/autogroup", "w") as group:
                group.write(str(nice))
        except OSError:  # no autogroup here, or not allowed to raise it: the process nice alone applies
            pass


def continue_when_orphaned() -> None:
    """Ask Linux to send SIGCONT to this worker when the broker dies: a worker paused for a latency job
    (``yielding.py``) then resumes, finds itself orphaned and exits, instead of staying stopped forever."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGCONT))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class WorkerRuntime:
    """The plugins, a model cache of its own and the device: everything a job needs, in this process."""

    def __init__(self, config: DaemonConfig, lane: str):
        from dataclasses import replace

        from .models import ModelCache
        from .registry import Registry

        self.config = replace(config, role="worker")
        self.lane = lane
        self.lane_config = config.lanes.get(lane, LaneConfig())
        apply_lane_limits(self.lane_config)
        self.registry = Registry()
        self.registry.pm.hook.muselink_configure(config=self.config)
        self.models = ModelCache(config.model_memory_bytes)
        self._device: str | None = None
        self.jobs_run = 0
        self.link_stats: Callable[[], dict[str, Any]] = dict  # the shared-memory link's, for local workers

    def device(self) -> str:
        """Resolved on first use (importing torch only for capabilities that ask)."""
        if self._device is None:
            self._device = resolve_device(self.config.device)
            if self.lane_config.threads > 0:
                import sys

                torch = sys.modules.get("torch")
                if torch is not None:
                    torch.set_num_threads(self.lane_config.threads)
        return self._device

    def stats(self) -> dict[str, Any]:
        return {"models": self.models.stats(), "device": self._device, "rss_bytes": rss_bytes(), "jobs": self.jobs_run,
                "shm": self.link_stats()}

    def over_memory(self) -> bool:
        cap = self.config.worker_memory_bytes
        return bool(cap) and rss_bytes() > cap

    def run(self, msg: P.Submit, emit: Callable[[P.Message], None], cancel: threading.Event) -> None:
        """Run one job; ``emit`` gets its progress, then this worker's stats (``status``: models, memory),
        then exactly one terminal reply. Never raises."""
        self.jobs_run += 1
        terminal = self._run(msg, emit, cancel)
        emit(P.Status(protocol=P.PROTOCOL_VERSION, daemon_version=__version__, plugins=self.stats()))
        emit(terminal)

    def _run(self, msg: P.Submit, emit: Callable[[P.Message], None], cancel: threading.Event) -> P.Message:
        try:
            cap = self.registry.get(msg.capability)
        except KeyError as exc:
            return P.Error(code="unknown_capability", message=str(exc.args[0]), job=msg.job)
        cap_memory = self.config.worker_memory_bytes

        def report(fraction: float, message: str, step: int, total: int, preview: Any) -> None:
            if cap_memory and self.over_memory():
                raise WorkerOutOfMemory()
            payloads = {"preview": preview} if preview is not None else {}
            emit(P.Progress(job=msg.job, fraction=fraction, message=message, step=step, total=total, payloads=payloads))

        ctx = JobContext(job_id=msg.job, models=self.models, device=self.device, cancel_event=cancel, report=report)
        started = time.perf_counter()
        try:
            if cancel.is_set():
                raise JobCancelled()
            output = cap.run(dict(msg.payloads), dict(msg.params), ctx)
            if cancel.is_set():
                raise JobCancelled()
            meta = jsonable({"capability": cap.name, "params": msg.params, "seconds": round(time.perf_counter() - started, 4),
                             "muselink_version": __version__, **output.meta})
            return P.Result(job=msg.job, payloads=output.payloads, meta=meta if isinstance(meta, dict) else {})
        except JobCancelled:
            return P.Cancelled(job=msg.job, reason="cancelled")
        except WorkerOutOfMemory:
            return P.Error(code="out_of_memory", job=msg.job, message=(
                f"{cap.name} went over this worker's memory cap ({cap_memory / 2**20:.0f} MiB, muselink serve "
                "--worker-memory); try a smaller image or size, or raise the cap"))
        except MemoryError:
            return P.Error(code="out_of_memory", message=f"{cap.name} ran out of memory; try a smaller image or size",
                           job=msg.job)
        except ValueError as exc:
            return P.Error(code="bad_input", message=f"{cap.name}: {exc}", job=msg.job)
        except Exception as exc:  # events, not exceptions, cross the process boundary
            log.exception("job %s (%s) failed", msg.job, cap.name)
            return P.Error(code="failed", message=f"{cap.name} failed: {type(exc).__name__}: {exc}",
                           job=msg.job, traceback=traceback.format_exc())

    def shutdown(self) -> None:
        try:
            self.registry.pm.hook.muselink_shutdown()
        except Exception:
            log.exception("a plugin failed during shutdown")


@dataclass(frozen=True)
class WorkerSpec:
    """What a local worker process is started with (picklable: it crosses the spawn)."""

    name: str  # e.g. "heavy-0"; also its socket identity
    lane: str
    endpoint: str  # the broker's worker socket
    config: DaemonConfig
    broker_pid: int
    log_level: int = logging.WARNING
    shm_probe: list[int] | None = None  # a slot of the broker's to map: big frames then travel in shared memory


def worker_main(spec: WorkerSpec) -> None:
    """Entry point of a local worker process (started with the ``spawn`` method)."""
    logging.basicConfig(level=spec.log_level, format=f"%(asctime)s %(levelname)-7s {spec.name}: %(message)s")
    own_scheduling_group(spec.config.lanes.get(spec.lane, LaneConfig()).nice)
    continue_when_orphaned()
    os._exit(_serve(spec))


def _serve(spec: WorkerSpec) -> int:
    runtime = WorkerRuntime(spec.config, spec.lane)
    context: zmq.Context[Any] = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.identity = spec.name.encode()
    sock.linger = 2000
    sock.connect(spec.endpoint)
    outbox = context.socket(zmq.PULL)
    outbox_address = f"inproc://{spec.name}-out"
    outbox.bind(outbox_address)
    link = shm.WorkerLink(spec.shm_probe)
    runtime.link_stats = link.stats

    def send(frames: list[Any]) -> None:
        sock.send_multipart(link.pack(frames), copy=False)

    send(P.encode(P.Hello(client=spec.name)))
    if link.probe is not None:
        sock.send_multipart(shm.control(b"probe", link.probe))
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(outbox, zmq.POLLIN)
    current: tuple[str, threading.Event, threading.Thread] | None = None

    def run_job(msg: P.Submit, cancel: threading.Event) -> None:
        push = context.socket(zmq.PUSH)
        push.linger = -1
        push.connect(outbox_address)
        def emit(message: P.Message) -> None:
            try:
                push.send_multipart(P.encode(message), copy=False)
            except zmq.ZMQError:  # the worker is stopping (its broker is gone): nobody to tell
                cancel.set()

        try:
            runtime.run(msg, emit, cancel)
        finally:
            push.close()

    def send_stats() -> None:
        send(P.encode(P.Status(protocol=P.PROTOCOL_VERSION, daemon_version=__version__,
                               plugins=runtime.stats())))

    stop = threading.Event()  # SIGTERM from the broker: leave cleanly (plugins' shutdown hooks run)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the broker decides
    exit_code = 0
    while True:
        events = dict(poller.poll(250))
        if outbox in events:
            while True:
                try:
                    send(outbox.recv_multipart(zmq.NOBLOCK, copy=False))
                except zmq.Again:
                    break
        if current is not None and not current[2].is_alive():
            current[2].join()
            while outbox.poll(0):  # the job's last frames
                send(outbox.recv_multipart(copy=False))
            current = None
            if runtime.over_memory():
                exit_code = EXIT_OUT_OF_MEMORY
                break
        if sock in events:
            frames = sock.recv_multipart(copy=False)
            if shm.is_control(frames):
                link.control(frames)
                continue
            try:
                msg = P.decode(link.unpack(frames), P.CLIENT_MESSAGES)
            except (ProtocolError, ValueError) as exc:
                log.error("bad message from the broker: %s", getattr(exc, "message", exc))
                job = P.job_of(frames[:-1])
                if job is not None:
                    send(P.encode(P.Error(code="internal", job=job, message=f"worker {spec.name} could not read "
                                          f"this job: {getattr(exc, 'message', exc)}")))
                continue
            if isinstance(msg, P.Submit) and current is not None:
                current[2].join(5.0)  # the broker sends the next job once the last one's terminal reply went out
                if not current[2].is_alive():
                    current = None
            if isinstance(msg, P.Submit) and current is None:
                cancel = threading.Event()
                thread = threading.Thread(target=run_job, args=(msg, cancel), name=f"job-{msg.job}", daemon=True)
                current = (msg.job, cancel, thread)
                thread.start()
            elif isinstance(msg, P.Submit) and current is not None:
                send(P.encode(P.Error(code="internal", job=msg.job,
                                      message=f"worker {spec.name} is busy with job {current[0]}")))
            elif isinstance(msg, P.Cancel) and current is not None and current[0] == msg.job:
                current[1].set()
            elif isinstance(msg, P.StatusRequest):
                send_stats()
        link.trim()
        if stop.is_set():
            break
        if os.getppid() != spec.broker_pid:
            log.warning("the broker is gone; stopping")
            exit_code = EXIT_ORPHANED
            break
    if current is not None:  # stopping mid-job: ask it to stop, give it a moment
        current[1].set()
        current[2].join(2.0)
    runtime.shutdown()
    sock.close()
    outbox.close(linger=0)
    context.term()
    link.close()
    return exit_code
