"""The sidebar panel (3D viewport and Shader editor): connection, capability and its form, the
operators, progress of running jobs, the last message."""
from __future__ import annotations

import textwrap

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
    expandable = ctl.expandable(cap.name) if ctl is not None and cap is not None else ()
    for spec in specs or ():  # one widget per parameter, its kind chosen by form.property_specs
        if spec.param in expandable:  # a prompt: Expand beside it, the expansion offered under it
            row = col.row(align=True)
            row.prop(form, spec.prop)
            _expand_button(row, ctl, "FORM", spec.param)
            _offer(col, ctl, "FORM", spec.param)
        else:
            col.prop(form, spec.prop)
    row = layout.row(align=True)
    row.operator("muselink.stylize_texture", icon="TEXTURE")
    row.operator("muselink.stylize_render", icon="RENDER_STILL")
    layout.prop(state, "as_background")
    gen = layout.box()
    gen.prop(state, "mode", expand=True)
    if state.mode == "PROMPT":
        row = gen.row(align=True)
        row.prop(state, "prompt")
        try:
            maker = schema.pick_prompt_capability(capabilities()).name
        except ValueError:
            maker = ""
        if ctl is not None and maker and ctl.expandable(maker):
            _expand_button(row, ctl, "GENERATE", schema.PROMPT_PARAM)
            _offer(gen, ctl, "GENERATE", schema.PROMPT_PARAM)
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


def _expand_button(row, ctl, field, param):
    running = ctl.expansion(field.lower()) is not None
    op = row.operator("muselink.expand_prompt", text="Stop" if running else "Expand", icon="CANCEL" if running else "TEXT")
    op.field, op.param = field, param


def _lines(layout, text, width=44):
    for line in textwrap.wrap(text, width)[:8]:
        layout.label(text=line)


def _offer(layout, ctl, field, param):
    """The expansion as it streams in, then the result with Use (one click puts it in the field)."""
    job = ctl.expansion(field.lower())
    if job is not None:
        col = layout.column(align=True)
        col.enabled = False  # greyed: still being written
        _lines(col, f"expanding… {job.message}".strip())
    elif field.lower() in ctl.offers:
        box = layout.box()
        _lines(box.column(align=True), ctl.offers[field.lower()])
        op = box.operator("muselink.use_expanded", icon="CHECKMARK")
        op.field, op.param = field, param


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
