"""Real-ESRGAN's two architectures in torch, loading the weights from the shipped ncnn files.

* :class:`SRVGGNetCompact` (``realesr-animevideov3``): 16 conv+PReLU at the input resolution, a
  pixel shuffle, plus the nearest-upsampled input (Wang et al., Real-ESRGAN, 2021; basicsr's layout).
* :class:`RRDBNet` (``realesrgan-x4plus``: 23 blocks; ``-x4plus-anime``: 6): ESRGAN's residual-in-residual
  dense blocks (growth 32, residual scale 0.2), two nearest x2 upsamplings, each followed by conv+LeakyReLU.

Input and output: ``Nx3xHxW`` RGB in 0..1; the output is 4x larger. The ncnn graph is checked against the
architecture while loading (layer types and order, conv shapes), so a different file is refused, not misread.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .ncnnfile import Layer


def _conv(layer: Layer) -> nn.Conv2d:
    w = torch.from_numpy(layer.weights["weight"])
    conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2, bias="bias" in layer.weights)
    conv.weight.data.copy_(w)
    if conv.bias is not None:
        conv.bias.data.copy_(torch.from_numpy(layer.weights["bias"]))
    return conv


class SRVGGNetCompact(nn.Module):
    def __init__(self, layers: list[Layer]):
        super().__init__()
        body = [layer for layer in layers if layer.type in ("Convolution", "PReLU")]
        kinds = [layer.type for layer in body]
        if len(body) < 3 or kinds != ["Convolution", "PReLU"] * (len(body) // 2) + ["Convolution"]:
            raise ValueError("not an SRVGGNetCompact graph: expected conv, PReLU, ..., conv")
        shuffle = [layer for layer in layers if layer.type == "PixelShuffle"]
        if len(shuffle) != 1:
            raise ValueError("not an SRVGGNetCompact graph: expected one PixelShuffle")
        self.scale = int(shuffle[0].params[0])
        mods: list[nn.Module] = []
        for layer in body:
            if layer.type == "Convolution":
                mods.append(_conv(layer))
            else:
                prelu = nn.PReLU(len(layer.weights["slope"]))
                prelu.weight.data.copy_(torch.from_numpy(layer.weights["slope"]))
                mods.append(prelu)
        self.body = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.pixel_shuffle(self.body(x), self.scale)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


class ResidualDenseBlock(nn.Module):
    def __init__(self, convs: list[nn.Conv2d]):
        super().__init__()
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for conv in self.convs[:-1]:
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), 0.2))
        return self.convs[-1](torch.cat(feats, 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, blocks: list[ResidualDenseBlock]):
        super().__init__()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, layers: list[Layer]):
        super().__init__()
        convs = [layer for layer in layers if layer.type == "Convolution"]
        if (len(convs) - 6) % 15 or len(convs) < 21:
            raise ValueError(f"not an RRDBNet graph: {len(convs)} convolutions is not 6 + 15 x blocks")
        if [int(c.params[0]) for c in convs[1:6]] != [32, 32, 32, 32, 64]:
            raise ValueError("not an RRDBNet graph: the first dense block is not 4 x 32 + 64 channels")
        mods = [_conv(c) for c in convs]
        self.num_blocks = (len(convs) - 6) // 15
        self.conv_first = mods[0]
        self.body = nn.Sequential(*[
            RRDB([ResidualDenseBlock(mods[1 + 15 * b + 5 * d: 1 + 15 * b + 5 * d + 5]) for d in range(3)])
            for b in range(self.num_blocks)])
        self.conv_body, self.conv_up1, self.conv_up2, self.conv_hr, self.conv_last = mods[-5:]
        self.scale = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))


def build(layers: list[Layer]) -> nn.Module:
    """The torch network for an ncnn Real-ESRGAN graph (SRVGGNetCompact when it has PReLU layers)."""
    net = SRVGGNetCompact(layers) if any(layer.type == "PReLU" for layer in layers) else RRDBNet(layers)
    return net.eval().requires_grad_(False)
