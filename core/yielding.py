"""Latency lanes pause the lanes that yield.

While a job of a *latency* lane runs (the interactive lane: a MIDI answer, ~50 ms), the local workers of the
lanes that *yield* (image, heavy, text) are paused (SIGSTOP) and continued (SIGCONT) as soon as it ends.
Priorities (nice) share the CPU between processes, but they cannot keep a heavy job's memory traffic off the
caches and the memory bus the MIDI answer needs: measured on the 2-core test machine, one memory-bound process at
nice 19 on the *other* core made a 25 ms ``music.continue`` 36 % slower. A paused job loses only the answer's
few tens of milliseconds.

Bounded so that yielding lanes are never starved: a pause spends a budget of at most ``max_pause_s``, which
refills while nothing is paused at a rate that keeps pauses to ``share`` of the time. So a single pause lasts at
most ``max_pause_s`` and, however many latency jobs arrive back to back, the other lanes run at least
``1 - share`` of the time. A worker is continued before anything else is asked of it (a cancel, a kill,
shutdown). Pools that cannot pause (Ray actors on other machines) leave this off.
"""
from __future__ import annotations

import time
from typing import Any, Protocol

from .config import LaneConfig

MAX_PAUSE_S = 1.0
PAUSE_SHARE = 0.25  # a musician's phrase every few seconds is always paused for; a flood of jobs mostly is not


class Pausable(Protocol):
    slots: list[Any]

    def pause(self, slot: Any, paused: bool) -> bool: ...


class Yielding:
    """Which yielding workers are paused, for which running latency jobs (the broker's thread only)."""

    def __init__(self, pool: Pausable, lanes: dict[str, LaneConfig], max_pause_s: float = MAX_PAUSE_S,
                 share: float = PAUSE_SHARE, clock: Any = time.monotonic):
        self.pool, self.max_pause_s, self.share, self.clock = pool, max_pause_s, share, clock
        self.latency = {name for name, lane in lanes.items() if lane.latency}
        self.yielding = {name for name, lane in lanes.items() if lane.yields}
        self.enabled = bool(self.latency and self.yielding and getattr(pool, "can_pause", False))
        self.running: set[Any] = set()  # latency slots with a job
        self.paused: set[Any] = set()
        self.budget, self.counted_at = max_pause_s, clock()  # seconds of pause available now
        self.pauses = 0

    def started(self, slot: Any) -> None:
        """A job was handed to ``slot``: a latency job pauses the yielding workers (budget allowing); a yielding
        worker that got a job while the others are paused is paused too."""
        if not self.enabled:
            return
        self._count()
        if slot.lane in self.latency:
            self.running.add(slot)
            if not self.paused and self.budget > 0:
                self.pauses += 1
                for other in self.pool.slots:
                    if other.lane in self.yielding:
                        self._pause(other)
        elif slot.lane in self.yielding and self.paused:
            self._pause(slot)

    def ended(self, slot: Any, exited: bool = False) -> None:
        """``slot``'s job ended (or its worker ``exited``): when no latency job is left, continue everyone."""
        self._count()
        self.running.discard(slot)
        if exited:
            self.paused.discard(slot)
        if not self.running:
            self.release_all()

    def release(self, slot: Any) -> None:
        """Continue ``slot`` now (before it is sent a cancel or killed)."""
        if slot in self.paused:
            self.paused.discard(slot)
            self.pool.pause(slot, False)

    def release_all(self) -> None:
        for slot in list(self.paused):
            self.release(slot)

    def tick(self) -> None:
        """Continue everyone once the pause budget is spent (the latency job goes on without the pause)."""
        self._count()
        if self.paused and self.budget <= 0:
            self.release_all()

    def _count(self) -> None:
        """Spend the budget for the time paused since the last count, or refill it for the time not paused."""
        now = self.clock()
        elapsed, self.counted_at = now - self.counted_at, now
        change = -elapsed if self.paused else elapsed * self.share / (1.0 - self.share)
        self.budget = min(self.max_pause_s, self.budget + change)

    def _pause(self, slot: Any) -> None:
        if slot not in self.paused and slot.pid is not None and slot.kill_reason is None and self.pool.pause(slot, True):
            self.paused.add(slot)
