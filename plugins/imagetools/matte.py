"""Alpha mattes from the two shipped segmentation networks, refined to full size with a guided filter.

* ``portrait`` — MODNet (Ke et al., AAAI 2022): trimap-free portrait matting; input side ~512, multiples of 32.
* ``general`` — U²-Net-p (Qin et al., Pattern Recognition 2020): salient-object segmentation at 320x320.

The network sees the picture at its own size; the low-resolution matte is brought back to full size with the
fast guided filter (He & Sun, 2015): local linear coefficients ``q = a·I + b`` fitted between the matte and
the picture's colours at low resolution, upsampled, applied to the full-resolution picture in strips, so matte
edges follow the picture's real edges (hair, fingers) instead of a blurry upsampling.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from . import files

MODELS = {
    "portrait": ("modnet.onnx", "MODNet (portrait matting)"),
    "general": ("u2netp.onnx", "U²-Net-p (salient objects)"),
}
MODNET_SIDE = 512
U2NET_SIDE = 320
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
STRIP = 256  # full-resolution rows refined at a time (bounds memory for any picture size)


def modnet_size(width: int, height: int, side: int = MODNET_SIDE) -> tuple[int, int]:
    """MODNet's working size: the short side ``side`` (longest ``side`` when the picture is small), multiples of 32."""
    if max(width, height) < side or min(width, height) > side:
        scale = side / min(width, height)
        width, height = round(width * scale), round(height * scale)
    return max(32, width - width % 32), max(32, height - height % 32)


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))


def resize_float(x: np.ndarray, width: int, height: int, box: tuple | None = None) -> np.ndarray:
    """Bilinear resize of an HxW float32 map (optionally of the source ``box`` only: exact strips of a larger result)."""
    return np.asarray(Image.fromarray(x.astype(np.float32), "F").resize((width, height), Image.BILINEAR, box=box))


def predict(session, model: str, rgb: np.ndarray) -> np.ndarray:
    """The network's matte (HxW float32 in 0..1) at the network's working size."""
    height, width = rgb.shape[:2]
    if model == "portrait":
        w, h = modnet_size(width, height)
        x = (resize_rgb(rgb, w, h).astype(np.float32) - 127.5) / 127.5
    else:
        w = h = U2NET_SIDE
        x = resize_rgb(rgb, w, h).astype(np.float32) / 255.0
        x = (x - IMAGENET_MEAN) / IMAGENET_STD
    feed = {session.get_inputs()[0].name: np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)}
    return np.clip(session.run(None, feed)[0][0, 0], 0.0, 1.0).astype(np.float32)


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window (shrunk at the borders), via cumulative sums; x is HxW or HxWxC."""
    def along(a: np.ndarray, axis: int) -> np.ndarray:
        n = a.shape[axis]
        c = np.cumsum(a, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        idx = np.arange(n)
        hi, lo = np.minimum(idx + r + 1, n), np.maximum(idx - r, 0)
        shape = [1] * a.ndim
        shape[axis] = n
        return ((np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)) / (hi - lo).reshape(shape)).astype(np.float32)

    return along(along(x, 0), 1)


def guided_coefficients(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour guided filter (He et al. 2010): per-pixel ``a`` (HxWx3) and ``b`` (HxW), already box-averaged,
    so that ``q = sum(a * I) + b`` reproduces ``p`` with ``I``'s edges."""
    mean_i = box_mean(guide, r)
    mean_p = box_mean(p, r)
    cov_ip = box_mean(guide * p[:, :, None], r) - mean_i * mean_p[:, :, None]
    var = np.empty(guide.shape[:2] + (3, 3), np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = box_mean(guide[:, :, i] * guide[:, :, j], r) - mean_i[:, :, i] * mean_i[:, :, j]
            var[:, :, i, j] = var[:, :, j, i] = v
    var += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(var, cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(axis=2)
    return box_mean(a, r), box_mean(b, r)


def refine(rgb: np.ndarray, low: np.ndarray, radius: int = 2, eps: float = 1e-4) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(row, strip)`` pieces of the full-size matte (HxW float32 0..1), ``STRIP`` rows at a time.

    ``low`` is the network's matte; the guide is ``rgb`` shrunk to ``low``'s size, so the fitted coefficients cost
    nothing at any picture size and only one strip of full-size floats exists at once."""
    height, width = rgb.shape[:2]
    lh, lw = low.shape
    guide = resize_rgb(rgb, lw, lh).astype(np.float32) / 255.0
    a, b = guided_coefficients(guide, low, radius, eps)
    for y0 in range(0, height, STRIP):
        y1 = min(height, y0 + STRIP)
        box = (0.0, y0 * lh / height, float(lw), y1 * lh / height)
        strip = resize_float(b, width, y1 - y0, box).copy()
        pixels = rgb[y0:y1].astype(np.float32) / 255.0
        for c in range(3):
            strip += resize_float(a[:, :, c], width, y1 - y0, box) * pixels[:, :, c]
        yield y0, np.clip(strip, 0.0, 1.0)


def session(ctx, model: str):
    """The ONNX session from the daemon's model cache (loaded on the first job)."""
    path = files.path(files.PHOTOBOOTH, MODELS[model][0])

    def load():
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"] if ctx.device == "cuda" else ["CPUExecutionProvider"]
        have = set(ort.get_available_providers())
        return ort.InferenceSession(str(path), opts, providers=[p for p in wanted if p in have])

    return ctx.models.get(f"onnx:{path.name}:{ctx.device}", load, size=path.stat().st_size)
