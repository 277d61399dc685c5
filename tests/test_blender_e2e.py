"""The Blender add-on inside real Blender, end to end, against a real daemon: Debian's ``blender``
(3.4, legacy add-on) and PyPI ``bpy==4.5.15`` (extension installed through Blender's extension
API), each into a temporary ``BLENDER_USER_RESOURCES`` with ``muselink install blender``.

The scene script (``blender_e2e_scene.py``) builds a UV-mapped plane with an image-textured
material, runs ``muselink.stylize_texture`` / ``stylize_render`` / ``generate_texture``, bakes the
diffuse colour with Cycles, saves and reopens the .blend, unregisters, and writes what it measured.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_host
from muselink.core.demo import free_endpoint

ROOT = Path(__file__).resolve().parent.parent
SCENE = Path(__file__).resolve().parent / "blender_e2e_scene.py"
BPY_PYTHON = ROOT / ".venv-bpy" / "bin" / "python"


def blender_for(host: str) -> str:
    if host == "blender":
        require_host("blender")
        return shutil.which("blender")
    require_host(str(BPY_PYTHON))  # `make bpy` creates it
    return str(BPY_PYTHON)


def muselink(*args, env=None, timeout=300):
    cmd = [sys.executable, "-m", "muselink.core.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def brick_texture(path: Path) -> Path:
    from PIL import Image
    from skimage import data

    Image.fromarray(data.brick()).convert("RGB").resize((128, 128)).save(path)
    return path


def run_scene(blender: str, resources: Path, *args: str, timeout: float = 300, scene: Path = SCENE) -> subprocess.CompletedProcess:
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(resources)}
    if blender.endswith("python"):
        cmd = [blender, str(scene), *args]
    else:
        cmd = [blender, "-b", "--python-exit-code", "1", "--python", str(scene), "--", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.host
@pytest.mark.parametrize("host", ["blender", "bpy"])
def test_stylized_texture_is_a_new_packed_image_in_the_material(host, daemon, tmp_path):
    """Installed with `muselink install blender`, the add-on stylizes a real material's texture into a
    new packed image in the same node (original kept unchanged), the baked surface shows it, it
    survives save/reopen, a down daemon gives a clear report, and everything unregisters."""
    blender = blender_for(host)
    resources = tmp_path / "blender-user"
    installed = muselink("install", "blender", "--blender", blender, "--user-resources", str(resources))
    assert installed.returncode == 0, installed.stderr + installed.stdout
    assert "installed and enabled" in installed.stdout
    if host == "bpy":
        assert "Blender 4.5.15" in installed.stdout
        assert (resources / "extensions/user_default/muselink_blender/blender_manifest.toml").exists()
        site = resources / "extensions/.local/lib/python3.11/site-packages"
        assert (site / "zmq").is_dir(), "Blender did not install the bundled pyzmq wheel"
    else:
        assert (resources / "scripts/addons/muselink_blender/_vendor/zmq").is_dir()

    out = tmp_path / "out"
    out.mkdir()
    proc = run_scene(blender, resources, daemon, free_endpoint(), str(brick_texture(tmp_path / "brick.png")), str(out))
    assert proc.returncode == 0 and "MUSELINK-E2E-OK" in proc.stdout, (proc.stdout[-3000:] + proc.stderr[-3000:])
    r = json.loads((out / "result.json").read_text())

    assert r["module"] == ("muselink_blender" if host == "blender" else "bl_ext.user_default.muselink_blender")
    assert "not reachable" in r["down"]["report"] and r["down"]["seconds"] < 5
    assert {"p_style", "p_size", "p_strength"} <= set(r["form"])  # the panel form came from the daemon's schema

    t = r["texture"]
    assert t["new"] != t["original"] and t["base_color_from"] == t["node"]
    assert t["packed"] and t["size"] == [128, 128]
    assert t["changed"] > 0.05, "the stylized texture should differ clearly from the original"
    assert t["original_unchanged"] == 0.0 and t["original_kept"]
    assert t["meta_capability"] == "style.fast" and t["meta_styles"] == {"mosaic": 1.0}  # the form's choice was sent

    bake = r["bake"]  # Cycles bake of the diffuse colour: matches the new texture, not the old one
    assert bake["vs_new"] < 0.03 and bake["vs_original"] > 4 * bake["vs_new"], bake

    assert r["render"]["packed"] and r["render"]["size"] == [32, 32] and r["render"]["background"] == [r["render"]["name"]]
    if "node" in r["exemplar"]:  # the daemon offers texture.synthesize
        assert r["exemplar"]["packed"] and r["exemplar"]["size"] == [32, 32]
        assert r["exemplar"]["meta"]["capability"] == "texture.synthesize"
        assert r["exemplar"]["meta"]["params"]["tiling"] == "both"
    else:
        assert "texture.synthesize" in r["exemplar"]["report"]
    assert r["prompt"].get("ok") or "image model" in r["prompt"]["report"]

    re = r["reopened"]
    assert re["found"] and re["packed"] and re["linked"] and re["same_pixels"] < 1 / 255 and re["original_kept"]
    assert r["unregistered"]

    removed = muselink("uninstall", "blender", "--blender", blender, "--user-resources", str(resources))
    assert removed.returncode == 0, removed.stderr
    assert not (resources / "scripts/addons/muselink_blender").exists()
    assert not (resources / "extensions/user_default/muselink_blender").exists()


@pytest.mark.host
def test_modal_operator_cancels_on_escape_and_timers_apply_results_in_live_blender(daemon, tmp_path, xvfb):
    """In interactive Blender (Xvfb): the modal operator runs a daemon job, Esc cancels it on the daemon
    and leaves the texture alone; a non-blocking call returns at once and a bpy.app.timers callback
    applies its result as a new packed image."""
    require_host("blender", "Xvfb")
    resources = tmp_path / "blender-user"
    installed = muselink("install", "blender", "--blender", shutil.which("blender"), "--user-resources", str(resources))
    assert installed.returncode == 0, installed.stderr
    out = tmp_path / "out"
    out.mkdir()
    cmd = ["blender", "--factory-startup", "--enable-event-simulate",
           "--python", str(Path(__file__).resolve().parent / "blender_gui_scene.py"), "--",
           daemon, str(brick_texture(tmp_path / "brick.png")), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "BLENDER_USER_RESOURCES": str(resources), "DISPLAY": xvfb})
    assert (out / "gui.json").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads((out / "gui.json").read_text())
    assert r["error"] is None, r
    assert r["steps"] == ["invoked", "running", "cancelled", "executed", "applied"]
    assert r["invoke_return"] == ["RUNNING_MODAL"] and r["running_state"] == "running"
    # the job would run 10 s (200 steps x 0.05 s); Esc ended it early, on the daemon, without a result
    assert r["cancel_state"] == "cancelled" and r["cancel_fraction"] < 0.9 and r["cancel_seconds"] < 8
    assert r["image_after_cancel"] == "brick.png"
    assert r["exec_return"] == ["FINISHED"] and r["exec_seconds"] < 1.0 and r["timer_registered"]
    assert r["image_right_after_exec"] == "brick.png"  # not applied yet: the call did not block
    assert r["applied_ok"] and r["image_after_apply"] == "brick.style.fast" and r["packed"]
    assert r["unregistered"]


@pytest.mark.host
@pytest.mark.parametrize("host", ["blender", "bpy"])
def test_third_party_plugin_works_in_real_blender_with_no_blender_code(host, thirdparty_daemon, tmp_path):
    """A pip-installed plugin in real Blender: the panel lists its capability with one property per parameter
    type; `image` becomes a new packed image in the texture's node, tinted exactly as every parameter says;
    `mask` a non-colour image wired into the BSDF's Alpha; `document` a new image of twice the size; `text` the prompt."""
    blender = blender_for(host)
    resources = tmp_path / "blender-user"
    installed = muselink("install", "blender", "--blender", blender, "--user-resources", str(resources))
    assert installed.returncode == 0, installed.stderr + installed.stdout
    out = tmp_path / "out"
    out.mkdir()
    proc = run_scene(blender, resources, thirdparty_daemon, str(brick_texture(tmp_path / "brick.png")), str(out),
                     scene=Path(__file__).resolve().parent / "blender_thirdparty_scene.py")
    assert proc.returncode == 0 and "MUSELINK-E2E-OK" in proc.stdout, (proc.stdout[-3000:] + proc.stderr[-3000:])
    r = json.loads((out / "result.json").read_text())
    assert r["form"] == sorted(f"p_{name}" for name in ("amount", "shift", "label", "invert", "channel", "seed", "note", "mix"))
    t = r["tint"]
    assert t["packed"] and t["meta"]["capability"] == "test.tint" and t["meta"]["seen"]["delta"] == -15
    assert t["meta"]["params"] == {"amount": 0.5, "shift": 60, "label": "hello", "invert": True, "channel": "green",
                                   "seed": 7, "note": "a note", "mix": {"green": 0.5}}
    assert t["green_shift"] and set(t["green_shift"]) == {-15} and t["red_blue_same"] < 1e-6
    assert t["mask"] == "brick.test.tint.mask" and t["mask_colorspace"] == "Non-Color" and t["mask_min"] == 1.0
    assert r["double"] == {"image": "brick.test.tint.test.double", "size": [256, 256], "prompt": "big at 256x256"}
    assert r["unregistered"]
