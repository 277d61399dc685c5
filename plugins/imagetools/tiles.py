"""Overlapping tiles for pictures of any size: each tile is processed with ``pad`` pixels of context on
every side (clamped at the picture's border), and only its core is written into a preallocated output,
so seams vanish and memory stays that of one tile plus the output, whatever the picture's size."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np


class Tile(NamedTuple):
    """A core region ``[y0, y1) x [x0, x1)`` and the larger region with context ``[py0, py1) x [px0, px1)``."""

    y0: int
    y1: int
    x0: int
    x1: int
    py0: int
    py1: int
    px0: int
    px1: int

    def inner(self, scale: int = 1) -> tuple[slice, slice]:
        """Where the core lies inside the processed (context) region, at ``scale``."""
        return (slice((self.y0 - self.py0) * scale, (self.y1 - self.py0) * scale),
                slice((self.x0 - self.px0) * scale, (self.x1 - self.px0) * scale))

    def core(self, scale: int = 1) -> tuple[slice, slice]:
        """Where the core lies in the whole picture, at ``scale``."""
        return slice(self.y0 * scale, self.y1 * scale), slice(self.x0 * scale, self.x1 * scale)

    def context(self) -> tuple[slice, slice]:
        return slice(self.py0, self.py1), slice(self.px0, self.px1)


def plan(height: int, width: int, tile: int, pad: int, align: int = 1) -> list[Tile]:
    """Cores of at most ``tile`` x ``tile`` covering the picture (rows top to bottom), each with ``pad`` of context.

    Cores are spread evenly, so no sliver tile is left at the right or bottom edge. Context regions start at
    multiples of ``align`` (a network's total pooling stride) and span multiples of it unless they reach the
    picture's edge, so each tile sees the whole picture's pooling grid."""
    if tile < 1 or pad < 0 or align < 1:
        raise ValueError(f"tile and align must be >= 1 and pad >= 0, got {tile}, {align} and {pad}")

    def cuts(n: int) -> list[int]:
        count = -(-n // tile)
        return [round(i * n / count) for i in range(count + 1)]

    ys, xs = cuts(height), cuts(width)
    def start(v: int) -> int:
        return max(0, v - pad) // align * align

    def end(v: int, begin: int, limit: int) -> int:
        return min(limit, begin + -(-(v + pad - begin) // align) * align)

    return [Tile(y0, y1, x0, x1, start(y0), end(y1, start(y0), height), start(x0), end(x1, start(x0), width))
            for y0, y1 in zip(ys[:-1], ys[1:], strict=True) for x0, x1 in zip(xs[:-1], xs[1:], strict=True)]


def run_tiled(image: np.ndarray, out: np.ndarray, scale: int, tile: int, pad: int,
              process: Callable[[np.ndarray, Tile], np.ndarray | None],
              on_tile: Callable[[int, int], None] = lambda done, total: None, align: int = 1) -> np.ndarray:
    """Fill ``out`` (``scale`` x the size of ``image``) tile by tile.

    ``process(region, tile)`` gets the tile's context region of ``image`` and returns that region's result at
    ``scale`` (or None to leave ``out`` as it is there); ``on_tile(done, total)`` runs after each tile (a
    progress callback that may raise to cancel between tiles)."""
    height, width = image.shape[:2]
    if out.shape[:2] != (height * scale, width * scale):
        raise ValueError(f"output is {out.shape[1]}x{out.shape[0]}, expected {width * scale}x{height * scale}")
    tiles = plan(height, width, tile, pad, align)
    for index, t in enumerate(tiles):
        result = process(image[t.context()], t)
        if result is not None:
            want = ((t.py1 - t.py0) * scale, (t.px1 - t.px0) * scale)
            if result.shape[:2] != want:
                raise ValueError(f"tile result is {result.shape[1]}x{result.shape[0]}, expected {want[1]}x{want[0]}")
            out[t.core(scale)] = result[t.inner(scale)]
        on_tile(index + 1, len(tiles))
    return out
