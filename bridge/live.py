"""Live mode timing: re-run after the user's work has been still for ``pause`` seconds; latest wins.

The session feeds it a cheap signature of what would be captured (region + pixels + params) on
every look. Requests go out with one ``session`` id, so the daemon replaces a queued stale one;
results older than the newest one already applied are dropped, so a live result never goes back.
Stdlib only.
"""
from __future__ import annotations

import zlib
from collections.abc import Hashable, Mapping
from typing import Any

from .host import Capture


class LiveScheduler:
    def __init__(self, pause: float = 0.6, max_in_flight: int = 2):
        self.pause = pause
        self.max_in_flight = max_in_flight
        self.reset()

    def reset(self) -> None:
        self.signature: Hashable | None = None  # what the newest request (or the pending change) saw
        self.sent_signature: Hashable | None = None
        self.changed_at: float | None = None
        self.seq = 0  # number of the newest request sent
        self.applied_seq = 0
        self.in_flight: set[int] = set()

    def observe(self, signature: Hashable, now: float) -> None:
        """Record what the work looks like now; a difference restarts the pause."""
        if signature != self.signature:
            self.signature = signature
            self.changed_at = now

    def due(self, now: float) -> bool:
        """True when a change has settled for ``pause`` s and differs from what was last sent."""
        if self.changed_at is None or self.signature == self.sent_signature:
            return False
        if len(self.in_flight) >= self.max_in_flight:
            return False  # one running + one queued: the queued one is replaced by the daemon anyway
        return now - self.changed_at >= self.pause

    def sent(self) -> int:
        """Mark the current signature as sent; returns the request's sequence number."""
        self.seq += 1
        self.sent_signature = self.signature
        self.in_flight.add(self.seq)
        return self.seq

    def finished(self, seq: int, result: bool) -> bool:
        """A request ended; returns True when its result should be applied (newer than what is shown)."""
        self.in_flight.discard(seq)
        if result and seq > self.applied_seq:
            self.applied_seq = seq
            return True
        return False


def signature(capture: Capture, capability: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """A cheap fingerprint of what a live request would send (pixels, mask, region, settings)."""
    parts: list[Any] = [capability, repr(sorted(params.items())), capture.description]
    crc = 0
    for name in sorted(capture.payloads):
        payload = capture.payloads[name]
        parts.append(f"{name}:{payload.describe()}")
        for frame in payload.frames():
            crc = zlib.crc32(memoryview(frame).cast("B"), crc)
    return (*parts, crc)
