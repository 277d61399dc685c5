"""The Blender host adapter: capture a texture, an exemplar or a camera render, and place results by
output kind. Output kinds: ``image``/``document`` → a new packed image (in the texture's node, a new
node linked to Base Color, or a render result; a picture with transparency made from an opaque texture,
such as line art, goes in a new unlinked node beside it); ``mask`` → a new non-colour image linked to
the BSDF's Alpha, read like the texture; ``text`` → the panel's prompt.
"""
from __future__ import annotations

import bpy

from .. import pixels, wiring
from ..deps import Applied, Capture, HostInfo, hostspec
from ..form import BLENDER
from .images import describe, material, new_image, read_image, render_camera, texture_node


class BlenderAdapter:
    @hostspec.hookimpl
    def muselink_host_info(self):
        return HostInfo(name="blender", version=bpy.app.version_string, captures=BLENDER.captures,
                        applies=BLENDER.applies, label=BLENDER.label)

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        opts, cap = request.options, request.capability
        image_input = request.wants("image")
        key = image_input.name if image_input is not None else None
        if request.source == "texture":
            mat, node = texture_node(opts)
            payloads = {key: read_image(node.image)} if key else {}
            target = {"kind": "texture", "material": mat.name, "node": node.name, "image": node.image.name,
                      "capability": cap, "opaque": all(pixels.opaque(p) for p in payloads.values())}
            return Capture(payloads, target, f"{mat.name}/{node.image.name}")
        if request.source in ("exemplar", "prompt"):
            payloads = {}
            if request.source == "exemplar" and key:
                image = bpy.data.images.get(opts["image"]) if opts.get("image") else texture_node(opts)[1].image
                if image is None:
                    raise ValueError(f"no image named '{opts['image']}' to use as the exemplar")
                payloads[key] = read_image(image)
            obj = bpy.context.view_layer.objects.active
            target = {"kind": "generate", "material": opts.get("material", ""), "object": obj.name if obj else "",
                      "capability": cap, "name": opts.get("name") or "texture"}
            return Capture(payloads, target, request.source)
        if request.source == "render":
            scene = bpy.context.scene
            target = {"kind": "render", "scene": scene.name, "camera": scene.camera.name if scene.camera else "",
                      "capability": cap, "background": bool(opts.get("background"))}
            return Capture({key: render_camera(scene)} if key else {}, target, f"{scene.name} camera")
        return None

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, output, meta, replace):
        t = capture.target
        meta = {"capability": t["capability"], **meta}
        if output.kind == "text":  # a new prompt, offered in the panel's prompt field
            bpy.context.window_manager.muselink.prompt = output.text()
            return Applied("text", output.name, handle=output.text())
        if output.kind == "mask":
            return _apply_mask(t, output, meta)
        if t["kind"] == "texture":
            mat = bpy.data.materials.get(t["material"])
            node = mat.node_tree.nodes.get(t["node"]) if mat else None
            if node is None:
                return None
            old = bpy.data.images.get(t["image"])
            image = new_image(wiring.result_name(t["image"], t["capability"]), output.payload,
                              {**meta, "source": t["image"]}, old)
            if wiring.keeps_texture(t.get("opaque", False), pixels.opaque(output.payload)):
                return Applied("image", image.name, handle=_node_beside(mat.node_tree, node, image))
            if old is not None:
                old.use_fake_user = True  # the original stays in the .blend, ready to re-link
            node.image = image
            return Applied("image", image.name, handle=image)
        if t["kind"] == "generate":
            return _apply_generated(t, output.payload, meta)
        if t["kind"] == "render":
            image = new_image(f"{t['scene']}.render.{t['capability']}", output.payload, meta)
            camera = bpy.data.objects.get(t["camera"])
            if t["background"] and camera is not None and camera.type == "CAMERA":
                camera.data.show_background_images = True
                camera.data.background_images.new().image = image
            return Applied("image", image.name, handle=image)
        return None


def _target_material(t):
    if t["kind"] == "texture" or t.get("material"):
        return material({"material": t["material"]})[0]
    obj = bpy.data.objects.get(t["object"])
    if obj is None:
        raise ValueError("the object the texture was generated for is gone")
    bpy.context.view_layer.objects.active = obj
    return material({}, create=True)[0]


def _apply_generated(t, data, meta):
    mat = _target_material(t)
    tree = mat.node_tree
    nodes, links = describe(tree)
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
    return Applied("image", image.name, handle=node)


def _apply_mask(t, output, meta):
    name = wiring.result_name(t.get("image") or t.get("name") or t.get("scene", "render"), f"{t['capability']}.{output.name}")
    image = new_image(name, output.payload, meta, non_color=True)
    if t["kind"] == "render":
        return Applied("mask", image.name, handle=image)
    mat = _target_material(t)
    tree = mat.node_tree
    nodes, links = describe(tree)
    plan = wiring.plan_alpha(nodes, links, near=t.get("node"))
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image, node.location = image, plan.location
    _same_mapping(tree, tree.nodes.get(t.get("node") or ""), node)
    tree.links.new(node.outputs["Color"], tree.nodes[plan.bsdf].inputs[wiring.ALPHA])
    if hasattr(mat, "blend_method"):  # EEVEE: show the transparency (Cycles always does)
        mat.blend_method = "HASHED"
    if getattr(mat, "shadow_method", "NONE") == "OPAQUE":  # EEVEE before 4.2: shadows follow the cut-out too
        mat.shadow_method = "HASHED"
    return Applied("mask", image.name, handle=node)


def _same_mapping(tree, source, node):
    """``node`` reads its image the way ``source`` does (the same UV/mapping link, projection, extension)."""
    if source is None:
        return
    node.extension, node.interpolation, node.projection = source.extension, source.interpolation, source.projection
    for link in source.inputs["Vector"].links:
        tree.links.new(link.from_socket, node.inputs["Vector"])


def _node_beside(tree, source, image):
    """A new, unlinked Image Texture node holding ``image`` above ``source`` (the texture stays as it is)."""
    nodes, _ = describe(tree)
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image, node.location, node.label = image, wiring.plan_beside(nodes, source.name), image.name
    _same_mapping(tree, source, node)
    tree.nodes.active = source  # the texture stays the one the next job reads
    return node
