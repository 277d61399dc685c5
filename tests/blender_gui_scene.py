"""Runs INSIDE interactive Blender (under Xvfb, ``--enable-event-simulate``) for test_blender_e2e.py.

Usage: ``blender --factory-startup --enable-event-simulate --python blender_gui_scene.py -- ENDPOINT TEXTURE OUTDIR``
with the add-on enabled by ``addon_utils`` from ``BLENDER_USER_RESOURCES``. Checks what only a live UI has:
the modal operator (progress, Esc cancels the daemon job), and the non-blocking path whose result a
``bpy.app.timers`` callback applies. Everything is driven by timers so Blender's event loop keeps running.
"""
import json
import os
import sys
import time

import addon_utils
import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `blender --python` leaves the script's folder out
from blender_scene_support import textured_material  # noqa: E402

ENDPOINT, TEXTURE, OUTDIR = sys.argv[sys.argv.index("--") + 1:][:3]
MODULE = "muselink_blender"
result = {"steps": []}
state = {}


def log(step, **data):
    result["steps"].append(step)
    result.update(data)
    print("GUI-STEP", step, data, flush=True)


def finish(error=None):
    result["error"] = error
    addon_utils.disable(MODULE)
    result["unregistered"] = not hasattr(bpy.types, "MUSELINK_OT_stylize_texture")
    with open(f"{OUTDIR}/gui.json", "w") as fh:
        json.dump(result, fh, indent=1)
    bpy.ops.wm.quit_blender()


def guarded(fn):
    """A timer callback that ends the run (instead of hanging Blender) when it raises."""
    def run():
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - report any failure and quit
            import traceback

            traceback.print_exc()
            finish(f"{fn.__name__}: {exc!r}")
            return None
    run.__name__ = fn.__name__
    return run


def window_override():
    win = bpy.context.window_manager.windows[0]
    area = next(a for a in win.screen.areas if a.type == "VIEW_3D")
    return {"window": win, "screen": win.screen, "area": area, "region": area.regions[-1],
            "workspace": win.workspace}


def call(op, *args, **kwargs):
    override = window_override()
    if hasattr(bpy.context, "temp_override"):  # Blender 3.2+
        with bpy.context.temp_override(**override):
            return op(*args, **kwargs)
    return op(override, *args, **kwargs)


def ctl():
    return sys.modules[f"{MODULE}.host.runtime"].controller()


def setup():
    addon_utils.enable(MODULE, default_set=True)
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.endpoint, prefs.timeout = ENDPOINT, 5.0
    bpy.ops.mesh.primitive_plane_add(size=2.0)
    plane = bpy.context.view_layer.objects.active
    mat, _, tex, _ = textured_material("Wall", bpy.data.images.load(TEXTURE))
    plane.data.materials.append(mat)
    state["tex"], state["original"] = tex, tex.image.name
    # 1. modal: a slow job on the heavy lane, then Esc
    ret = call(bpy.ops.muselink.stylize_texture, "INVOKE_DEFAULT", capability="debug.work",
               params=json.dumps({"steps": 200, "delay": 0.05}))
    log("invoked", invoke_return=sorted(ret))
    state["t0"] = time.monotonic()
    bpy.app.timers.register(guarded(press_escape), first_interval=0.3)


def press_escape():
    job = ctl().last
    if job is None or job.fraction == 0.0:
        if time.monotonic() - state["t0"] > 20:
            finish("the modal job never reported progress")
            return None
        return 0.1
    state["job"] = job
    log("running", running_fraction=job.fraction, running_state=job.state)
    bpy.context.window_manager.windows[0].event_simulate(type="ESC", value="PRESS")
    bpy.context.window_manager.windows[0].event_simulate(type="ESC", value="RELEASE")
    state["t1"] = time.monotonic()
    bpy.app.timers.register(guarded(after_escape), first_interval=0.1)
    return None


def after_escape():
    job = state["job"]
    if job._cancel.is_set() and "esc_seen" not in state:
        state["esc_seen"] = round(time.monotonic() - state["t1"], 2)
    if job.outcome is None:
        if time.monotonic() - state["t1"] > 10:
            finish(f"Esc did not end the job (state {job.state})")
            return None
        return 0.1
    log("cancelled", esc_seen_after=state.get("esc_seen"), cancel_state=job.state, cancel_seconds=round(time.monotonic() - state["t1"], 2),
        cancel_fraction=job.fraction, image_after_cancel=state["tex"].image.name)
    # 2. non-blocking execute: returns at once; a bpy.app.timers callback applies the result
    t = time.monotonic()
    ret = call(bpy.ops.muselink.stylize_texture, "EXEC_DEFAULT", capability="style.fast",
               params=json.dumps({"style": "stained-glass", "size": 64}))
    log("executed", exec_return=sorted(ret), exec_seconds=round(time.monotonic() - t, 3),
        image_right_after_exec=state["tex"].image.name, timer_registered=bpy.app.timers.is_registered(
            sys.modules[f"{MODULE}.host.runtime"]._tick))
    state["job"], state["t2"] = ctl().last, time.monotonic()
    bpy.app.timers.register(guarded(after_timer_apply), first_interval=0.1)
    return None


def after_timer_apply():
    job = state["job"]
    if job.outcome is None:
        if time.monotonic() - state["t2"] > 20:
            finish(f"the timer never applied the result (state {job.state})")
            return None
        return 0.1
    log("applied", applied_ok=job.outcome.ok, image_after_apply=state["tex"].image.name,
        packed=state["tex"].image.packed_file is not None)
    bpy.app.timers.register(lambda: finish(), first_interval=0.1)
    return None


bpy.app.timers.register(guarded(setup), first_interval=0.5)
