"""The VGG capabilities through a real ``muselink serve`` subprocess: previews, provenance, cancel."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("torch")

from muselink.bridge import protocol as P  # noqa: E402
from muselink.bridge.payloads import ImageData  # noqa: E402
from vgg_support import picture  # noqa: E402


@pytest.fixture
def vgg_daemon(daemon_factory, tmp_path):
    endpoint, _ = daemon_factory(env={"MUSELINK_CACHE_DIR": str(tmp_path / "cache")})
    return endpoint


def test_texture_job_streams_previews_and_returns_provenance_and_losses(vgg_daemon, client_factory):
    """A small texture job reports every iteration with previews and ends with seed, model hash and losses."""
    client = client_factory(vgg_daemon, timeout=30)
    client.hello()
    caps = {c["name"]: c for c in client.status().capabilities}
    assert caps["texture.synthesize"]["lane"] == "heavy" and caps["style.optimize"]["available"]
    params = {"width": 64, "height": 48, "tiling": "x", "seed": 11, "iterations": 4, "scales": 1,
              "exemplar_size": 96, "preview_every": 2}
    events = []
    result = client.run("texture.synthesize", {"image": ImageData.from_numpy(picture("gravel"))}, params,
                        timeout=240, on_event=events.append)
    progress = [e for e in events if isinstance(e, P.Progress)]
    assert [e.step for e in progress] == [0, 1, 2, 3, 4]
    previews = [e.payloads["preview"] for e in progress if "preview" in e.payloads]
    assert len(previews) == 2 and previews[0].channels == 3  # at iterations 2 and 4
    image = result.payloads["image"]
    assert (image.width, image.height) == (64, 48)
    meta = result.meta
    assert meta["capability"] == "texture.synthesize" and meta["seed"] == 11 and meta["tiling"] == "x"
    assert len(meta["model_hash"]) == 16 and meta["params"]["width"] == 64
    assert meta["evaluation"]["style_loss"] < meta["evaluation"]["start"]["style"]


def test_cancel_stops_a_running_synthesis_within_one_iteration(vgg_daemon, client_factory):
    """Cancelling mid-run ends the job as `cancelled` no more than one iteration after the request."""
    client = client_factory(vgg_daemon, timeout=30)
    client.hello()
    handle = client.submit("texture.synthesize", {"image": ImageData.from_numpy(picture("brick", 128))},
                           {"width": 96, "height": 96, "iterations": 500, "scales": 1, "preview_every": 0})
    deadline = time.monotonic() + 240
    while (handle.progress() is None or handle.progress().step < 2) and time.monotonic() < deadline:
        assert not handle.done, handle.terminal
        client.poll(0.1)
    steps_at_cancel = handle.progress().step
    client.cancel(handle.id)
    reply = client.wait(handle, 120)
    assert isinstance(reply, P.Cancelled), reply
    last = handle.progress()
    assert last.step <= steps_at_cancel + 2 and last.total == 500  # at most the iteration in flight (+1 in transit)
