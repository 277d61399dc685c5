"""The host-adapter contract: how a host add-on (Krita, Blender, MIDI) plugs into the host session.

Each add-on's ``host`` room (the only code importing its host's API: ``krita``, ``bpy``, MIDI I/O)
implements these hooks; the bridge's :class:`~muselink.bridge.session.Session` calls them and owns
everything else (connection, capability schema, jobs, live mode). Capture fills a capability's
inputs; apply places one output by its kind (``muselink.bridge.schema.OUTPUT_KINDS``). The values
passed are in ``muselink.bridge.host``. This module needs only ``pluggy`` and the bridge, both
vendored into every add-on (as ``muselink_hostspec`` and ``muselink_bridge``).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from muselink.bridge.host import Applied, Capture, CaptureRequest, HostInfo, Output
else:
    try:  # inside a host: the vendored bridge (never a muselink installed in the host's Python)
        from muselink_bridge.host import Applied, Capture, CaptureRequest, HostInfo, Output
    except ImportError:  # a development checkout / the test suite
        from muselink.bridge.host import Applied, Capture, CaptureRequest, HostInfo, Output

__all__ = ["Applied", "Capture", "CaptureRequest", "HostInfo", "Output", "hookimpl", "hookspec", "host_manager"]

PROJECT = "muselink_host"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def muselink_host_info() -> HostInfo:
    """Describe the host: its name, the input kinds it captures and the output kinds it applies.

    The session lists a capability in this host only when its required inputs can be captured and
    every output (but a ``file``) can be applied. ``firstresult``: the add-on's adapter answers.
    """


@hookspec(firstresult=True)
def muselink_host_capture(request: CaptureRequest) -> Capture | None:
    """Capture the user's current work (region + mask, texture, phrase) for ``request.inputs``.

    Payloads are named after the capability's inputs (``request.wants(kind)``). Returns None when there
    is nothing to capture (no document, no image, empty phrase); the session then tells the user.
    Raise ``ValueError`` with a clear message for content the host cannot send as-is (e.g. an
    unsupported colour depth). ``firstresult``.
    """


@hookspec(firstresult=True)
def muselink_host_apply(capture: Capture, output: Output, meta: dict[str, Any], replace: Applied | None) -> Applied | None:
    """Put one result output into the host by its ``output.kind``, at ``capture.target`` — new content,
    never overwriting the user's work.

    Called once per output the host applies (``HostInfo.applies``), in the capability's order.
    ``meta`` holds the result's provenance plus ``capability``, ``params``, ``live`` and ``job``.
    ``replace`` is what the previous live-mode result made for this output, to update in place
    (None: create new content). Returns what was created (None: nothing could be placed; raise
    ``ValueError`` to say why). ``firstresult``.
    """


def host_manager(*adapters: Any) -> pluggy.PluginManager:
    """A plugin manager with the host hookspecs and the given adapter objects/modules registered."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(sys.modules[__name__])
    for adapter in adapters:
        pm.register(adapter)
    return pm
