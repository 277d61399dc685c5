"""A third-party plugin (tests/thirdparty, pip-installed, loaded through the entry point) works everywhere:
every parameter type reaches every form, every output kind is routed to its host applier, the CLI reads
its inputs by the schema. The real Krita and Blender runs are in test_krita_e2e.py / test_blender_e2e.py."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.bridge.schema import PARAM_TYPES
from muselink.bridge.session import Session
from muselink.host_addons import hostspec
from muselink.host_addons.blender import form as blender_form
from muselink.host_addons.krita.muselink_krita import form as krita_form

VALUES = {"amount": 0.5, "shift": 60, "label": "hello", "invert": True, "channel": "green", "seed": 7,
          "note": "a\nlonger note", "mix": "green:0.5,red:1"}


def picture(w=8, h=6):
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 200, 255
    return ImageData.from_numpy(rgba)


class EveryKind:
    """A host that captures a picture and places every output kind, recording what it got."""

    def __init__(self):
        self.placed = []

    @hostspec.hookimpl
    def muselink_host_info(self):
        return hostspec.HostInfo("every", captures=("image", "mask"), applies=("image", "document", "mask", "text"))

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        wanted = request.wants("image")
        return hostspec.Capture({wanted.name: picture()} if wanted else {}, target="canvas")

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, output, meta, replace):
        self.placed.append((output.kind, output.name, output.text() if output.kind == "text" else output.payload, meta))
        return hostspec.Applied(output.kind, output.name)


def specs(endpoint):
    with Client(endpoint, name="t", timeout=10) as client:
        return {c.name: c for c in client.hello().capabilities}


def test_third_party_capabilities_arrive_typed_with_every_parameter_type(thirdparty_daemon):
    """status lists the entry-point plugin's capabilities with typed specs: every parameter type, standard output kinds."""
    caps = specs(thirdparty_daemon)
    tint = caps["test.tint"]
    assert sorted(p.type for p in tint.params) == sorted(PARAM_TYPES)
    assert [(o.name, o.kind) for o in tint.outputs] == [("image", "image"), ("mask", "mask")]
    assert [(o.name, o.kind) for o in caps["test.double"].outputs] == [("image", "document"), ("prompt", "text")]


def test_every_parameter_type_has_a_krita_widget_and_a_blender_property(thirdparty_daemon):
    """Each type maps to a widget in Krita and a property in Blender, and both hosts list the capability."""
    tint = specs(thirdparty_daemon)["test.tint"]
    widgets = {f.name: f.widget for f in krita_form.form_for(tint)}
    assert widgets == {"amount": "slider", "shift": "spin", "label": "line", "invert": "check", "channel": "choice",
                       "seed": "seed", "note": "text", "mix": "weights"}
    props = {p.param: p.kind for p in blender_form.property_specs(tint.params)}
    assert props == {"amount": "float", "shift": "int", "label": "string", "invert": "bool", "channel": "enum",
                     "seed": "int", "note": "string", "mix": "string"}
    assert krita_form.usable(tint) == (True, "")
    assert tint in blender_form.stylize_choices([tint])
    values = {**VALUES, "amount": krita_form.form_for(tint)[0].from_slider(500)}
    assert krita_form.params_from_values(krita_form.form_for(tint), values)["mix"] == {"green": 0.5, "red": 1.0}


def run(session, capability, params, timeout=20.0):
    from muselink.bridge.host import CaptureRequest

    deadline = time.monotonic() + timeout
    while not session.connected:
        assert time.monotonic() < deadline, session.connection_text
        session.tick()
        time.sleep(0.02)
    job = session.start(CaptureRequest(capability), params)
    while job.outcome is None:
        assert time.monotonic() < deadline, job.describe()
        session.tick()
        time.sleep(0.02)
    return job.outcome


def test_session_routes_each_output_to_its_kind(thirdparty_daemon):
    """image → the image applier, mask → the mask applier, document and text likewise, each exactly once,
    with the job's provenance; the tint is the exact function of every parameter sent."""
    host = EveryKind()
    session = Session(hostspec.host_manager(host), endpoint=thirdparty_daemon, name="every")
    try:
        outcome = run(session, "test.tint", VALUES)
        assert outcome.ok and [a.kind for a in outcome.applied] == ["image", "mask"]
        (_, _, image, meta), (_, _, mask, _) = host.placed
        assert image.to_numpy()[0, 0].tolist() == [0, 200 - 15, 0, 255]  # green - round(60 * 0.5 * 0.5)
        assert mask.to_numpy().shape == (6, 8, 1) and meta["capability"] == "test.tint"
        assert meta["seen"] == {"label": "hello", "note": "a\nlonger note", "delta": -15, "seed": 7}
        host.placed.clear()
        outcome = run(session, "test.double", {"prompt": "big"})
        assert [a.kind for a in outcome.applied] == ["document", "text"]
        assert host.placed[0][2].to_numpy().shape == (12, 16, 4) and host.placed[1][2] == "big at 16x12"
    finally:
        session.close()


def test_hosts_list_only_what_they_can_capture_and_place(thirdparty_daemon):
    """The MIDI bridge cannot send a picture; a host placing only images has no place for a document or text."""
    caps = specs(thirdparty_daemon)
    assert caps["test.tint"].usable_by(("notes",), ("notes",), "the MIDI bridge") == \
        "needs input(s) the MIDI bridge cannot send: image"
    assert caps["test.double"].usable_by(("image",), ("image",), "the host") == \
        "its result (document, text) has no place in the host"


def test_cli_reads_inputs_by_the_schema_and_writes_every_output(thirdparty_daemon, tmp_path):
    """`muselink run` sends -i as the capability's image input and writes the image, its mask beside it."""
    Image.fromarray(picture().to_numpy()).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, "-m", "muselink.core.cli", "run", "test.tint", "--endpoint", thirdparty_daemon,
                           "-i", f"image={tmp_path / 'in.png'}", "-o", str(out), "-q", "-p", "shift=10", "-p", "amount=1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert np.asarray(img)[0, 0].tolist() == [10, 200, 0, 255]
        assert json.loads(img.text["muselink"])["params"]["shift"] == 10 and "Capability: test.tint" in img.text["parameters"]
    assert (tmp_path / "out.mask.png").exists()
