"""What the Blender scene scripts (``blender_*_scene.py``) share. Runs INSIDE Blender, imported by those scripts.

Only the standard library, ``bpy`` and ``addon_utils`` (Blender's, or the PyPI ``bpy`` module's): nothing from
muselink or the test environment. ``blender --python`` does not put a script's folder on ``sys.path``, so each scene
inserts its own folder (after ``import bpy``, which the bpy module needs first) before importing this.
"""
from __future__ import annotations

from array import array

import bpy  # first: the bpy module puts Blender's script modules on sys.path

import addon_utils

MODULES = ("muselink_blender", "bl_ext.user_default.muselink_blender")  # legacy add-on (< 4.2), extension (4.2+)


def flat(image: bpy.types.Image) -> array:
    """The image's pixels, RGBA floats row by row from the bottom, as ``array('f')``."""
    values = array("f", [0.0]) * (image.size[0] * image.size[1] * 4)
    image.pixels.foreach_get(values)
    return values


def enabled_module() -> str | None:
    """The module name under which the muselink add-on is enabled, or None."""
    return next((m for m in MODULES if addon_utils.check(m)[1]), None)


def addon_preferences(endpoint: str, timeout: float) -> tuple[str, bpy.types.AddonPreferences]:
    """The installed, enabled muselink add-on's module name and preferences, pointed at ``endpoint``."""
    module = enabled_module()
    if module is None and not bpy.app.version < (4, 2, 0):
        bpy.ops.wm.read_userpref()  # the bpy module does not load user preferences by itself
        module = enabled_module()
    assert module is not None, "muselink add-on is not enabled in this Blender's preferences"
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.endpoint, prefs.timeout = endpoint, timeout
    return module, prefs


def textured_material(name: str, image: bpy.types.Image) -> tuple[bpy.types.Material, bpy.types.NodeTree,
                                                                  bpy.types.ShaderNodeTexImage, bpy.types.ShaderNode]:
    """A new node material whose image texture node (active) feeds its Principled BSDF's Base Color."""
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    tree = mat.node_tree
    bsdf = next(n for n in tree.nodes if n.type == "BSDF_PRINCIPLED")
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    tree.nodes.active = tex
    return mat, tree, tex, bsdf
