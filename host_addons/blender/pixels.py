"""Pixel conversion between Blender images and wire images, without Blender.

Blender's ``Image.pixels`` is a flat float RGBA array, rows bottom to top, values 0..1 (for 8-bit
images these are the stored, colour-managed byte values / 255). The wire carries uint8 rows top to
bottom. Float images are clipped to 0..1 on the way out. numpy is used when the host's Python has
it (official Blender builds); Debian's Blender has none, so there is a pure-Python path too.
"""
from __future__ import annotations

from array import array

from .deps import ImageData

try:
    import numpy as np
except ImportError:  # Debian's Blender 3.4 ships without numpy
    np = None

_LUT = [i / 255.0 for i in range(256)]


def float_buffer(count: int, use_numpy: bool = True):
    """A float32 buffer for ``Image.pixels.foreach_get``."""
    if np is not None and use_numpy:
        return np.empty(count, np.float32)
    return array("f", [0.0]) * count


def _to_byte(v: float) -> int:
    return 0 if v <= 0.0 else 255 if v >= 1.0 else int(v * 255.0 + 0.5)


def to_image_data(flat, width: int, height: int, channels: int = 4, use_numpy: bool = True) -> ImageData:
    """Blender's flat bottom-up float RGBA pixels → a top-down uint8 ImageData (RGBA, or RGB)."""
    if len(flat) != width * height * 4:
        raise ValueError(f"image has {len(flat)} pixel values but {width}x{height} RGBA needs {width * height * 4}")
    if channels not in (3, 4):
        raise ValueError(f"channels must be 3 or 4, got {channels}")
    if np is not None and use_numpy:
        rgba = np.flipud(np.asarray(flat, dtype=np.float32).reshape(height, width, 4))
        out = (np.clip(rgba[:, :, :channels], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        return ImageData.from_numpy(np.ascontiguousarray(out))
    values = bytes(map(_to_byte, flat))
    row = width * 4
    rgba = b"".join(values[(height - 1 - y) * row:(height - y) * row] for y in range(height))
    if channels == 4:
        return ImageData(width=width, height=height, channels=4, data=rgba)
    rgb = bytearray(width * height * 3)
    for c in range(3):
        rgb[c::3] = rgba[c::4]
    return ImageData(width=width, height=height, channels=3, data=bytes(rgb))


def _as_uint8(row: bytes, dtype: str) -> bytes:
    if dtype == "uint8":
        return row
    values = array("H" if dtype == "uint16" else "f")
    values.frombytes(row)
    if dtype == "uint16":
        return bytes(v >> 8 for v in values)
    return bytes(map(_to_byte, values))


def from_image_data(image, use_numpy: bool = True):
    """A wire image (1-4 channels; uint8, uint16 or float32) → (flat bottom-up float32 RGBA, width, height)."""
    w, h, c = image.width, image.height, image.channels
    if np is not None and use_numpy:
        arr = image.to_numpy()
        scale = {"uint8": 255.0, "uint16": 65535.0}.get(str(arr.dtype), 1.0)
        values = arr.astype(np.float32) / scale
        rgba = np.ones((h, w, 4), np.float32)
        rgba[:, :, :3] = values[:, :, :1] if c in (1, 2) else values[:, :, :3]
        if c in (2, 4):
            rgba[:, :, 3] = values[:, :, c - 1]
        return np.ascontiguousarray(np.flipud(np.clip(rgba, 0.0, 1.0))).ravel(), w, h
    out = bytearray(b"\xff" * (w * h * 4))
    for y, row in enumerate(image.rows()):
        row = _as_uint8(row, image.dtype)
        dest = bytearray(b"\xff" * (w * 4))
        for k in range(3):
            dest[k::4] = row[(0 if c in (1, 2) else k)::c]
        if c in (2, 4):
            dest[3::4] = row[c - 1::c]
        start = (h - 1 - y) * w * 4
        out[start:start + w * 4] = dest
    return array("f", map(_LUT.__getitem__, out)), w, h


def opaque(image) -> bool:
    """Whether a wire image has no transparency (no alpha channel, or alpha at its maximum everywhere)."""
    c = image.channels
    if c not in (2, 4):
        return True
    if np is not None:
        arr = image.to_numpy()
        full = {"uint8": 255, "uint16": 65535}.get(str(arr.dtype), 1.0)
        return bool((arr[:, :, -1] >= full).all())
    return all(_as_uint8(row, image.dtype)[c - 1::c].count(255) == image.width for row in image.rows())


def mean_abs_difference(a, b) -> float:
    """Mean absolute difference of two equally long flat pixel sequences (0..1 scale)."""
    if len(a) != len(b):
        raise ValueError(f"pixel arrays differ in size: {len(a)} vs {len(b)}")
    if np is not None:
        return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / max(1, len(a))
