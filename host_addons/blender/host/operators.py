"""The operators: ``muselink.stylize_texture``, ``muselink.stylize_render``, ``muselink.generate_texture``,
``muselink.expand_prompt`` and ``muselink.use_expanded`` (beside prompt fields), ``muselink.connect`` and
``muselink.cancel``. Network work runs on the controller's worker thread;
results are applied on the main thread by ``bpy.app.timers`` or the modal operator's timer. Scripts
and background mode (``blender -b``) wait for the result instead."""
from __future__ import annotations

import json

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from .. import form as schema
from ..controller import UserError
from ..deps import CaptureRequest
from .props import build_form, form_params, form_specs
from .runtime import STATE, controller, ensure_timer, redraw


def _common_props():
    return {
        "capability": StringProperty(name="Capability", default="", description="daemon capability (empty: the panel's)"),
        "params": StringProperty(name="Parameters", default="", description="JSON object of parameters (empty: the panel's form)"),
        "wait": BoolProperty(name="Wait", default=False, description="block until the result is applied (scripts)"),
        "timeout": FloatProperty(name="Timeout (s)", default=600.0, min=1.0),
    }


class _JobOperator:
    bl_options = {"REGISTER", "UNDO"}
    _job = None
    _timer = None

    def _capability(self, context, caps, default="style.fast"):
        name = self.capability or getattr(context.window_manager.muselink, "capability", "") or default
        return schema.check_available(caps, name)

    def _params(self, cap):
        if not self.params:
            return form_params(cap)
        try:
            params = json.loads(self.params)
        except ValueError as exc:
            raise UserError(f"params must be a JSON object: {exc}") from None
        if not isinstance(params, dict):
            raise UserError("params must be a JSON object, e.g. {\"style\": \"mosaic\"}")
        return params

    def begin(self, ctl, context, caps):
        """Capture and submit this operator's job (the expand operator sends a prompt instead)."""
        request, params = self.request(context, caps)
        return ctl.start(request, params)

    def _start(self, context):
        ctl = controller()
        try:
            caps = ctl.capabilities(ctl.runner.timeout + 1.0, block=bpy.app.background)
            return ctl, self.begin(ctl, context, caps)
        except (UserError, ValueError) as exc:
            self.report({"ERROR"}, f"muselink: {exc}")
            return ctl, None

    def _finish(self, outcome):
        level, text = outcome.report()
        STATE["message"] = text
        self.report({level}, text)
        return {"FINISHED"} if outcome.ok else {"CANCELLED"}

    def execute(self, context):
        ctl, job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        if self.wait or bpy.app.background:
            return self._finish(ctl.run_blocking(job, self.timeout))
        ensure_timer()
        self.report({"INFO"}, f"muselink: {job.capability} started")
        return {"FINISHED"}

    def invoke(self, context, event):
        if self.wait or bpy.app.background:
            return self.execute(context)
        ctl, self._job = self._start(context)
        if self._job is None:
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        ensure_timer()
        context.workspace.status_text_set(f"muselink: {self._job.describe()} — Esc to cancel")
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        if event.type == "ESC" and event.value == "PRESS" and not job.finished:
            job.request_cancel()
            context.workspace.status_text_set(f"muselink: cancelling {job.capability} …")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        controller().tick()
        if job.outcome is None:
            context.workspace.status_text_set(f"muselink: {job.describe()} — Esc to cancel")
            redraw()
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        context.workspace.status_text_set(None)
        return self._finish(job.outcome)


class MUSELINK_OT_stylize_texture(_JobOperator, bpy.types.Operator):
    """Stylize the active material's active image texture; the result is a new packed image in the same node"""
    bl_idname = "muselink.stylize_texture"
    bl_label = "Stylize texture"
    __annotations__ = {**_common_props(),
                       "material": StringProperty(name="Material", description="(empty: the active object's)"),
                       "image": StringProperty(name="Image", description="image to stylize (empty: the active texture node's)")}

    def request(self, context, caps):
        cap = self._capability(context, caps)
        return CaptureRequest(cap.name, "texture", {"material": self.material, "image": self.image}), self._params(cap)


class MUSELINK_OT_stylize_render(_JobOperator, bpy.types.Operator):
    """Render the scene camera's view and stylize it; the result is a new packed image"""
    bl_idname = "muselink.stylize_render"
    bl_label = "Stylize render"
    __annotations__ = {**_common_props(),
                       "as_background": BoolProperty(name="As camera background", default=False)}

    def request(self, context, caps):
        cap = self._capability(context, caps)
        background = self.as_background or context.window_manager.muselink.as_background
        return CaptureRequest(cap.name, "render", {"background": background}), self._params(cap)


class MUSELINK_OT_generate_texture(_JobOperator, bpy.types.Operator):
    """Generate a new texture (from a prompt or an exemplar image) as an Image Texture node linked to Base Color"""
    bl_idname = "muselink.generate_texture"
    bl_label = "Generate texture"
    __annotations__ = {**_common_props(),
                       "mode": EnumProperty(name="From", items=[("PANEL", "Panel", ""), ("PROMPT", "Prompt", ""),
                                                                 ("EXEMPLAR", "Exemplar", "")]),
                       "prompt": StringProperty(name="Prompt"),
                       "exemplar": StringProperty(name="Exemplar image", description="(empty: the active texture's image)"),
                       "material": StringProperty(name="Material", description="(empty: the active object's)")}

    def request(self, context, caps):
        state = context.window_manager.muselink
        mode = state.mode if self.mode == "PANEL" else self.mode
        if mode == "PROMPT":
            prompt = self.prompt or state.prompt
            if not prompt.strip():
                raise UserError("type a prompt for the texture")
            cap = schema.check_available(caps, self.capability) if self.capability else schema.pick_prompt_capability(caps)
            params = {**schema.seamless_params(cap), **self._params(cap), schema.PROMPT_PARAM: prompt}
            opts = {"material": self.material, "name": prompt.strip()[:24]}
        else:
            cap = schema.check_available(caps, self.capability) if self.capability else schema.pick_exemplar_capability(caps)
            params = {**schema.seamless_params(cap), **self._params(cap)}
            opts = {"material": self.material, "image": self.exemplar, "name": self.exemplar or "exemplar"}
        return CaptureRequest(cap.name, mode.lower(), opts), params


FIELDS = [("FORM", "Form", "the prompt in the capability's form"),
          ("GENERATE", "Generate", "the prompt of Generate texture")]


class MUSELINK_OT_expand_prompt(_JobOperator, bpy.types.Operator):
    """Add style and detail words to this prompt (text.expand_prompt); the result is offered beside the field
    (Use puts it in). While it runs: stop it"""
    bl_idname = "muselink.expand_prompt"
    bl_label = "Expand prompt"
    bl_options = {"REGISTER"}  # nothing in the scene changes: no undo step
    __annotations__ = {**_common_props(),
                       "field": EnumProperty(name="Field", items=FIELDS),
                       "param": StringProperty(name="Parameter", default="prompt"),
                       "text": StringProperty(name="Text", description="(empty: the field's text)")}

    def _stop(self):
        """The button reads Stop while its expansion runs: cancel it (the field keeps its text)."""
        job = controller().expansion(self.field.lower())
        if job is None:
            return None
        job.request_cancel()
        self.report({"INFO"}, "muselink: stopping the expansion")
        return {"FINISHED"}

    def execute(self, context):
        return self._stop() or super().execute(context)

    def invoke(self, context, event):
        return self._stop() or super().invoke(context, event)

    def begin(self, ctl, context, caps):
        wm = context.window_manager
        if self.field == "GENERATE":
            cap = schema.check_available(caps, self.capability) if self.capability else schema.pick_prompt_capability(caps)
            text, seed = self.text or wm.muselink.prompt, None
        else:
            cap = self._capability(context, caps)
            form = getattr(wm, "muselink_form", None)
            shown = form_specs(cap) is not None and form is not None
            text = self.text or (getattr(form, schema.prop_name(self.param), "") if shown else "")
            seed = getattr(form, schema.prop_name("seed"), None) if shown else None  # the image's seed
        return ctl.expand(cap.name, self.param, text, seed, self.field.lower())

    def _finish(self, outcome):
        if not outcome.ok:
            return super()._finish(outcome)
        STATE["message"] = "muselink: prompt expanded; Use puts it in the field"
        self.report({"INFO"}, STATE["message"])
        return {"FINISHED"}


class MUSELINK_OT_use_expanded(bpy.types.Operator):
    """Put the expanded prompt in its field"""
    bl_idname = "muselink.use_expanded"
    bl_label = "Use"
    bl_options = {"REGISTER"}
    field: EnumProperty(name="Field", items=FIELDS)
    param: StringProperty(name="Parameter", default="prompt")

    def execute(self, context):
        try:
            text = controller().take_offer(self.field.lower())
        except UserError as exc:
            self.report({"ERROR"}, f"muselink: {exc}")
            return {"CANCELLED"}
        wm = context.window_manager
        if self.field == "GENERATE":
            wm.muselink.prompt = text
        else:
            setattr(wm.muselink_form, schema.prop_name(self.param), text)
        redraw()
        return {"FINISHED"}


class MUSELINK_OT_connect(bpy.types.Operator):
    """Connect to the muselink daemon and list its capabilities"""
    bl_idname = "muselink.connect"
    bl_label = "Connect"

    def execute(self, context):
        ctl = controller()
        ctl.runner.status = None
        try:
            caps = ctl.capabilities(ctl.runner.timeout + 1.0, block=bpy.app.background)
        except UserError as exc:
            self.report({"ERROR"}, f"muselink: {exc}")
            return {"CANCELLED"}
        choices = schema.stylize_choices(caps)
        state = context.window_manager.muselink
        if choices:
            name = state.capability if schema.find(choices, state.capability) else choices[0].name
            state.capability = name
            build_form(schema.find(caps, name))
        self.report({"INFO"}, f"muselink: connected, {len(caps)} capabilities")
        return {"FINISHED"}


class MUSELINK_OT_cancel(bpy.types.Operator):
    """Cancel the running muselink jobs (on the daemon too)"""
    bl_idname = "muselink.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        ctl = STATE["controller"]
        if ctl is not None:
            ctl.cancel_all()
        return {"FINISHED"}


CLASSES = (MUSELINK_OT_stylize_texture, MUSELINK_OT_stylize_render, MUSELINK_OT_generate_texture, MUSELINK_OT_expand_prompt,
           MUSELINK_OT_use_expanded, MUSELINK_OT_connect, MUSELINK_OT_cancel)
