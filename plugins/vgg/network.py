"""VGG19 feature extractor (torch) with optional circular padding, for seamless tiling.

Input: a ``1x3xHxW`` float tensor in VGG's convention — BGR, 0..255, minus the ImageNet mean
pixel (:func:`to_vgg` / :func:`from_vgg`). Layers are named ``relu{block}_{index}``.
With ``tiling`` ``x``, ``y`` or ``both`` every convolution pads circularly along that axis, so
the features of an image and of any of its cyclic shifts are the same shifted features — an
image optimised through them has no seam. Pooling then needs sides divisible by 2**pools.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..imaging import tiling_axes
from .weights import CONV_LAYERS

VGG_MEAN_BGR = (103.939, 116.779, 123.68)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)
_BLOCK_SIZES = (2, 2, 4, 4, 4)


def layer_names() -> list[str]:
    return [f"relu{b + 1}_{i + 1}" for b, n in enumerate(_BLOCK_SIZES) for i in range(n)]


def pools_before(layer: str) -> int:
    """How many 2x2 poolings precede ``layer`` (its block number minus one)."""
    return int(layer[4]) - 1


class VGG19Features(nn.Module):
    """The 16 conv layers of VGG19, evaluated up to the deepest requested layer."""

    def __init__(self, state: dict, pooling: str = "max"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        self.pooling = pooling
        self.convs = nn.ModuleList()
        for name in CONV_LAYERS:
            weight = state[f"{name}.weight"]
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3)
            conv.weight.data.copy_(weight)
            conv.bias.data.copy_(state[f"{name}.bias"])
            self.convs.append(conv)
        self.requires_grad_(False)
        self.eval()

    @property
    def device(self) -> torch.device:
        return self.convs[0].weight.device

    def forward(self, x: torch.Tensor, layers=STYLE_LAYERS, tiling: str = "none") -> dict[str, torch.Tensor]:
        tiling_axes(tiling)
        wanted = set(layers)
        unknown = wanted - set(layer_names())
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s): {', '.join(sorted(unknown))}")
        out: dict[str, torch.Tensor] = {}
        k = 0
        for block, count in enumerate(_BLOCK_SIZES, start=1):
            if block > 1:
                x = F.max_pool2d(x, 2) if self.pooling == "max" else F.avg_pool2d(x, 2)
            for index in range(1, count + 1):
                conv = self.convs[k]
                k += 1
                if tiling == "none":
                    x = F.conv2d(x, conv.weight, conv.bias, padding=1)
                else:
                    x = F.conv2d(pad(x, tiling), conv.weight, conv.bias)
                x = F.relu(x)
                name = f"relu{block}_{index}"
                if name in wanted:
                    out[name] = x
                    if len(out) == len(wanted):
                        return out
        return out


def pad(x: torch.Tensor, tiling: str, amount: int = 1) -> torch.Tensor:
    """Pad the last two dims by ``amount``: circular along tiled axes, zeros along the others."""
    wrap_x, wrap_y = tiling_axes(tiling)
    x = F.pad(x, (amount, amount, 0, 0), mode="circular" if wrap_x else "constant")
    return F.pad(x, (0, 0, amount, amount), mode="circular" if wrap_y else "constant")


def to_vgg(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    """HxWx3 uint8 RGB → 1x3xHxW float BGR minus the mean pixel."""
    x = torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1))).float()
    x -= torch.tensor(VGG_MEAN_BGR).view(3, 1, 1)
    return x.unsqueeze(0).to(device)


def from_vgg(x: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`to_vgg`, rounded and clipped to uint8."""
    y = x.detach().squeeze(0).float().cpu() + torch.tensor(VGG_MEAN_BGR).view(3, 1, 1)
    y = y.round().clamp(0, 255).to(torch.uint8).numpy()
    return np.ascontiguousarray(y[::-1].transpose(1, 2, 0))


def clamp_range(device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel bounds of valid pixels in VGG space (for clamping the optimised image)."""
    mean = torch.tensor(VGG_MEAN_BGR, device=device).view(1, 3, 1, 1)
    return -mean, 255.0 - mean


def resize(x: torch.Tensor, height: int, width: int, tiling: str = "none") -> torch.Tensor:
    """Bicubic resize of a VGG-space tensor; wraps around tiled axes so a seamless image stays seamless."""
    if x.shape[-2:] == (height, width):
        return x
    if tiling == "none":
        return F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    h, w = x.shape[-2:]
    m = 4  # margin in source pixels, enough for the bicubic (and antialias) support
    wrap_x, wrap_y = tiling in ("x", "both"), tiling in ("y", "both")
    p = F.pad(x, (m if wrap_x else 0,) * 2 + (m if wrap_y else 0,) * 2, mode="circular")
    sy, sx = height / h, width / w
    big_h = round(p.shape[-2] * sy) if wrap_y else height
    big_w = round(p.shape[-1] * sx) if wrap_x else width
    y = F.interpolate(p, size=(big_h, big_w), mode="bicubic", align_corners=False, antialias=True)
    top = (big_h - height) // 2 if wrap_y else 0
    left = (big_w - width) // 2 if wrap_x else 0
    return y[..., top:top + height, left:left + width]
