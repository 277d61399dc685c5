"""Where a result goes: the new layer's name and its placement above the source."""
from __future__ import annotations

from typing import NamedTuple
from collections.abc import Iterable

from .deps import Bounds

LIVE_SUFFIX = " (live)"


def seed_of(params: dict, meta: dict) -> int | None:
    for source in (meta, params):
        value = source.get("seed") if isinstance(source, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def layer_name(capability: str, params: dict, meta: dict, live: bool = False) -> str:
    """``style.fast``, ``diffusion.img2img seed 42``; live results end in `` (live)``."""
    name = capability
    seed = seed_of(params, meta)
    if seed is not None:
        name += f" seed {seed}"
    return name + (LIVE_SUFFIX if live else "")


def unique_name(name: str, existing: Iterable[str]) -> str:
    taken = set(existing)
    if name not in taken:
        return name
    n = 2
    while f"{name} #{n}" in taken:
        n += 1
    return f"{name} #{n}"


class Placement(NamedTuple):
    """A new layer ``name`` inserted directly above ``above`` with pixels written at ``bounds``."""

    name: str
    bounds: Bounds
    above: object  # the host's source node (opaque here)


def plan_layer(capability: str, params: dict, meta: dict, bounds: Bounds, source, existing: Iterable[str],
               live: bool = False) -> Placement:
    name = layer_name(capability, params, meta, live)
    return Placement(name if live else unique_name(name, existing), bounds, source)
