"""Pure numpy helpers: model-friendly sizes, soft inpaint masks, cheap latent previews."""
from __future__ import annotations

import math

import numpy as np

# Linear latent → RGB approximations (no VAE pass). Rows are latent channels, columns R, G, B; the
# result is in [-1, 1]. SD 1.x/2.x from the community "latent preview" fit; SDXL from its own fit.
LATENT_RGB = {
    "sd": (np.array([[0.298, 0.207, 0.208], [0.187, 0.286, 0.173],
                     [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]], np.float32), np.zeros(3, np.float32)),
    "sdxl": (np.array([[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068],
                       [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]], np.float32),
             np.array([0.1084, -0.0175, -0.0011], np.float32)),
}


def plan_size(width: int, height: int, native: int, multiple: int = 8) -> tuple[int, int]:
    """The size to generate at for a ``width`` x ``height`` result.

    Sizes that are already multiples of ``multiple`` with an area within [0.5, 2] x ``native``² are
    kept; any other size is scaled (aspect kept) to about ``native``² pixels and rounded to multiples
    of ``multiple``. The caller scales the result back to exactly ``width`` x ``height``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {width}x{height}")
    area, target = width * height, native * native
    if width % multiple == 0 and height % multiple == 0 and 0.5 * target <= area <= 2 * target:
        return width, height
    scale = math.sqrt(target / area)
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def soft_mask(mask: np.ndarray, blur: float) -> np.ndarray:
    """Binary-ish HxW weights in [0, 1] → feathered weights that fade to 0 *inside* the mask edge.

    Pixels where ``mask`` is 0 stay exactly 0 (so the unmasked picture stays bit-identical); ``blur``
    is the feather radius in pixels (0 = hard edge).
    """
    hard = (mask > 0).astype(np.float32)
    if blur <= 0 or not hard.any():
        return hard * mask.astype(np.float32)
    from PIL import Image, ImageFilter

    blurred = np.asarray(Image.fromarray((hard * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur / 2)),
                         np.float32) / 255.0
    # blurred is 0.5 on the edge and passes 0.95 about ``blur`` px inside: map [0.5, 0.95] → [0, 1]
    inner = np.clip((blurred - 0.5) / 0.45, 0.0, 1.0)
    return (inner * mask.astype(np.float32)).astype(np.float32) * hard


def latent_preview(latents: np.ndarray, family: str = "sd") -> np.ndarray | None:
    """CxHxW latents → HxWx3 uint8 with the family's linear approximation, or None if unknown."""
    if latents.ndim != 3 or family not in LATENT_RGB or latents.shape[0] != LATENT_RGB[family][0].shape[0]:
        return None
    matrix, bias = LATENT_RGB[family]
    rgb = np.tensordot(latents.astype(np.float32), matrix, axes=([0], [0])) + bias
    return np.clip((rgb + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
