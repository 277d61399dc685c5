"""Small value types shared by the daemon, the bridge and every host add-on.

Pure stdlib so they can be vendored into a host's embedded Python.
"""
from __future__ import annotations

from typing import NamedTuple


class Extent(NamedTuple):
    """A width/height pair in pixels."""

    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def scaled_to_fit(self, longest: int, multiple: int = 1) -> Extent:
        """Scale so the longest side is ``longest``, rounding both sides to ``multiple``."""
        scale = longest / max(self.width, self.height)
        w = max(multiple, round(self.width * scale / multiple) * multiple)
        h = max(multiple, round(self.height * scale / multiple) * multiple)
        return Extent(w, h)


class Bounds(NamedTuple):
    """An axis-aligned pixel rectangle: top-left corner plus size."""

    x: int
    y: int
    width: int
    height: int

    @property
    def extent(self) -> Extent:
        return Extent(self.width, self.height)

    @property
    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def intersection(self, other: Bounds) -> Bounds:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.width, other.x + other.width)
        y1 = min(self.y + self.height, other.y + other.height)
        return Bounds(x0, y0, max(0, x1 - x0), max(0, y1 - y0))

    def padded(self, pad: int, within: Bounds | None = None) -> Bounds:
        grown = Bounds(self.x - pad, self.y - pad, self.width + 2 * pad, self.height + 2 * pad)
        return grown.intersection(within) if within is not None else grown

    def relative_to(self, outer: Bounds) -> Bounds:
        """These bounds in the coordinate system whose origin is ``outer``'s corner."""
        return Bounds(self.x - outer.x, self.y - outer.y, self.width, self.height)
