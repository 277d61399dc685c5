"""End-to-end test driver, active only when ``MUSELINK_KRITA_DRIVER`` names a JSON spec.

Once Krita's window is up it makes a document and a selection, then works the docker's own
widgets (capability picker, parameter editors, Apply) exactly as a user would, waits on the
panel's state without blocking the event loop, and writes a JSON report, raw pixel dumps and a
screenshot for the test to judge. It receives the Krita API objects; it does not import ``krita``.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import NamedTuple
from collections.abc import Callable

from PyQt5.QtCore import Qt, QTimer

from .driver_tools import SCENARIOS


_ACTIVE: list = []


class Api(NamedTuple):
    krita: object
    selection: type
    dockers: list
    close: Callable[[], None]


def gradient_bgra(width: int, height: int) -> bytes:
    """A colourful test picture (BGRA): diagonal bands, so style changes show."""
    out = bytearray(width * height * 4)
    for y in range(height):
        for x in range(width):
            i = (y * width + x) * 4
            out[i:i + 4] = bytes((((x * 3 + y) // 2) % 256, (y * 255) // max(1, height - 1),
                                  (x * 255) // max(1, width - 1), 255))
    return bytes(out)


def ellipse_mask(width: int, height: int, box: tuple) -> bytes:
    bx, by, bw, bh = box
    cx, cy, rx, ry = bx + bw / 2, by + bh / 2, bw / 2, bh / 2
    return bytes(255 if ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1 else 0
                 for y in range(height) for x in range(width))


def set_editor(editor, value) -> None:
    name = type(editor).__name__
    if name == "QComboBox":
        editor.setCurrentIndex(editor.findText(str(value)))
    elif name == "QSpinBox":
        editor.setValue(int(value))
    elif name == "QCheckBox":
        editor.setChecked(bool(value))
    elif name == "QSlider":
        editor.setValue(int(value))
    elif name == "QPlainTextEdit":
        editor.setPlainText(str(value))
    else:
        editor.setText(str(value))


class Driver:
    def __init__(self, api: Api, spec: dict):
        self.api, self.spec = api, spec
        self.out = spec["out"]
        self.report = {"scenario": spec["scenario"], "steps": []}
        self.script = self.run()
        self.wait_until = None
        self.deadline = None
        self.last_tick = None
        self.max_gap = 0.0
        self.wire = None  # what this Krita's client sent and received (tap_wire)
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.tick)

    def note(self, text: str) -> None:
        self.report["steps"].append(f"{time.monotonic():.2f} {text}")

    def tick(self) -> None:
        now = time.monotonic()
        if self.last_tick is not None and self.report.get("measure_gaps"):
            self.max_gap = max(self.max_gap, now - self.last_tick)
        self.last_tick = now
        try:
            if self.wait_until is not None:
                what, check = self.wait_until
                if not check():
                    if now > self.deadline:
                        raise TimeoutError(f"timed out waiting for {what}")
                    return
                self.note(f"ok: {what}")
                self.wait_until = None
            step = next(self.script)
            what, timeout, check = step
            self.wait_until, self.deadline = (what, check), now + timeout
        except StopIteration:
            self.finish()
        except Exception:
            self.report["error"] = traceback.format_exc()
            self.finish()

    def finish(self) -> None:
        self.timer.stop()
        self.report["max_event_gap_s"] = round(self.max_gap, 3)
        if self.wire is not None:
            client = self.panel.controller.client
            self.wire.update(stray_replies=client.stray_replies, protocol_errors=client.protocol_errors)
            self.report["wire"] = self.wire
        try:
            if not self.report.get("screenshot"):
                self.screenshot()
        except Exception:
            self.report.setdefault("error", traceback.format_exc())
        with open(os.path.join(self.out, "report.json"), "w") as fh:
            json.dump(self.report, fh, indent=1, default=str)
        QTimer.singleShot(300, self.api.close)

    def screenshot(self) -> None:
        window = self.api.krita.activeWindow()
        if window is not None:
            path = os.path.join(self.out, "krita-docker.png")
            self.report["screenshot"] = path if window.qwindow().grab().save(path) else None

    def dump(self, name: str, data) -> None:
        with open(os.path.join(self.out, name), "wb") as fh:
            fh.write(bytes(data))

    def panel_state(self) -> dict:
        panel = self.panel
        s = panel.controller.state
        return {"connected": s.connected, "connection_text": panel.connection.text(), "busy": s.busy,
                "progress": panel.progress.value(), "progress_text": panel.progress_label.text(),
                "message": panel.message.text(), "apply_enabled": panel.apply_button.isEnabled(),
                "cancel_enabled": panel.cancel_button.isEnabled(), "capability": panel.current_capability()}

    # ---- the scenario ------------------------------------------------------------------------
    def run(self):
        spec, app = self.spec, self.api.krita
        yield "the muselink docker", 60, lambda: bool(self.api.dockers) and app.activeWindow() is not None
        docker = self.api.dockers[0]
        for other in app.dockers():  # room for the docker in the screenshot
            if other.objectName() not in (docker.objectName(), "KisLayerBox"):
                other.hide()
        docker.show()
        docker.raise_()
        main = app.activeWindow().qwindow()
        main.setGeometry(0, 0, 1280, 800)  # Xvfb has no window manager to maximise it
        layer_box = [d for d in app.dockers() if d.objectName() == "KisLayerBox"]
        if layer_box:
            main.resizeDocks([layer_box[0], docker], [170, 560], Qt.Vertical)
        self.panel = self.docker_panel = docker.panel
        width, height = spec.get("size", (320, 240))
        doc = app.createDocument(width, height, "muselink-test", "RGBA", "U8", "", 72.0)
        app.activeWindow().addView(doc)
        source = doc.rootNode().childNodes()[0]
        picture = spec.get("picture")  # a raw BGRA file of width x height, else a gradient
        source.setPixelData(open(picture, "rb").read() if picture else gradient_bgra(width, height), 0, 0, width, height)
        doc.setActiveNode(source)
        box = spec.get("selection", (80, 60, 160, 120))  # null: nothing selected (the whole canvas is sent)
        if box is not None:
            selection = self.api.selection()
            selection.setPixelData(ellipse_mask(width, height, tuple(box)), 0, 0, width, height)
            doc.setSelection(selection)
        doc.refreshProjection()
        doc.waitForDone()
        yield "the document", 20, lambda: app.activeDocument() is not None
        sel = doc.selection()
        self.report.update(size=[width, height], source_name=source.name(),
                           selection_bounds=[sel.x(), sel.y(), sel.width(), sel.height()] if sel else None)
        self.dump("selection.raw", sel.pixelData(0, 0, width, height) if sel else b"")
        self.dump("source_before.bgra", source.pixelData(0, 0, width, height))
        capability = spec["capability"]
        yield f"connected with {capability} listed", 60, \
            lambda: self.panel.controller.state.connected and self.panel.capability.findData(capability) >= 0
        self.report["panel_connected"] = self.panel_state()
        panel = self.panel
        panel.capability.setCurrentIndex(panel.capability.findData(capability))
        panel.source.setCurrentIndex(panel.source.findData(spec.get("source", "layer")))
        fields = {f.name: f for f in panel.fields}
        for name, value in spec.get("params", {}).items():
            editor = panel.editors[name][1]
            set_editor(editor, fields[name].to_slider(value) if fields[name].widget == "slider" else value)
        self.report["values"] = panel.values()
        layers_before = [n.name() for n in doc.rootNode().childNodes()]
        self.report["layers_before"] = layers_before
        self.report["measure_gaps"] = True
        self.tap_wire()
        if spec.get("go"):  # wait for the test's signal (it starts every host, then sets them all going)
            self.dump_marker("ready")
            yield "the go signal", spec.get("go_timeout", 300), lambda: os.path.exists(spec["go"])
            self.report["go_at"] = time.time()
        if spec["scenario"] == "live_paint":
            yield from self.live_paint(doc, source, width, height)
            return
        if spec["scenario"] == "live":
            yield from self.live(doc, source, width, height)
            self.report["history"] = panel.history
            return
        if spec["scenario"] == "thirdparty":
            yield from self.thirdparty(doc, source, width, height)
            return
        if spec["scenario"] in SCENARIOS:  # image tools, prompt expansion (driver_tools.py)
            yield from SCENARIOS[spec["scenario"]](self, doc, source, width, height)
            return
        panel.apply_button.click()
        self.note("clicked Apply")
        if spec["scenario"] == "apply":
            yield "the job to finish", 120, lambda: not panel.controller.state.busy and \
                panel.progress_label.text() in ("done", "failed", "cancelled")
            doc.waitForDone()
            self.report["panel_final"] = self.panel_state()
            self.report["history"] = panel.history
            self.report["layers_after"] = [n.name() for n in doc.rootNode().childNodes()]
            new = [n for n in doc.rootNode().childNodes() if n.name() == panel.controller.state.last_layer]
            if new:
                self.dump("result.bgra", new[0].pixelData(0, 0, width, height))
            self.dump("source_after.bgra", source.pixelData(0, 0, width, height))
            zoom = app.action("zoom_to_fit")
            if zoom is not None:
                zoom.trigger()
            settle = time.monotonic() + 1.5  # let the canvas and the layer list repaint
            yield "the canvas to repaint", 10, lambda: time.monotonic() > settle
            self.screenshot()
            self.report["screenshot_taken_before_undo"] = True
            app.action("edit_undo").trigger()
            doc.waitForDone()
            yield "undo", 10, lambda: True
            self.report["layers_after_undo"] = [n.name() for n in doc.rootNode().childNodes()]
            self.dump("source_after_undo.bgra", source.pixelData(0, 0, width, height))
        else:
            yield "the job to report progress", 60, lambda: panel.controller.state.busy and panel.progress.value() > 0
            self.report["panel_running"] = self.panel_state()
            self.dump_marker("running")
            yield "the panel to say disconnected", 60, lambda: not panel.controller.state.connected
            self.report["panel_disconnected"] = self.panel_state()
            self.report["gap_while_running_s"] = round(self.max_gap, 3)
            self.screenshot()
            self.dump_marker("disconnected")
            yield "the panel to reconnect", 60, lambda: panel.controller.state.connected
            self.report["panel_reconnected"] = self.panel_state()
        self.report["history"] = panel.history

    def live(self, doc, source, width, height):
        """Live mode: tick the Live box, wait for a result, paint on the source, wait for the update."""
        panel, ctrl = self.panel, self.panel.controller

        def names():
            return [n.name() for n in doc.rootNode().childNodes()]

        panel.live_box.setChecked(True)
        self.note("ticked Live")
        yield "the first live result", 90, lambda: ctrl.live.applied_seq > 0 and not ctrl.state.busy
        first = ctrl.live.applied_seq
        self.report["live_layers_first"] = names()
        self.report["live_message_first"] = panel.message.text()
        live_node = ctrl.live_applied.handle.node
        self.dump("live_first.bgra", live_node.pixelData(0, 0, width, height))
        x, y, w, h = self.spec.get("paint", (130, 90, 60, 60))
        source.setPixelData(bytes((0, 0, 255, 255)) * (w * h), x, y, w, h)  # the user paints a red square
        doc.refreshProjection()
        self.note("painted")
        yield "a newer live result", 90, lambda: ctrl.live.applied_seq > first and not ctrl.state.busy
        self.report["live_layers_second"] = names()
        self.report["live_message_second"] = panel.message.text()
        self.report["live_requests"] = ctrl.live.seq
        self.dump("live_second.bgra", live_node.pixelData(0, 0, width, height))
        panel.live_box.setChecked(False)

    def thirdparty(self, doc, source, width, height):
        """A third-party plugin's outputs by kind: image + mask (test.tint), then document + text (test.double)."""
        panel, ctrl, app = self.panel, self.panel.controller, self.api.krita

        def finished():
            return not ctrl.state.busy and panel.progress_label.text() in ("done", "failed", "cancelled")

        panel.apply_button.click()
        yield "test.tint to finish", 120, finished
        doc.waitForDone()
        outcome = ctrl.last_outcome
        self.report["tint_message"] = panel.message.text()
        self.report["tint_meta"] = outcome.job.result.meta if outcome is not None and outcome.job.result else None
        self.report["layers_after"] = [n.name() for n in doc.rootNode().childNodes()]
        children = source.childNodes()
        self.report["source_children"] = [[n.name(), n.type()] for n in children]
        new = [n for n in doc.rootNode().childNodes() if n.name() == ctrl.state.last_layer]
        if new:
            self.dump("result.bgra", new[0].pixelData(0, 0, width, height))
        masks = [n for n in children if n.type() == "transparencymask"]
        if masks:
            self.dump("mask.raw", masks[0].pixelData(0, 0, width, height))
        self.dump("projection.bgra", doc.pixelData(0, 0, width, height))
        panel.capability.setCurrentIndex(panel.capability.findData("test.double"))
        set_editor(panel.editors["prompt"][1], "big")
        panel.apply_button.click()
        yield "test.double to finish", 120, finished
        self.report["double_message"] = panel.message.text()
        made = [d for d in app.documents() if d.name() == "test.double"]
        self.report["double_size"] = [made[0].width(), made[0].height()] if made else None
        self.report["offered"] = panel.offered.text()
        panel.use_offered.click()
        self.report["prompt_after_use"] = panel.editors["prompt"][1].toPlainText()
        self.report["history"] = panel.history

    def tap_wire(self) -> None:
        """Record the id of every job this Krita sends and every job message its client receives (wall time, command,
        job id, whether it carries a preview, a cancel's reason), so a test can tell that nothing of another host's
        reaches it."""
        session, client = self.panel.controller.session, self.panel.controller.client
        self.wire = wire = {"client": client.name, "submitted": [], "received": [], "live_params": None}
        dispatch = client._dispatch

        def tapped(message) -> None:
            job = getattr(message, "job", None)
            if job:
                wire["received"].append([round(time.time(), 3), message.command, job,
                                         getattr(message, "preview", None) is not None, getattr(message, "reason", "")])
            dispatch(message)

        def submitted(event: str, job) -> None:
            if event == "submitted":
                wire["submitted"].append([round(time.time(), 3), job.id, job.capability, job.live])
                if job.live:
                    wire["live_params"] = dict(job.params)

        client._dispatch = tapped
        session.listeners.append(submitted)

    def live_paint(self, doc, source, width, height):
        """Live mode while the user paints: a stroke every ``stroke_every`` s until the ``stop`` file appears; the
        '(live)' layer must follow. Dumps the first and the final live layer and the final source."""
        panel, ctrl, spec = self.panel, self.panel.controller, self.spec
        app = self.api.krita
        panel.live_box.setChecked(True)
        self.note("ticked Live")
        yield "the first live result", 90, lambda: ctrl.live.applied_seq > 0 and not ctrl.state.busy
        live_node = ctrl.live_applied.handle.node
        self.dump("live_first.bgra", live_node.pixelData(0, 0, width, height))
        x0, y0, bw, bh = spec.get("selection", (80, 60, 160, 120))
        strokes, every = [], spec.get("stroke_every", 1.0)
        while not os.path.exists(spec["stop"]) and len(strokes) < spec.get("max_strokes", 60):
            i = len(strokes)  # a short horizontal stroke, walking down and across the selection
            w, h = 28, 8
            x = x0 + 30 + (i * 37) % (bw - 60 - w)
            y = y0 + 30 + (i * 13) % (bh - 60 - h)
            colour = bytes((40 * i % 256, 255 - 30 * i % 256, 90 + 50 * i % 166, 255))  # BGRA
            source.setPixelData(colour * (w * h), x, y, w, h)
            doc.refreshProjection()
            strokes.append({"t": round(time.time(), 3), "box": [x, y, w, h], "seq": ctrl.live.seq,
                            "applied_seq": ctrl.live.applied_seq})
            due = time.monotonic() + every
            yield "the next stroke", every + 30, lambda due=due: time.monotonic() >= due
        last = strokes[-1]["seq"] if strokes else 0
        yield "live mode to catch up with the last stroke", 90, lambda: (
            ctrl.live.seq > last and ctrl.live.applied_seq == ctrl.live.seq and not ctrl.session.jobs)
        self.report.update(strokes=strokes, live_seq=ctrl.live.seq, live_applied_seq=ctrl.live.applied_seq,
                           live_message=panel.message.text(), caught_up_at=round(time.time(), 3),
                           live_layers=[n.name() for n in doc.rootNode().childNodes()])
        self.dump("live_final.bgra", ctrl.live_applied.handle.node.pixelData(0, 0, width, height))
        self.dump("source_final.bgra", source.pixelData(0, 0, width, height))
        zoom = app.action("zoom_to_fit")
        if zoom is not None:
            zoom.trigger()
        settle = time.monotonic() + 1.0  # let the canvas and the layer list repaint
        yield "the canvas to repaint", 10, lambda: time.monotonic() > settle
        self.screenshot()
        panel.live_box.setChecked(False)
        self.report["history"] = panel.history

    def dump_marker(self, name: str) -> None:
        with open(os.path.join(self.out, name), "w") as fh:
            fh.write(str(time.time()))


def start(api: Api, spec_path: str) -> None:
    try:
        with open(spec_path) as fh:
            spec = json.load(fh)
        driver = Driver(api, spec)
        _ACTIVE.append(driver)  # keep a reference alive
        driver.timer.start()
    except Exception:
        traceback.print_exc(file=sys.stderr)
        api.close()
