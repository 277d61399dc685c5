"""The same jobs behave the same on local worker processes and on Ray actors (``serve --executor ray``)."""
import time

import numpy as np
import pytest

from muselink.bridge import protocol as P
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.core.demo import free_endpoint, start_daemon, stop_daemon

pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'muselink[ray]'; make test installs it)")
PHOTO = ImageData.from_numpy(np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8))


@pytest.fixture(scope="module", params=["local", "ray"])
def executor_client(request, tmp_path_factory):
    """A daemon on each executor (the Ray one starts and stops its own local Ray), and a client for it."""
    endpoint = free_endpoint()
    proc = start_daemon(endpoint, ["--executor", request.param, "--cancel-grace", "3"],
                        env={"MUSELINK_CONFIG_DIR": str(tmp_path_factory.mktemp("config"))})
    client = Client(endpoint, name=f"on-{request.param}", timeout=30)
    client.hello()
    yield request.param, client
    client.close()
    assert stop_daemon(proc) == 0


def test_style_fast_returns_a_stylized_image_of_the_same_size(executor_client):
    """style.fast through either executor gives an image of the input's size that is not the input."""
    _, client = executor_client
    result = client.run("style.fast", {"image": PHOTO}, {"style": "mosaic", "size": 128}, timeout=120)
    out = result.payloads["image"].to_numpy()
    assert out.shape == (96, 128, 3) and np.abs(out.astype(int) - PHOTO.to_numpy()).mean() > 5


def test_music_continue_answers_with_notes_after_the_input(executor_client):
    """music.continue through either executor returns notes that start after the melody."""
    from muselink.plugins.music.demo import sample_melody

    _, client = executor_client
    melody = sample_melody()
    result = client.run("music.continue", {"notes": melody}, {"bars": 1, "seed": 3}, timeout=120)
    notes = result.payloads["notes"].notes
    assert notes and min(n.start for n in notes) >= max(n.start for n in melody.notes)


def test_texture_synthesis_streams_progress_and_stops_when_cancelled(executor_client):
    """texture.synthesize reports progress with previews and ends `cancelled` soon after cancel; the heavy lane
    then takes the next job."""
    _, client = executor_client
    exemplar = ImageData.from_numpy(np.ascontiguousarray(PHOTO.to_numpy()[:64, :64]))
    handle = client.submit("texture.synthesize", {"image": exemplar}, {"width": 64, "height": 64, "iterations": 2000})
    deadline = time.monotonic() + 180
    while sum(isinstance(e, P.Progress) for e in handle.events) < 3 and time.monotonic() < deadline and not handle.done:
        client.poll(0.1)
    assert sum(isinstance(e, P.Progress) for e in handle.events) >= 3, handle.events[-1:]
    client.cancel(handle.id)
    started = time.monotonic()
    assert isinstance(client.wait(handle, 30), P.Cancelled)
    assert time.monotonic() - started < 5
    assert isinstance(client.run("debug.work", {"image": PHOTO}, {"steps": 1}, timeout=60), P.Result)


def test_a_crashing_worker_ends_only_its_job(executor_client):
    """A segfault in a heavy-lane job ends it with worker_crashed; an interactive job meanwhile is unaffected."""
    _, client = executor_client
    other = client.submit("debug.echo", {"image": PHOTO}, {"steps": 5, "delay": 0.1})
    reply = client.wait(client.submit("debug.crash", {}, {"mode": "segfault"}), 60)
    assert isinstance(reply, P.Error) and reply.code == "worker_crashed" and "debug.crash" in reply.message
    assert isinstance(client.wait(other, 30), P.Result)
    assert isinstance(client.run("debug.work", {"image": PHOTO}, {"steps": 1}, timeout=120), P.Result)
