"""Pure pieces of the diffusion plugin: sizing, soft masks, previews, the model registry, the models CLI,
circular tiling on conv layers, and A1111 provenance text."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from muselink.plugins.diffusion import registry
from muselink.plugins.diffusion.sizing import latent_preview, plan_size, soft_mask


# ---- sizing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,native,expected", [
    ((512, 512), 512, (512, 512)),       # native: unchanged
    ((768, 512), 512, (768, 512)),       # friendly and near native area: unchanged
    ((300, 170), 512, (680, 384)),       # small odd region: scaled up to about native area, multiples of 8
    ((4000, 3000), 1024, (1184, 888)),   # huge region: scaled down
    ((50, 30), 32, (40, 24)),
])
def test_plan_size_is_a_multiple_of_8_near_the_native_area(size, native, expected):
    """Odd or far-from-native sizes become multiples of 8 with about native² pixels and the same aspect."""
    w, h = plan_size(*size, native)
    assert (w, h) == expected
    assert w % 8 == 0 and h % 8 == 0
    assert abs(w / h - size[0] / size[1]) < 0.05


def test_plan_size_rejects_empty_sizes():
    """A zero-sized region is a clear error."""
    with pytest.raises(ValueError, match="positive"):
        plan_size(0, 10, 512)


def test_soft_mask_feathers_inside_and_never_outside():
    """The soft edge fades inside the mask; pixels outside stay exactly 0, the middle exactly 1."""
    mask = np.zeros((40, 40), np.float32)
    mask[10:30, 10:30] = 1.0
    soft = soft_mask(mask, 4)
    assert (soft[mask == 0] == 0).all()
    assert soft[20, 20] == pytest.approx(1.0, abs=1e-3)
    assert 0 < soft[20, 10] < soft[20, 11] < soft[20, 12] < soft[20, 20]
    assert np.array_equal(soft_mask(mask, 0), mask)


def test_latent_preview_maps_4_channel_latents_to_rgb():
    """SD latents → an RGB picture of the latent size; an unknown layout gives no preview."""
    latents = np.zeros((4, 8, 6), np.float32)
    latents[0] = 2.0  # channel 0 is mostly brightness
    rgb = latent_preview(latents, "sd")
    assert rgb.shape == (8, 6, 3) and rgb.dtype == np.uint8
    assert (latent_preview(np.zeros_like(latents), "sd") == 128).all()  # zero latents: mid gray
    assert rgb.min() > 170  # brighter in every channel
    assert latent_preview(np.zeros((16, 8, 8), np.float32), "sd") is None


# ---- registry ----------------------------------------------------------------------------------------
def fake_folder(root: Path, name="m") -> Path:
    folder = root / name
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights-" + name.encode())
    return folder


def test_first_added_model_is_the_default_and_names_resolve(tmp_path):
    """add → models.json; find(None) is the first added; find(name) picks one."""
    registry.add(tmp_path, "one", str(fake_folder(tmp_path, "a")))
    entry = registry.add(tmp_path, "two", str(fake_folder(tmp_path, "b")))
    assert entry.kind == "folder" and len(entry.hash) == 64 and entry.size_bytes > 0
    assert registry.find(tmp_path, None).name == "one"
    assert registry.find(tmp_path, "two").source == str((tmp_path / "b").resolve())
    assert json.loads((tmp_path / "models.json").read_text())["models"][1]["name"] == "two"


def test_registry_errors_say_how_to_fix(tmp_path):
    """No models, unknown names, duplicates, bad folders and missing files each get a fix-it message."""
    with pytest.raises(registry.ModelError, match="muselink models add"):
        registry.find(tmp_path, None)
    registry.add(tmp_path, "one", str(fake_folder(tmp_path, "a")))
    with pytest.raises(registry.ModelError, match="configured: one"):
        registry.find(tmp_path, "nope")
    with pytest.raises(registry.ModelError, match="--replace"):
        registry.add(tmp_path, "one", str(tmp_path / "a"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(registry.ModelError, match="model_index.json"):
        registry.add(tmp_path, "p", str(tmp_path / "plain"))
    with pytest.raises(registry.ModelError, match="file not found"):
        registry.add(tmp_path, "f", str(tmp_path / "missing.safetensors"))
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(registry.ModelError, match="safetensors"):
        registry.add(tmp_path, "t", str(tmp_path / "x.txt"))
    with pytest.raises(registry.ModelError, match="name"):
        registry.add(tmp_path, "bad name!", str(tmp_path / "a"))


def test_single_file_source_is_hashed_like_a1111(tmp_path):
    """A .safetensors source is a single_file entry whose short hash is sha256(file)[:10]."""
    import hashlib

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"not really weights")
    entry = registry.add(tmp_path, "sf", str(path))
    assert entry.kind == "single_file"
    assert entry.short_hash == hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def make_hf_cache(cache: Path, repo: str, files: dict) -> None:
    """A Hugging Face hub cache layout holding ``repo`` at one snapshot."""
    base = cache / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    for rel, data in files.items():
        target = base / "snapshots" / commit / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def cli(config_dir, *args, env=None):
    return subprocess.run([sys.executable, "-m", "muselink.core.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "MUSELINK_CONFIG_DIR": str(config_dir), **(env or {})})


def test_models_cli_adds_cached_hub_ids_and_refuses_uncached_ones(tmp_path):
    """A hub id in the local HF cache is added without network; one that is not cached says how to get it."""
    cache = tmp_path / "hf"
    make_hf_cache(cache, "someone/tiny-sd", {"model_index.json": b"{}",
                                             "unet/diffusion_pytorch_model.safetensors": b"w"})
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    ok = cli(tmp_path / "cfg", "models", "add", "hubby", "someone/tiny-sd", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "hub someone/tiny-sd" in ok.stdout
    missing = cli(tmp_path / "cfg", "models", "add", "other", "someone/not-here", env=env)
    assert missing.returncode == 1
    assert "not in the local Hugging Face cache" in missing.stderr and "hf download someone/not-here" in missing.stderr
    listed = cli(tmp_path / "cfg", "models", "list", env=env)
    assert "hubby" in listed.stdout and "[default]" in listed.stdout and "other" not in listed.stdout


def test_models_cli_list_and_remove(tmp_path):
    """`models list` shows the default first; `models remove` forgets a model but keeps its files."""
    folder = fake_folder(tmp_path, "a")
    assert cli(tmp_path / "cfg", "models", "add", "one", str(folder)).returncode == 0
    assert cli(tmp_path / "cfg", "models", "add", "two", str(fake_folder(tmp_path, "b"))).returncode == 0
    out = cli(tmp_path / "cfg", "models", "list", "--json")
    assert [m["name"] for m in json.loads(out.stdout)] == ["one", "two"]
    assert cli(tmp_path / "cfg", "models", "remove", "one").returncode == 0
    assert folder.exists()
    assert "two" in cli(tmp_path / "cfg", "models", "list").stdout.splitlines()[0]


def test_models_check_reports_a_broken_model(tmp_path):
    """`models check` on a folder whose weights are not a loadable pipeline fails with the model named."""
    pytest.importorskip("diffusers")
    folder = fake_folder(tmp_path, "a")
    assert cli(tmp_path / "cfg", "models", "add", "broken", str(folder)).returncode == 0
    out = cli(tmp_path / "cfg", "models", "check", "broken", "--device", "cpu")
    assert out.returncode == 1 and "broken: FAILED" in out.stdout


def test_plugin_import_is_cheap():
    """Importing the plugin (as the CLI does on every start) loads neither torch nor diffusers."""
    code = ("import sys, time; t = time.perf_counter(); import muselink.plugins.diffusion; "
            "print(time.perf_counter() - t, 'torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout.split()
    assert out[1:] == ["False", "False"]
    assert float(out[0]) < 2.0


# ---- tiling ------------------------------------------------------------------------------------------
def test_circular_tiling_makes_convs_shift_equivariant_on_chosen_axes_and_restores_them():
    """With tiling=x a conv stack commutes with horizontal circular shifts (not vertical); 'none' restores it."""
    torch = pytest.importorskip("torch")
    from muselink.plugins.diffusion.tiling import set_tiling

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 3, 5, padding=2))
    x = torch.randn(1, 3, 12, 16)
    with torch.no_grad():
        plain = net(x)
        assert set_tiling([net], "x") == 2
        shifted_x = net(torch.roll(x, 5, dims=3))
        assert torch.allclose(shifted_x, torch.roll(net(x), 5, dims=3), atol=1e-5)
        shifted_y = net(torch.roll(x, 5, dims=2))
        assert not torch.allclose(shifted_y, torch.roll(net(x), 5, dims=2), atol=1e-3)
        set_tiling([net], "both")
        assert torch.allclose(net(torch.roll(x, (3, 7), dims=(2, 3))), torch.roll(net(x), (3, 7), dims=(2, 3)), atol=1e-5)
        set_tiling([net], "none")
        assert torch.equal(net(x), plain)
    with pytest.raises(ValueError, match="tiling"):
        set_tiling([net], "diagonal")


# ---- provenance --------------------------------------------------------------------------------------
def test_a1111_parameters_line_up_with_diffusion_result_meta():
    """The daemon's meta for image.generate becomes A1111 text with Steps, Sampler, CFG, Seed, Size, Model, hash."""
    from muselink.plugins.diffusion.provenance import a1111_parameters

    meta = {"capability": "image.generate", "model_name": "dreamy", "model_hash": "abcdef1234", "seed": 42,
            "size": [640, 480], "params": {"model": None, "prompt": "a lighthouse", "negative_prompt": "fog",
                                            "steps": 20, "guidance": 6.5, "seed": None, "scheduler": "euler_a",
                                            "width": 640, "height": 480, "tiling": "none"}}
    text = a1111_parameters(meta)
    assert text.startswith("a lighthouse\nNegative prompt: fog\n")
    assert ("Steps: 20, Sampler: euler_a, CFG scale: 6.5, Seed: 42, Size: 640x480, Model: dreamy, "
            "Model hash: abcdef1234, Capability: image.generate") in text


def test_hook_muselink_configure_points_the_plugin_at_the_daemon_config_dir(tmp_path):
    """muselink_configure(config) makes the capabilities read that config dir's models.json."""
    import muselink.plugins.diffusion as plugin
    from muselink.core.config import DaemonConfig

    try:
        plugin.muselink_configure(DaemonConfig(config_dir=tmp_path))
        assert "muselink models add" in plugin.unavailable()
        registry.add(tmp_path, "m", str(fake_folder(tmp_path)))
        assert plugin.unavailable() is None
    finally:
        plugin.muselink_shutdown()
    assert plugin._state["config_dir"] is None
