"""Blender data the add-on reads and writes: image pixels, new packed images, materials, camera renders."""
from __future__ import annotations

import json
import os
import tempfile

import bpy

from .. import pixels, wiring


def read_image(image):
    w, h = image.size
    if w == 0 or h == 0:
        raise ValueError(f"image '{image.name}' has no pixels (is its file missing? {image.filepath or 'not saved'})")
    flat = pixels.float_buffer(w * h * 4)
    image.pixels.foreach_get(flat)
    return pixels.to_image_data(flat, w, h)


def new_image(name, data, meta, like=None, non_color=False):
    """A new image datablock holding ``data``, packed into the .blend, with provenance."""
    flat, w, h = pixels.from_image_data(data)
    image = bpy.data.images.new(name, w, h, alpha=True)
    if non_color:  # a mask: its values are data, not colours
        image.colorspace_settings.name = "Non-Color"
    elif like is not None and not like.is_float:
        image.colorspace_settings.name = like.colorspace_settings.name
    image.pixels.foreach_set(flat)
    image.update()
    image.pack()
    image["muselink"] = json.dumps(meta, default=str)[:4000]
    return image


def describe(tree):
    nodes = [wiring.NodeInfo(n.name, n.type, n.image.name if n.type == "TEX_IMAGE" and n.image else None,
                             tuple(n.location)) for n in tree.nodes]
    links = [wiring.Link(k.from_node.name, k.from_socket.name, k.to_node.name, k.to_socket.name) for k in tree.links]
    return nodes, links


def material(options, create=False):
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


def texture_node(options):
    mat, _ = material(options)
    tree = mat.node_tree
    nodes, links = describe(tree)
    active = tree.nodes.active.name if tree.nodes.active else None
    name = wiring.pick_texture_node(mat.name, nodes, links, active, options.get("image") or None)
    return mat, tree.nodes[name]


def render_camera(scene):
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
