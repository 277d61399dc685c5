"""Helpers for the VGG tests: real scikit-image pictures and an in-process job runner."""
from __future__ import annotations

import numpy as np

from muselink.bridge.payloads import ImageData
from muselink.core.capability import JobContext
from muselink.core.models import ModelCache

_CACHE = ModelCache()  # one VGG19 for the whole test session, as in the daemon


def picture(name: str, side: int | None = None) -> np.ndarray:
    """A scikit-image sample as HxWx3 uint8, optionally resized so its longest side is ``side``."""
    from skimage import data

    from muselink.plugins.imaging import fit_within, resize

    array = getattr(data, name)()
    if array.ndim == 2:
        array = np.dstack([array] * 3)
    array = np.ascontiguousarray(array[:, :, :3])
    if side:
        w, h = fit_within(array.shape[1], array.shape[0], side)
        array = resize(array, w, h)
    return array


def run(capability: str, inputs: dict, params: dict):
    """Validate and run a capability in-process → (HxWxC uint8 result, meta, progress events)."""
    from muselink.plugins.vgg import muselink_capabilities

    cap = {c.name: c for c in muselink_capabilities()}[capability]
    payloads = {k: v if isinstance(v, ImageData) else ImageData.from_numpy(v) for k, v in inputs.items()}
    clean = cap.validate(params, payloads)
    events = []
    ctx = JobContext("test", models=_CACHE)
    ctx.report = lambda fraction, message, step, total, preview: events.append((fraction, message, step, total, preview))
    out = cap.run(payloads, clean, ctx)
    return out.payloads["image"].to_numpy(), out.meta, events


def seam_ratio(image: np.ndarray, axis: int) -> float:
    """Mean |first - last| line along ``axis`` over the mean |difference| of neighbouring interior lines."""
    a = image.astype(np.float64)
    interior = np.abs(np.diff(a, axis=axis)).mean()
    edge = np.abs(np.take(a, 0, axis=axis) - np.take(a, -1, axis=axis)).mean()
    return float(edge / interior)


def best_patch_match(output: np.ndarray, exemplar: np.ndarray, patch: int = 16, stride: int = 16) -> float:
    """Smallest mean absolute difference between any ``patch``-sized block of ``output`` (on a grid)
    and any block of ``exemplar`` (at every offset): 0 means a block was copied pixel for pixel."""
    from numpy.lib.stride_tricks import sliding_window_view

    blocks = np.stack([output[y:y + patch, x:x + patch, :3].astype(np.int16).ravel()
                       for y in range(0, output.shape[0] - patch + 1, stride)
                       for x in range(0, output.shape[1] - patch + 1, stride)])
    windows = sliding_window_view(exemplar[:, :, :3].astype(np.int16), (patch, patch, 3))[:, :, 0]
    best = np.inf
    for row in windows:  # one exemplar row of offsets at a time keeps memory small
        flat = row.reshape(row.shape[0], -1)
        best = min(best, float(np.abs(flat[None, :, :] - blocks[:, None, :]).mean(axis=2).min()))
    return best
