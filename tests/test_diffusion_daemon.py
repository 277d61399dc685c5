"""image.generate / refine / inpaint end to end: a tiny random-weight pipeline (a test fixture, built
from config) registered with the real `muselink models add`, driven through a real daemon."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from muselink.bridge import protocol as P  # noqa: E402
from muselink.bridge.client import Client, JobFailed  # noqa: E402
from muselink.bridge.payloads import ImageData  # noqa: E402
from muselink.core.demo import free_endpoint, start_daemon, stop_daemon  # noqa: E402

from diffusion_tiny import build_pipeline, save_folder, save_single_file  # noqa: E402

FAST = {"steps": 2, "guidance": 3.0, "preview_every": 0}


def cli(config_dir, *args, check=True, env=None):
    """Run the real ``muselink`` CLI with an isolated config dir."""
    proc = subprocess.run([sys.executable, "-m", "muselink.core.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "MUSELINK_CONFIG_DIR": str(config_dir), **(env or {})}, timeout=240)
    if check and proc.returncode != 0:
        raise AssertionError(f"muselink {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """The tiny pipeline saved twice: as a diffusers folder and as one original-layout .safetensors."""
    root = tmp_path_factory.mktemp("tiny-sd")
    pipe = build_pipeline()
    return {"pipe": pipe, "folder": save_folder(pipe, root / "tiny"),
            "file": save_single_file(pipe, root / "tiny.safetensors")}


@pytest.fixture(scope="module")
def sd_daemon(tiny_models, tmp_path_factory):
    """A daemon whose config holds 'tiny' (folder, the default) and 'tinysf' (single file)."""
    config = tmp_path_factory.mktemp("config")
    cli(config, "models", "add", "tiny", str(tiny_models["folder"]))
    cli(config, "models", "add", "tinysf", str(tiny_models["file"]), "--config", str(tiny_models["folder"]))
    endpoint = free_endpoint()
    proc = start_daemon(endpoint, ["--lanes", "interactive=1,heavy=1"], env={"MUSELINK_CONFIG_DIR": str(config)})
    client = Client(endpoint, name="diffusion-tests", timeout=60)
    client.hello()
    yield client
    client.close()
    stop_daemon(proc)


def rgba(w, h, seed=0):
    image = np.random.RandomState(seed).randint(0, 256, (h, w, 4)).astype(np.uint8)
    image[:, :, 3] = 255
    return image


def test_generate_returns_requested_size_with_provenance(sd_daemon, tmp_path):
    """A 40x24 request comes back 40x24 RGB, and the PNG carries A1111 parameters plus muselink JSON."""
    from PIL import Image

    from muselink.core.files import save_image

    result = sd_daemon.run("image.generate", {}, {**FAST, "prompt": "red bricks", "negative_prompt": "blur",
                                                  "seed": 7, "width": 40, "height": 24, "scheduler": "euler"})
    image = result.payloads["image"].to_numpy()
    assert image.shape == (24, 40, 3)
    meta = result.meta
    assert meta["model_name"] == "tiny" and len(meta["model_hash"]) == 10 and meta["seed"] == 7
    assert meta["capability"] == "image.generate" and meta["muselink_version"]
    assert meta["generated_size"][0] % 8 == 0 and meta["generated_size"][1] % 8 == 0
    path = save_image(result.payloads["image"], tmp_path / "out.png", meta)
    with Image.open(path) as png:
        text = png.text
    assert text["parameters"].startswith("red bricks\nNegative prompt: blur\n")
    for piece in ("Steps: 2", "Size: 40x24", "Sampler: euler", "CFG scale: 3.0", "Seed: 7", "Model: tiny",
                  f"Model hash: {meta['model_hash']}", "Capability: image.generate"):
        assert piece in text["parameters"]
    assert json.loads(text["muselink"])["params"]["prompt"] == "red bricks"


def test_same_seed_gives_the_same_image_and_another_seed_does_not(sd_daemon):
    """Same model + parameters + seed → bit-identical pixels on CPU; a new seed changes them."""
    params = {**FAST, "prompt": "a cat", "width": 32, "height": 32}
    a = sd_daemon.run("image.generate", {}, {**params, "seed": 1}).payloads["image"].to_numpy()
    b = sd_daemon.run("image.generate", {}, {**params, "seed": 1}).payloads["image"].to_numpy()
    c = sd_daemon.run("image.generate", {}, {**params, "seed": 2}).payloads["image"].to_numpy()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_seed_is_reported_and_reproduces(sd_daemon):
    """Without a seed the daemon picks one, reports it, and that seed reproduces the image."""
    params = {**FAST, "prompt": "a dog", "width": 32, "height": 32}
    first = sd_daemon.run("image.generate", {}, params)
    again = sd_daemon.run("image.generate", {}, {**params, "seed": first.meta["seed"]})
    assert np.array_equal(first.payloads["image"].to_numpy(), again.payloads["image"].to_numpy())


def test_second_job_does_not_reload_the_model(sd_daemon):
    """After several jobs with the same model, the shared cache has loaded it exactly once."""
    for seed in (3, 4):
        sd_daemon.run("image.generate", {}, {**FAST, "seed": seed, "width": 32, "height": 32})
    loads = sd_daemon.status().plugins["models"]["loads"]
    tiny = [n for key, n in loads.items() if key.startswith("diffusers:tiny:")]
    assert tiny == [1], loads


def test_single_file_checkpoint_gives_the_same_pixels_as_the_folder(sd_daemon):
    """The .safetensors checkpoint (from_single_file) holds the same weights, so the same seed paints the same image."""
    params = {**FAST, "prompt": "a boat", "seed": 5, "width": 32, "height": 32}
    folder = sd_daemon.run("image.generate", {}, params)
    single = sd_daemon.run("image.generate", {}, {**params, "model": "tinysf"})
    assert single.meta["model_name"] == "tinysf" and single.meta["model_hash"] != folder.meta["model_hash"]
    assert np.array_equal(folder.payloads["image"].to_numpy(), single.payloads["image"].to_numpy())


def test_selection_smaller_than_canvas_is_generated_near_native_and_scaled_back(sd_daemon):
    """A 50x30 region is refined at multiples of 8 near the model's native size and returned at exactly 50x30."""
    image = rgba(50, 30)
    image[:, :, 3] = 200
    result = sd_daemon.run("image.refine", {"image": ImageData.from_numpy(image)},
                           {**FAST, "steps": 4, "strength": 0.5, "seed": 1})
    out = result.payloads["image"].to_numpy()
    assert out.shape == (30, 50, 4)
    assert np.array_equal(out[:, :, 3], image[:, :, 3])  # alpha kept
    gw, gh = result.meta["generated_size"]
    assert gw % 8 == 0 and gh % 8 == 0 and (gw, gh) != (50, 30)
    assert 0.5 * 32 * 32 <= gw * gh <= 2 * 32 * 32


def test_inpaint_changes_only_the_masked_region(sd_daemon):
    """Pixels outside the mask come back bit-identical; the masked ones are regenerated."""
    image = rgba(48, 40)
    mask = np.zeros((40, 48), np.uint8)
    mask[8:32, 12:36] = 255
    result = sd_daemon.run("image.inpaint", {"image": ImageData.from_numpy(image), "mask": ImageData.from_numpy(mask)},
                           {**FAST, "seed": 3, "mask_blur": 3})
    out = result.payloads["image"].to_numpy()
    assert out.shape == image.shape
    assert np.array_equal(out[mask == 0], image[mask == 0])
    core = np.zeros_like(mask, bool)
    core[14:26, 18:30] = True  # deeper than the soft edge: fully regenerated
    assert (out[core][:, :3] != image[core][:, :3]).mean() > 0.5


def test_inpaint_uses_transparent_pixels_when_no_mask_is_sent(sd_daemon):
    """Without a mask, transparent pixels are regenerated (and made opaque); opaque ones stay identical."""
    image = rgba(32, 32)
    image[10:22, 10:22, 3] = 0
    result = sd_daemon.run("image.inpaint", {"image": ImageData.from_numpy(image)}, {**FAST, "seed": 3, "mask_blur": 0})
    out = result.payloads["image"].to_numpy()
    opaque = image[:, :, 3] == 255
    assert np.array_equal(out[opaque], image[opaque])
    assert (out[~opaque][:, 3] == 255).all()


def test_inpaint_without_mask_or_transparency_is_a_clear_error(sd_daemon):
    """An opaque image and no mask → bad_input naming the 'mask' input."""
    with pytest.raises(JobFailed) as info:
        sd_daemon.run("image.inpaint", {"image": ImageData.from_numpy(rgba(32, 32))}, FAST)
    assert info.value.reply.code == "bad_input" and "mask" in info.value.reply.message


def test_previews_arrive_every_few_steps(sd_daemon):
    """preview_every=2 over 6 steps: progress every step, previews at the result size on steps 2 and 4."""
    events = []
    sd_daemon.run("image.generate", {}, {**FAST, "steps": 6, "preview_every": 2, "seed": 1, "width": 40, "height": 32},
                  on_event=events.append)
    steps = [e for e in events if isinstance(e, P.Progress) and e.total]
    assert [e.step for e in steps] == [1, 2, 3, 4, 5, 6]
    previews = [(e.step, e.payloads["preview"]) for e in steps if "preview" in e.payloads]
    assert [s for s, _ in previews] == [2, 4]
    assert all((p.width, p.height, p.channels) == (40, 32, 3) for _, p in previews)


def test_cancel_stops_within_a_step(sd_daemon):
    """A 200-step job cancelled after its first steps ends as `cancelled` long before the end; the next job runs."""
    events = []
    handle = sd_daemon.submit("image.generate", {}, {**FAST, "steps": 200, "seed": 1, "width": 32, "height": 32},
                              on_event=events.append)
    deadline = time.monotonic() + 120
    while not any(isinstance(e, P.Progress) and e.step >= 2 for e in events) and time.monotonic() < deadline:
        sd_daemon.poll(0.05)
    handle.request_cancel()
    reply = sd_daemon.wait(handle, timeout=60)
    assert isinstance(reply, P.Cancelled)
    last = max(e.step for e in events if isinstance(e, P.Progress))
    assert last < 200
    after = sd_daemon.run("image.generate", {}, {**FAST, "seed": 1, "width": 32, "height": 32})
    assert after.payloads["image"].width == 32


def _wrap_ratio(image: np.ndarray) -> float:
    """How unlike neighbours the wrap-around column pair is: (1 - corr(last, first)) / (1 - corr(adjacent))."""
    a = image.astype(np.float64)

    def corr(i, j):
        values = []
        for c in range(3):
            x, y = a[:, i, c] - a[:, i, c].mean(), a[:, j, c] - a[:, j, c].mean()
            values.append((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))
        return float(np.mean(values))

    width = a.shape[1]
    adjacent = np.mean([corr(i, i + 1) for i in range(width - 1)])
    return (1 - corr(width - 1, 0)) / (1 - adjacent)


def test_tiling_removes_the_seam_between_left_and_right_edges(sd_daemon):
    """With tiling=x the left/right wrap behaves like any neighbouring column pair; without it, it is a seam."""
    ratios = {}
    for mode in ("none", "x"):
        ratios[mode] = np.mean([_wrap_ratio(sd_daemon.run(
            "image.generate", {}, {**FAST, "seed": seed, "tiling": mode, "width": 32, "height": 64}
        ).payloads["image"].to_numpy()) for seed in (1, 2, 3)])
    assert ratios["x"] < 1.5, ratios
    assert ratios["none"] > 1.8 * ratios["x"], ratios


def test_tiling_is_undone_after_the_job(sd_daemon):
    """The cached pipeline is shared: a tiled job leaves no circular padding behind."""
    params = {**FAST, "seed": 9, "width": 32, "height": 32}
    before = sd_daemon.run("image.generate", {}, params).payloads["image"].to_numpy()
    sd_daemon.run("image.generate", {}, {**params, "tiling": "both"})
    after = sd_daemon.run("image.generate", {}, params).payloads["image"].to_numpy()
    assert np.array_equal(before, after)


def test_unknown_model_name_is_a_clear_error(sd_daemon):
    """-p model=NAME that is not registered → bad_input naming the configured models."""
    with pytest.raises(JobFailed) as info:
        sd_daemon.run("image.generate", {}, {**FAST, "model": "nope"})
    assert "nope" in info.value.reply.message and "tiny" in info.value.reply.message


def test_no_model_configured_names_muselink_models_add(daemon_factory, client_factory):
    """With an empty config the capabilities are unavailable and a job is refused naming `muselink models add`."""
    endpoint, _ = daemon_factory()
    client = client_factory(endpoint)
    caps = {c["name"]: c for c in client.hello().capabilities}
    for name in ("image.generate", "image.refine", "image.inpaint"):
        assert not caps[name]["available"] and "muselink models add" in caps[name]["unavailable_reason"]
    with pytest.raises(JobFailed) as info:
        client.run("image.generate", {}, {"prompt": "x"})
    assert "muselink models add" in info.value.reply.message


def test_cli_run_inpaints_transparent_pixels_and_writes_provenance(sd_daemon, tiny_models, tmp_path):
    """`muselink run image.inpaint -i rgba.png` uses the transparent pixels as the mask; the PNG has parameters."""
    from PIL import Image

    image = rgba(32, 32)
    image[8:24, 8:24, 3] = 0
    Image.fromarray(image).save(tmp_path / "in.png")
    endpoint = sd_daemon.endpoint
    out = tmp_path / "out.png"
    cli(tmp_path, "run", "image.inpaint", "--endpoint", endpoint, "-i", str(tmp_path / "in.png"), "-o", str(out),
        "-q", "-p", "steps=2", "-p", "seed=4", "-p", "prompt=moss", "-p", "mask_blur=0")
    with Image.open(out) as png:
        pixels = np.asarray(png.convert("RGBA"))
        assert "Seed: 4" in png.text["parameters"] and "moss" in png.text["parameters"]
    opaque = image[:, :, 3] == 255
    assert np.array_equal(pixels[opaque], image[opaque])


def test_models_check_loads_a_cached_hub_model_offline(tiny_models, tmp_path):
    """A hub id found in the local HF cache is added and loaded with the network off; check lists components."""
    import shutil

    repo = tmp_path / "hf" / "models--someone--tiny-sd"
    commit = "1" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(tiny_models["folder"], repo / "snapshots" / commit)
    env = {"HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    cli(tmp_path / "cfg", "models", "add", "hub", "someone/tiny-sd", env=env)
    out = cli(tmp_path / "cfg", "models", "check", "--device", "cpu", env=env).stdout
    assert "hub: ok" in out and "StableDiffusionPipeline" in out
    for component in ("UNet2DConditionModel", "AutoencoderKL", "CLIPTextModel", "CLIPTokenizer"):
        assert component in out
