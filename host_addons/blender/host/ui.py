"""The sidebar panel (3D viewport and Shader editor): connection, capability and its form, the
operators, progress of running jobs, the last message."""
from __future__ import annotations

import bpy

from .. import form as schema
from .props import form_specs
from .runtime import STATE, capabilities, settings


def draw_panel(layout, context):
    ctl = STATE["controller"]
    box = layout.box()
    if ctl is not None and ctl.runner.status is not None:
        status = ctl.runner.status
        box.label(text=f"Connected: daemon {status.daemon_version}, {len(status.capabilities)} capabilities", icon="LINKED")
    elif ctl is not None and ctl.runner.status_error:
        box.label(text="Not connected", icon="UNLINKED")
        box.label(text=ctl.runner.status_error[:90])
    else:
        box.label(text=f"Daemon: {settings()[0]}", icon="UNLINKED")
    box.operator("muselink.connect", icon="FILE_REFRESH", text="Connect" if ctl is None or not ctl.runner.status else "Refresh")
    state = context.window_manager.muselink
    col = layout.column()
    col.prop(state, "capability")
    form = getattr(context.window_manager, "muselink_form", None)
    cap = schema.find(capabilities(), state.capability)
    specs = form_specs(cap) if cap is not None and form is not None else None
    for spec in specs or ():  # one widget per parameter, its kind chosen by form.property_specs
        col.prop(form, spec.prop)
    row = layout.row(align=True)
    row.operator("muselink.stylize_texture", icon="TEXTURE")
    row.operator("muselink.stylize_render", icon="RENDER_STILL")
    layout.prop(state, "as_background")
    gen = layout.box()
    gen.prop(state, "mode", expand=True)
    if state.mode == "PROMPT":
        gen.prop(state, "prompt")
    gen.operator("muselink.generate_texture", icon="NODE_TEXTURE")
    jobs = ctl.jobs if ctl else []
    for job in jobs:
        if hasattr(layout, "progress"):  # Blender 4.0+
            layout.progress(factor=job.fraction, type="BAR", text=job.describe())
        else:
            layout.label(text=job.describe(), icon="SORTTIME")
    if jobs:
        layout.operator("muselink.cancel", icon="CANCEL")
    if STATE["message"]:
        layout.label(text=STATE["message"][:100])


class MUSELINK_PT_view3d(bpy.types.Panel):
    bl_label = "muselink"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "muselink"

    def draw(self, context):
        draw_panel(self.layout, context)


class MUSELINK_PT_shader(bpy.types.Panel):
    bl_label = "muselink"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "muselink"

    @classmethod
    def poll(cls, context):
        return getattr(context.space_data, "tree_type", "") == "ShaderNodeTree"

    def draw(self, context):
        draw_panel(self.layout, context)


CLASSES = (MUSELINK_PT_view3d, MUSELINK_PT_shader)
