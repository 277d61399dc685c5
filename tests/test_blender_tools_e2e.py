"""Image tools (issue 14) and prompt expansion (issue 16) in real Blender: Debian's ``blender`` 3.4 (legacy add-on)
and PyPI ``bpy==4.5.15`` (extension), installed with ``muselink install blender``, against a real daemon with real
weights. ``blender_tools_scene.py`` runs inside Blender and writes what it measured; this judges it, comparing the
pictures Blender holds with what the daemon makes of the same texture.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hosttools_support import IMAGE_TOOLS, astronaut, expand_directly, require_tools, tools_daemon  # noqa: F401
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from test_blender_e2e import blender_for, muselink, run_scene

pytestmark = pytest.mark.host
SCENE = Path(__file__).resolve().parent / "blender_tools_scene.py"
SIZE = 96
PROMPT = "a castle at dawn"


def pixels(out: Path, name: str, size: list[int]) -> np.ndarray:
    """A result Blender holds, as top-down uint8 RGBA (Blender keeps rows bottom-up as floats)."""
    w, h = size
    values = np.fromfile(out / f"{name}.f32", np.float32).reshape(h, w, 4)
    return np.round(np.flipud(values) * 255).astype(np.uint8)


def direct(endpoint: str, capability: str, rgba: np.ndarray, params: dict) -> dict[str, np.ndarray]:
    with Client(endpoint, name="direct", timeout=120) as client:
        result = client.run(capability, {"image": ImageData.from_numpy(rgba)}, params, timeout=300)
    return {k: v.to_numpy() for k, v in result.payloads.items() if isinstance(v, ImageData)}


@pytest.mark.parametrize("host", ["blender", "bpy"])
def test_image_tools_and_prompt_expansion_in_real_blender(host, tools_daemon, tmp_path):  # noqa: F811
    """In real Blender: upscale puts a new image twice the size in the texture's node (original kept, unchanged);
    line art a new image in its own unlinked node beside the texture, read through the same UV map; cut-out a
    non-colour matte wired to the BSDF's Alpha with a blend mode that shows it; each is exactly what the daemon makes
    of the texture, and undo removes it. The form's and Generate's prompt fields get Expand (Stop leaves the field
    alone), the real model's text is offered, Use puts it in the field and the next job sends it."""
    require_tools(tools_daemon, *IMAGE_TOOLS, "text.expand_prompt", "image.refine", "image.generate")
    blender = blender_for(host)
    resources = tmp_path / "blender-user"
    installed = muselink("install", "blender", "--blender", blender, "--user-resources", str(resources))
    assert installed.returncode == 0, installed.stderr + installed.stdout
    from PIL import Image

    rgb = astronaut(SIZE)
    Image.fromarray(rgb).save(tmp_path / "astronaut.png")
    out = tmp_path / "out"
    out.mkdir()
    proc = run_scene(blender, resources, tools_daemon, str(tmp_path / "astronaut.png"), str(out), scene=SCENE, timeout=420)
    assert proc.returncode == 0 and "MUSELINK-E2E-OK" in proc.stdout, (proc.stdout[-3000:] + proc.stderr[-3000:])
    r = json.loads((out / "result.json").read_text())
    rgba = np.dstack([rgb, np.full((SIZE, SIZE), 255, np.uint8)])
    start = r["start"]
    assert start["texture_image"] == "astronaut.png" and start["alpha_from"] is None

    up = r["image.upscale"]
    assert up["return"] == ["FINISHED"] and up["texture_image"] == "astronaut.image.upscale"
    assert up["size"] == [2 * SIZE, 2 * SIZE] and up["packed"] and up["base_color_from"] == "Texture"
    assert up["nodes"] == start["nodes"] and up["original_same"] and up["original_kept"]
    want = direct(tools_daemon, "image.upscale", rgba, {"scale": 2, "model": "fast"})["image"]
    got = pixels(out, "upscale", up["size"])[..., :want.shape[2]]
    assert np.abs(got.astype(int) - want).max() <= 1, "the texture node shows the daemon's upscale"

    line = r["image.lineart"]
    node = line["new_node"]
    assert line["texture_image"] == "astronaut.png" and line["active"] == "Texture", "the texture stays in its node"
    assert node["image"] == "astronaut.image.lineart" and node["packed"] and node["linked_out"] == []
    assert node["vector_from"] == ["UV Map"] and node["extension"] == "EXTEND" and node["above"]
    want = direct(tools_daemon, "image.lineart", rgba, {"size": 256, "thickness": 2.0})["image"]
    assert np.abs(pixels(out, "lineart", node["size"]).astype(int) - want).max() <= 1
    assert 0.01 < (want[..., 3] > 0).mean() < 0.6

    cut = r["image.cutout"]
    node = cut["new_node"]
    assert cut["texture_image"] == "astronaut.png" and cut["alpha_from"] == node["name"]
    assert node["image"] == "astronaut.image.cutout.mask" and node["colorspace"] == "Non-Color"
    assert node["linked_out"] == ["Alpha"] and node["vector_from"] == ["UV Map"] and cut["blend"] == "HASHED"
    matte = direct(tools_daemon, "image.cutout", rgba, {"model": "portrait"})["mask"][..., 0]
    mask = pixels(out, "cutout", node["size"])
    assert np.abs(mask[..., 0].astype(int) - matte).max() <= 1, "the material's alpha is the daemon's matte"
    s = SIZE / 512
    assert matte[int(90 * s):int(180 * s), int(200 * s):int(280 * s)].mean() > 200 and matte[:6, :6].mean() < 30

    for capability in IMAGE_TOOLS:  # undo takes each result away and leaves the texture as it was
        undone = r[capability]["after_undo"]
        assert {k: undone[k] for k in ("nodes", "texture_image", "alpha_from", "images")} == \
            {k: start[k] for k in ("nodes", "texture_image", "alpha_from", "images")}, capability
        assert undone["original_same"] and undone["blend"] == r["blend_before"]

    assert r["expandable"] == ["prompt"]
    stopped = r["stopped"]
    assert stopped["state"] == "cancelled" and stopped["prompt"] == PROMPT and stopped["offers"] == {}
    drawn = stopped["panel"]  # while it ran: Stop beside the prompt, the growing text under it
    row = next(path for path, kind, *rest in drawn if kind == "prop" and rest == ["p_prompt"])
    assert [row, "operator", "muselink.expand_prompt", "Stop"] in drawn
    assert any(kind == "label" and rest[0].startswith("expanding… " + PROMPT) for _, kind, *rest in drawn), drawn

    done = r["expanded"]
    expanded = done["offered"]
    assert done["params"] == {"prompt": PROMPT, "seed": 5} and expanded.startswith(PROMPT + ",")
    assert expanded == expand_directly(tools_daemon, PROMPT, 5), "the real model's text, as the daemon gives it"
    assert len(done["streamed"]) >= 3 and all(m.startswith(PROMPT) for m in done["streamed"])
    drawn = done["panel"]
    row = next(path for path, kind, *rest in drawn if kind == "prop" and rest == ["p_prompt"])
    assert [row, "operator", "muselink.expand_prompt", "Expand"] in drawn
    assert any(kind == "operator" and rest[0] == "muselink.use_expanded" for _, kind, *rest in drawn)
    shown = " ".join(rest[0] for _, kind, *rest in drawn if kind == "label" and rest and rest[0] and rest[0] in expanded)
    assert expanded.startswith(shown[:40]) and len(shown) > len(PROMPT), drawn
    assert r["used"] == {"prompt": expanded, "offers": {}}
    assert r["refined"]["params"]["prompt"] == expanded and r["refined"]["params"]["seed"] == 5

    generated = r["generate_expanded"]
    assert generated.startswith("a red brick wall,") and r["generate_prompt"] == generated
    assert r["generated"]["meta"]["capability"] == "image.generate" and r["generated"]["meta"]["params"]["prompt"] == generated
    assert r["unregistered"]
