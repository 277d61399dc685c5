"""Musical time for the MIDI bridge: tempo from MIDI clock, the beat grid, quantisation, alignment.

Pure: no MIDI I/O. Times are seconds on one monotonic clock (``time.perf_counter``); notes are
:class:`muselink.bridge.payloads.Note` in ticks at a ``ppq``.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import NamedTuple
from collections.abc import Iterable

from muselink.bridge.payloads import Note

CLOCKS_PER_BEAT = 24  # MIDI clock: 24 pulses per quarter note


class Grid(NamedTuple):
    """A quantisation grid as a fraction of a whole note (``1/16`` = sixteenths); ``None`` = off."""

    whole_fraction: Fraction | None

    @classmethod
    def parse(cls, text: str) -> Grid:
        """``1/4``, ``1/8``, ``1/16``, ``1/8t`` (triplets), ``1/32`` or ``off``."""
        text = text.strip().lower()
        if text in ("off", "none", "0"):
            return cls(None)
        triplet = text.endswith("t")
        body = text[:-1] if triplet else text
        try:
            value = Fraction(body)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"grid must look like 1/16, 1/8t or off, got {text!r}") from None
        if value <= 0 or value > 1:
            raise ValueError(f"grid must be between 1/128 and 1 (a whole note), got {text!r}")
        if triplet:
            value = value * Fraction(2, 3)
        return cls(value)

    def step_ticks(self, ppq: int) -> int:
        """Ticks per grid step at ``ppq`` (0 when the grid is off)."""
        if self.whole_fraction is None:
            return 0
        return max(1, round(self.whole_fraction * 4 * ppq))

    def step_beats(self) -> float:
        return 0.0 if self.whole_fraction is None else float(self.whole_fraction * 4)

    def __str__(self) -> str:
        return "off" if self.whole_fraction is None else str(self.whole_fraction)


def quantise_notes(notes: Iterable[Note], step: int) -> tuple:
    """Snap starts to the nearest grid step and lengths to whole steps (at least one).

    ``step`` is in ticks; 0 returns the notes unchanged (sorted). Two notes of the same pitch and
    channel that land on the same step are merged into the longer one.
    """
    out: dict = {}
    for n in notes:
        if step <= 0:
            q = n
        else:
            start = int(round(n.start / step)) * step
            length = max(step, int(round(n.duration / step)) * step)
            q = replace(n, start=start, duration=length)
        key = (q.start, q.pitch, q.channel)
        if key not in out or out[key].duration < q.duration:
            out[key] = q
    return tuple(sorted(out.values(), key=lambda n: (n.start, n.pitch)))


class TempoTracker:
    """Tempo and beat phase from incoming MIDI clock (24 per quarter); ``None`` when no clock runs.

    Feed ``clock(t)`` for each 0xF8, ``start(t)``/``continue_(t)``/``stop(t)`` for transport.
    The tempo is the mean over the last ``window`` pulse intervals, so jitter averages out; the
    clock counts as running while pulses keep arriving (at most ``timeout`` s apart).
    """

    def __init__(self, window: int = 48, timeout: float = 0.5):
        self.times: deque = deque(maxlen=window + 1)
        self.timeout = timeout
        self.count = 0  # pulses since Start (or since the first pulse seen)
        self.last_beat_time: float | None = None

    def start(self, t: float) -> None:
        self.count = 0
        self.times.clear()

    def continue_(self, t: float) -> None:
        self.times.clear()

    def stop(self, t: float) -> None:
        self.times.clear()

    def clock(self, t: float) -> None:
        if self.count % CLOCKS_PER_BEAT == 0:
            self.last_beat_time = t
        self.count += 1
        self.times.append(t)

    def running(self, now: float) -> bool:
        return len(self.times) >= 3 and now - self.times[-1] <= self.timeout

    def bpm(self, now: float) -> float | None:
        if not self.running(now):
            return None
        span = self.times[-1] - self.times[0]
        if span <= 0:
            return None
        return 60.0 / (span / (len(self.times) - 1) * CLOCKS_PER_BEAT)

    def beat_anchor(self, now: float) -> float | None:
        """The time of the latest beat (a pulse whose count is a multiple of 24), while running."""
        return self.last_beat_time if self.running(now) else None


@dataclass(frozen=True)
class BeatMap:
    """Maps ticks of a phrase to wall-clock seconds: tick 0 is at ``origin``."""

    origin: float
    bpm: float
    ppq: int = 480

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    def tick_to_time(self, tick: float) -> float:
        return self.origin + tick / self.ppq * self.seconds_per_beat

    def time_to_tick(self, t: float) -> float:
        return (t - self.origin) / self.seconds_per_beat * self.ppq


def phrase_origin(first_onset: float, bpm: float, anchor: float | None) -> float:
    """Tick 0 of a phrase: the beat at or just before its first note on the clock's beat grid
    (``anchor`` is any beat time), or the first note itself when there is no clock."""
    if anchor is None:
        return first_onset
    spb = 60.0 / bpm
    beats = math.floor((first_onset - anchor) / spb + 1e-6)
    return anchor + beats * spb


def alignment_shift(first_answer_time: float, earliest: float, unit_seconds: float) -> float:
    """Seconds to delay an answer so that its first note is not before ``earliest`` while
    keeping its phase: a whole number of ``unit_seconds`` (a beat or a bar); 0 unit = no phase."""
    late = earliest - first_answer_time
    if late <= 0:
        return 0.0
    if unit_seconds <= 0:
        return late
    return math.ceil(late / unit_seconds - 1e-9) * unit_seconds
