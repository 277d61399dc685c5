"""Runs INSIDE Blender for test_blender_e2e.py: a third-party plugin's capabilities through the installed add-on.

Usage: like blender_e2e_scene.py — ``<blender> -b --python blender_thirdparty_scene.py -- ENDPOINT TEXTURE OUTDIR``
(or ``python blender_thirdparty_scene.py ENDPOINT TEXTURE OUTDIR`` with the bpy module). The add-on has no code for
these capabilities: their form comes from the schema and their outputs are placed by kind. Writes OUTDIR/result.json.
"""
import json
import os
import sys

import bpy  # first: the bpy module puts Blender's script modules on sys.path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # `blender --python` leaves the script's folder out
import addon_utils  # noqa: E402
from blender_scene_support import addon_preferences, flat, textured_material  # noqa: E402

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
ENDPOINT, TEXTURE, OUTDIR = argv[:3]
VALUES = {"p_amount": 0.5, "p_shift": 60, "p_label": "hello", "p_invert": True, "p_channel": "green", "p_seed": 7,
          "p_note": "a note", "p_mix": "green:0.5"}
result = {"blender": bpy.app.version_string}

module, prefs = addon_preferences(ENDPOINT, 5.0)

for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
bpy.ops.mesh.primitive_plane_add(size=2.0)
plane = bpy.context.view_layer.objects.active
original = bpy.data.images.load(TEXTURE)
before = flat(original)
mat, tree, tex, bsdf = textured_material("Wall", original)
plane.data.materials.append(mat)

# ---- the panel lists the plugin's capability; its form has one property per parameter type -------------
bpy.ops.muselink.connect()
state = bpy.context.window_manager.muselink
state.capability = "test.tint"
form = bpy.context.window_manager.muselink_form
result["form"] = sorted(k for k in form.bl_rna.properties.keys() if k.startswith("p_"))
for prop, value in VALUES.items():
    setattr(form, prop, value)
assert bpy.ops.muselink.stylize_texture() == {"FINISHED"}
tinted = tex.image
after = flat(tinted)
alpha_link = bsdf.inputs["Alpha"].links[0] if bsdf.inputs["Alpha"].links else None
mask_image = alpha_link.from_node.image if alpha_link else None
result["tint"] = {
    "new": tinted.name, "packed": tinted.packed_file is not None, "meta": json.loads(tinted["muselink"]),
    "green_shift": [round((a - b) * 255) for a, b in zip(after[1::4], before[1::4], strict=True) if b > 0.1][:50],
    "red_blue_same": max(abs(a - b) for i, (a, b) in enumerate(zip(after, before, strict=True)) if i % 4 in (0, 2)),
    "mask": mask_image.name if mask_image else None,
    "mask_colorspace": mask_image.colorspace_settings.name if mask_image else None,
    "mask_min": min(flat(mask_image)[0::4]) if mask_image else None,
}

# ---- a document output (twice the size) and a text output (the prompt) ---------------------------------
assert bpy.ops.muselink.stylize_texture(capability="test.double", params=json.dumps({"prompt": "big"})) == {"FINISHED"}
result["double"] = {"image": tex.image.name, "size": list(tex.image.size), "prompt": state.prompt}

addon_utils.disable(module)
result["unregistered"] = not hasattr(bpy.types, "MUSELINK_OT_stylize_texture")
with open(f"{OUTDIR}/result.json", "w") as fh:
    json.dump(result, fh, indent=1)
print("MUSELINK-E2E-OK")
