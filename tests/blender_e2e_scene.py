"""Runs INSIDE Blender (``blender -b --python`` 3.4, or the ``bpy`` module 4.5) for test_blender_e2e.py.

Usage: ``<blender> -b --python-exit-code 1 --python blender_e2e_scene.py -- ENDPOINT DEAD_ENDPOINT TEXTURE OUTDIR [PICTURE]``
(or ``python blender_e2e_scene.py ENDPOINT …`` with the bpy module). The muselink add-on must already be
installed (``muselink install blender``) in ``BLENDER_USER_RESOURCES``. Writes OUTDIR/result.json with what it
measured; asserts the basics itself so a failure names the step.
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
ENDPOINT, DEAD, TEXTURE, OUTDIR = argv[:4]
PICTURE = argv[4] if len(argv) > 4 else ""
result = {"blender": bpy.app.version_string}


def mad(a, b):
    assert len(a) == len(b), (len(a), len(b))
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def expect_error(fragment, op, **kwargs):
    start = time.monotonic()
    try:
        op(**kwargs)
    except RuntimeError as exc:
        text = str(exc)
        assert fragment in text, f"expected {fragment!r} in the report, got {text!r}"
        return text, time.monotonic() - start
    raise AssertionError(f"{op} should have failed with {fragment!r}")


# ---- the add-on, as installed -------------------------------------------------------------------
module, prefs = addon_preferences(DEAD, 1.0)
result["module"] = module

# ---- daemon down: a clear report, quickly ------------------------------------------------------
text, seconds = expect_error("not reachable", bpy.ops.muselink.connect)
result["down"] = {"report": text, "seconds": round(seconds, 2)}
prefs.endpoint, prefs.timeout = ENDPOINT, 5.0

# ---- scene: a UV-mapped plane with an image-textured material, a camera looking down -------------
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
bpy.ops.mesh.primitive_plane_add(size=2.0)
plane = bpy.context.view_layer.objects.active
assert plane.data.uv_layers, "the plane has no UV map"
original = bpy.data.images.load(TEXTURE)
original_pixels = flat(original)
mat, tree, tex, bsdf = textured_material("Wall", original)
plane.data.materials.append(mat)
bpy.ops.object.camera_add(location=(0, 0, 2.2))
scene = bpy.context.scene
scene.camera = bpy.context.view_layer.objects.active
bpy.ops.object.light_add(type="SUN", location=(0, 0, 3))
bpy.context.view_layer.objects.active = plane
scene.render.engine = "CYCLES"
scene.cycles.samples = 4
scene.cycles.use_denoising = False  # Debian's Cycles has no OpenImageDenoise
scene.render.resolution_x = scene.render.resolution_y = 32
scene.render.resolution_percentage = 100

# ---- connect, pick a capability, fill the form built from the daemon's schema ---------------------
bpy.ops.muselink.connect()
state = bpy.context.window_manager.muselink
state.capability = "style.fast"
form = bpy.context.window_manager.muselink_form
form.p_style = "mosaic"
form.p_size = 128
result["form"] = sorted(k for k in form.bl_rna.properties.keys() if k.startswith("p_"))

# ---- stylize the texture --------------------------------------------------------------------------
start = time.monotonic()
assert bpy.ops.muselink.stylize_texture() == {"FINISHED"}
result["stylize_seconds"] = round(time.monotonic() - start, 2)
new = tex.image
assert new is not None and new != original, "the texture node should now show a new image"
new_pixels = flat(new)
meta = json.loads(new["muselink"])
result["texture"] = {
    "new": new.name, "original": original.name,
    "size": list(new.size), "packed": new.packed_file is not None,
    "changed": mad(new_pixels, original_pixels),
    "original_unchanged": mad(flat(bpy.data.images[original.name]), original_pixels),
    "original_kept": original.name in bpy.data.images and original.use_fake_user,
    "meta_capability": meta.get("capability"), "meta_styles": meta.get("styles"),
    "base_color_from": next(k.from_node.name for k in tree.links if k.to_socket == bsdf.inputs["Base Color"]),
    "node": tex.name,
}

# ---- bake the diffuse colour with Cycles: the surface shows the new texture -----------------------
w, h = new.size
target = bpy.data.images.new("bake", w, h)
bake_node = tree.nodes.new("ShaderNodeTexImage")
bake_node.image = target
tree.nodes.active = bake_node
for obj in scene.objects:
    obj.select_set(obj == plane)
bpy.context.view_layer.objects.active = plane
scene.render.bake.margin = 0
bpy.ops.object.bake(type="DIFFUSE", pass_filter={"COLOR"}, margin=0)
baked = flat(target)
result["bake"] = {"vs_new": mad(baked, new_pixels), "vs_original": mad(baked, original_pixels)}
tree.nodes.remove(bake_node)
bpy.data.images.remove(target)
tree.nodes.active = tex

# ---- stylize the camera render; result as camera background -----------------------------------
assert bpy.ops.muselink.stylize_render(params=json.dumps({"style": "cyanotype"}), as_background=True) == {"FINISHED"}
render = next(i for i in bpy.data.images if ".render." in i.name)
result["render"] = {"name": render.name, "size": list(render.size), "packed": render.packed_file is not None,
                    "background": [b.image.name for b in scene.camera.data.background_images if b.image]}

# ---- generate: exemplar needs texture.synthesize; prompt needs an image model --------------------
caps = {c["name"] for c in __import__(f"{module}.host.runtime", fromlist=["x"]).controller().runner.status.capabilities}
if "texture.synthesize" in caps:
    quick = {"width": 32, "height": 32, "exemplar_size": 32, "iterations": 2, "scales": 1, "preview_every": 0}
    assert bpy.ops.muselink.generate_texture(mode="EXEMPLAR", exemplar=original.name, params=json.dumps(quick)) == {"FINISHED"}
    made = next(k.from_node for k in tree.links if k.to_socket == bsdf.inputs["Base Color"])
    result["exemplar"] = {"node": made.name, "image": made.image.name, "size": list(made.image.size),
                          "packed": made.image.packed_file is not None, "meta": json.loads(made.image["muselink"])}
    tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])  # back to the stylized texture
else:
    result["exemplar"] = {"report": expect_error("texture.synthesize", bpy.ops.muselink.generate_texture,
                                                 mode="EXEMPLAR")[0]}
    tree.nodes.active = tex
try:
    bpy.ops.muselink.generate_texture(mode="PROMPT", prompt="mossy cobblestones")
    result["prompt"] = {"ok": True}
except RuntimeError as exc:
    result["prompt"] = {"report": str(exc)}

# ---- optional: a picture for the docs --------------------------------------------------------------
if PICTURE:
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.55, location=(0.45, -0.2, 0.55), segments=48, ring_count=24)
    sphere = bpy.context.view_layer.objects.active
    bpy.ops.object.shade_smooth()
    sphere.data.materials.append(mat)
    left = bpy.data.materials.new("Original")
    left.use_nodes = True
    lt = left.node_tree
    ltex = lt.nodes.new("ShaderNodeTexImage")
    ltex.image = original
    lt.links.new(ltex.outputs["Color"], next(n for n in lt.nodes if n.type == "BSDF_PRINCIPLED").inputs["Base Color"])
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.55, location=(-0.75, 0.3, 0.55), segments=48, ring_count=24)
    bpy.ops.object.shade_smooth()
    bpy.context.view_layer.objects.active.data.materials.append(left)
    cam = scene.camera
    cam.location, cam.rotation_euler = (0.0, -3.6, 2.4), (1.08, 0.0, 0.0)
    scene.render.resolution_x, scene.render.resolution_y = 640, 360
    scene.cycles.samples = 24
    scene.world = scene.world or bpy.data.worlds.new("World")
    scene.world.use_nodes = True
    scene.world.node_tree.nodes["Background"].inputs["Strength"].default_value = 1.0
    sun = next(o for o in scene.objects if o.type == "LIGHT")
    sun.data.energy, sun.rotation_euler = 4.0, (0.6, 0.2, -0.5)
    scene.render.filepath = PICTURE
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.render.render(write_still=True)
    result["picture"] = PICTURE

# ---- save, reopen, find the packed image ---------------------------------------------------------
path = f"{OUTDIR}/scene.blend"
bpy.ops.wm.save_as_mainfile(filepath=path)
bpy.ops.wm.open_mainfile(filepath=path)
again = bpy.data.images.get(result["texture"]["new"])
node = bpy.data.materials["Wall"].node_tree.nodes[result["texture"]["node"]]
result["reopened"] = {
    "found": again is not None, "packed": again is not None and again.packed_file is not None,
    "linked": node.image is not None and node.image.name == result["texture"]["new"],
    "same_pixels": mad(flat(again), new_pixels) if again is not None else None,
    "original_kept": result["texture"]["original"] in bpy.data.images,
}

# ---- unregister everything (the bpy module hangs at exit otherwise) --------------------------------
addon_utils.disable(module)
result["unregistered"] = not hasattr(bpy.types, "MUSELINK_OT_stylize_texture")
with open(f"{OUTDIR}/result.json", "w") as fh:
    json.dump(result, fh, indent=1)
print("MUSELINK-E2E-OK")
