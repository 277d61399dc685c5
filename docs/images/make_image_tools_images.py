"""Regenerate the image-tool pictures in docs/images (real runs with the shipped weights, CPU, about a minute).

    .venv/bin/python docs/images/make_image_tools_images.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from imagetools_support import photo, run, shrink  # noqa: E402


def labelled(panels: list[tuple[str, np.ndarray]], background=(255, 255, 255)) -> Image.Image:
    """Panels side by side (RGBA ones over a light checkerboard), each with a caption underneath."""
    h = max(p.shape[0] for _, p in panels)
    sheet = Image.new("RGB", (sum(p.shape[1] for _, p in panels) + 8 * (len(panels) - 1), h + 22), background)
    draw = ImageDraw.Draw(sheet)
    x = 0
    for caption, panel in panels:
        tile = Image.fromarray(panel)
        if tile.mode == "RGBA":
            yy, xx = np.mgrid[:panel.shape[0], :panel.shape[1]]
            checker = np.where(((yy // 16 + xx // 16) % 2)[:, :, None] == 0, 235, 200).astype(np.uint8)
            base = Image.fromarray(np.repeat(checker, 3, axis=2)).convert("RGBA")
            tile = Image.alpha_composite(base, tile).convert("RGB")
        sheet.paste(tile, (x, 0))
        draw.text((x + 4, h + 5), caption, fill=(0, 0, 0))
        x += panel.shape[1] + 8
    return sheet


def main() -> None:
    astronaut = photo("astronaut")
    face = np.ascontiguousarray(astronaut[40:168, 170:298])  # her face, 128 px
    small = shrink(face, 64, 64)
    panels = [("input 64x64 (nearest x4)", np.asarray(Image.fromarray(small).resize((256, 256), Image.NEAREST))),
              ("bicubic x4", shrink(small, 256, 256))]
    for model in ("fast", "photo"):
        out, meta, _ = run("image.upscale", {"image": small}, {"scale": 4, "model": model})
        panels.append((f"image.upscale model={model}", out["image"]))
    panels.append(("original 256x256", shrink(face, 256, 256)))
    labelled(panels).save(HERE / "image-tools-upscale.png")

    half = shrink(astronaut, 256, 256)
    out, meta, _ = run("image.cutout", {"image": half}, {"model": "portrait"})
    lines, _, _ = run("image.lineart", {"image": half}, {"thickness": 1.5})
    labelled([("input", half), ("image.cutout: mask", np.repeat(out["mask"], 3, axis=2)),
              ("image.cutout: image (RGBA)", out["image"]), ("image.lineart (RGBA)", lines["image"])]
             ).save(HERE / "image-tools-cutout-lineart.png")
    print("written", HERE / "image-tools-upscale.png", HERE / "image-tools-cutout-lineart.png")


if __name__ == "__main__":
    main()
