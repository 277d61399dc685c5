"""The image tools through a real ``muselink serve`` subprocess: schemas, progress per tile, cancel between
tiles, models loaded once, both cut-out outputs, and clear errors for bad requests."""
from __future__ import annotations

import time

import numpy as np
import pytest

from imagetools_support import photo, require
from muselink.bridge import protocol as P
from muselink.bridge.client import JobFailed
from muselink.bridge.payloads import ImageData

pytestmark = pytest.mark.usefixtures("tools_available")


@pytest.fixture(scope="module")
def tools_available():
    for name in ("image.upscale", "image.cutout", "image.lineart"):
        require(name)


def test_capabilities_declare_lanes_and_outputs_by_kind(shared_client):
    """upscale and lineart are heavy, cutout runs in the image lane; outputs say where a host puts them: upscale a
    new document, lineart a layer, cutout a mask (its RGBA picture is a file for the CLI)."""
    caps = {c["name"]: c for c in shared_client.status().capabilities}
    assert (caps["image.upscale"]["lane"], caps["image.cutout"]["lane"], caps["image.lineart"]["lane"]) == \
        ("heavy", "image", "heavy")
    kinds = {name: [(o.name, o.kind) for o in caps[name].outputs] for name in caps}
    assert kinds["image.upscale"] == [("image", "document")] and kinds["image.lineart"] == [("image", "image")]
    assert kinds["image.cutout"] == [("image", "file"), ("mask", "mask")]
    assert all(caps[n]["available"] for n in ("image.upscale", "image.cutout", "image.lineart"))
    assert [i["kind"] for i in caps["image.upscale"]["inputs"]] == ["image", "mask"]


def test_upscale_reports_every_tile_and_the_second_job_reuses_the_loaded_model(shared_client):
    """Progress arrives once per tile (step i of n); the result is exactly 2x; the network loads once for two jobs."""
    image = ImageData.from_numpy(np.ascontiguousarray(photo("coffee")[:80, :100]))
    events = []
    result = shared_client.run("image.upscale", {"image": image}, {"tile": 32}, timeout=120, on_event=events.append)
    steps = [(e.step, e.total) for e in events if isinstance(e, P.Progress) and e.total]
    assert steps == [(i, 12) for i in range(1, 13)]  # 3 rows x 4 columns of tiles
    out = result.payloads["image"]
    assert (out.width, out.height, out.channels) == (200, 160, 3)
    assert result.meta["runtime"] == "ncnn" and len(result.meta["model_hash"]) == 16
    shared_client.run("image.upscale", {"image": image}, {"tile": 64}, timeout=120)
    loads = shared_client.status().plugins["models"]["loads"]
    assert loads["esrgan:fast:ncnn:cpu"] == 1


def test_cancel_stops_an_upscale_between_tiles(shared_client):
    """Cancelling after the second tile ends the job as `cancelled` within a tile or two, long before the last."""
    image = ImageData.from_numpy(np.ascontiguousarray(photo("astronaut")[:256, :256]))
    handle = shared_client.submit("image.upscale", {"image": image}, {"tile": 32, "scale": 4})
    deadline = time.monotonic() + 120
    while (handle.progress() is None or handle.progress().step < 2) and time.monotonic() < deadline:
        assert not handle.done, handle.terminal
        shared_client.poll(0.05)
    at_cancel = handle.progress().step
    shared_client.cancel(handle.id)
    reply = shared_client.wait(handle, 60)
    assert isinstance(reply, P.Cancelled), reply
    assert handle.progress().step <= at_cancel + 2 < 64


def test_cutout_returns_the_rgba_cutout_and_its_one_channel_mask(shared_client):
    """Two payloads: `image` (RGBA, alpha = matte) and `mask` (1 channel), both at the input's size."""
    rgb = np.ascontiguousarray(photo("astronaut")[::2, ::2])
    result = shared_client.run("image.cutout", {"image": ImageData.from_numpy(rgb)}, {"model": "portrait"}, timeout=60)
    cut, mask = result.payloads["image"].to_numpy(), result.payloads["mask"].to_numpy()
    assert cut.shape == (256, 256, 4) and mask.shape == (256, 256, 1)
    assert np.array_equal(cut[:, :, 3], mask[:, :, 0]) and np.array_equal(cut[:, :, :3], rgb)
    assert 0.2 < result.meta["foreground_fraction"] < 0.8


def test_lineart_through_the_daemon_is_lines_on_transparent(shared_client):
    """RGBA at the input's size, mostly transparent, with some fully inked pixels."""
    rgb = ImageData.from_numpy(np.ascontiguousarray(photo("camera")[::2, ::2]))
    result = shared_client.run("image.lineart", {"image": rgb}, {"thickness": 2}, timeout=120)
    out = result.payloads["image"].to_numpy()
    assert out.shape == (256, 256, 4)
    assert 0.01 < (out[:, :, 3] == 255).mean() < 0.3


@pytest.mark.parametrize(("capability", "params", "inputs", "match"), [
    ("image.upscale", {"scale": 5}, {}, "bad_parameter: parameter 'scale' must be between 2 and 4"),
    ("image.upscale", {"model": "dream"}, {}, "parameter 'model' must be one of fast, photo, art"),
    ("image.upscale", {"tile": 16}, {}, "parameter 'tile' must be 0 \\(automatic\\) or at least 32"),
    ("image.upscale", {}, {"mask": np.zeros((10, 10, 1), np.uint8) + 255}, "input 'mask' is 10x10 but the image is 48x40"),
    ("image.cutout", {"feather": -1}, {}, "parameter 'feather' must be between"),
    ("image.lineart", {"color": "blue"}, {}, "parameter 'color' must be #rrggbb"),
    ("image.lineart", {"thickness": "wide"}, {}, "parameter 'thickness' must be a number"),
])
def test_bad_requests_get_clear_errors_and_the_daemon_keeps_serving(shared_client, capability, params, inputs, match):
    """Each bad parameter or input is an error naming it; a good job right after still works."""
    image = ImageData.from_numpy(np.ascontiguousarray(photo("coffee")[:40, :48]))
    payloads = {"image": image, **{k: ImageData.from_numpy(v) for k, v in inputs.items()}}
    with pytest.raises(JobFailed, match=match):
        shared_client.run(capability, payloads, params, timeout=60)
    assert shared_client.run("image.cutout", {"image": image}, timeout=60).payloads["mask"].channels == 1
