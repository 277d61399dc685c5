"""The add-on's one controller, its settings and its timers (main thread)."""
from __future__ import annotations

import bpy

from ..controller import Controller, JobRunner
from ..deps import default_endpoint
from .adapter import BlenderAdapter

ADDON = __package__.rpartition(".")[0]  # the add-on's module: muselink_blender or bl_ext.….muselink_blender
DEFAULT_ENDPOINT = default_endpoint()
STATE = {"controller": None, "forms": {}, "form_for": "", "message": ""}


def settings():
    addon = bpy.context.preferences.addons.get(ADDON)
    prefs = getattr(addon, "preferences", None)
    if prefs is None:
        return DEFAULT_ENDPOINT, 3.0
    return prefs.endpoint or DEFAULT_ENDPOINT, prefs.timeout


def controller() -> Controller:
    endpoint, timeout = settings()
    ctl = STATE["controller"]
    if ctl is None:
        ctl = STATE["controller"] = Controller(JobRunner(endpoint, name="blender", timeout=timeout), BlenderAdapter())
    ctl.runner.set_endpoint(endpoint)
    ctl.runner.timeout = timeout
    return ctl


def capabilities() -> list:
    """The capability specs known now (empty before the first connect); never asks the daemon."""
    ctl = STATE["controller"]
    return list(ctl.runner.status.capabilities) if ctl is not None and ctl.runner.status is not None else []


def redraw():
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "NODE_EDITOR"):
                for region in area.regions:
                    if region.type == "UI":  # the sidebar only: cheap even with software GL
                        region.tag_redraw()


def _tick():
    """bpy.app.timers callback (main thread): apply finished results, refresh the panel."""
    ctl = STATE["controller"]
    if ctl is None:
        return None
    for outcome in ctl.tick():
        STATE["message"] = outcome.report()[1]
        print(STATE["message"])
    redraw()
    return 0.2 if ctl.busy else None


def ensure_timer():
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.1)


def stop():
    """Remove the timer and stop the worker (the bpy module hangs at exit otherwise)."""
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    ctl, STATE["controller"] = STATE["controller"], None
    if ctl is not None:
        ctl.stop()
