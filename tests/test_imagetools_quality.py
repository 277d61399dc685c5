"""Honest quality checks of the image tools on scikit-image's real photos, with the real shipped weights.

Figures seen when these were written (docs/image-tools.md keeps them): upscale x4 of 64² crops — VGG distance
fast model 0.258 vs bicubic 0.279 (astronaut), photo model 0.156 vs 0.217 (coffee); PSNR 1.1 and 0.4 dB below
bicubic. Horse-shaped cat fur on grass: IoU 0.99 (0.97 without refinement). Line art vs Sobel: r = 0.76
(astronaut, camera); precision against Canny 0.88/0.78 (chance 0.40/0.16), Canny recall 0.67/0.87.
"""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imagetools_support import photo, psnr, run, shrink, vgg_distance


@pytest.mark.parametrize(("name", "model", "crop"), [
    ("astronaut", "fast", (slice(0, 256), slice(128, 384))),  # her face and hair
    pytest.param("coffee", "photo", (slice(50, 306), slice(150, 406)), marks=pytest.mark.slow),  # cup and spoon
])
def test_upscale_of_a_downscaled_photo_is_perceptually_closer_than_bicubic(name, model, crop):
    """x4 from a 4x-shrunk crop: a smaller VGG19 feature distance to the original than bicubic, PSNR at most 3 dB lower."""
    original = np.ascontiguousarray(photo(name)[crop])
    small = shrink(original, 64, 64)
    bicubic = shrink(small, 256, 256)
    out, meta, _ = run("image.upscale", {"image": small}, {"scale": 4, "model": model})
    up = out["image"]
    assert up.shape == original.shape
    d_model, d_bicubic = vgg_distance(up, original), vgg_distance(bicubic, original)
    p_model, p_bicubic = psnr(up, original), psnr(bicubic, original)
    figures = f"{name}/{model}: VGG {d_model:.4f} vs bicubic {d_bicubic:.4f}; PSNR {p_model:.2f} vs {p_bicubic:.2f} dB"
    assert d_model < 0.97 * d_bicubic, figures
    assert p_model > p_bicubic - 3.0, figures


def test_portrait_matte_separates_the_astronaut_from_her_background():
    """MODNet: face and suit are foreground (> 0.9); the flag and the sky in the top corners and the
    shuttle on the right are background (< 0.1)."""
    out, meta, _ = run("image.cutout", {"image": photo("astronaut")}, {"model": "portrait"})
    matte = out["mask"][:, :, 0] / 255.0
    regions = {"face": matte[100:180, 180:260], "suit": matte[330:480, 150:300],
               "top-left corner": matte[:48, :48], "top-right corner": matte[:48, -48:],
               "shuttle": matte[40:200, 420:480]}
    means = {k: round(float(v.mean()), 3) for k, v in regions.items()}
    assert means["face"] > 0.9 and means["suit"] > 0.9, means
    assert max(means["top-left corner"], means["top-right corner"], means["shuttle"]) < 0.1, means
    assert np.array_equal(out["image"][:, :, 3], out["mask"][:, :, 0])  # the cut-out's alpha is the matte


def composite(obj: str, background: str) -> tuple[np.ndarray, np.ndarray]:
    """A horse-shaped piece of photo ``obj`` pasted on photo ``background`` (640x480) → (picture, true mask)."""
    from skimage import data

    horse = ~data.horse()  # True on the horse
    size = (400, round(400 * horse.shape[0] / horse.shape[1]))
    shape = np.asarray(Image.fromarray(horse.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127
    picture = shrink(photo(background), 640, 480).copy()
    texture = shrink(photo(obj), *size)
    truth = np.zeros((480, 640), bool)
    y, x = 80, 120
    picture[y:y + shape.shape[0], x:x + shape.shape[1]][shape] = texture[shape]
    truth[y:y + shape.shape[0], x:x + shape.shape[1]] = shape
    return picture, truth


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_general_cutout_recovers_a_composited_object_and_refinement_helps():
    """Cat fur in a horse's shape on grass: IoU >= 0.95 with the guided refinement, and higher than without it."""
    picture, truth = composite("chelsea", "grass")
    refined = run("image.cutout", {"image": picture}, {"model": "general"})[0]["mask"][:, :, 0] >= 128
    plain = run("image.cutout", {"image": picture}, {"model": "general", "refine": False})[0]["mask"][:, :, 0] >= 128
    figures = f"IoU refined {iou(refined, truth):.4f}, unrefined {iou(plain, truth):.4f}"
    assert iou(refined, truth) >= 0.95, figures
    assert iou(refined, truth) > iou(plain, truth), figures


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_line_art_follows_the_photos_edges(name):
    """Line alpha correlates with the Sobel edge magnitude (r > 0.5; ~0 for the lines turned 180°); most line
    pixels lie within 2 px of a Canny edge (far above chance) and most Canny edges within 2 px of a line."""
    from scipy import ndimage as ndi
    from skimage import color, feature, filters

    rgb = np.ascontiguousarray(photo(name)[::2, ::2])
    lines = run("image.lineart", {"image": rgb})[0]["image"][:, :, 3] / 255.0
    gray = color.rgb2gray(rgb)

    def blur(x):
        return ndi.gaussian_filter(x.astype(np.float64), 2).ravel()

    r = np.corrcoef(blur(lines), blur(filters.sobel(gray)))[0, 1]
    r_turned = np.corrcoef(blur(lines[::-1, ::-1]), blur(filters.sobel(gray)))[0, 1]
    canny = feature.canny(gray, sigma=2)
    near = ndi.binary_dilation(canny, iterations=2)
    drawn = lines > 0.5
    precision = (drawn & near).sum() / drawn.sum()
    recall = (canny & ndi.binary_dilation(drawn, iterations=2)).sum() / canny.sum()
    figures = (f"r {r:.3f} (turned {r_turned:.3f}); precision {precision:.3f} vs chance {near.mean():.3f}; "
               f"Canny recall {recall:.3f}")
    assert r > 0.5 and abs(r_turned) < 0.15, figures
    assert precision > 0.7 and precision > 2 * near.mean() and recall > 0.6, figures
