"""Region and mask maths for the docker: what to send and how a result becomes layer pixels.

Pure Python on ``bytes`` (numpy is used when the host's Python has it, for speed only), so it
runs in any Krita's embedded Python. Krita's ``pixelData`` for 8-bit RGBA documents is BGRA.
"""
from __future__ import annotations

from typing import NamedTuple
from collections.abc import Callable

from .deps import Bounds, ImageData

try:  # optional: faster masking on big regions
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the host's Python
    _np = None

SUPPORTED = ("RGBA", "U8")


def check_color_space(model: str, depth: str, what: str = "document") -> None:
    """Refuse anything but 8-bit RGBA with a message that says how to fix it."""
    if (model, depth) != SUPPORTED:
        raise ValueError(f"muselink works on 8-bit RGB/Alpha images; this {what} is {model or '?'} {depth or '?'}. "
                         "Convert it with Image > Convert Image Color Space… (RGB/Alpha, 8-bit integer/channel), "
                         "or work on a copy.")


def capture_bounds(canvas: Bounds, selection: Bounds | None) -> Bounds:
    """The rectangle to send: the selection's bounds clipped to the canvas, or the whole canvas."""
    if canvas.is_empty:
        raise ValueError(f"the canvas is empty ({canvas.width}x{canvas.height})")
    if selection is None:
        return canvas
    region = selection.intersection(canvas)
    if region.is_empty:
        raise ValueError("the selection lies outside the canvas; select something on the image or deselect all")
    return region


def swap_red_blue(data) -> bytearray:
    """BGRA <-> RGBA (the same swap both ways)."""
    out = bytearray(data)
    out[0::4], out[2::4] = out[2::4], out[0::4]
    return out


def mask_is_full(mask: bytes | None) -> bool:
    return mask is None or mask.count(255) == len(mask)


def apply_mask_to_alpha(rgba: bytearray, mask: bytes | None) -> bytearray:
    """Multiply the alpha channel by ``mask`` (one byte per pixel, 255 = keep); in place, returned."""
    if mask_is_full(mask):
        return rgba
    if len(mask) * 4 != len(rgba):
        raise ValueError(f"mask has {len(mask)} pixels but the image has {len(rgba) // 4}")
    if _np is not None:
        px = _np.frombuffer(rgba, dtype=_np.uint8).reshape(-1, 4)
        m = _np.frombuffer(bytes(mask), dtype=_np.uint8).astype(_np.uint16)
        px[:, 3] = ((px[:, 3].astype(_np.uint16) * m + 127) // 255).astype(_np.uint8)
        return rgba
    alpha = rgba[3::4]
    rgba[3::4] = bytes((a * m + 127) // 255 for a, m in zip(alpha, mask, strict=True))
    return rgba


def as_rgba8(image: ImageData) -> bytes:
    """Any uint8/uint16 gray, gray+alpha, RGB or RGBA result as tightly packed RGBA8 bytes."""
    if image.dtype == "uint16":
        raw = image.packed()
        raw = raw[1::2]  # little-endian high bytes
        image = ImageData(image.width, image.height, image.channels, raw)
    elif image.dtype != "uint8":
        raise ValueError(f"result image is {image.dtype}; the Krita add-on takes 8- or 16-bit results")
    raw = image.packed()
    c, n = image.channels, image.width * image.height
    if c == 4:
        return bytes(raw)
    out = bytearray(b"\xff" * (n * 4))
    if c == 3:
        for i in range(3):
            out[i::4] = raw[i::3]
    elif c in (1, 2):
        for i in range(3):
            out[i::4] = raw[0::c]
        if c == 2:
            out[3::4] = raw[1::2]
    else:
        raise ValueError(f"result image has {c} channels; expected 1-4")
    return bytes(out)


def resize_nearest(rgba: bytes, width: int, height: int, new_width: int, new_height: int) -> bytes:
    """Nearest-neighbour resize of RGBA8 (for results whose size differs from the region's)."""
    if (width, height) == (new_width, new_height):
        return rgba
    cols = [min(width - 1, (x * width) // new_width) for x in range(new_width)]
    out = bytearray()
    for y in range(new_height):
        sy = min(height - 1, (y * height) // new_height)
        row = rgba[sy * width * 4:(sy + 1) * width * 4]
        out += b"".join(row[c * 4:c * 4 + 4] for c in cols)
    return bytes(out)


class CaptureData(NamedTuple):
    """What the docker sends and where the answer goes."""

    bounds: Bounds
    image: ImageData  # RGBA8
    mask: bytes | None  # one byte per pixel of ``bounds``; None = no selection


def capture_region(canvas: Bounds, selection: Bounds | None, read_bgra: Callable[[int, int, int, int], bytes],
                   read_selection: Callable[[int, int, int, int], bytes] | None = None) -> CaptureData:
    """Read the region (selection bounds or canvas) as an RGBA image plus its selection mask."""
    bounds = capture_bounds(canvas, selection)
    x, y, w, h = bounds
    bgra = read_bgra(x, y, w, h)
    if len(bgra) != w * h * 4:
        raise ValueError(f"expected {w * h * 4} bytes of 8-bit BGRA pixels for {w}x{h}, got {len(bgra)}")
    mask = None
    if selection is not None and read_selection is not None:
        mask = bytes(read_selection(x, y, w, h))
        if len(mask) != w * h:
            raise ValueError(f"selection mask has {len(mask)} bytes for a {w}x{h} region")
        if not any(mask):
            raise ValueError("the selection is empty inside its bounds; select something or deselect all")
    image = ImageData(width=w, height=h, channels=4, data=bytes(swap_red_blue(bgra)))
    return CaptureData(bounds, image, mask)


def mask_payload(capture: CaptureData) -> ImageData:
    """The selection as a 1-channel uint8 image payload named ``mask`` (255 = change)."""
    x, y, w, h = capture.bounds
    data = capture.mask if capture.mask is not None else b"\xff" * (w * h)
    return ImageData(width=w, height=h, channels=1, data=data)


def result_bgra(result: ImageData, bounds: Bounds, mask: bytes | None) -> bytes:
    """A result image as BGRA bytes sized to ``bounds``, transparent outside the selection."""
    rgba = as_rgba8(result)
    rgba = resize_nearest(rgba, result.width, result.height, bounds.width, bounds.height)
    out = apply_mask_to_alpha(bytearray(rgba), mask)
    return bytes(swap_red_blue(out))


def mask_bytes(mask: ImageData, bounds: Bounds) -> bytes:
    """A 1-channel (or the first channel of any) 8/16-bit mask result as one byte per pixel of ``bounds``."""
    rgba = as_rgba8(mask)  # gray → R=G=B; RGB(A) masks use their red channel
    rgba = resize_nearest(rgba, mask.width, mask.height, bounds.width, bounds.height)
    return bytes(rgba[0::4])
