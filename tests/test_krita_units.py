"""Krita add-on logic without Krita: region/mask maths, layer placement, schema → form, live timing, installer."""
from __future__ import annotations

import random

import numpy as np
import pytest

from muselink.bridge import live
from muselink.bridge.payloads import ImageData
from muselink.bridge.schema import CapabilitySpec
from muselink.bridge.values import Bounds
from muselink.host_addons.krita.muselink_krita import form, layers, region
from muselink.plugins.hosts import krita_installer as installer

CANVAS = Bounds(0, 0, 64, 48)


def bgra_canvas(w=64, h=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 4), dtype=np.uint8)


def reader(array):
    def read(x, y, w, h):
        return array[y:y + h, x:x + w].tobytes()
    return read


# ---- region ----------------------------------------------------------------------------------

def test_capture_bounds_is_selection_clipped_to_canvas():
    """A selection hanging over the edge is clipped; no selection means the whole canvas."""
    assert region.capture_bounds(CANVAS, Bounds(50, 40, 30, 30)) == Bounds(50, 40, 14, 8)
    assert region.capture_bounds(CANVAS, None) == CANVAS


def test_capture_bounds_outside_canvas_is_a_clear_error():
    """A selection entirely off the canvas raises ValueError saying so."""
    with pytest.raises(ValueError, match="outside the canvas"):
        region.capture_bounds(CANVAS, Bounds(100, 100, 10, 10))


def test_capture_region_converts_bgra_to_rgba_and_crops():
    """The image payload is the selection's bounding box in RGBA order with its 1-byte mask."""
    canvas = bgra_canvas()
    sel = np.zeros((48, 64), np.uint8)
    sel[10:20, 5:30] = 255
    data = region.capture_region(CANVAS, Bounds(5, 10, 25, 10), reader(canvas), reader(sel[:, :, None]))
    assert data.bounds == Bounds(5, 10, 25, 10)
    rgba = data.image.to_numpy()
    crop = canvas[10:20, 5:30]
    assert np.array_equal(rgba[..., 0], crop[..., 2]) and np.array_equal(rgba[..., 2], crop[..., 0])
    assert np.array_equal(rgba[..., 1::2], crop[..., 1::2])
    assert data.mask == b"\xff" * 250
    mask = region.mask_payload(data)
    assert (mask.width, mask.height, mask.channels) == (25, 10, 1)


def test_capture_region_refuses_wrong_byte_count():
    """Pixel data that is not 8-bit BGRA (e.g. 16-bit) is refused, not misread."""
    with pytest.raises(ValueError, match="8-bit BGRA"):
        region.capture_region(CANVAS, None, lambda x, y, w, h: bytes(w * h * 8))


def test_color_space_other_than_rgba8_is_refused_with_a_fix():
    """Grayscale or 16-bit documents get a message naming the model and how to convert."""
    region.check_color_space("RGBA", "U8")
    with pytest.raises(ValueError, match="GRAYA U16.*Convert Image Color Space"):
        region.check_color_space("GRAYA", "U16")


def test_swap_red_blue_round_trips():
    """BGRA → RGBA → BGRA gives the original bytes."""
    data = bytes(range(256)) * 4
    once = region.swap_red_blue(data)
    assert once[:4] == bytes((2, 1, 0, 3)) and bytes(region.swap_red_blue(once)) == data


@pytest.mark.parametrize("use_numpy", [True, False])
def test_mask_multiplies_alpha_and_clears_outside(monkeypatch, use_numpy):
    """Alpha becomes alpha*mask/255: 0 outside the selection, untouched inside, scaled on soft edges."""
    if not use_numpy:
        monkeypatch.setattr(region, "_np", None)
    rgba = bytearray(bytes((9, 9, 9, 200)) * 3)
    out = region.apply_mask_to_alpha(rgba, bytes((0, 255, 128)))
    assert list(out[3::4]) == [0, 200, 100]
    assert list(out[0::4]) == [9, 9, 9]


def test_result_bgra_fits_bounds_and_masks():
    """An RGB result of another size is resized to the region, turned BGRA and masked."""
    result = ImageData.from_numpy(np.full((4, 4, 3), (10, 20, 30), np.uint8))
    mask = bytes([255, 0] * 8)
    out = np.frombuffer(region.result_bgra(result, Bounds(0, 0, 4, 4), mask), np.uint8).reshape(4, 4, 4)
    assert out[0, 0].tolist() == [30, 20, 10, 255]
    assert out[0, 1, 3] == 0
    big = ImageData.from_numpy(np.zeros((8, 8, 4), np.uint8))
    assert len(region.result_bgra(big, Bounds(3, 3, 4, 2), None)) == 4 * 2 * 4


def test_as_rgba8_handles_gray_rgb_and_16bit():
    """Gray, gray+alpha, RGB and 16-bit results all become RGBA8."""
    gray = ImageData.from_numpy(np.array([[7]], np.uint8))
    assert region.as_rgba8(gray) == bytes((7, 7, 7, 255))
    ga = ImageData.from_numpy(np.array([[[7, 100]]], np.uint8))
    assert region.as_rgba8(ga) == bytes((7, 7, 7, 100))
    deep = ImageData.from_numpy(np.array([[[0xFF00, 0x1000, 0, 0xFFFF]]], np.uint16))
    assert region.as_rgba8(deep) == bytes((0xFF, 0x10, 0, 0xFF))
    with pytest.raises(ValueError, match="float32"):
        region.as_rgba8(ImageData.from_numpy(np.zeros((1, 1, 4), np.float32)))


def test_empty_selection_inside_bounds_is_refused():
    """A selection mask with no selected pixel is a clear error, not an empty job."""
    with pytest.raises(ValueError, match="selection is empty"):
        region.capture_region(CANVAS, Bounds(0, 0, 4, 4), reader(bgra_canvas()), lambda x, y, w, h: bytes(w * h))


# ---- layers ----------------------------------------------------------------------------------

def test_layer_name_uses_capability_and_seed():
    """Results are named after the capability and seed; repeats get a number; live ends in (live)."""
    assert layers.layer_name("style.fast", {"style": "mosaic"}, {}) == "style.fast"
    assert layers.layer_name("diffusion.img2img", {"seed": 42}, {}) == "diffusion.img2img seed 42"
    assert layers.layer_name("x", {"seed": 1}, {"seed": 7}, live=True) == "x seed 7 (live)"
    assert layers.unique_name("style.fast", ["style.fast", "style.fast #2"]) == "style.fast #3"


def test_plan_layer_goes_above_source_at_bounds():
    """A placement keeps the region and the node it goes above; live layers keep their fixed name."""
    plan = layers.plan_layer("style.fast", {}, {}, Bounds(1, 2, 3, 4), "src", ["style.fast (live)"], live=True)
    assert plan == layers.Placement("style.fast (live)", Bounds(1, 2, 3, 4), "src")


# ---- form ------------------------------------------------------------------------------------

def spec(data):
    """A capability's JSON schema (as in the daemon's status) read as the typed spec hosts use."""
    return CapabilitySpec.from_json({"name": "demo", **data})


SCHEMA_JSON = {"name": "demo", "params": [
    {"name": "strength", "type": "float", "default": 0.5, "min": 0.0, "max": 2.0, "help": "h"},
    {"name": "steps", "type": "int", "default": 20, "min": 1, "max": 50},
    {"name": "seed", "type": "seed", "default": None},
    {"name": "prompt", "type": "text", "default": None},
    {"name": "style", "type": "choice", "default": "a", "choices": ["a", "b"]},
    {"name": "flip", "type": "bool", "default": False},
    {"name": "weights", "type": "weights", "default": None, "choices": ["a", "b"]},
], "inputs": [{"name": "image", "kind": "image", "required": True}, {"name": "mask", "kind": "mask", "required": False}],
    "available": True}
SCHEMA = spec(SCHEMA_JSON)


def test_schema_becomes_matching_widgets():
    """Each parameter type maps to its widget: slider, spin box, seed box, prompt box, picker, check, blend."""
    fields = form.form_for(SCHEMA)
    assert [f.widget for f in fields] == ["slider", "spin", "seed", "text", "choice", "check", "weights"]
    assert fields[2].default == form.RANDOM_SEED and fields[3].default == ""
    assert fields[0].label == "Strength" and fields[0].help == "h"


def test_slider_positions_round_trip_to_values():
    """A float slider maps [min, max] onto 0..1000 and back."""
    field = form.form_for(SCHEMA)[0]
    assert field.to_slider(0.5) == 250 and field.from_slider(250) == 0.5
    assert field.from_slider(form.SLIDER_STEPS) == 2.0


def test_params_from_values_checks_ranges_and_draws_a_seed():
    """Values become params; out-of-range numbers name the parameter; a random seed becomes a number."""
    fields = form.form_for(SCHEMA)
    values = {"strength": 1.5, "steps": "30", "seed": -1, "prompt": "a cat", "style": "b", "flip": 1, "weights": " "}
    params = form.params_from_values(fields, values, random.Random(3))
    assert params["steps"] == 30 and params["flip"] is True and params["style"] == "b"
    assert isinstance(params["seed"], int) and params["seed"] >= 0 and "weights" not in params
    with pytest.raises(ValueError, match="parameter 'steps' must be between 1 and 50"):
        form.params_from_values(fields, {"steps": 99})
    with pytest.raises(ValueError, match="parameter 'style' must be one of a, b"):
        form.params_from_values(fields, {"style": "z"})


def test_usable_explains_what_the_docker_cannot_send():
    """Capabilities without an image input or needing other inputs are listed as unusable with a reason."""
    assert form.usable(SCHEMA) == (True, "")
    assert form.takes_mask(SCHEMA)
    style_arb = spec({**SCHEMA_JSON, "inputs": SCHEMA_JSON["inputs"] + [{"name": "style", "kind": "image", "required": True}]})
    assert form.usable(style_arb) == (False, "needs input(s) the docker cannot send: style")
    assert form.usable(spec({"inputs": [{"name": "notes", "kind": "notes"}]}))[0] is False
    assert form.usable(spec({**SCHEMA_JSON, "available": False, "unavailable_reason": "no weights"})) == (False, "no weights")


# ---- live ------------------------------------------------------------------------------------

def test_live_waits_for_a_pause_then_fires_once():
    """A change fires only after `pause` s of stillness, and the same picture is not sent twice."""
    s = live.LiveScheduler(pause=0.5)
    s.observe("a", 0.0)
    assert not s.due(0.3)
    s.observe("b", 0.3)  # still painting: the pause restarts
    assert not s.due(0.7) and s.due(0.81)
    seq = s.sent()
    s.observe("b", 2.0)
    assert not s.due(3.0)
    assert s.finished(seq, True)


def test_live_latest_wins_and_in_flight_is_bounded():
    """At most two requests are in flight; an older result arriving after a newer one is dropped."""
    s = live.LiveScheduler(pause=0.0)
    s.observe("a", 0)
    first = s.sent()
    s.observe("b", 1)
    second = s.sent()
    s.observe("c", 2)
    assert not s.due(3)  # two in flight: wait
    assert s.finished(second, True)
    assert not s.finished(first, True)  # stale: the newer one is already shown
    assert s.due(3)


# ---- installer -------------------------------------------------------------------------------

def test_kritarc_enable_flag_is_added_replaced_and_removed():
    """The [python] enable key is set without touching other lines, and removed cleanly."""
    text = "[General]\nfoo=1\n\n[python]\nenable_other=true\n\n[Zoom]\nz=2\n"
    on = installer.set_ini_key(text, "python", "enable_muselink_krita", "true")
    assert "enable_other=true\nenable_muselink_krita=true\n\n[Zoom]" in on
    assert installer.set_ini_key(on.replace("=true\n\n[Zoom]", "=false\n\n[Zoom]"), "python",
                                 "enable_muselink_krita", "true").count("enable_muselink_krita=true") == 1
    assert installer.remove_ini_key(on, "python", "enable_muselink_krita") == text
    assert installer.set_ini_key("", "python", "k", "v") == "[python]\nk=v\n"


def test_detects_the_python_krita_links(tmp_path, monkeypatch):
    """The version comes from the libpython that Krita's Python plugin links (Debian: 3.11)."""
    monkeypatch.delenv("MUSELINK_KRITA_PYTHON", raising=False)
    exe = tmp_path / "bin" / "krita"
    lib = tmp_path / "lib" / "x86_64-linux-gnu" / "kritaplugins" / "kritapykrita.so"
    for p in (exe, lib):
        p.parent.mkdir(parents=True)
    exe.write_bytes(b"\x7fELF binary")
    lib.write_bytes(b"\x7fELF...libpython3.10.so.1.0\x00...")
    version, how = installer.detect_krita_python(str(exe))
    assert version == "3.10" and "kritapykrita" in how
    monkeypatch.setenv("MUSELINK_KRITA_PYTHON", "3.12")
    assert installer.detect_krita_python(str(exe))[0] == "3.12"


def test_undetectable_krita_python_is_a_clear_error(tmp_path, monkeypatch):
    """An AppImage or an unknown layout asks for MUSELINK_KRITA_PYTHON instead of guessing."""
    monkeypatch.delenv("MUSELINK_KRITA_PYTHON", raising=False)
    app = tmp_path / "krita-5.2.AppImage"
    app.write_bytes(b"x")
    with pytest.raises(installer.InstallError, match="AppImage"):
        installer.detect_krita_python(str(app))
    plain = tmp_path / "bin" / "krita"
    plain.parent.mkdir()
    plain.write_bytes(b"no python here")
    with pytest.raises(installer.InstallError, match="MUSELINK_KRITA_PYTHON"):
        installer.detect_krita_python(str(plain))
