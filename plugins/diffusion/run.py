"""The three capabilities: ``image.generate``, ``image.refine`` and ``image.inpaint``.

Each resolves the model in the user's registry, plans a model-friendly working size, runs the
cached pipeline with a step callback (progress every step, a cheap latent preview every few
steps, cancel at the next step) and scales the result back to exactly the requested size.
"""
from __future__ import annotations

import random

import numpy as np

from muselink.bridge.payloads import ImageData
from muselink.core.api import JobOutput

from ..imaging import blend_masked, join_alpha, mask_weights, resize, split_alpha
from . import registry
from .sizing import latent_preview, plan_size, soft_mask

LARGE_AREA = 1024 * 1024  # above this (in pixels) the VAE decodes in tiles to save memory


def _inputs_rgb(inputs: dict, name: str = "image"):
    image = inputs[name].to_numpy()
    if min(image.shape[:2]) < 8:
        raise ValueError(f"input '{name}' is {image.shape[1]}x{image.shape[0]}; both sides need at least 8 px")
    return split_alpha(image, name)


def _to_pil(rgb: np.ndarray):
    from PIL import Image

    return Image.fromarray(rgb)


def _check(params: dict, steps_used: int) -> None:
    if steps_used < 1:
        raise ValueError(f"parameter 'strength' ({params['strength']}) x 'steps' ({params['steps']}) leaves no "
                         f"denoising step; raise one of them")


def _load(ctx, params: dict, config_dir):
    """The registry entry for parameter ``model`` and its cached pipeline (loaded once per daemon)."""
    from .loading import get_model

    entry = registry.find(config_dir, params["model"])
    ctx.progress(0.0, f"loading {entry.name}")
    return entry, get_model(ctx, entry)


def _run_pipeline(task: str, params: dict, ctx, entry, model, out_size: tuple[int, int], gen_size: tuple[int, int],
                  **call) -> tuple[np.ndarray, dict]:
    """Run ``task`` with ``model`` at ``gen_size``; returns (HxWx3 uint8 at gen_size, meta)."""
    import torch

    from .tiling import tiled

    with model.lock:
        pipe = model.variant(task)
    seed = params["seed"] if params["seed"] is not None else random.randrange(2**32)
    every = params["preview_every"]

    def on_step(p, i, t, kwargs):
        total = max(1, p.num_timesteps)
        step = i + 1
        preview = None
        if every and step % every == 0 and step < total and "latents" in kwargs:
            rgb = latent_preview(kwargs["latents"][0].detach().float().cpu().numpy(), model.family)
            if rgb is not None:
                preview = ImageData.from_numpy(resize(rgb, *out_size))
        ctx.progress(0.02 + 0.93 * step / total, f"step {step}/{total}", step, total, preview)  # raises if cancelled
        return kwargs

    ctx.check_cancelled()
    width, height = gen_size
    with model.lock:
        model.set_scheduler(pipe, params["scheduler"])
        big = width * height > LARGE_AREA and params["tiling"] == "none" and hasattr(pipe.vae, "enable_tiling")
        if big:
            pipe.vae.enable_tiling()
        try:
            with tiled(pipe, params["tiling"]), torch.inference_mode():
                result = pipe(prompt=params["prompt"], negative_prompt=params["negative_prompt"] or None,
                              num_inference_steps=params["steps"], guidance_scale=params["guidance"],
                              width=width, height=height, generator=torch.Generator("cpu").manual_seed(seed),
                              output_type="np", callback_on_step_end=on_step,
                              callback_on_step_end_tensor_inputs=["latents"], **call)
        finally:
            if big:
                pipe.vae.disable_tiling()
    ctx.check_cancelled()
    image = (np.clip(result.images[0], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    meta = {"model_name": entry.name, "model_hash": entry.short_hash, "model_sha256": entry.hash,
            "model_source": entry.source, "seed": seed, "pipeline": type(pipe).__name__, "device": ctx.device,
            "dtype": str(model.pipe.dtype).replace("torch.", ""), "size": list(out_size),
            "generated_size": [width, height]}
    return image, meta


def run_generate(inputs: dict, params: dict, ctx, config_dir) -> JobOutput:
    entry, model = _load(ctx, params, config_dir)
    native = model.native_size
    width, height = params["width"] or native, params["height"] or native
    gen = plan_size(width, height, native)
    image, meta = _run_pipeline("text2img", params, ctx, entry, model, (width, height), gen)
    ctx.progress(0.98, "finishing")
    return JobOutput(payloads={"image": ImageData.from_numpy(resize(image, width, height))}, meta=meta)


def run_refine(inputs: dict, params: dict, ctx, config_dir) -> JobOutput:
    rgb, alpha = _inputs_rgb(inputs)
    h, w = rgb.shape[:2]
    _check(params, int(params["steps"] * params["strength"]))
    entry, model = _load(ctx, params, config_dir)
    gen = plan_size(w, h, model.native_size)
    image, meta = _run_pipeline("img2img", params, ctx, entry, model, (w, h), gen,
                                image=_to_pil(resize(rgb, *gen)), strength=params["strength"])
    return JobOutput(payloads={"image": ImageData.from_numpy(join_alpha(resize(image, w, h), alpha))}, meta=meta)


def inpaint_weights(inputs: dict, alpha: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """1 = regenerate: the ``mask`` input, else the image's transparent pixels; ValueError if neither."""
    weights = mask_weights(inputs.get("mask"), height, width)
    if weights is None and alpha is not None and alpha.min() < 255:
        weights = (alpha < 255).astype(np.float32)
    if weights is None:
        raise ValueError("image.inpaint needs a mask: send input 'mask' (white = regenerate) or make the area "
                         "to regenerate transparent in 'image'")
    if not (weights > 0).any():
        raise ValueError("input 'mask' is empty: nothing to regenerate (white = regenerate)")
    return weights


def run_inpaint(inputs: dict, params: dict, ctx, config_dir) -> JobOutput:
    rgb, alpha = _inputs_rgb(inputs)
    h, w = rgb.shape[:2]
    weights = inpaint_weights(inputs, alpha, h, w)
    _check(params, int(params["steps"] * params["strength"]))
    entry, model = _load(ctx, params, config_dir)
    gen = plan_size(w, h, model.native_size)
    hard = ((weights > 0) * 255).astype(np.uint8)
    from PIL import Image

    mask_small = Image.fromarray(hard).resize(gen, Image.BILINEAR).point(lambda v: 255 if v > 0 else 0)
    image, meta = _run_pipeline("inpaint", params, ctx, entry, model, (w, h), gen,
                                image=_to_pil(resize(rgb, *gen)), mask_image=mask_small, strength=params["strength"])
    soft = soft_mask(weights, params["mask_blur"])
    out = blend_masked(rgb, resize(image, w, h), soft)
    if alpha is not None:  # regenerated pixels become opaque; the rest keep their alpha exactly
        alpha = blend_masked(alpha[:, :, None], np.full_like(alpha, 255)[:, :, None], soft)[:, :, 0]
    meta["masked_fraction"] = round(float((weights > 0).mean()), 4)
    return JobOutput(payloads={"image": ImageData.from_numpy(join_alpha(out, alpha))}, meta=meta)
