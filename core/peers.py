"""Which clients are still there: a closed connection names the client identities that used it.

The daemon's ROUTER socket runs ZMTP heartbeats, so a client that vanishes without closing (killed,
machine asleep, cable out) is disconnected within the heartbeat timeout, and one killed outright
is noticed at once by its closed TCP/IPC connection. libzmq reports both as a socket-monitor
``DISCONNECTED`` event carrying the connection's file descriptor; each message carries the
descriptor it came in on (``SRCFD``), so the daemon can map a closed connection back to the
identities that sent over it. Heartbeats are answered by libzmq's I/O thread, so a client whose
own thread is busy (a long Blender operator, Krita painting) is never mistaken for dead.
"""
from __future__ import annotations

from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

HEARTBEAT_IVL_MS = 2000
HEARTBEAT_TIMEOUT_MS = 5000


class PeerWatch:
    def __init__(self, router: zmq.Socket[Any]):
        router.heartbeat_ivl = HEARTBEAT_IVL_MS
        router.heartbeat_timeout = HEARTBEAT_TIMEOUT_MS
        self.monitor = router.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        self._by_fd: dict[int, set[bytes]] = {}

    def seen(self, identity: bytes, frame: zmq.Frame) -> None:
        """Note that ``identity`` sent ``frame`` (call for every message, after :meth:`gone`)."""
        fd = frame.get(zmq.SRCFD)
        if isinstance(fd, int) and fd >= 0:
            self._by_fd.setdefault(fd, set()).add(identity)

    def gone(self) -> list[bytes]:
        """Identities whose connection closed since the last call (never blocks)."""
        lost: list[bytes] = []
        while self.monitor.poll(0):
            event = recv_monitor_message(self.monitor, zmq.NOBLOCK)
            fd = int(event["value"])
            identities = self._by_fd.pop(fd, set())
            if event["event"] == zmq.EVENT_DISCONNECTED:
                lost.extend(identities)
        return lost

    def close(self) -> None:
        self.monitor.close(linger=0)
