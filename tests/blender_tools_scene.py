"""Runs INSIDE Blender for test_blender_tools_e2e.py: the image tools (issue 14) and prompt expansion (issue 16)
through the installed add-on, against a real daemon.

Usage: ``<blender> -b --python-exit-code 1 --python blender_tools_scene.py -- ENDPOINT TEXTURE OUTDIR`` (or
``python blender_tools_scene.py ENDPOINT TEXTURE OUTDIR`` with the bpy module). Each image tool runs on the
material's texture as an undoable operator, is measured, then undone; the prompt field's Expand is stopped once,
run to the end, used, and its prompt sent. Writes OUTDIR/result.json and the results' pixels as float32 files.
"""
import json
import os
import sys
import time

import bpy  # first: the bpy module puts Blender's script modules on sys.path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `blender --python` leaves the script's folder out
import addon_utils  # noqa: E402
from blender_scene_support import addon_preferences, flat, textured_material  # noqa: E402

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
ENDPOINT, TEXTURE, OUTDIR = argv[:3]
TOOLS = [("image.upscale", {"scale": 2, "model": "fast"}), ("image.lineart", {"size": 256, "thickness": 2.0}),
         ("image.cutout", {"model": "portrait"})]
PROMPT, SEED = "a castle at dawn", 5
result = {"blender": bpy.app.version_string}


def dump(name, image):
    with open(f"{OUTDIR}/{name}.f32", "wb") as fh:
        flat(image).tofile(fh)
    return list(image.size)


def wall():
    """The material's nodes by role (after an undo every Python reference to Blender data is stale)."""
    tree = bpy.data.materials["Wall"].node_tree
    return tree, tree.nodes["Texture"], next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")


def nodes_state():
    tree, tex, bsdf = wall()
    alpha = bsdf.inputs["Alpha"].links
    return {"nodes": sorted(n.name for n in tree.nodes), "texture_image": tex.image.name,
            "alpha_from": alpha[0].from_node.name if alpha else None, "active": tree.nodes.active.name,
            "images": sorted(i.name for i in bpy.data.images if i.name.startswith("astronaut"))}


module, prefs = addon_preferences(ENDPOINT, 10.0)
runtime = __import__(f"{module}.host.runtime", fromlist=["x"])
ui = __import__(f"{module}.host.ui", fromlist=["x"])

# ---- a plane whose material shows a photo through a UV map node ------------------------------------------
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
bpy.ops.mesh.primitive_plane_add(size=2.0)
plane = bpy.context.view_layer.objects.active
original = bpy.data.images.load(TEXTURE)
before, ORIGINAL = flat(original), original.name  # names, not references: an undo makes those stale
mat, tree, tex, bsdf = textured_material("Wall", original)
tex.name, tex.extension = "Texture", "EXTEND"
uv = tree.nodes.new("ShaderNodeUVMap")
tree.links.new(uv.outputs["UV"], tex.inputs["Vector"])
tree.nodes.active = tex
plane.data.materials.append(mat)
bpy.ops.muselink.connect()
result["start"] = nodes_state()
result["blend_before"] = mat.blend_method

# ---- each image tool as an undoable operator, then undone --------------------------------------------------
for capability, params in TOOLS:
    bpy.ops.ed.undo_push(message=f"before {capability}")
    tag = capability.split(".")[1]
    outcome = bpy.ops.muselink.stylize_texture("EXEC_DEFAULT", True, capability=capability, params=json.dumps(params))
    tree, tex, bsdf = wall()
    done = {"return": sorted(outcome), **nodes_state(), "original_same": flat(bpy.data.images[ORIGINAL]) == before,
            "original_kept": bpy.data.images[ORIGINAL].use_fake_user,
            "blend": bpy.data.materials["Wall"].blend_method}
    new = [n for n in tree.nodes if n.type == "TEX_IMAGE" and n.name not in result["start"]["nodes"]]
    if capability == "image.upscale":
        done["size"] = dump(tag, tex.image)
        done["packed"] = tex.image.packed_file is not None
        done["base_color_from"] = bsdf.inputs["Base Color"].links[0].from_node.name
    elif new:
        node = new[0]
        done["new_node"] = {"name": node.name, "image": node.image.name, "packed": node.image.packed_file is not None,
                            "colorspace": node.image.colorspace_settings.name, "size": dump(tag, node.image),
                            "linked_out": [k.to_socket.name for k in tree.links if k.from_node == node],
                            "vector_from": [k.from_node.name for k in node.inputs["Vector"].links],
                            "extension": node.extension, "above": node.location[1] > tex.location[1]}
    bpy.ops.ed.undo()
    done["after_undo"] = {**nodes_state(), "original_same": flat(bpy.data.images[ORIGINAL]) == before,
                          "blend": bpy.data.materials["Wall"].blend_method}
    result[capability] = done


# ---- the panel, drawn into a recording layout -------------------------------------------------------------
class Layout:
    """Records what the panel draws (rows of props, operators with their settings, labels)."""

    def __init__(self, log, path=""):
        self.log, self.path, self.enabled = log, path, True

    def _child(self, kind):
        return Layout(self.log, f"{self.path}/{kind}{len(self.log)}")

    row = lambda self, **kw: self._child("row")  # noqa: E731
    column = lambda self, **kw: self._child("col")  # noqa: E731
    box = lambda self: self._child("box")  # noqa: E731

    def prop(self, data, name, **kw):
        self.log.append([self.path, "prop", name])

    def label(self, text="", **kw):
        self.log.append([self.path, "label", text])

    def operator(self, idname, text="", **kw):
        class Op:
            pass

        self.log.append([self.path, "operator", idname, text])
        return Op()

    def progress(self, **kw):
        self.log.append([self.path, "progress", kw.get("text", "")])


def panel():
    log = []
    ui.draw_panel(Layout(log), bpy.context)
    return log


# ---- the prompt field of image.refine: Expand, Stop part-way, Expand to the end, Use, then Apply ------------
state = bpy.context.window_manager.muselink
state.capability = "image.refine"
form = bpy.context.window_manager.muselink_form
form.p_prompt, form.p_seed, form.p_steps, form.p_preview_every, form.p_strength = PROMPT, SEED, 2, 0, 0.5
ctl = runtime.controller()
result["expandable"] = list(ctl.expandable("image.refine"))
streamed = []
ctl.session.listeners.append(lambda event, job: streamed.append(job.message) if event == "progress" and
                             job is not None and job.capability == "text.expand_prompt" and job.message else None)
job = ctl.expand("image.refine", "prompt", PROMPT, SEED, "form")  # what the panel's Expand does, not waiting
deadline = time.monotonic() + 120
while not streamed and not job.finished and time.monotonic() < deadline:
    time.sleep(0.02)
drawn_running = panel()
assert bpy.ops.muselink.expand_prompt(field="FORM") == {"FINISHED"}  # the button now reads Stop
ctl.runner.wait(job, 30, tick=ctl.tick)
result["stopped"] = {"state": job.state, "prompt": form.p_prompt, "offers": dict(ctl.offers), "streamed": len(streamed),
                     "panel": drawn_running}
streamed.clear()
assert bpy.ops.muselink.expand_prompt(field="FORM") == {"FINISHED"}  # background mode: waits for the result
expanded = ctl.offers.get("form")
result["expanded"] = {"offered": expanded, "streamed": list(streamed), "panel": panel(),
                      "params": ctl.last.params, "meta": ctl.last.result.meta if ctl.last.result else None}
assert bpy.ops.muselink.use_expanded(field="FORM") == {"FINISHED"}
result["used"] = {"prompt": form.p_prompt, "offers": dict(ctl.offers)}
assert bpy.ops.muselink.stylize_texture() == {"FINISHED"}  # image.refine with the form: the expanded prompt
refined = wall()[1].image
result["refined"] = {"image": refined.name, "params": json.loads(refined["muselink"])["params"]}

# ---- the Generate texture prompt: Expand, Use, Generate --------------------------------------------------
state.mode, state.prompt = "PROMPT", "a red brick wall"
assert bpy.ops.muselink.expand_prompt(field="GENERATE") == {"FINISHED"}
result["generate_expanded"] = ctl.offers.get("generate")
assert bpy.ops.muselink.use_expanded(field="GENERATE") == {"FINISHED"}
result["generate_prompt"] = state.prompt
quick = {"steps": 2, "preview_every": 0, "seed": 3}
assert bpy.ops.muselink.generate_texture(mode="PANEL", params=json.dumps(quick)) == {"FINISHED"}
made = bpy.data.materials["Wall"].node_tree.nodes.active.image
result["generated"] = {"image": made.name, "meta": json.loads(made["muselink"])}

addon_utils.disable(module)
result["unregistered"] = not hasattr(bpy.types, "MUSELINK_OT_expand_prompt")
with open(f"{OUTDIR}/result.json", "w") as fh:
    json.dump(result, fh, indent=1, default=str)
print("MUSELINK-E2E-OK")
