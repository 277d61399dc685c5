"""The Blender side of muselink — the only module that imports ``bpy``.

Host-adapter hooks (capture a texture / exemplar / camera render, apply a result as a new packed
image wired into the material), the operators ``muselink.stylize_texture``,
``muselink.generate_texture``, ``muselink.stylize_render`` (plus ``connect`` and ``cancel``), and the
sidebar panel in the 3D viewport and the Shader editor. Network work runs on the controller's
worker thread; results are applied on the main thread from ``bpy.app.timers`` or the modal
operator's timer. Scripts and background mode (``blender -b``) wait for the result instead.
"""
import json
import os
import tempfile

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import pixels, schema, wiring
from ._compat import bridge_client, hostspec
from .controller import Controller, UserError
from .jobs import JobRunner

ADDON = __package__
DEFAULT_ENDPOINT = bridge_client.default_endpoint()
_state = {"controller": None, "forms": {}, "form_for": "", "message": ""}
_enum_items = []  # Blender needs the dynamic enum's strings kept alive


# ---- settings and controller ----------------------------------------------------------------
def _settings():
    addon = bpy.context.preferences.addons.get(ADDON)
    prefs = getattr(addon, "preferences", None)
    if prefs is None:
        return DEFAULT_ENDPOINT, 3.0
    return prefs.endpoint or DEFAULT_ENDPOINT, prefs.timeout


def controller() -> Controller:
    endpoint, timeout = _settings()
    ctl = _state["controller"]
    if ctl is None:
        ctl = _state["controller"] = Controller(JobRunner(endpoint, name="blender", timeout=timeout), BlenderAdapter())
    ctl.runner.set_endpoint(endpoint)
    ctl.runner.timeout = timeout
    return ctl


# ---- reading and writing images ---------------------------------------------------------------
def read_image(image):
    w, h = image.size
    if w == 0 or h == 0:
        raise ValueError(f"image '{image.name}' has no pixels (is its file missing? {image.filepath or 'not saved'})")
    flat = pixels.float_buffer(w * h * 4)
    image.pixels.foreach_get(flat)
    return pixels.to_image_data(flat, w, h)


def new_image(name, data, meta, like=None):
    """A new image datablock holding ``data``, packed into the .blend, with provenance."""
    flat, w, h = pixels.from_image_data(data)
    image = bpy.data.images.new(name, w, h, alpha=True)
    if like is not None and not like.is_float:
        image.colorspace_settings.name = like.colorspace_settings.name
    image.pixels.foreach_set(flat)
    image.update()
    image.pack()
    image["muselink"] = json.dumps(meta, default=str)[:4000]
    return image


def _result_image(payloads):
    data = payloads.get("image") or next((p for p in payloads.values() if getattr(p, "kind", "") == "image"), None)
    if data is None:
        raise ValueError(f"the result has no image (got {', '.join(payloads) or 'nothing'})")
    return data


def _describe(tree):
    nodes = [wiring.NodeInfo(n.name, n.type, n.image.name if n.type == "TEX_IMAGE" and n.image else None,
                             tuple(n.location)) for n in tree.nodes]
    links = [wiring.Link(k.from_node.name, k.from_socket.name, k.to_node.name, k.to_socket.name) for k in tree.links]
    return nodes, links


def _material(options, create=False):
    name = options.get("material")
    if name:
        mat = bpy.data.materials.get(name)
        if mat is None:
            raise ValueError(f"no material named '{name}'")
        return mat, None
    obj = bpy.context.view_layer.objects.active
    if obj is None:
        raise ValueError("select an object first (muselink works on the active object's material)")
    mat = obj.active_material
    if mat is None and create:
        if obj.type not in ("MESH", "CURVE", "SURFACE", "META", "FONT"):
            raise ValueError(f"the active object '{obj.name}' cannot have a material")
        mat = bpy.data.materials.new(f"{obj.name}.muselink")
        mat.use_nodes = True
        obj.data.materials.append(mat)
    if mat is None:
        raise ValueError(f"the active object '{obj.name}' has no material")
    if not mat.use_nodes:
        raise ValueError(f"material '{mat.name}' does not use nodes (enable Use Nodes)")
    return mat, obj


def _texture_node(options):
    mat, _ = _material(options)
    tree = mat.node_tree
    nodes, links = _describe(tree)
    active = tree.nodes.active.name if tree.nodes.active else None
    name = wiring.pick_texture_node(mat.name, nodes, links, active, options.get("image") or None)
    return mat, tree.nodes[name]


def _render_camera(scene):
    if scene.camera is None:
        raise ValueError(f"scene '{scene.name}' has no camera to render from")
    settings = scene.render.image_settings
    saved = (scene.render.filepath, settings.file_format, settings.color_mode)
    fd, path = tempfile.mkstemp(suffix=".png", prefix="muselink-render-")
    os.close(fd)
    try:
        scene.render.filepath = path
        settings.file_format, settings.color_mode = "PNG", "RGBA"
        bpy.ops.render.render(write_still=True, scene=scene.name)
        image = bpy.data.images.load(path)
        try:
            return read_image(image)
        finally:
            bpy.data.images.remove(image)
    finally:
        scene.render.filepath, settings.file_format, settings.color_mode = saved
        os.remove(path)


# ---- host-adapter hooks -----------------------------------------------------------------------
class BlenderAdapter:
    @hostspec.hookimpl
    def muselink_host_info(self):
        return hostspec.HostInfo(name="blender", version=bpy.app.version_string, captures=("image",))

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        opts, cap = request.options, request.capability
        key = opts.get("input", "image")
        if request.source == "texture":
            mat, node = _texture_node(opts)
            target = {"kind": "texture", "material": mat.name, "node": node.name, "image": node.image.name,
                      "capability": cap}
            return hostspec.Capture({key: read_image(node.image)}, target, f"{mat.name}/{node.image.name}")
        if request.source in ("exemplar", "prompt"):
            payloads = {}
            if request.source == "exemplar":
                image = bpy.data.images.get(opts["image"]) if opts.get("image") else _texture_node(opts)[1].image
                if image is None:
                    raise ValueError(f"no image named '{opts['image']}' to use as the exemplar")
                payloads[key] = read_image(image)
            obj = bpy.context.view_layer.objects.active
            target = {"kind": "generate", "material": opts.get("material", ""), "object": obj.name if obj else "",
                      "capability": cap, "name": opts.get("name") or "texture"}
            return hostspec.Capture(payloads, target, request.source)
        if request.source == "render":
            scene = bpy.context.scene
            target = {"kind": "render", "scene": scene.name, "camera": scene.camera.name if scene.camera else "",
                      "capability": cap, "background": bool(opts.get("background"))}
            return hostspec.Capture({key: _render_camera(scene)}, target, f"{scene.name} camera")
        return None

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, payloads, meta, replace):
        t = capture.target
        data = _result_image(payloads)
        meta = {"capability": t["capability"], **meta}
        if t["kind"] == "texture":
            mat = bpy.data.materials.get(t["material"])
            node = mat.node_tree.nodes.get(t["node"]) if mat else None
            if node is None:
                return None
            old = bpy.data.images.get(t["image"])
            image = new_image(wiring.result_name(t["image"], t["capability"]), data, {**meta, "source": t["image"]}, old)
            if old is not None:
                old.use_fake_user = True  # the original stays in the .blend, ready to re-link
            node.image = image
            return hostspec.Applied("image", image.name, handle=image)
        if t["kind"] == "generate":
            return _apply_generated(t, data, meta)
        if t["kind"] == "render":
            image = new_image(f"{t['scene']}.render.{t['capability']}", data, meta)
            camera = bpy.data.objects.get(t["camera"])
            if t["background"] and camera is not None and camera.type == "CAMERA":
                camera.data.show_background_images = True
                camera.data.background_images.new().image = image
            return hostspec.Applied("image", image.name, handle=image)
        return None


def _apply_generated(t, data, meta):
    if t["material"]:
        mat, _ = _material({"material": t["material"]})
    else:
        obj = bpy.data.objects.get(t["object"])
        if obj is None:
            raise ValueError("the object the texture was generated for is gone")
        bpy.context.view_layer.objects.active = obj
        mat, _ = _material({}, create=True)
    tree = mat.node_tree
    nodes, links = _describe(tree)
    plan = wiring.plan_generated_texture(nodes, links)
    if plan.create_bsdf:
        bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
        output = next((n for n in tree.nodes if n.type == "OUTPUT_MATERIAL"), None) or tree.nodes.new("ShaderNodeOutputMaterial")
        bsdf.location = (plan.location[0] + wiring.NODE_GAP, plan.location[1])
        tree.links.new(bsdf.outputs[0], output.inputs["Surface"])
    else:
        bsdf = tree.nodes[plan.bsdf]
    image = new_image(wiring.result_name(t["name"], t["capability"]), data, meta)
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image, node.location = image, plan.location
    tree.links.new(node.outputs["Color"], bsdf.inputs[wiring.BASE_COLOR])
    tree.nodes.active = node
    return hostspec.Applied("image", image.name, handle=node)


# ---- the parameter form, built from the daemon's schema ---------------------------------------
def _props(spec):
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
    if sig not in _state["forms"]:
        specs = schema.property_specs(capability.get("params", []))
        cls = type(f"MUSELINK_PG_form_{sig}", (bpy.types.PropertyGroup,),
                   {"__annotations__": {s.prop: _props(s) for s in specs}})
        bpy.utils.register_class(cls)
        _state["forms"][sig] = (cls, specs)
    cls, specs = _state["forms"][sig]
    bpy.types.WindowManager.muselink_form = PointerProperty(type=cls)
    _state["form_for"] = capability["name"]
    return specs


def form_params(capability):
    """The panel form's values for ``capability`` (its defaults when the form shows another one)."""
    if _state["form_for"] != capability["name"]:
        return {}
    _, specs = _state["forms"][schema.signature(capability)]
    form = bpy.context.window_manager.muselink_form
    return schema.to_params(specs, {s.prop: getattr(form, s.prop) for s in specs})


def _capability_items(self, context):
    ctl = _state["controller"]
    caps = ctl.runner.status.capabilities if ctl and ctl.runner.status else []
    items = [(c["name"], c["name"], c.get("summary", "")) for c in schema.stylize_choices(caps)]
    _enum_items[:] = items or [("style.fast", "style.fast", "connect to the daemon to list capabilities")]
    return _enum_items


def _capability_changed(self, context):
    ctl = _state["controller"]
    cap = schema.find(ctl.runner.status.capabilities, self.capability) if ctl and ctl.runner.status else None
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


# ---- timers -----------------------------------------------------------------------------------
def _redraw():
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "NODE_EDITOR"):
                for region in area.regions:
                    if region.type == "UI":  # the sidebar only: cheap even with software GL
                        region.tag_redraw()


def _tick():
    """bpy.app.timers callback (main thread): apply finished results, refresh the panel."""
    ctl = _state["controller"]
    if ctl is None:
        return None
    for outcome in ctl.tick():
        _state["message"] = outcome.report()[1]
        print(_state["message"])
    _redraw()
    return 0.2 if ctl.busy or ctl.runner.busy else None


def _ensure_timer():
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=0.1)


# ---- operators --------------------------------------------------------------------------------
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

    def _start(self, context):
        ctl = controller()
        try:
            caps = ctl.capabilities(ctl.runner.timeout + 1.0, block=bpy.app.background)
            request, params = self.request(context, ctl, caps)
            return ctl, ctl.start(request, params)
        except (UserError, ValueError) as exc:
            self.report({"ERROR"}, f"muselink: {exc}")
            return ctl, None

    def _finish(self, outcome):
        level, text = outcome.report()
        _state["message"] = text
        self.report({level}, text)
        return {"FINISHED"} if outcome.ok else {"CANCELLED"}

    def execute(self, context):
        ctl, job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        if self.wait or bpy.app.background:
            return self._finish(ctl.run_blocking(job, self.timeout))
        _ensure_timer()
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
        _ensure_timer()
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
            _redraw()
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

    def request(self, context, ctl, caps):
        cap = self._capability(context, caps)
        opts = {"material": self.material, "image": self.image, "input": schema.image_inputs(cap)[0]}
        return hostspec.CaptureRequest(cap["name"], "texture", opts), self._params(cap)


class MUSELINK_OT_stylize_render(_JobOperator, bpy.types.Operator):
    """Render the scene camera's view and stylize it; the result is a new packed image"""
    bl_idname = "muselink.stylize_render"
    bl_label = "Stylize render"
    __annotations__ = {**_common_props(),
                       "as_background": BoolProperty(name="As camera background", default=False)}

    def request(self, context, ctl, caps):
        cap = self._capability(context, caps)
        background = self.as_background or context.window_manager.muselink.as_background
        opts = {"background": background, "input": schema.image_inputs(cap)[0]}
        return hostspec.CaptureRequest(cap["name"], "render", opts), self._params(cap)


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

    def request(self, context, ctl, caps):
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
            opts = {"material": self.material, "image": self.exemplar, "input": schema.image_inputs(cap)[0],
                    "name": self.exemplar or "exemplar"}
        return hostspec.CaptureRequest(cap["name"], mode.lower(), opts), params


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
            name = state.capability if schema.find(choices, state.capability) else choices[0]["name"]
            state.capability = name
            build_form(schema.find(caps, name))
        self.report({"INFO"}, f"muselink: connected, {len(caps)} capabilities")
        return {"FINISHED"}


class MUSELINK_OT_cancel(bpy.types.Operator):
    """Cancel the running muselink jobs (on the daemon too)"""
    bl_idname = "muselink.cancel"
    bl_label = "Cancel"

    def execute(self, context):
        ctl = _state["controller"]
        if ctl is not None:
            ctl.cancel_all()
        return {"FINISHED"}


# ---- panel ------------------------------------------------------------------------------------
def draw_panel(layout, context):
    ctl = _state["controller"]
    box = layout.box()
    if ctl is not None and ctl.runner.status is not None:
        status = ctl.runner.status
        box.label(text=f"Connected: daemon {status.daemon_version}, {len(status.capabilities)} capabilities", icon="LINKED")
    elif ctl is not None and ctl.runner.status_error:
        box.label(text="Not connected", icon="UNLINKED")
        box.label(text=ctl.runner.status_error[:90])
    else:
        box.label(text=f"Daemon: {_settings()[0]}", icon="UNLINKED")
    box.operator("muselink.connect", icon="FILE_REFRESH", text="Connect" if ctl is None or not ctl.runner.status else "Refresh")
    state = context.window_manager.muselink
    col = layout.column()
    col.prop(state, "capability")
    form = getattr(context.window_manager, "muselink_form", None)
    if form is not None and _state["form_for"] == state.capability:
        cap = schema.find(ctl.runner.status.capabilities, state.capability) if ctl and ctl.runner.status else None
        if cap is not None:
            for spec in _state["forms"][schema.signature(cap)][1]:
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
    if _state["message"]:
        layout.label(text=_state["message"][:100])


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


CLASSES = (MUSELINK_PG_state, MUSELINK_AP_preferences, MUSELINK_OT_stylize_texture, MUSELINK_OT_stylize_render,
           MUSELINK_OT_generate_texture, MUSELINK_OT_connect, MUSELINK_OT_cancel, MUSELINK_PT_view3d, MUSELINK_PT_shader)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.WindowManager.muselink = PointerProperty(type=MUSELINK_PG_state)


def unregister():
    """Remove every timer, class and property and stop the worker (the bpy module hangs at exit otherwise)."""
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    ctl, _state["controller"] = _state["controller"], None
    if ctl is not None:
        ctl.stop()
    for attr in ("muselink_form", "muselink"):
        if hasattr(bpy.types.WindowManager, attr):
            delattr(bpy.types.WindowManager, attr)
    for cls, _ in _state["forms"].values():
        bpy.utils.unregister_class(cls)
    _state["forms"].clear()
    _state["form_for"] = ""
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
