"""The host-adapter contract: how a host add-on (Krita, Blender, MIDI) plugs into muselink.

Each add-on has exactly one adapter module that imports its host's API (``krita``, ``bpy``,
MIDI I/O) and implements these hooks; everything else in the add-on is pure and unit-tested.
The add-on's controller calls the hooks through :func:`host_manager` and never the host API
directly. This module depends only on ``pluggy`` (pure Python, vendored into every add-on).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pluggy

PROJECT = "muselink_host"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class HostInfo:
    """Who the host is: ``name`` (krita, blender, midi), its version, and what it can capture."""

    name: str
    version: str = ""
    captures: tuple = ()  # payload kinds it can send: "image", "mask", "notes"


@dataclass(frozen=True)
class CaptureRequest:
    """What to capture: ``source`` is host-specific ("layer", "merged", "texture", "render", "phrase")."""

    capability: str
    source: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Capture:
    """What the host sent: payloads for the job plus where the answer belongs (``target``)."""

    payloads: dict
    target: Any = None  # host-specific placement: bounds + document, node + image, track + time …
    description: str = ""


@dataclass(frozen=True)
class Applied:
    """What applying a result created in the host (a new layer, image, clip), for undo and tests."""

    kind: str
    name: str
    handle: Any = None


@hookspec(firstresult=True)
def muselink_host_info() -> HostInfo:
    """Describe the host. ``firstresult``: the add-on's adapter answers."""


@hookspec(firstresult=True)
def muselink_host_capture(request: CaptureRequest) -> Capture | None:
    """Capture the user's current work (region + mask, texture, phrase) for ``request.capability``.

    Returns None when there is nothing to capture (no document, no image, empty phrase); the
    controller then tells the user. Raise ``ValueError`` with a clear message for content the
    host cannot send as-is (e.g. an unsupported colour depth). ``firstresult``.
    """


@hookspec(firstresult=True)
def muselink_host_apply(capture: Capture, payloads: dict, meta: dict, replace: Applied | None) -> Applied | None:
    """Put a result into the host as new content at ``capture.target`` — never overwrite the user's work.

    ``replace`` is the previous live-mode result to update in place (None: create new content).
    Returns what was created. ``firstresult``.
    """


def host_manager(*adapters: Any) -> pluggy.PluginManager:
    """A plugin manager with the host hookspecs and the given adapter objects/modules registered."""
    import sys

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(sys.modules[__name__])
    for adapter in adapters:
        pm.register(adapter)
    return pm
