"""texture.synthesize on real textures (scikit-image gravel, brick), small and short for CPU."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from vgg_support import best_patch_match, picture, run, seam_ratio  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(isolated_config):
    return isolated_config


def test_texture_has_the_requested_size_resembles_the_exemplar_and_is_not_a_copy():
    """An 80x48 request gives 80x48; its style loss falls; no 16x16 block matches the exemplar anywhere."""
    exemplar = picture("brick", 128)
    image, meta, events = run("texture.synthesize", {"image": exemplar},
                              {"width": 80, "height": 48, "tiling": "both", "seed": 5, "iterations": 12,
                               "scales": 1, "exemplar_size": 128, "preview_every": 0})
    assert image.shape == (48, 80, 3)
    assert meta["working_size"] == "80x48" and meta["exemplar_size"] == "128x128"
    assert meta["evaluation"]["style_loss"] < 0.5 * meta["evaluation"]["start"]["style"]
    assert best_patch_match(image, exemplar) > 4.0  # a crop would score 0
    assert best_patch_match(exemplar[16:64, 32:112], exemplar) == 0.0  # the check does find a crop


def test_tiling_both_wraps_without_a_seam_and_untiled_does_not():
    """tiling=both: the step across opposite edges is like a step between interior neighbours, and
    far below the step across the edges of the same texture grown without tiling."""
    exemplar = picture("gravel")
    params = {"width": 96, "height": 96, "seed": 1, "iterations": 60, "scales": 1, "exemplar_size": 512,
              "preview_every": 0}
    tiled, _, _ = run("texture.synthesize", {"image": exemplar}, {**params, "tiling": "both"})
    plain, _, _ = run("texture.synthesize", {"image": exemplar}, {**params, "tiling": "none"})
    tiled_ratios = [seam_ratio(tiled, axis) for axis in (0, 1)]
    plain_ratios = [seam_ratio(plain, axis) for axis in (0, 1)]
    assert max(tiled_ratios) < 1.35, tiled_ratios
    assert np.mean(plain_ratios) > 1.5 * np.mean(tiled_ratios), (plain_ratios, tiled_ratios)


def test_seed_gives_variations_and_repeats_itself():
    """The same seed gives the same texture; another seed gives a different one."""
    exemplar = picture("gravel", 128)
    params = {"width": 64, "height": 64, "iterations": 3, "scales": 1, "exemplar_size": 128, "preview_every": 0}
    a, meta, _ = run("texture.synthesize", {"image": exemplar}, {**params, "seed": 7})
    b, _, _ = run("texture.synthesize", {"image": exemplar}, {**params, "seed": 7})
    c, _, _ = run("texture.synthesize", {"image": exemplar}, {**params, "seed": 8})
    assert meta["seed"] == 7
    assert np.abs(a.astype(int) - b).max() <= 1  # identical up to float rounding across threads
    assert np.abs(a.astype(int) - c).mean() > 5
