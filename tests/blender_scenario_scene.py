"""Runs INSIDE Blender (``blender -b``) for the signature scenario (test_signature_scenario.py).

Usage: ``blender -b --python-exit-code 1 --python blender_scenario_scene.py -- ENDPOINT TEXTURE OUTDIR GO [PICTURE]``.
The muselink add-on must be installed (``muselink install blender``) in ``BLENDER_USER_RESOURCES``. Builds a
small scene (a wall with a brick texture, a stone ball), connects, writes OUTDIR/ready and waits for the file GO.
Then, as a user would: starts ``texture.synthesize`` (heavy lane) for the ball, stylizes the wall's texture
(image lane) while it runs, cancels the synthesis from Blender half-way, synthesizes the ball's texture again to
the end, renders the camera to PICTURE and writes OUTDIR/result.json with what it saw (and every job message
its client received).
"""
import importlib
import json
import os
import resource
import sys
import time

import bpy  # first: the bpy module puts Blender's script modules on sys.path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `blender --python` leaves the script's folder out
import addon_utils  # noqa: E402
from blender_scene_support import addon_preferences, flat, textured_material  # noqa: E402

ENDPOINT, TEXTURE, OUTDIR, GO = sys.argv[sys.argv.index("--") + 1:][:4]
PICTURE = (sys.argv[sys.argv.index("--") + 1:] + [""])[4]
SYNTH = {"width": 64, "height": 64, "exemplar_size": 64, "scales": 1, "tiling": "both", "seed": 5}
result = {"blender": bpy.app.version_string}


def base_color_image(mat):
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    link = next((k for k in mat.node_tree.links if k.to_socket == bsdf.inputs["Base Color"]), None)
    return link.from_node.image if link is not None and link.from_node.type == "TEX_IMAGE" else None


def wait_until(check, timeout, what):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ---- the add-on, as installed, and its module --------------------------------------------------------
module, prefs = addon_preferences(ENDPOINT, 5.0)
deps, runtime = importlib.import_module(f"{module}.deps"), importlib.import_module(f"{module}.host.runtime")

# ---- scene: a wall (brick texture) and a ball (stone, to be synthesized), camera, sun ------------------
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
brick = bpy.data.images.load(TEXTURE)
brick_pixels = flat(brick)
wall, _, wall_tex, _ = textured_material("Wall", brick)
stone, *_ = textured_material("Stone", brick)
bpy.ops.mesh.primitive_plane_add(size=2.6, location=(0, 0.6, 1.3), rotation=(1.5708, 0, 0))
bpy.context.view_layer.objects.active.data.materials.append(wall)
bpy.ops.mesh.primitive_plane_add(size=6, location=(0, 0, 0))
floor = bpy.data.materials.new("Floor")
floor.diffuse_color = (0.35, 0.33, 0.3, 1)
bpy.context.view_layer.objects.active.data.materials.append(floor)
bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(0.55, -0.9, 0.6), segments=48, ring_count=24)
bpy.ops.object.shade_smooth()
ball = bpy.context.view_layer.objects.active
ball.data.materials.append(stone)
bpy.ops.object.camera_add(location=(0.0, -5.6, 1.5), rotation=(1.54, 0.0, 0.0))
scene = bpy.context.scene
scene.camera = bpy.context.view_layer.objects.active
bpy.ops.object.light_add(type="SUN", location=(0, 0, 3), rotation=(0.6, 0.2, -0.5))
bpy.context.view_layer.objects.active.data.energy = 4.0
scene.render.engine = "CYCLES"
scene.cycles.samples = 12
scene.cycles.use_denoising = False  # Debian's Cycles has no OpenImageDenoise
scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 480, 360, 100

# ---- connect, tap the wire, fill the form ------------------------------------------------------------
ctl = runtime.controller()
wire = result["wire"] = {"submitted": [], "received": []}
make_client = ctl.session._make_client


def tapped_client(endpoint, name, timeout):
    client = make_client(endpoint, name, timeout)
    dispatch = client._dispatch

    def tapped(message):
        job = getattr(message, "job", None)
        if job:
            wire["received"].append([round(time.time(), 3), message.command, job, getattr(message, "preview", None) is not None,
                                     getattr(message, "reason", "")])
        dispatch(message)

    client._dispatch = tapped
    wire["client"] = client
    return client


def submitted(event, job):
    if event == "submitted":
        wire["submitted"].append([round(time.time(), 3), job.id, job.capability, False])


ctl.session._make_client = tapped_client
ctl.session.listeners.append(submitted)
assert bpy.ops.muselink.connect() == {"FINISHED"}
state = bpy.context.window_manager.muselink
state.capability = "style.fast"
form = bpy.context.window_manager.muselink_form
form.p_style, form.p_size = "mosaic", 128
bpy.context.view_layer.objects.active = ball
open(os.path.join(OUTDIR, "ready"), "w").close()
wait_until(lambda: os.path.exists(GO), 300, "the go signal")
result["go_at"] = time.time()

# ---- a long synthesis for the ball, in the heavy lane; stylize the wall meanwhile ----------------------
long = ctl.start(deps.CaptureRequest("texture.synthesize", "exemplar", {"material": "Stone", "image": brick.name,
                                                                           "name": "cancelled"}),
                 {**SYNTH, "iterations": 60, "preview_every": 5})
wait_until(lambda: long.id, 30, "the synthesis to be sent")
started = time.monotonic()
assert bpy.ops.muselink.stylize_texture(material="Wall") == {"FINISHED"}
new = wall_tex.image
meta = json.loads(new["muselink"])
result["texture"] = {"material": "Wall", "image": new.name, "packed": new.packed_file is not None,
                     "base_color_image": base_color_image(wall).name, "size": list(new.size),
                     "capability": meta.get("capability"), "styles": meta.get("styles"), "job": meta.get("job"),
                     "changed": sum(abs(a - b) for a, b in zip(flat(new), brick_pixels, strict=True)) / len(brick_pixels),
                     "done_at": time.time()}

# ---- cancel the synthesis half-way, from Blender (the add-on's Cancel) ---------------------------------
wait_until(lambda: long.fraction >= 0.5 or long.finished, 120, "the synthesis to be half-way")
cancel_fraction, cancel_at = long.fraction, time.time()
assert bpy.ops.muselink.cancel() == {"FINISHED"}
wait_until(lambda: long.finished, 30, "the cancelled synthesis to end")
ctl.tick()
result["cancelled"] = {"job": long.id, "state": long.state, "message": long.message, "fraction": round(cancel_fraction, 3),
                       "cancel_at": cancel_at, "ended_at": time.time(), "seconds": round(time.monotonic() - started, 2),
                       "ball_image": base_color_image(stone).name, "preview_seen": long.preview is not None,
                       "leftovers": [i.name for i in bpy.data.images if i.name.startswith("cancelled")]}

# ---- the ball's texture, synthesized to the end -------------------------------------------------------
bpy.context.view_layer.objects.active = ball
assert bpy.ops.muselink.generate_texture(mode="EXEMPLAR", exemplar=brick.name, material="Stone",
                                         params=json.dumps({**SYNTH, "iterations": 16, "preview_every": 0})) == {"FINISHED"}
made = base_color_image(stone)
meta = json.loads(made["muselink"])
result["synthesized"] = {"material": "Stone", "image": made.name, "packed": made.packed_file is not None,
                         "size": list(made.size), "capability": meta.get("capability"), "job": meta.get("job"),
                         "tiling": meta.get("params", {}).get("tiling"), "done_at": time.time()}
result["wall_after"] = base_color_image(wall).name

# ---- the camera's view, for the README ---------------------------------------------------------------
if PICTURE:
    start = time.monotonic()
    scene.render.filepath = PICTURE
    scene.render.image_settings.file_format = "PNG"
    bpy.ops.render.render(write_still=True)
    result["picture"], result["render_seconds"] = PICTURE, round(time.monotonic() - start, 2)

client = wire.pop("client", None)
wire.update(stray_replies=client.stray_replies if client else None, protocol_errors=client.protocol_errors if client else None,
            client=client.name if client else None)
result["finished_at"] = time.time()
usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
result["cpu_s"] = round(sum(u.ru_utime + u.ru_stime for u in usage), 2)
addon_utils.disable(module)  # unregister everything: stops the add-on's worker thread
with open(os.path.join(OUTDIR, "result.json"), "w") as fh:
    json.dump(result, fh, indent=1)
print("MUSELINK-SCENARIO-OK")
