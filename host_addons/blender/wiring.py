"""Which node to read and where to put results in a material's node tree, without Blender.

The adapter describes the tree as :class:`NodeInfo` records; these functions decide and return
plain answers (a node name, a placement), or raise ``ValueError`` with a message for the user.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TEX_IMAGE = "TEX_IMAGE"
PRINCIPLED = "BSDF_PRINCIPLED"
OUTPUT = "OUTPUT_MATERIAL"
BASE_COLOR = "Base Color"
ALPHA = "Alpha"
NODE_GAP = 300.0


@dataclass(frozen=True)
class Link:
    from_node: str
    from_socket: str
    to_node: str
    to_socket: str


@dataclass(frozen=True)
class NodeInfo:
    name: str
    type: str
    image: str | None = None
    location: tuple = (0.0, 0.0)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TexturePlacement:
    """Where a generated texture goes: a new Image Texture node at ``location`` linked into
    ``bsdf``'s Base Color (``create_bsdf``: add a Principled BSDF wired to the output first);
    ``replaces`` is the link that fed Base Color before (its source node is kept)."""

    bsdf: str | None
    location: tuple
    create_bsdf: bool = False
    replaces: Link | None = None


def _feeds(links: list, node: str, to_node: str | None = None, to_socket: str | None = None) -> bool:
    return any(k.from_node == node and (to_node is None or k.to_node == to_node)
               and (to_socket is None or k.to_socket == to_socket) for k in links)


def pick_texture_node(material: str, nodes: list, links: list, active: str | None = None,
                      image: str | None = None) -> str:
    """The Image Texture node to stylize: the one showing ``image`` if given; else the active node;
    else the one feeding a BSDF's Base Color; else the only one. ValueError when ambiguous or none."""
    textures = [n for n in nodes if n.type == TEX_IMAGE and n.image]
    if image:
        using = [n for n in textures if n.image == image]
        if not using:
            raise ValueError(f"image '{image}' is not used by an Image Texture node in material '{material}'")
        return next((n.name for n in using if n.name == active), using[0].name)
    if not textures:
        raise ValueError(f"material '{material}' has no Image Texture node with an image to stylize "
                         "(add one, or use Generate texture)")
    if active and any(n.name == active for n in textures):
        return active
    principled = {n.name for n in nodes if n.type == PRINCIPLED}
    base = [n for n in textures if any(_feeds(links, n.name, b, BASE_COLOR) for b in principled)]
    if len(base) == 1:
        return base[0].name
    if len(textures) == 1:
        return textures[0].name
    raise ValueError(f"material '{material}' has {len(textures)} image textures; click the one to stylize "
                     "in the Shader editor to make it active")


def pick_bsdf(nodes: list, links: list) -> str | None:
    """The Principled BSDF that reaches the material output (else the first one, else None)."""
    principled = [n.name for n in nodes if n.type == PRINCIPLED]
    outputs = {n.name for n in nodes if n.type == OUTPUT}
    for name in principled:
        if any(_feeds(links, name, out) for out in outputs):
            return name
    return principled[0] if principled else None


def plan_generated_texture(nodes: list, links: list) -> TexturePlacement:
    """Where a new texture node goes and what it links to (Base Color of the material's BSDF)."""
    bsdf = pick_bsdf(nodes, links)
    if bsdf is None:
        output = next((n for n in nodes if n.type == OUTPUT), None)
        x, y = output.location if output else (300.0, 0.0)
        return TexturePlacement(bsdf=None, create_bsdf=True, location=(x - 2 * NODE_GAP, y))
    node = next(n for n in nodes if n.name == bsdf)
    old = next((k for k in links if k.to_node == bsdf and k.to_socket == BASE_COLOR), None)
    x, y = node.location
    location = (x - NODE_GAP, y)
    if old is not None:  # keep the old source visible: put the new node a little above it
        source = next((n for n in nodes if n.name == old.from_node), None)
        if source is not None:
            location = (source.location[0], source.location[1] + NODE_GAP)
    return TexturePlacement(bsdf=bsdf, location=location, replaces=old)


def result_name(original: str, capability: str) -> str:
    """Name of a result image: ``<original>.<capability>`` (Blender adds .001 … when taken)."""
    stem = original.rsplit(".", 1)[0] if original.lower().endswith((".png", ".jpg", ".jpeg", ".tif", ".exr")) else original
    return f"{stem}.{capability}"[:63]


def keeps_texture(source_opaque: bool, result_opaque: bool) -> bool:
    """Whether a picture made from an opaque texture goes beside it instead of into its node: a result with
    transparency (line art: lines on transparent) would punch holes in the material, so it becomes a new image
    in its own, unlinked Image Texture node; an opaque one (a restyle, an upscale) takes the texture's place."""
    return source_opaque and not result_opaque


def plan_beside(nodes: list, node: str) -> tuple:
    """Where a new, unlinked Image Texture node goes: above ``node``, clear of the nodes already there."""
    anchor = next(n for n in nodes if n.name == node)
    x, y = anchor.location
    taken = {round(n.location[1]) for n in nodes if abs(n.location[0] - x) < NODE_GAP / 2}
    y += NODE_GAP
    while round(y) in taken:
        y += NODE_GAP
    return (x, y)


def plan_alpha(nodes: list, links: list, near: str | None = None) -> TexturePlacement:
    """Where a mask goes: a new (non-colour) Image Texture node below ``near`` (or left of the BSDF)
    linked into the Alpha of the material's BSDF; ``replaces`` is what fed Alpha before.
    ValueError when the material has no Principled BSDF."""
    bsdf = pick_bsdf(nodes, links)
    if bsdf is None:
        raise ValueError("the material has no Principled BSDF to take the mask as its alpha")
    anchor = next((n for n in nodes if n.name == near), None) or next(n for n in nodes if n.name == bsdf)
    x, y = anchor.location
    location = (x, y - NODE_GAP) if anchor.name != bsdf else (x - NODE_GAP, y - NODE_GAP)
    old = next((k for k in links if k.to_node == bsdf and k.to_socket == ALPHA), None)
    return TexturePlacement(bsdf=bsdf, location=location, replaces=old)
