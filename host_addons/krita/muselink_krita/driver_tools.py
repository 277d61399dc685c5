"""End-to-end test scenarios for the image tools and prompt expansion (used by :mod:`.driver`).

Each is a generator of ``(what, timeout, check)`` steps, like ``Driver.run``: it works the docker's own
widgets (capability picker, parameter editors, Apply, Expand/Stop, Use, Krita's undo action) and records
what Krita then holds. It receives the Krita objects through the driver; it does not import ``krita``.
"""
from __future__ import annotations

import time


def _finished(panel):
    return lambda: not panel.controller.state.busy and panel.progress_label.text() in ("done", "failed", "cancelled")


def _names(doc) -> list[str]:
    return [n.name() for n in doc.rootNode().childNodes()]


def _pick(driver, capability: str, params: dict) -> None:
    from .driver import set_editor

    panel = driver.panel
    panel.capability.setCurrentIndex(panel.capability.findData(capability))
    fields = {f.name: f for f in panel.fields}
    for name, value in params.items():
        set_editor(panel.editors[name][1], fields[name].to_slider(value) if fields[name].widget == "slider" else value)


def _payload(outcome, name: str) -> bytes:
    """A result payload as the daemon sent it (RGBA/gray rows), for the test to compare with Krita's pixels."""
    image = outcome.job.result.payloads[name]
    return bytes(image.packed())


def _undo(driver, doc):
    driver.api.krita.action("edit_undo").trigger()
    doc.waitForDone()
    yield "undo", 10, lambda: True


def imagetools(driver, doc, source, width, height):
    """image.lineart → a layer above (then undone), image.cutout → a transparency mask (then undone),
    image.upscale → a new document; the source layer and document are checked after each."""
    panel, ctrl, app, report = driver.panel, driver.panel.controller, driver.api.krita, driver.report
    tools = driver.spec["tools"]
    for step, (capability, params) in enumerate(tools):
        _pick(driver, capability, params)
        panel.apply_button.click()
        driver.note(f"clicked Apply for {capability}")
        yield f"{capability} to finish", 180, _finished(panel)
        doc.waitForDone()
        outcome = ctrl.last_outcome
        done = {"message": panel.message.text(), "layers": _names(doc),
                "source_children": [[n.name(), n.type()] for n in source.childNodes()],
                "documents": [[d.name(), d.width(), d.height()] for d in app.documents()],
                "meta": outcome.job.result.meta if outcome is not None and outcome.job.result else None}
        report[capability] = done
        tag = capability.split(".")[-1]
        if outcome is None or outcome.job.result is None:
            continue
        if capability == "image.lineart":
            new = [n for n in doc.rootNode().childNodes() if n.name() == ctrl.state.last_layer]
            if new:
                driver.dump(f"{tag}_layer.bgra", new[0].pixelData(0, 0, width, height))
            driver.dump(f"{tag}_payload.rgba", _payload(outcome, "image"))
        elif capability == "image.cutout":
            masks = [n for n in source.childNodes() if n.type() == "transparencymask"]
            if masks:
                driver.dump(f"{tag}_mask.raw", masks[0].pixelData(0, 0, width, height))
            driver.dump(f"{tag}_payload.gray", _payload(outcome, "mask"))
            driver.dump(f"{tag}_projection.bgra", doc.pixelData(0, 0, width, height))
        elif capability == "image.upscale":
            made = [a.handle for a in outcome.applied if a.kind == "document"]
            if made:
                big = made[0]
                big.waitForDone()
                top = big.rootNode().childNodes()
                done["new_layers"] = [n.name() for n in top]
                driver.dump(f"{tag}_document.bgra", big.pixelData(0, 0, big.width(), big.height()))
            driver.dump(f"{tag}_payload.rgba", _payload(outcome, "image"))
        driver.dump(f"{tag}_source_after.bgra", source.pixelData(0, 0, width, height))
        if capability != "image.upscale":  # a new document is not on the source document's undo stack
            yield from _undo(driver, doc)
            done["layers_after_undo"] = _names(doc)
            done["source_children_after_undo"] = [[n.name(), n.type()] for n in source.childNodes()]
            driver.dump(f"{tag}_source_after_undo.bgra", source.pixelData(0, 0, width, height))
        settle = time.monotonic() + (1.0 if step == len(tools) - 1 else 0.2)
        yield "the canvas to repaint", 10, lambda: time.monotonic() > settle  # noqa: B023 - used at once
    driver.screenshot()
    report["history"] = panel.history


def expand(driver, doc, source, width, height):
    """Expand next to the prompt box: Stop part-way (the box keeps its text), then Expand to the end (the text
    grows in the panel), Use (the box takes it), and Apply with the expanded prompt."""
    panel, ctrl, report = driver.panel, driver.panel.controller, driver.report
    editor = panel.editors["prompt"][1]
    report["expand_buttons"] = sorted(panel.expand_buttons)
    report["prompt_before"] = editor.toPlainText()
    seen: list[str] = []

    def watch(until):
        def check():
            shown = panel.offered.text()
            if ctrl.state.expanding and shown and (not seen or seen[-1] != shown):
                seen.append(shown)
            return until()
        return check

    button = panel.expand_buttons["prompt"]
    button.click()
    report["button_while_running"] = button.text()
    yield "the expansion to stream", 120, watch(lambda: bool(ctrl.state.expand_text))
    report["apply_enabled_while_expanding"] = panel.apply_button.isEnabled()
    button.click()  # now reads Stop
    driver.note("clicked Stop")
    yield "the expansion to stop", 60, lambda: ctrl.expansion is None and not ctrl.state.expanding
    stopped = ctrl.last_expansion
    report["stopped"] = {"state": stopped.job.state if stopped else None, "message": panel.message.text(),
                         "prompt": editor.toPlainText(), "use_shown": not panel.use_offered.isHidden(),
                         "button": button.text()}
    seen.clear()
    button.click()
    yield "the expansion to finish", 180, watch(lambda: ctrl.expansion is None and not ctrl.state.expanding)
    done = ctrl.last_expansion
    report["expanded"] = {"state": done.job.state if done else None, "message": panel.message.text(),
                          "offered": ctrl.state.offered_text, "offered_shown": panel.offered.text(),
                          "use_shown": not panel.use_offered.isHidden(), "streamed": list(seen),
                          "params": done.job.params if done else None,
                          "meta": done.job.result.meta if done and done.job.result else None}
    panel.use_offered.click()
    report["prompt_after_use"] = editor.toPlainText()
    panel.apply_button.click()
    yield f"{driver.spec['capability']} to finish", 180, _finished(panel)
    doc.waitForDone()
    outcome = ctrl.last_outcome
    report["applied"] = {"message": panel.message.text(), "layers": _names(doc),
                         "params": outcome.job.params if outcome else None}
    report["history"] = panel.history
    driver.screenshot()


SCENARIOS = {"imagetools": imagetools, "expand": expand}
