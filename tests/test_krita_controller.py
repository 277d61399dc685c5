"""The docker's controller against a real daemon, with an in-memory canvas standing in for Krita."""
from __future__ import annotations

import time

import numpy as np
import pytest

from muselink.bridge.values import Bounds
from muselink.core.demo import free_endpoint
from muselink.host_addons import hostspec
from muselink.host_addons.krita.muselink_krita import region
from muselink.host_addons.krita.muselink_krita.controller import Controller
from muselink.host_addons.krita.muselink_krita.layers import plan_layer


class Canvas:
    """A host adapter over a numpy BGRA canvas with a selection; results become 'layers' (dict)."""

    def __init__(self, w=96, h=64):
        yy, xx = np.mgrid[0:h, 0:w]
        self.pixels = np.stack([(xx * 2) % 256, (yy * 4) % 256, (xx + yy) % 256, np.full_like(xx, 255)], -1).astype(np.uint8)
        self.selection = None  # (Bounds, HxW uint8)
        self.layers = {}
        self.applied = []

    def select_ellipse(self, box: Bounds):
        h, w = self.pixels.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        cx, cy = box.x + box.width / 2, box.y + box.height / 2
        inside = ((xx + 0.5 - cx) / (box.width / 2)) ** 2 + ((yy + 0.5 - cy) / (box.height / 2)) ** 2 <= 1
        self.selection = (box, np.where(inside, 255, 0).astype(np.uint8))

    @hostspec.hookimpl
    def muselink_host_info(self):
        return hostspec.HostInfo("canvas", captures=("image", "mask"), applies=("image",))

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        h, w = self.pixels.shape[:2]
        sel_bounds, sel = self.selection or (None, None)
        data = region.capture_region(Bounds(0, 0, w, h), sel_bounds,
                                     lambda x, y, cw, ch: self.pixels[y:y + ch, x:x + cw].tobytes(),
                                     (lambda x, y, cw, ch: sel[y:y + ch, x:x + cw].tobytes()) if sel is not None else None)
        payloads = {"image": data.image}
        if request.wants("mask") and data.mask is not None:
            payloads["mask"] = region.mask_payload(data)
        return hostspec.Capture(payloads=payloads, target=data, description=f"canvas {data.bounds}")

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, output, meta, replace):
        data = capture.target
        plan = plan_layer(meta["capability"], meta["params"], meta, data.bounds, "bg", list(self.layers), meta["live"])
        x, y, w, h = data.bounds
        layer = np.zeros_like(self.pixels) if replace is None else self.layers[replace.name]
        layer[y:y + h, x:x + w] = np.frombuffer(region.result_bgra(output.payload, data.bounds, data.mask),
                                                np.uint8).reshape(h, w, 4)
        self.layers[plan.name] = layer
        self.applied.append((plan.name, replace))
        return hostspec.Applied("layer", plan.name, handle=plan.name)


def pump(ctrl, until, timeout=15.0, max_tick=None):
    """Tick like the Qt timer does until ``until()``; optionally assert no tick blocks."""
    deadline = time.monotonic() + timeout
    worst = 0.0
    while not until():
        assert time.monotonic() < deadline, f"timed out; state: {ctrl.state}"
        t0 = time.perf_counter()
        ctrl.tick()
        worst = max(worst, time.perf_counter() - t0)
        time.sleep(0.02)
    if max_tick is not None:
        assert worst < max_tick, f"a tick blocked for {worst:.3f} s"
    return worst


@pytest.fixture
def make_controller():
    made = []

    def make(endpoint, canvas, **kw):
        ctrl = Controller(hostspec.host_manager(canvas), endpoint=endpoint, name="krita-test", **kw)
        made.append(ctrl)
        return ctrl

    yield make
    for ctrl in made:
        ctrl.close()


def test_connects_and_lists_capabilities(daemon, make_controller):
    """After a few ticks the panel state says connected and lists style.fast with its schema."""
    ctrl = make_controller(daemon, Canvas())
    pump(ctrl, lambda: ctrl.state.connected)
    assert "style.fast" in ctrl.capabilities and ctrl.capabilities["style.fast"]["params"]
    assert "connected to muselink" in ctrl.state.connection_text


def test_apply_puts_a_masked_result_layer_and_leaves_source_alone(daemon, make_controller):
    """style.fast on an elliptical selection: new layer, opaque only inside the selection, source unchanged."""
    canvas = Canvas()
    canvas.select_ellipse(Bounds(20, 10, 50, 40))
    before = canvas.pixels.copy()
    ctrl = make_controller(daemon, canvas)
    pump(ctrl, lambda: ctrl.state.connected)
    assert ctrl.apply("style.fast", {"style": "mosaic", "size": 128}, "layer"), ctrl.state.message
    assert ctrl.state.busy
    pump(ctrl, lambda: not ctrl.state.busy)
    assert not ctrl.state.error, ctrl.state.message
    assert ctrl.state.last_layer == "style.fast" and ctrl.state.progress == 1.0
    layer = canvas.layers["style.fast"]
    sel = np.zeros(canvas.pixels.shape[:2], np.uint8)
    sel[10:50, 20:70] = canvas.selection[1][10:50, 20:70]
    assert np.all(layer[sel == 0][:, 3] == 0)
    inside = layer[sel == 255]
    assert np.all(inside[:, 3] == 255)
    assert np.mean(np.any(inside[:, :3] != before[sel == 255][:, :3], axis=1)) > 0.5  # really stylized
    assert np.array_equal(canvas.pixels, before)


def test_bad_parameter_is_shown_not_raised(daemon, make_controller):
    """An out-of-range value produces an error message in the panel, and nothing is sent."""
    ctrl = make_controller(daemon, Canvas())
    pump(ctrl, lambda: ctrl.state.connected)
    assert not ctrl.apply("style.fast", {"size": 5}, "layer")
    assert ctrl.state.error and "parameter 'size' must be between" in ctrl.state.message
    assert not ctrl.jobs


def test_daemon_down_then_up_reconnects_by_itself(daemon_factory, make_controller):
    """With no daemon the panel says so and refuses Apply; once one starts it connects without help."""
    endpoint = free_endpoint()
    ctrl = make_controller(endpoint, Canvas())
    pump(ctrl, lambda: "not running" in ctrl.state.connection_text, timeout=5, max_tick=0.1)
    assert not ctrl.state.connected
    assert not ctrl.apply("style.fast", {}, "layer") and "not connected" in ctrl.state.message
    daemon_factory(endpoint=endpoint)
    pump(ctrl, lambda: ctrl.state.connected, timeout=20, max_tick=0.5)


def test_daemon_stopped_mid_job_fails_the_job_and_says_disconnected(daemon_factory, make_controller):
    """Killing the daemon during a slow job ends it with a disconnected error; ticks never block."""
    endpoint, proc = daemon_factory()
    ctrl = make_controller(endpoint, Canvas())
    pump(ctrl, lambda: ctrl.state.connected)
    assert ctrl.apply("debug.echo", {"steps": 100, "delay": 0.1}, "layer"), ctrl.state.message
    pump(ctrl, lambda: ctrl.state.progress > 0)
    proc.kill()
    proc.wait(10)
    pump(ctrl, lambda: not ctrl.state.connected and not ctrl.state.busy, timeout=20, max_tick=0.3)
    assert ctrl.state.error and "disconnected" in ctrl.state.message
    assert "disconnected" in ctrl.state.connection_text or "not running" in ctrl.state.connection_text


def test_cancel_stops_the_job(daemon, make_controller):
    """Cancel during a slow job ends it as cancelled and frees the panel."""
    canvas = Canvas()
    ctrl = make_controller(daemon, canvas)
    pump(ctrl, lambda: ctrl.state.connected)
    ctrl.apply("debug.echo", {"steps": 100, "delay": 0.05}, "layer")
    pump(ctrl, lambda: ctrl.state.progress > 0)
    ctrl.cancel()
    pump(ctrl, lambda: not ctrl.state.busy)
    assert ctrl.state.progress_text == "cancelled" and not canvas.layers


def test_live_mode_updates_one_layer_in_place(daemon, make_controller):
    """Live: each settled canvas change re-runs; results replace the same live layer, never stack."""
    canvas = Canvas()
    ctrl = make_controller(daemon, canvas, live_pause=0.05)
    pump(ctrl, lambda: ctrl.state.connected)
    ctrl.set_live(True, lambda: ("style.fast", {"style": "pastel", "size": 64}, "layer"))
    pump(ctrl, lambda: len(canvas.applied) >= 1)
    canvas.pixels[0:8, 0:8] = 0  # the user paints
    pump(ctrl, lambda: len(canvas.applied) >= 2)
    assert list(canvas.layers) == ["style.fast (live)"]
    assert canvas.applied[0][1] is None and canvas.applied[1][1].name == "style.fast (live)"
    n = len(canvas.applied)
    end = time.monotonic() + 1.0
    pump(ctrl, lambda: time.monotonic() > end)
    assert len(canvas.applied) == n  # nothing changed: nothing re-sent
    ctrl.set_live(False)
    assert not ctrl.state.live
