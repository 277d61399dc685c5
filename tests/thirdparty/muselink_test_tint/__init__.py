"""A third-party muselink plugin, installed by pip through the ``muselink.plugins.v1`` entry point.

It uses only the published API (``muselink.core.api``) and standard output kinds, so every host shows
and applies it with no host code:

* ``test.tint`` — one parameter of every type; returns the picture tinted (``image``: a new layer / a
  new image in the material) and where it changed (``mask``: a transparency mask / the material's alpha);
* ``test.double`` — the picture at twice the size (``document``: a new document / a new image) and a
  caption (``text``: offered for the prompt field).

Results are exact functions of the parameters, so the host tests can check that every value arrived.
"""
from __future__ import annotations

import numpy as np

from muselink.bridge.payloads import BlobData, ImageData
from muselink.core.api import Capability, InputSpec, JobOutput, OutputSpec, Param, hookimpl

CHANNELS = ("red", "green", "blue")


def tint(inputs, params, ctx):
    """Add ``shift`` × ``amount`` (× the ``mix`` weight of the channel) to ``channel`` (subtract when ``invert``);
    the mask is 255 where the region was sent (or the sent mask), 0 elsewhere."""
    ctx.progress(0.1, "tinting")
    rgba = inputs["image"].to_numpy()[:, :, :4].astype(np.int32)
    weight = (params["mix"] or {}).get(params["channel"], 1.0)
    delta = round(params["shift"] * params["amount"] * weight) * (-1 if params["invert"] else 1)
    out = rgba.copy()
    out[:, :, CHANNELS.index(params["channel"])] += delta
    image = np.clip(out, 0, 255).astype(np.uint8)
    mask = inputs["mask"].to_numpy()[:, :, 0] if "mask" in inputs else np.full(image.shape[:2], 255, np.uint8)
    ctx.progress(0.9, "done")
    seen = {"label": params["label"], "note": params["note"], "delta": delta, "seed": params["seed"]}
    return JobOutput({"image": ImageData.from_numpy(image), "mask": ImageData.from_numpy(mask.copy())}, {"seen": seen})


def double(inputs, params, ctx):
    """The picture at twice its size (nearest neighbour) and a caption naming its new size."""
    rgba = inputs["image"].to_numpy()
    big = np.ascontiguousarray(rgba.repeat(2, axis=0).repeat(2, axis=1))
    caption = f"{params['prompt']} at {big.shape[1]}x{big.shape[0]}".strip()
    return JobOutput({"image": ImageData.from_numpy(big), "prompt": BlobData("text/plain", caption.encode())})


@hookimpl
def muselink_capabilities():
    image = InputSpec("image", "image", help="the picture")
    return [
        Capability(
            name="test.tint", summary="Third-party test: tint one channel (every parameter type).", run=tint,
            inputs=(image, InputSpec("mask", "mask", required=False, help="where to report the change")),
            outputs=(OutputSpec("image", "image"), OutputSpec("mask", "mask", "where it changed")),
            params=(Param("amount", "float", 0.5, "how much of the shift", 0.0, 1.0),
                    Param("shift", "int", 40, "added to the channel", -255, 255),
                    Param("label", "str", "tinted", "a name, kept in the result's metadata"),
                    Param("invert", "bool", False, "subtract instead"),
                    Param("channel", "choice", "red", "which channel", choices=CHANNELS),
                    Param("seed", "seed", None, "kept in the metadata", 0, 2**31 - 1),
                    Param("note", "text", "", "a longer note, kept in the metadata"),
                    Param("mix", "weights", None, "per-channel weight of the shift", choices=CHANNELS))),
        Capability(
            name="test.double", summary="Third-party test: twice the size, with a caption.", run=double,
            inputs=(image,), outputs=(OutputSpec("image", "document"), OutputSpec("prompt", "text", "a caption")),
            params=(Param("prompt", "text", "doubled", "the caption's start"),)),
    ]
