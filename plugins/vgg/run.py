"""``style.optimize`` and ``texture.synthesize``: numpy/payload plumbing around :mod:`.optimize`.

Imported lazily by the plugin (it imports torch).
"""
from __future__ import annotations

import secrets

import numpy as np
import torch
import torch.nn.functional as F

from muselink.bridge.payloads import ImageData
from muselink.core.api import JobOutput

from ..imaging import blend_masked, fit_within, join_alpha, mask_weights, resize as resize_rgb, split_alpha
from . import weights as W
from .losses import gram, style_targets
from .network import CONTENT_LAYERS, STYLE_LAYERS, VGG19Features, from_vgg, resize, to_vgg
from .optimize import Level, Weights, optimise, pyramid, split_iterations

STYLE_INPUTS = ("style", "style2", "style3")
TILE_MULTIPLE = 16  # 2**pools before relu5_1: sides divisible by it wrap exactly through max pooling
PREVIEW_SIDE = 256
BORDER = 8  # untiled edges: synthesize this much extra and crop it (zero padding flattens the rim)
INIT_NOISE = 0.25  # texture start: the exemplar's mean colour plus this much of its spread as noise


def network(ctx) -> VGG19Features:
    """The VGG19 feature extractor on ``ctx.device``, loaded once into the daemon's model cache."""
    device = ctx.device or "cpu"

    def load():
        return VGG19Features(W.load_state_dict()).to(device)

    return ctx.models.get(f"vgg19:{W.model_hash()}:{device}", load)


def _seed(params) -> tuple[int, torch.Generator]:
    seed = params.get("seed")
    seed = secrets.randbelow(2 ** 31) if seed is None else int(seed)
    return seed, torch.Generator().manual_seed(seed)


def _rgb(payload: ImageData, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The payload as (HxWx3 uint8 RGB, HxW alpha or None), with errors naming input ``name``."""
    array = payload.to_numpy()
    if min(array.shape[:2]) < 16:
        raise ValueError(f"input '{name}' is {array.shape[1]}x{array.shape[0]}; both sides need at least 16 px")
    return split_alpha(array, name)


def _scaled(rgb: np.ndarray, factor: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    return resize_rgb(rgb, max(16, round(w * factor)), max(16, round(h * factor)))


@torch.no_grad()
def _grams(net, rgb: np.ndarray, device) -> dict:
    feats = net(to_vgg(rgb, device), STYLE_LAYERS)
    return {layer: gram(f) for layer, f in feats.items()}


def _stepper(ctx, every: int, label):
    def on_step(info):
        preview = None
        if every and (info.step % every == 0 or info.step == info.total):
            small = info.image
            h, w = small.shape[-2:]
            pw, ph = fit_within(w, h, PREVIEW_SIDE)
            if (ph, pw) != (h, w):
                small = F.interpolate(small, size=(ph, pw), mode="area")
            preview = ImageData.from_numpy(from_vgg(small))
        losses = ", ".join(f"{k} {v:.4g}" for k, v in info.losses.items() if k != "total")
        ctx.progress(info.step / info.total, f"{label} level {info.level + 1}/{info.levels}, "
                     f"iteration {info.iteration}: {losses}", info.step, info.total, preview)
    return on_step


def _meta(kind: str, seed: int, device, sizes, iterations, losses: dict, start: dict, extra: dict) -> dict:
    return {"model": W.MODEL_NAME, "model_hash": W.model_hash(), "seed": seed, "device": str(device),
            "levels": [f"{w}x{h}" for h, w in sizes], "iterations_per_level": iterations,
            "evaluation": {"style_loss": losses["style"], "content_loss": losses["content"],
                           "tv_loss": losses["tv"], "total_loss": losses["total"],
                           "start": {k: start.get(k) for k in ("style", "content", "tv", "total")},
                           "note": f"{kind}: relative Gatys losses at the finest level after the last "
                                   "iteration; 'start' = when the finest level began"},
            **extra}


def style_weights(inputs: dict, params: dict) -> list[tuple[str, float]]:
    """Which style inputs take part and their weights (validated against the inputs given)."""
    given = [name for name in STYLE_INPUTS if name in inputs]
    spec = params.get("style_weights")
    if not spec:
        return [(name, 1.0) for name in given]
    missing = [name for name in spec if name not in inputs]
    if missing:
        raise ValueError(f"parameter 'style_weights' names input '{missing[0]}', which was not sent")
    unweighted = [name for name in given if name not in spec]
    if unweighted:
        raise ValueError(f"input '{unweighted[0]}' was sent but has no weight in parameter 'style_weights'")
    return [(name, spec[name]) for name in given if spec[name] > 0]


def run_style(inputs: dict, params: dict, ctx) -> JobOutput:
    content_rgb, alpha = _rgb(inputs["image"], "image")
    height, width = content_rgb.shape[:2]
    chosen = style_weights(inputs, params)
    styles = [(_rgb(inputs[name], name)[0], weight) for name, weight in chosen]
    mask = mask_weights(inputs.get("mask"), height, width)
    if mask is not None and mask.max() <= 0:
        raise ValueError("input 'mask' is empty: nothing would change")
    seed, generator = _seed(params)
    net = network(ctx)
    device = net.device
    ww, wh = fit_within(width, height, params["size"])
    sizes = pyramid(wh, ww, params["scales"])
    iterations = split_iterations(params["iterations"], len(sizes))
    work_mask = None if mask is None else torch.from_numpy(mask)[None, None].to(device)
    ctx.progress(0.0, f"stylizing at {ww}x{wh} in {len(sizes)} level(s)", 0, sum(iterations))

    def make_level(index, h, w, count):
        content = to_vgg(resize_rgb(content_rgb, w, h), device)
        with torch.no_grad():
            content_feats = net(content, CONTENT_LAYERS) if params["content_weight"] > 0 else {}
        grams = []
        for rgb, _ in styles:  # match the style's pixel count to this level's, times style_scale
            factor = params["style_scale"] * ((h * w) / (rgb.shape[0] * rgb.shape[1])) ** 0.5
            grams.append(_grams(net, _scaled(rgb, factor), device))
        level_mask = None if work_mask is None else F.interpolate(work_mask, size=(h, w), mode="area")
        return Level(h, w, count, style_targets(grams, [wt for _, wt in styles]), content_feats,
                     fixed=content if level_mask is not None else None, mask=level_mask)

    h0, w0 = sizes[0]
    init = to_vgg(resize_rgb(content_rgb, w0, h0), device)
    if params["init"] == "noise":
        init = torch.randn(init.shape, generator=generator).to(device) * 40.0
    final, losses, start = optimise(net, init, make_level, sizes, iterations,
                                    Weights(params["style_weight"], params["content_weight"], params["tv_weight"]),
                                    optimizer=params["optimizer"],
                                    on_step=_stepper(ctx, params["preview_every"], "style"))
    out = resize_rgb(from_vgg(final), width, height)
    if params["preserve_colors"]:
        from ..style_fast import keep_colors

        out = keep_colors(out, content_rgb)
    out = blend_masked(content_rgb, out, mask)
    meta = _meta("style", seed, device, sizes, iterations, losses, start,
                 {"working_size": f"{ww}x{wh}", "styles": {name: weight for name, weight in chosen}})
    return JobOutput(payloads={"image": ImageData.from_numpy(join_alpha(out, alpha))}, meta=meta)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def texture_init(exemplar: np.ndarray, height: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """The texture start (VGG space, on the CPU): the exemplar's mean colour plus INIT_NOISE x its spread as noise."""
    ex = to_vgg(exemplar, "cpu")[0].reshape(3, -1)
    noise = torch.randn((1, 3, height, width), generator=generator)
    return ex.mean(1).view(1, 3, 1, 1) + INIT_NOISE * ex.std(1).view(1, 3, 1, 1) * noise


def run_texture(inputs: dict, params: dict, ctx) -> JobOutput:
    exemplar = _rgb(inputs["image"], "image")[0]
    ex_w, ex_h = fit_within(exemplar.shape[1], exemplar.shape[0], params["exemplar_size"])
    exemplar = resize_rgb(exemplar, ex_w, ex_h)
    width, height, tiling = params["width"], params["height"], params["tiling"]
    seed, generator = _seed(params)
    net = network(ctx)
    device = net.device
    multiple = TILE_MULTIPLE if tiling != "none" else 1
    work_h, work_w = _round_up(height, multiple), _round_up(width, multiple)
    my = 0 if tiling in ("y", "both") else BORDER
    mx = 0 if tiling in ("x", "both") else BORDER
    canvas_h, canvas_w = work_h + 2 * my, work_w + 2 * mx
    sizes = pyramid(canvas_h, canvas_w, params["scales"], multiple)
    iterations = split_iterations(params["iterations"], len(sizes))
    ctx.progress(0.0, f"synthesizing {width}x{height} in {len(sizes)} level(s)", 0, sum(iterations))

    def make_level(index, h, w, count):
        factor = (h / canvas_h + w / canvas_w) / 2  # the exemplar shrinks with the level
        return Level(h, w, count, _grams(net, _scaled(exemplar, factor), device))

    init = texture_init(exemplar, *sizes[0], generator)
    final, losses, start = optimise(net, init.to(device), make_level, sizes, iterations,
                                    Weights(1.0, 0.0, params["tv_weight"]), tiling=tiling,
                                    optimizer=params["optimizer"],
                                    on_step=_stepper(ctx, params["preview_every"], "texture"))
    final = final[..., my:my + work_h, mx:mx + work_w]
    out = from_vgg(resize(final, height, width, tiling))
    meta = _meta("texture", seed, device, sizes, iterations, losses, start,
                 {"working_size": f"{work_w}x{work_h}", "exemplar_size": f"{ex_w}x{ex_h}", "tiling": tiling})
    return JobOutput(payloads={"image": ImageData.from_numpy(out)}, meta=meta)
