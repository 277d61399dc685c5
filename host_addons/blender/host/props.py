"""The add-on's properties: the panel state, the preferences, and the parameter form built from a
capability's schema (one ``PropertyGroup`` per schema; :mod:`..form` decides each property's kind)."""
from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .. import form as schema
from .runtime import ADDON, DEFAULT_ENDPOINT, STATE, capabilities

_enum_items = []  # Blender needs the dynamic enum's strings kept alive


def _prop(spec):
    o = dict(spec.options)
    if spec.kind == "int":
        return IntProperty(**o)
    if spec.kind == "float":
        return FloatProperty(**o)
    if spec.kind == "bool":
        return BoolProperty(**o)
    if spec.kind == "enum":
        return EnumProperty(items=o.pop("items"), **o)
    return StringProperty(**o)


def build_form(capability):
    """Register (once per schema) a PropertyGroup for ``capability`` and show it in the panel."""
    sig = schema.signature(capability)
    if sig not in STATE["forms"]:
        specs = schema.property_specs(capability.params)
        cls = type(f"MUSELINK_PG_form_{sig}", (bpy.types.PropertyGroup,),
                   {"__annotations__": {s.prop: _prop(s) for s in specs}})
        bpy.utils.register_class(cls)
        STATE["forms"][sig] = (cls, specs)
    cls, specs = STATE["forms"][sig]
    bpy.types.WindowManager.muselink_form = PointerProperty(type=cls)
    STATE["form_for"] = capability.name
    return specs


def form_specs(capability):
    """The property specs of the form shown for ``capability`` (None when another one is shown)."""
    if STATE["form_for"] != capability.name:
        return None
    return STATE["forms"][schema.signature(capability)][1]


def form_params(capability):
    """The panel form's values for ``capability``, checked by the schema (its defaults when the form shows another one)."""
    specs = form_specs(capability)
    if specs is None:
        return {}
    form = bpy.context.window_manager.muselink_form
    return schema.to_params(specs, {s.prop: getattr(form, s.prop) for s in specs})


def _capability_items(self, context):
    items = [(c.name, c.name, c.summary) for c in schema.stylize_choices(capabilities())]
    _enum_items[:] = items or [("style.fast", "style.fast", "connect to the daemon to list capabilities")]
    return _enum_items


def _capability_changed(self, context):
    cap = schema.find(capabilities(), self.capability)
    if cap is not None:
        build_form(cap)


class MUSELINK_PG_state(bpy.types.PropertyGroup):
    capability: EnumProperty(name="Capability", items=_capability_items, update=_capability_changed)
    prompt: StringProperty(name="Prompt", description="what the generated texture should show")
    mode: EnumProperty(name="From", items=[("PROMPT", "Prompt", "a new texture from a text prompt (needs an image model)"),
                                           ("EXEMPLAR", "Exemplar", "grow a new texture from the active image texture")])
    as_background: BoolProperty(name="As camera background", description="show the stylized render behind the camera view")


class MUSELINK_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON
    endpoint: StringProperty(name="Daemon address", default=DEFAULT_ENDPOINT,
                             description="where 'muselink serve' listens (tcp://127.0.0.1:5757 by default)")
    timeout: FloatProperty(name="Connect timeout (s)", default=3.0, min=0.5, max=60.0)

    def draw(self, context):
        self.layout.prop(self, "endpoint")
        self.layout.prop(self, "timeout")


CLASSES = (MUSELINK_PG_state, MUSELINK_AP_preferences)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.WindowManager.muselink = PointerProperty(type=MUSELINK_PG_state)


def unregister():
    for attr in ("muselink_form", "muselink"):
        if hasattr(bpy.types.WindowManager, attr):
            delattr(bpy.types.WindowManager, attr)
    for cls, _ in STATE["forms"].values():
        bpy.utils.unregister_class(cls)
    STATE["forms"].clear()
    STATE["form_for"] = ""
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
