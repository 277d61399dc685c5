"""Pure numpy helpers shared by image capabilities: RGB/alpha split, masks, resizing."""
from __future__ import annotations

import numpy as np
from PIL import Image

from muselink.bridge.payloads import ImageData


TILING_AXES = {"none": (False, False), "x": (True, False), "y": (False, True), "both": (True, True)}


def tiling_axes(mode: str) -> tuple[bool, bool]:
    """The ``tiling`` parameter (``none|x|y|both``) → (wrap_x, wrap_y), with a clear error for anything else."""
    if mode not in TILING_AXES:
        raise ValueError(f"parameter 'tiling' must be one of {', '.join(TILING_AXES)}, got {mode!r}")
    return TILING_AXES[mode]


def split_alpha(image: np.ndarray, where: str = "image") -> tuple[np.ndarray, np.ndarray | None]:
    """HxWxC uint8 → (HxWx3 RGB, HxW alpha or None). Gray is expanded to RGB; errors name input ``where``."""
    if image.dtype != np.uint8:
        raise ValueError(f"input '{where}' must be 8-bit (uint8), got {image.dtype}; convert the document to 8-bit RGBA")
    channels = image.shape[2]
    if channels in (1, 2):
        rgb = np.repeat(image[:, :, :1], 3, axis=2)
        return rgb, image[:, :, 1] if channels == 2 else None
    return np.ascontiguousarray(image[:, :, :3]), image[:, :, 3] if channels == 4 else None


def join_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    return rgb if alpha is None else np.dstack([rgb, alpha])


def mask_weights(mask: ImageData | None, height: int, width: int, where: str = "mask") -> np.ndarray | None:
    """A 1-channel mask payload → float32 HxW weights in [0, 1] (1 = change), or None."""
    if mask is None:
        return None
    m = mask.to_numpy()
    if (m.shape[0], m.shape[1]) != (height, width):
        raise ValueError(f"input '{where}' is {m.shape[1]}x{m.shape[0]} but the image is {width}x{height}")
    m = m[:, :, -1] if m.shape[2] in (2, 4) else m[:, :, 0]  # alpha of an RGBA mask, else its value
    return m.astype(np.float32) / (65535.0 if m.dtype == np.uint16 else 255.0)


def blend_masked(original: np.ndarray, changed: np.ndarray, weights: np.ndarray | None,
                 strength: float = 1.0) -> np.ndarray:
    """Mix ``changed`` into ``original`` by ``weights * strength``; pixels with weight 0 stay bit-identical."""
    if weights is None and strength >= 1.0:
        return changed
    w = np.full(original.shape[:2], strength, np.float32) if weights is None else weights * strength
    w = w[:, :, None]
    mixed = original.astype(np.float32) * (1.0 - w) + changed.astype(np.float32) * w
    out = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    if weights is not None:
        keep = weights <= 0
        out[keep] = original[keep]
    return out


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.LANCZOS))


def fit_within(width: int, height: int, longest: int) -> tuple[int, int]:
    if max(width, height) <= longest:
        return width, height
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
