"""The only code of the add-on that imports ``bpy``: the adapter (capture, apply by output kind),
Blender data (:mod:`.images`), properties, operators, the panel (:mod:`.ui`) and the timers
(:mod:`.runtime`). Everything outside this folder runs without Blender."""
from __future__ import annotations

import bpy

from . import operators, props, runtime, ui


def register():
    props.register()
    for cls in operators.CLASSES + ui.CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    """Remove every timer, class and property and stop the worker (the bpy module hangs at exit otherwise)."""
    runtime.stop()
    for cls in reversed(operators.CLASSES + ui.CLASSES):
        bpy.utils.unregister_class(cls)
    props.unregister()
