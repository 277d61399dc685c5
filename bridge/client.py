"""The bridge client: talk to a muselink daemon from any Python, including a host's embedded one.

Two ways to use it:

* blocking, for worker threads (Blender, CLI): ``client.run("style.fast", {"image": img})``
  returns the ``Result`` or raises :class:`JobFailed`; ``on_event`` sees every progress reply;
* non-blocking, for event loops (Krita/Qt): ``submit(...)`` returns a :class:`JobHandle` at once;
  watch ``fileno()`` with a socket notifier (and a timer) and call ``drain()``, which dispatches
  every waiting reply to its handle's ``on_event`` and returns the replies it processed.

A job in flight when the daemon goes away ends with an ``error`` reply of code ``disconnected``
(synthesised by the client, never a hang); the socket reconnects by itself when the daemon is back.
The socket is not thread-safe: use a client from one thread. Other threads may call
``JobHandle.request_cancel()``; the owning thread sends the cancel at its next ``drain``.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import protocol as P
from .payloads import Payload, ProtocolError

M = TypeVar("M", bound=P.Message)

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"


def default_endpoint() -> str:
    return os.environ.get("MUSELINK_ENDPOINT") or DEFAULT_ENDPOINT


class DaemonUnavailable(ConnectionError):
    """The daemon cannot be reached (not running, wrong endpoint, or it went away)."""


class JobFailed(RuntimeError):
    """Raised by the blocking API when a job ends as ``error`` or ``cancelled``."""

    def __init__(self, reply: P.Message):
        self.reply = reply
        if isinstance(reply, P.Error):
            text = f"{reply.code}: {reply.message}"
        else:
            text = f"cancelled: {getattr(reply, 'reason', '')}"
        super().__init__(text)


@dataclass(eq=False)
class JobHandle:
    """One submitted job: its replies so far, and the terminal one once it arrives."""

    id: str
    capability: str
    on_event: Callable[[P.Message], None] | None = None
    events: list[P.Message] = field(default_factory=list)
    terminal: P.Message | None = None
    submitted_at: float = field(default_factory=time.monotonic)
    _cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.terminal is not None

    def request_cancel(self) -> None:
        """Thread-safe: ask the client's owning thread to cancel this job."""
        self._cancel_requested.set()

    def progress(self) -> P.Progress | None:
        return next((e for e in reversed(self.events) if isinstance(e, P.Progress)), None)


class Client:
    def __init__(self, endpoint: str | None = None, name: str = "client", timeout: float = 10.0,
                 heartbeat: float = 2.0, curve_server_key: bytes | None = None,
                 curve_keypair: tuple[bytes, bytes] | None = None, context: zmq.Context[Any] | None = None):
        self.endpoint = endpoint or default_endpoint()
        self.name = name
        self.timeout = timeout
        self.jobs: dict[str, JobHandle] = {}
        self.connected = False
        self.max_message_bytes = 0
        self.protocol_errors = 0  # undecodable replies seen (garbage from the peer)
        self.stray_replies = 0  # replies for a job this client is not waiting on (e.g. a second terminal reply)
        self._replies: list[P.Message] = []  # non-job replies, collected while a blocking request waits
        self._waiting = False
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._context = context or zmq.Context.instance()
        self.sock = self._context.socket(zmq.DEALER)
        self.sock.linger = 0
        # Not ZMQ_IMMEDIATE: with it, libzmq drops replies already received when the connection drops
        # (a daemon's last `cancelled` before it stops). `_send` refuses to queue for an absent daemon instead.
        self.sock.reconnect_ivl = 200
        self.sock.reconnect_ivl_max = 2000
        if hasattr(zmq, "HEARTBEAT_IVL"):
            ms = int(heartbeat * 1000)
            self.sock.setsockopt(zmq.HEARTBEAT_IVL, ms)
            self.sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, ms * 3)
        if curve_server_key:
            public, secret = curve_keypair or zmq.curve_keypair()
            self.sock.curve_serverkey, self.sock.curve_publickey, self.sock.curve_secretkey = curve_server_key, public, secret
        self.monitor = self.sock.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.sock.connect(self.endpoint)

    # ---- plumbing -------------------------------------------------------------------------
    def fileno(self) -> int:
        """The socket's edge-triggered FD: on readiness call ``drain()`` until it returns nothing."""
        fd: int = self.sock.getsockopt(zmq.FD)
        return fd

    def fds(self) -> list[int]:
        return [self.fileno(), int(self.monitor.getsockopt(zmq.FD))]

    def new_job_id(self) -> str:
        return f"{self.name}-{self._prefix}-{next(self._ids)}"

    def _send(self, message: P.Message, timeout: float | None = None) -> None:
        frames = P.encode(message)
        if self.max_message_bytes:
            size = sum(len(memoryview(f).cast("B")) for f in frames)
            if size > self.max_message_bytes:
                raise ValueError(f"message of {size} bytes exceeds the daemon's limit of {self.max_message_bytes} bytes "
                                 "(raise it with 'muselink serve --max-message-size', or send a smaller image)")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._watch_monitor()
        while not self.connected:  # never queue messages for a daemon that is not there
            left = deadline - time.monotonic()
            if left <= 0:
                raise DaemonUnavailable(f"muselink daemon not reachable at {self.endpoint} "
                                        "(start it with 'muselink serve', or check --endpoint / MUSELINK_ENDPOINT)")
            self.monitor.poll(int(min(left, 0.05) * 1000) + 1)
            self._watch_monitor()
        if not self.sock.poll(max(0, int((deadline - time.monotonic()) * 1000)), zmq.POLLOUT):
            raise DaemonUnavailable(f"the muselink daemon at {self.endpoint} is not taking messages (its queue is full)")
        self.sock.send_multipart(frames, copy=False)

    def _watch_monitor(self) -> list[P.Message]:
        """Track the connection; when it drops, end the jobs that were in flight on it as ``disconnected``.

        A daemon that stops sends its last replies and then closes. libzmq hands over every message
        received before the close (that is why this socket does not use ``ZMQ_IMMEDIATE``, which
        discards them), so they are read and dispatched first: a terminal reply is never replaced.
        Returns the replies it read on the way."""
        got: list[P.Message] = []
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor, zmq.NOBLOCK)["event"]
            if event in (zmq.EVENT_CONNECTED, zmq.EVENT_HANDSHAKE_SUCCEEDED):
                self.connected = True
            elif event == zmq.EVENT_DISCONNECTED:
                self.connected = False
                lost_at = time.monotonic()
                got += self._read()
                why = "daemon disconnected while the job was in flight; it may have stopped or crashed"
                for handle in list(self.jobs.values()):
                    if handle.submitted_at <= lost_at:
                        self._dispatch(P.Error(code="disconnected", message=why, job=handle.id))
        return got

    def _dispatch(self, message: P.Message) -> None:
        job = getattr(message, "job", None)
        handle = self.jobs.get(job) if job else None
        if isinstance(message, P.Status):
            self.max_message_bytes = message.max_message_bytes
        if handle is None:
            if job and not (isinstance(message, P.Error) and message.code == "unknown_job"):
                self.stray_replies += 1
            if self._waiting and not isinstance(message, (P.Accepted, P.Progress, P.Result, P.Cancelled)) and not (
                    isinstance(message, P.Error) and message.code == "unknown_job"):
                self._replies.append(message)
            return
        handle.events.append(message)
        if isinstance(message, P.TERMINAL):
            handle.terminal = message
            del self.jobs[handle.id]
        if handle.on_event is not None:
            handle.on_event(message)

    def _read(self) -> list[P.Message]:
        got = []
        while self.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frames = self.sock.recv_multipart(copy=False)
            try:
                message = P.decode(frames, P.DAEMON_MESSAGES)
            except ProtocolError as exc:  # garbage from the peer ends the job it names; never raises
                self.protocol_errors += 1
                message = P.Error(code=exc.code, message=f"undecodable reply from the daemon: {exc.message}",
                                  job=P.job_of(frames))
            self.connected = True
            self._dispatch(message)
            got.append(message)
        return got

    def drain(self) -> list[P.Message]:
        """Process every reply waiting now (never blocks); returns them in arrival order."""
        got = self._watch_monitor()
        for handle in list(self.jobs.values()):
            if handle._cancel_requested.is_set():
                handle._cancel_requested.clear()
                self.cancel(handle.id)
        got += self._read()
        got += self._watch_monitor()
        got += self._read()
        return got

    def poll(self, timeout: float) -> list[P.Message]:
        """Wait up to ``timeout`` s for replies, then drain."""
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.monitor, zmq.POLLIN)
        poller.poll(int(timeout * 1000))
        return self.drain()

    def _request(self, message: P.Message, want: type[M], timeout: float | None = None) -> M:
        self._replies.clear()
        self._send(message, timeout)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self._waiting = True
        try:
            while time.monotonic() < deadline:
                self.poll(min(0.1, max(0.0, deadline - time.monotonic())))
                for reply in self._replies:
                    if isinstance(reply, want):
                        return reply
                    if isinstance(reply, P.Error):
                        raise DaemonUnavailable(f"{reply.code}: {reply.message}")
        finally:
            self._waiting = False
            self._replies.clear()
        raise DaemonUnavailable(f"no answer from the muselink daemon at {self.endpoint} within "
                                f"{self.timeout if timeout is None else timeout:.0f} s (is 'muselink serve' running?)")

    # ---- requests -------------------------------------------------------------------------
    def hello(self, timeout: float | None = None) -> P.Status:
        """Introduce this client; returns the daemon's status (raises on a protocol mismatch)."""
        status = self._request(P.Hello(client=self.name), P.Status, timeout)
        self.max_message_bytes = status.max_message_bytes
        self.connected = True
        return status

    def send_hello(self) -> None:
        """Non-blocking hello for event loops: the ``Status`` reply comes back through ``drain()``.

        Raises DaemonUnavailable at once when there is no connection to send it on."""
        self._send(P.Hello(client=self.name), timeout=0)

    def status(self, timeout: float | None = None) -> P.Status:
        return self._request(P.StatusRequest(), P.Status, timeout)

    def ping(self, timeout: float | None = None) -> float:
        """Round trip time in seconds."""
        start = time.perf_counter()
        self._request(P.Ping(nonce=1), P.Pong, timeout)
        return time.perf_counter() - start

    def submit(self, capability: str, payloads: dict[str, Payload] | None = None, params: dict[str, Any] | None = None,
               job_id: str | None = None, session: str | None = None,
               on_event: Callable[[P.Message], None] | None = None) -> JobHandle:
        handle = JobHandle(id=job_id or self.new_job_id(), capability=capability, on_event=on_event)
        message = P.Submit(job=handle.id, capability=capability, params=dict(params or {}),
                           payloads=dict(payloads or {}), session=session)
        self._send(message)
        self.jobs[handle.id] = handle
        return handle

    def cancel(self, job_id: str) -> None:
        """Ask the daemon to cancel one of this client's jobs (the reply arrives as ``cancelled``)."""
        try:
            self._send(P.Cancel(job=job_id), timeout=0.5)
        except DaemonUnavailable:
            if job_id in self.jobs:
                self._dispatch(P.Cancelled(job=job_id, reason="cancelled locally; daemon not reachable"))

    def wait(self, handle: JobHandle, timeout: float | None = None) -> P.Message:
        """Block until ``handle`` ends (or ``timeout`` s pass, then cancel it and raise TimeoutError)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while handle.terminal is None:
            if deadline is not None and time.monotonic() > deadline:
                self.cancel(handle.id)
                raise TimeoutError(f"job {handle.id} ({handle.capability}) took longer than {timeout} s")
            self.poll(0.1)
        return handle.terminal

    def run(self, capability: str, payloads: dict[str, Payload] | None = None, params: dict[str, Any] | None = None,
            timeout: float | None = None, on_event: Callable[[P.Message], None] | None = None,
            job_id: str | None = None, session: str | None = None) -> P.Result:
        """Submit and wait; returns the ``Result`` or raises :class:`JobFailed`."""
        handle = self.submit(capability, payloads, params, on_event=on_event, job_id=job_id, session=session)
        reply = self.wait(handle, timeout)
        if not isinstance(reply, P.Result):
            raise JobFailed(reply)
        return reply

    def close(self) -> None:
        try:
            self.sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self.monitor.close(linger=0)
        self.sock.close(linger=0)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
