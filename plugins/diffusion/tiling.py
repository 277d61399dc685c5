"""Seamless textures: circular padding on the conv layers of a UNet and a VAE, per axis, undone afterwards.

Each ``nn.Conv2d`` with padding gets an instance-level ``_conv_forward`` that pads circularly on the
chosen axes (zeros on the others) and convolves unpadded. The pipeline is cached and shared, so
:func:`tiled` always restores the layers when the job ends, also on error or cancel.
"""
from __future__ import annotations

from contextlib import contextmanager

from ..imaging import tiling_axes


def _patched_forward(conv, wrap_x: bool, wrap_y: bool):
    import torch.nn.functional as F

    ph, pw = conv.padding if isinstance(conv.padding, tuple) else (conv.padding, conv.padding)

    def forward(input, weight, bias):
        x = F.pad(input, (pw, pw, 0, 0), mode="circular" if wrap_x else "constant")
        x = F.pad(x, (0, 0, ph, ph), mode="circular" if wrap_y else "constant")
        return F.conv2d(x, weight, bias, conv.stride, 0, conv.dilation, conv.groups)

    return forward


def set_tiling(modules, mode: str) -> int:
    """Patch (or, for ``none``, restore) every padded Conv2d under ``modules``; returns how many."""
    import torch.nn as nn

    wrap_x, wrap_y = tiling_axes(mode)
    count = 0
    for module in modules:
        if module is None:
            continue
        for layer in module.modules():
            if not isinstance(layer, nn.Conv2d):
                continue
            if "_conv_forward" in layer.__dict__:
                del layer.__dict__["_conv_forward"]  # back to the class method
            padding = layer.padding if isinstance(layer.padding, tuple) else (layer.padding, layer.padding)
            if mode != "none" and isinstance(padding[0], int) and any(padding) and layer.padding_mode == "zeros":
                layer._conv_forward = _patched_forward(layer, wrap_x, wrap_y)
                count += 1
    return count


@contextmanager
def tiled(pipe, mode: str):
    """Within the block, ``pipe``'s UNet and VAE wrap around on the axes ``mode`` names."""
    modules = [getattr(pipe, "unet", None), getattr(pipe, "vae", None)]
    if mode == "none":
        yield 0
        return
    try:
        yield set_tiling(modules, mode)
    finally:
        set_tiling(modules, "none")
