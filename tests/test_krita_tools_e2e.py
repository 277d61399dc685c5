"""Image tools (issue 14) and prompt expansion (issue 16) in the real Krita (Debian's krita under Xvfb),
installed by `muselink install krita`, against a real daemon with real weights.

The plugin's test driver (``driver.py`` + ``driver_tools.py``) works the docker's own widgets and
Krita's undo action, and writes a report and raw pixel dumps; these tests judge them.
"""
from __future__ import annotations

import numpy as np
import pytest

from hosttools_support import IMAGE_TOOLS, astronaut, expand_directly, require_tools, tools_daemon  # noqa: F401
from test_krita_e2e import KritaRun, krita_profile  # noqa: F401

pytestmark = pytest.mark.host
SIZE = 160
TOOLS = [["image.lineart", {"size": 256, "thickness": 2.0}],
         ["image.cutout", {"model": "portrait"}],
         ["image.upscale", {"scale": 2, "model": "fast"}]]
PROMPT = "a castle at dawn"


def bgra_to_rgba(bgra: np.ndarray) -> np.ndarray:
    return bgra[..., [2, 1, 0, 3]]


@pytest.mark.timeout(400)
def test_image_tools_land_where_artists_expect_in_real_krita(krita_profile, daemon, xvfb, tmp_path):  # noqa: F811
    """On a photo in real Krita: line art is a new layer above the source (the result's exact pixels; undo removes it),
    cut-out a transparency mask on the source layer (the matte exactly; undo removes it), upscale a new document at
    twice the size (the result's exact pixels); the source layer stays byte-identical throughout."""
    require_tools(daemon, *IMAGE_TOOLS)
    rgb = astronaut(SIZE)
    picture = tmp_path / "astronaut.bgra"
    picture.write_bytes(np.dstack([rgb[..., ::-1], np.full((SIZE, SIZE), 255, np.uint8)]).tobytes())
    krita = KritaRun(krita_profile, daemon, display=xvfb,
                     spec={"scenario": "imagetools", "capability": "image.lineart", "size": [SIZE, SIZE],
                           "selection": None, "picture": str(picture), "tools": TOOLS})
    try:
        report = krita.report(360)
        assert "error" not in report, report["error"] + krita.tail()
        shape = (SIZE, SIZE, 4)
        before = krita.raw("source_before.bgra", shape)
        assert np.array_equal(before[..., 2::-1], rgb)

        line = report["image.lineart"]
        assert line["message"] == "done: new layer 'image.lineart'"
        assert line["layers"] == ["Background", "image.lineart"] and line["source_children"] == []
        layer = krita.raw("lineart_layer.bgra", shape)
        assert np.array_equal(bgra_to_rgba(layer), krita.raw("lineart_payload.rgba", shape))
        ink = (layer[..., 3] > 0).mean()
        assert 0.01 < ink < 0.6, f"line art covers {ink:.0%} of the picture"
        assert np.all(layer[layer[..., 3] > 0][:, :3] == 0), "lines are black on transparent"
        assert np.array_equal(krita.raw("lineart_source_after.bgra", shape), before)
        assert line["layers_after_undo"] == ["Background"]
        assert np.array_equal(krita.raw("lineart_source_after_undo.bgra", shape), before)

        cut = report["image.cutout"]
        assert cut["message"] == "done: transparency mask 'image.cutout mask'"
        assert cut["layers"] == ["Background"] and cut["source_children"] == [["image.cutout mask", "transparencymask"]]
        mask = krita.raw("cutout_mask.raw", (SIZE, SIZE))
        assert np.array_equal(mask, krita.raw("cutout_payload.gray", (SIZE, SIZE))), "the mask is the matte, unchanged"
        s = SIZE / 512  # the astronaut's face and suit vs the top corners, in the photo's 512-px coordinates
        face, suit = mask[int(90 * s):int(180 * s), int(200 * s):int(280 * s)], mask[int(330 * s):, int(150 * s):int(330 * s)]
        corners = np.concatenate([mask[:12, :12].ravel(), mask[:12, -12:].ravel()])
        assert face.mean() > 200 and suit.mean() > 200 and corners.mean() < 30, (face.mean(), suit.mean(), corners.mean())
        projection = krita.raw("cutout_projection.bgra", shape)
        assert np.abs(projection[..., 3].astype(int) - mask).max() <= 1, "the canvas shows the cut-out"
        assert np.array_equal(krita.raw("cutout_source_after.bgra", shape), before), "the layer's pixels stay"
        assert cut["source_children_after_undo"] == [] and cut["layers_after_undo"] == ["Background"]
        assert np.array_equal(krita.raw("cutout_source_after_undo.bgra", shape), before)

        up = report["image.upscale"]
        assert up["message"] == "done: new document 'image.upscale'"
        assert ["image.upscale", 2 * SIZE, 2 * SIZE] in up["documents"] and len(up["documents"]) == 2
        assert up["layers"] == ["Background"] and up["source_children"] == []
        big = krita.raw("upscale_document.bgra", (2 * SIZE, 2 * SIZE, 4))
        payload = np.frombuffer((krita.out / "upscale_payload.rgba").read_bytes(), np.uint8)
        payload = payload.reshape(2 * SIZE, 2 * SIZE, -1)
        assert np.array_equal(bgra_to_rgba(big)[..., :payload.shape[2]], payload)
        assert np.array_equal(krita.raw("upscale_source_after.bgra", shape), before), "the original is untouched"
        assert krita.finish() == 0
    finally:
        krita.kill()


@pytest.mark.timeout(400)
def test_prompt_box_expands_stops_and_uses_the_result_in_real_krita(krita_profile, tools_daemon, xvfb):  # noqa: F811
    """In real Krita, image.refine's prompt box has Expand beside it: Stop part-way leaves the box as it was; Expand
    streams the growing text into the panel and offers the real model's result (the same as the daemon gives for that
    seed); Use puts it in the box, and Apply sends it as the prompt."""
    require_tools(tools_daemon, "text.expand_prompt", "image.refine")
    krita = KritaRun(krita_profile, tools_daemon, display=xvfb,
                     spec={"scenario": "expand", "capability": "image.refine",
                           "params": {"prompt": PROMPT, "seed": 5, "steps": 2, "preview_every": 0, "strength": 0.5}})
    try:
        report = krita.report(360)
        assert "error" not in report, report["error"] + krita.tail()
        assert report["expand_buttons"] == ["prompt"] and report["prompt_before"] == PROMPT
        assert report["button_while_running"] == "Stop" and report["apply_enabled_while_expanding"]
        stopped = report["stopped"]
        assert stopped["state"] == "cancelled" and "stopped" in stopped["message"]
        assert stopped["prompt"] == PROMPT and not stopped["use_shown"] and stopped["button"] == "Expand"

        done = report["expanded"]
        expanded = done["offered"]
        assert done["state"] == "done" and done["use_shown"] and done["offered_shown"] == expanded
        assert done["params"] == {"prompt": PROMPT, "seed": 5}
        assert expanded.startswith(PROMPT + ",") and len(expanded.split()) > len(PROMPT.split())
        streamed = [s for s in done["streamed"] if s != "expanding…"]  # the panel showed the text as it grew
        assert len(streamed) >= 3 and all(s.startswith("expanding… " + PROMPT + ",") for s in streamed), streamed
        assert len(streamed[-1]) > len(streamed[0]), streamed
        assert expanded == expand_directly(tools_daemon, PROMPT, 5), "the real model's text, as the daemon gives it"

        assert report["prompt_after_use"] == expanded
        applied = report["applied"]
        assert applied["message"] == "done: new layer 'image.refine seed 5'"
        assert applied["params"]["prompt"] == expanded
        assert krita.finish() == 0
    finally:
        krita.kill()
