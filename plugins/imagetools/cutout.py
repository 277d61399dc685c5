"""``image.cutout``: a soft alpha matte and the cut-out picture (see :mod:`.matte` for the networks)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from muselink.bridge.payloads import ImageData
from muselink.core.api import JobOutput

from ..imaging import split_alpha
from . import files, matte


def shape(full: np.ndarray, threshold: float, feather: float) -> np.ndarray:
    """The matte's final form as uint8: a hard cut at ``threshold`` when it is > 0 (soft matte at 0), then edges
    softened by a Gaussian of ``feather`` pixels."""
    if threshold > 0:
        full = (full >= threshold).astype(np.float32)
    out = (full * 255.0 + 0.5).astype(np.uint8)
    if feather > 0:
        out = np.asarray(Image.fromarray(out, "L").filter(ImageFilter.GaussianBlur(feather)))
    return out


def run(inputs: dict, params: dict, ctx) -> JobOutput:
    rgb, alpha = split_alpha(inputs["image"].to_numpy())
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        raise ValueError(f"input 'image' is {width}x{height}; both sides need at least 8 px")
    model = params["model"]
    ctx.progress(0.0, f"loading {model} matting")
    session = matte.session(ctx, model)
    ctx.progress(0.1, "computing the matte")
    low = matte.predict(session, model, rgb)
    ctx.progress(0.6, f"refining the {low.shape[1]}x{low.shape[0]} matte to {width}x{height}")
    full = np.empty((height, width), np.uint8)
    if params["refine"]:
        for y0, strip in matte.refine(rgb, low):
            full[y0:y0 + strip.shape[0]] = shape(strip, params["threshold"], 0)
    else:
        full[:] = shape(matte.resize_float(low, width, height), params["threshold"], 0)
    if params["feather"] > 0:
        full = shape(full.astype(np.float32) / 255.0, 0, params["feather"])
    if alpha is not None:
        full = ((full.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    ctx.progress(0.95, "composing")
    cut = np.dstack([rgb, full])
    name, label = matte.MODELS[model]
    meta = {"model": label, "model_hash": files.file_hash(files.path(files.PHOTOBOOTH, name)),
            "matte_size": f"{low.shape[1]}x{low.shape[0]}", "refined": params["refine"],
            "foreground_fraction": round(float(full.mean()) / 255.0, 4)}
    return JobOutput(payloads={"image": ImageData.from_numpy(cut), "mask": ImageData.from_numpy(full[:, :, None])},
                     meta=meta)
