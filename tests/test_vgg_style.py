"""style.optimize on real pictures (scikit-image astronaut + brick/gravel), small and short for CPU."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vgg_support import picture, run  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(isolated_config):
    return isolated_config


def test_style_losses_fall_and_the_result_keeps_the_input_size_and_alpha():
    """Style and total loss fall over the iterations; a 96x72 RGBA input comes back 96x72 with its alpha."""
    content = picture("astronaut", 96)[:72]
    alpha = np.full(content.shape[:2], 200, np.uint8)
    image, meta, events = run("style.optimize", {"image": np.dstack([content, alpha]), "style": picture("brick", 128)},
                              {"size": 64, "scales": 1, "iterations": 8, "seed": 3, "preview_every": 4})
    assert image.shape == (72, 96, 4)
    assert (image[:, :, 3] == 200).all()
    ev = meta["evaluation"]
    assert ev["style_loss"] < 0.5 * ev["start"]["style"]
    assert ev["total_loss"] < ev["start"]["total"]
    assert ev["content_loss"] > 0  # it did move away from the photo
    assert [e[2] for e in events[1:]] == list(range(1, 9))  # progress every iteration
    previews = [e[4] for e in events if e[4] is not None]
    assert len(previews) == 2 and previews[0].width == 64
    assert meta["model_hash"] and meta["seed"] == 3 and meta["working_size"] == "64x48"
    assert np.abs(image[:, :, :3].astype(int) - content).mean() > 5


def test_only_the_masked_region_changes():
    """Pixels outside the mask stay bit-identical; the masked half is restyled."""
    content = picture("astronaut", 64)
    mask = np.zeros((64, 64, 1), np.uint8)
    mask[:, 32:] = 255
    image, _, _ = run("style.optimize", {"image": content, "style": picture("gravel", 96), "mask": mask},
                      {"size": 64, "scales": 1, "iterations": 4, "seed": 0, "preview_every": 0})
    assert np.array_equal(image[:, :32], content[:, :32])
    assert np.abs(image[:, 32:].astype(int) - content[:, 32:]).mean() > 5


def test_two_styles_blend_and_preserve_colors_keeps_the_content_hue():
    """With style + style2 weighted, both are reported; preserve_colors keeps the photo's chroma
    (also through the L-BFGS optimiser from seeded noise)."""
    from PIL import Image

    content = picture("astronaut", 64)
    image, meta, _ = run("style.optimize",
                         {"image": content, "style": picture("brick", 96), "style2": picture("coffee", 96)},
                         {"size": 64, "scales": 1, "iterations": 3, "seed": 0, "preview_every": 0,
                          "style_weights": "style:0.6,style2:0.4", "preserve_colors": True,
                          "optimizer": "lbfgs", "init": "noise"})
    assert meta["styles"] == {"style": 0.6, "style2": 0.4}
    chroma = lambda a: np.asarray(Image.fromarray(a).convert("YCbCr"))[:, :, 1:].astype(int)  # noqa: E731
    assert np.abs(chroma(image[:, :, :3]) - chroma(content)).mean() < 3


def test_bad_inputs_get_clear_errors():
    """A tiny image or an empty mask is refused with a message naming the input."""
    with pytest.raises(ValueError, match="input 'image'"):
        run("style.optimize", {"image": np.zeros((8, 8, 3), np.uint8), "style": picture("brick", 64)}, {})
    with pytest.raises(ValueError, match="input 'mask'"):
        run("style.optimize", {"image": picture("astronaut", 64), "style": picture("brick", 64),
                               "mask": np.zeros((64, 64, 1), np.uint8)}, {})
