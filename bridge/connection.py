"""The host session's connection: the bridge client, the daemon's status and the reconnect policy.

:class:`~.session.Session` extends it with the job loop. ``keepalive`` (UI threads) never blocks: a
hello goes out every second while the daemon is away and every few seconds while it is there, and
the status comes back through the client's ``drain``; ``before_submit`` (worker threads) asks with a
blocking hello when there is no status. Views read ``connected``, ``connection_text`` and
``capabilities`` and are told of changes through ``listeners``. Stdlib + the bridge.
"""
from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import protocol as P
from .client import Client, default_endpoint
from .host import HostInfo, HostManager
from .jobs import ClientLike, Policy
from .schema import CapabilitySpec

DROPPED = "disconnected: the muselink daemon stopped or crashed; reconnecting…"
Listener = Callable[[str, Any], None]  # (event, the job it is about or None)


class Connection:
    def __init__(self, host: HostManager, *, endpoint: str | None = None, name: str = "host", timeout: float = 0.25,
                 client: ClientLike | None = None, make_client: Callable[[str, str, float], ClientLike] | None = None,
                 policy: Policy | None = None, threaded: bool = False, clock: Callable[[], float] = time.monotonic):
        self.host = host
        self.info: HostInfo = host.hook.muselink_host_info() or HostInfo(name)
        self.name, self.timeout, self.clock = name, timeout, clock
        self.policy = policy or Policy()
        self.threaded = threaded  # True: pump() runs on another thread than submit()/apply_ready()
        self._make_client = make_client or (lambda e, n, t: Client(e, name=n, timeout=t))
        self._client = client
        self.endpoint = client.endpoint if client is not None and hasattr(client, "endpoint") else \
            endpoint or default_endpoint()
        if client is None and not threaded:
            self._client = self._make_client(self.endpoint, name, timeout)
        self.status: P.Status | None = None
        self.capabilities: dict[str, CapabilitySpec] = {}
        self.connected = False
        self.connection_text = "connecting…"
        self.status_error = ""  # why the last hello or send failed
        self.down_since: float | None = None
        self.version = 0  # bumped on every change a view may show
        self.listeners: list[Listener] = []
        self._hello_sent_at: float | None = None
        self._last_hello = float("-inf")
        self._status_asked = self._status_done = 0
        self._new_endpoint: str | None = None

    def attach(self, host: HostManager) -> None:
        """Use another host adapter manager (a worker made before its host, as Blender's is)."""
        self.host = host
        self.info = host.hook.muselink_host_info() or HostInfo(self.name)

    @property
    def client(self) -> ClientLike:
        if self._client is None:
            self._client = self._make_client(self.endpoint, self.name, self.timeout)
        return self._client

    def _emit(self, event: str, job: Any = None) -> None:
        self.version += 1
        for listener in list(self.listeners):
            try:
                listener(event, job)
            except Exception:  # a view's failure never reaches the host's loop
                traceback.print_exc(file=sys.stderr)

    # ---- connection ----------------------------------------------------------------------------
    def set_status(self, status: P.Status) -> None:
        """Take the daemon's status (capabilities); also for a status the caller asked for itself."""
        self._hello_sent_at = None
        self.status, self.status_error, self.down_since = status, "", None
        caps = {c.name: c for c in status.capabilities}
        if not self.connected or caps != self.capabilities:
            self.connected, self.capabilities = True, caps
            self.connection_text = f"connected to muselink {status.daemon_version} at {self.endpoint}"
            self._emit("connected")

    def _set_down(self, why: str) -> None:
        self._hello_sent_at = None
        if self.connected or self.connection_text != why:
            self.connected, self.connection_text = False, why
            self._emit("disconnected")

    def request_status(self) -> int:
        """Ask for a fresh status (``before_submit`` policy); returns a ticket for :meth:`status_answered`."""
        self._status_asked += 1
        return self._status_asked

    def status_answered(self, ticket: int) -> bool:
        return self._status_done >= ticket

    def set_endpoint(self, endpoint: str) -> None:
        """Talk to another daemon: jobs in flight fail, the status is forgotten, the client is remade."""
        if endpoint != self.endpoint:
            self.endpoint, self._new_endpoint = endpoint, endpoint
            self.status, self.capabilities, self.connected = None, {}, False
            if not self.threaded:
                self._reconnect(self.clock())

    def _reconnect(self, now: float) -> None:
        self._new_endpoint = None
        self._lost("the daemon address changed")
        if self._client is not None:
            self._client.close()
            self._client = None
        if not self.threaded:
            self._client = self._make_client(self.endpoint, self.name, self.timeout)

    def _blocking_hello(self) -> None:
        try:
            self.set_status(self.client.hello(self.timeout))
        except ConnectionError as exc:
            self.status, self.status_error, self.capabilities = None, str(exc), {}
            self._set_down(str(exc))

    def _keepalive(self, now: float, was_connected: bool) -> None:
        client = self.client
        if was_connected and not client.connected:
            self._last_hello = now  # give it a moment before the first retry
            if not self._in_flight():  # else its jobs' `disconnected` endings say it, together with why they failed
                self._set_down(DROPPED)
        if self._hello_sent_at is not None and now - self._hello_sent_at > self.policy.hello_timeout:
            self._set_down(f"disconnected: no answer from the muselink daemon at {self.endpoint} "
                           f"within {self.policy.hello_timeout:.0f} s; reconnecting…")
        interval = self.policy.hello_every_up if self.connected else self.policy.hello_every_down
        if self._hello_sent_at is None and now - self._last_hello >= interval:
            self._last_hello = now
            try:  # the Status answer comes back through drain(), so this never blocks
                client.send_hello()
            except ConnectionError:
                self.status_error = f"muselink daemon not running at {self.endpoint}"
                self._set_down(f"muselink daemon not running at {self.endpoint} — start it with 'muselink serve'; "
                               "reconnecting…")
                return
            self._hello_sent_at = now

    def _lost(self, why: str) -> None:
        """Jobs in flight are lost (the session ends them)."""

    def _in_flight(self) -> bool:
        """Whether jobs were sent that have not ended (the session knows)."""
        return False

    def _hello_due(self) -> None:
        """Worker threads: answer a :meth:`request_status` with a blocking hello."""
        if self._status_done < self._status_asked:
            asked = self._status_asked
            self._blocking_hello()
            self._status_done = asked

    def usable(self, spec: CapabilitySpec) -> str | None:
        """Why this host cannot run ``spec`` (None when it can)."""
        return spec.usable_by(self.info.captures, self.info.applies, self.info.called)
