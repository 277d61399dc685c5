"""Read an ncnn model (``.param`` text graph + ``.bin`` weights) into plain numpy arrays.

Only what the Real-ESRGAN files use is understood: Convolution (float32 or float16 weights, float32
bias), PReLU, and parameter-free layers (Split, Concat, Eltwise, BinaryOp, Interp, PixelShuffle, Input).
Anything else is an error naming the layer, so a changed file cannot load silently wrong.

Format (ncnn's ``ModelBinFromDataReader``): a Convolution's weights start with a 4-byte tag —
``0x01306B47`` float16, ``0`` float32 — padded to 4 bytes; its bias and a PReLU's slopes are raw float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0
NO_WEIGHTS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}


@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, object]
    weights: dict[str, np.ndarray] = field(default_factory=dict)


def _value(text: str) -> object:
    return float(text) if any(c in text for c in ".eE") else int(text)


def parse_param(text: str) -> list[Layer]:
    """The layers of an ncnn ``.param`` file (array parameters ``-233xx=n,a,b`` become ``{xx: [a, b]}``)."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != [str(MAGIC)]:
        raise ValueError(f"not an ncnn .param file (first line must be {MAGIC})")
    count = int(lines[1][0])
    layers = []
    for parts in lines[2:2 + count]:
        kind, name, nb, nt = parts[0], parts[1], int(parts[2]), int(parts[3])
        bottoms, tops = parts[4:4 + nb], parts[4 + nb:4 + nb + nt]
        params: dict[int, object] = {}
        for item in parts[4 + nb + nt:]:
            key, _, value = item.partition("=")
            k = int(key)
            if k <= -23300:
                values = value.split(",")
                params[-k - 23300] = [_value(v) for v in values[1:1 + int(values[0])]]
            else:
                params[k] = _value(value)
        layers.append(Layer(kind, name, bottoms, tops, params))
    if len(layers) != count:
        raise ValueError(f".param declares {count} layers but has {len(layers)}")
    return layers


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def raw(self, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, np.float32, count, self.at).copy()
        self.at += 4 * count
        return out

    def tagged(self, count: int, where: str) -> np.ndarray:
        tag = int(np.frombuffer(self.data, np.uint32, 1, self.at)[0])
        self.at += 4
        if tag == TAG_FP16:
            out = np.frombuffer(self.data, np.float16, count, self.at).astype(np.float32)
            self.at += (2 * count + 3) // 4 * 4
            return out
        if tag == TAG_FP32:
            return self.raw(count)
        raise ValueError(f"{where}: unsupported ncnn weight encoding (tag 0x{tag:08x})")


def load(param: Path, weights: Path) -> list[Layer]:
    """The layers with their weights: Convolution ``weight`` (O, I, kh, kw) and ``bias``; PReLU ``slope``."""
    layers = parse_param(Path(param).read_text())
    reader = _Reader(Path(weights).read_bytes())
    for layer in layers:
        p = layer.params
        if layer.type == "Convolution":
            out_ch, kw, kh = int(p[0]), int(p[1]), int(p.get(11, p[1]))
            size = int(p[6])
            w = reader.tagged(size, layer.name)
            layer.weights["weight"] = w.reshape(out_ch, size // (out_ch * kh * kw), kh, kw)
            if int(p.get(5, 0)):
                layer.weights["bias"] = reader.raw(out_ch)
        elif layer.type == "PReLU":
            layer.weights["slope"] = reader.raw(int(p.get(0, 1)))
        elif layer.type not in NO_WEIGHTS:
            raise ValueError(f"layer {layer.name}: ncnn layer type {layer.type} is not supported")
    if reader.at != len(reader.data):
        raise ValueError(f"{weights}: read {reader.at} of {len(reader.data)} bytes; the .bin does not match the .param")
    return layers
