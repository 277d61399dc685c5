"""Regenerate the VGG pictures in docs/images (real runs of the capabilities, CPU, a few minutes).

    .venv/bin/python docs/images/make_vgg_images.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from vgg_support import picture, run  # noqa: E402


def square(array: np.ndarray, side: int) -> np.ndarray:
    from muselink.plugins.imaging import resize

    s = min(array.shape[:2])
    top, left = (array.shape[0] - s) // 2, (array.shape[1] - s) // 2
    return resize(np.ascontiguousarray(array[top:top + s, left:left + s]), side, side)


def main() -> None:
    content = picture("astronaut", 256)
    style = picture("hubble_deep_field", 256)
    image, meta, _ = run("style.optimize", {"image": content, "style": style},
                         {"size": 256, "iterations": 150, "seed": 1, "preview_every": 0})
    print("style.optimize", meta["evaluation"], meta["seconds"] if "seconds" in meta else "")
    strip = np.hstack([content, square(picture("hubble_deep_field"), 256), image[:, :, :3]])
    Image.fromarray(strip).save(HERE / "vgg_style_astronaut_hubble.png")

    exemplar = picture("gravel", 512)
    texture, meta, _ = run("texture.synthesize", {"image": exemplar},
                           {"width": 192, "height": 192, "tiling": "both", "seed": 1, "iterations": 200,
                            "exemplar_size": 384, "preview_every": 0})
    print("texture.synthesize", meta["evaluation"])
    tiled = np.tile(texture, (2, 2, 1))
    side = tiled.shape[0]
    Image.fromarray(np.hstack([square(picture("gravel"), side), tiled])).save(HERE / "vgg_texture_gravel_tiled_2x2.png")


if __name__ == "__main__":
    main()
