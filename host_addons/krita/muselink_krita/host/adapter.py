"""The Krita host adapter: capture a region (and its selection) and place results by output kind.

One of the two modules that import ``krita`` (with :mod:`.docker`). Output kinds: ``image`` → a new
layer above the source, masked by the selection (live mode updates one layer in place); ``document``
→ a new document; ``mask`` → a transparency mask on the source layer (a selection mask where Krita
has no window); ``text`` → offered to the panel (nothing in the document changes).
"""
from __future__ import annotations

import sys
import time
import traceback
from typing import NamedTuple

from krita import Krita, Selection
from PyQt5.QtCore import QEventLoop, QTimer
from PyQt5.QtWidgets import QApplication

from ..deps import Applied, Bounds, Capture, HostInfo, hostspec
from ..form import KRITA
from ..layers import LIVE_SUFFIX, plan_layer, unique_name
from ..region import as_rgba8, capture_region, check_color_space, mask_bytes, mask_payload, result_bgra, swap_red_blue


class KritaTarget(NamedTuple):
    """Where a result belongs: the document, the node it goes above, the region and its mask."""

    document: object
    source: object
    bounds: Bounds
    mask: bytes | None


class LayerHandle(NamedTuple):
    node: object
    bounds: Bounds


class KritaAdapter:
    """muselink host-adapter hooks for Krita (see ``muselink_hostspec``).

    ``document`` returns the document to work on (default: the active one; kritarunner has no views).
    """

    def __init__(self, document=None):
        self.document = document or (lambda: Krita.instance().activeDocument())
        self.live_source = None  # the layer live mode reads, even after Krita activates the live layer

    @hostspec.hookimpl
    def muselink_host_info(self):
        return HostInfo(name="krita", version=Krita.instance().version(), captures=KRITA.captures,
                        applies=KRITA.applies, label=KRITA.label)

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        doc = self.document()
        if doc is None:
            return None
        node = doc.activeNode()
        if node is not None and node.type().endswith("mask"):  # a mask is selected: send the layer it belongs to
            node = node.parentNode()
        if node is None:  # no view (kritarunner): the top paint layer
            node = next((n for n in reversed(doc.rootNode().childNodes()) if n.type() == "paintlayer"), None)
        if request.source == "merged":
            check_color_space(doc.colorModel(), doc.colorDepth(), "document")
            doc.waitForDone()
            read = doc.pixelData
            what = "the merged image"
        else:
            if node is None:
                raise ValueError("select a layer first")
            if request.options.get("live"):
                if node.name().endswith(LIVE_SUFFIX) and self.live_source is not None:
                    node = self.live_source  # Krita made the live layer active; keep reading the painted one
                self.live_source = node
            if node.name().endswith(LIVE_SUFFIX):
                raise ValueError("the active layer is muselink's live result; select the layer you paint on")
            check_color_space(node.colorModel(), node.colorDepth(), f"layer '{node.name()}'")
            read = node.pixelData if node.type() == "paintlayer" else node.projectionPixelData
            what = f"layer '{node.name()}'"
        selection = doc.selection()
        sel_bounds = None
        if selection is not None and selection.width() > 0 and selection.height() > 0:
            sel_bounds = Bounds(selection.x(), selection.y(), selection.width(), selection.height())
        data = capture_region(Bounds(0, 0, doc.width(), doc.height()), sel_bounds, read,
                              selection.pixelData if sel_bounds is not None else None)
        payloads = {}
        image, mask = request.wants("image"), request.wants("mask")
        if image is not None:
            payloads[image.name] = data.image
        if mask is not None and data.mask is not None:
            payloads[mask.name] = mask_payload(data)
        x, y, w, h = data.bounds
        where = "selection" if data.mask is not None else "canvas"
        return Capture(payloads=payloads, target=KritaTarget(doc, node, data.bounds, data.mask),
                       description=f"{what}, {where} {w}x{h} at ({x}, {y})")

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, output, meta, replace):
        target = capture.target
        if output.kind == "text":  # offered beside the form's prompt; the document is not touched
            return Applied("text", output.name, handle=output.text())
        doc = target.document
        if doc not in Krita.instance().documents():
            raise ValueError("the document was closed while the job ran")
        if output.kind == "document":
            return _new_document(output, meta)
        if output.kind == "mask":
            return _transparency_mask(doc, target, output, meta)
        return _layer(doc, target, output.payload, meta, replace)


def _layer(doc, target: KritaTarget, image, meta, replace) -> Applied:
    bgra = result_bgra(image, target.bounds, target.mask)
    x, y, w, h = target.bounds
    live = bool(meta.get("live"))
    existing = [n.name() for n in target.source.parentNode().childNodes()] if target.source else []
    plan = plan_layer(meta.get("capability", "muselink"), meta.get("params", {}), meta, target.bounds,
                      target.source, existing, live=live)
    layer = None
    if replace is not None and replace.handle is not None:
        old = replace.handle
        if old.node.parentNode() is not None and old.node.name() in existing:
            layer = old.node
            ox, oy, ow, oh = old.bounds
            layer.setPixelData(bytes(ow * oh * 4), ox, oy, ow, oh)  # clear the previous live frame
            layer.setName(plan.name)
    if layer is None:
        layer = doc.createNode(plan.name, "paintlayer")
        parent = target.source.parentNode() if target.source is not None else doc.rootNode()
        parent.addChildNode(layer, target.source)  # one undoable step; the source is not touched
        if live and target.source is not None:  # keep painting on the source, not on the live layer
            source = target.source
            QTimer.singleShot(100, lambda: _activate(doc, source))
    layer.setPixelData(bgra, x, y, w, h)
    doc.refreshProjection()
    return Applied(kind="layer", name=plan.name, handle=LayerHandle(layer, target.bounds))


def _new_document(output, meta) -> Applied:
    image = output.payload
    app = Krita.instance()
    name = unique_name(meta.get("capability", "muselink"), [d.name() for d in app.documents()])
    doc = app.createDocument(image.width, image.height, name, "RGBA", "U8", "", 72.0)
    layer = doc.rootNode().childNodes()[0]
    layer.setPixelData(bytes(swap_red_blue(as_rgba8(image))), 0, 0, image.width, image.height)
    doc.refreshProjection()
    window = app.activeWindow()
    if window is not None:
        window.addView(doc)
    return Applied(kind="document", name=name, handle=doc)


def _transparency_mask(doc, target: KritaTarget, output, meta) -> Applied:
    """A transparency mask on the source layer, made by Krita's own action (which needs a window: the 5.1
    scripting API cannot create one) and filled with the mask; without a window, a local selection mask
    with the same pixels. The user's selection is kept; one undo removes the mask."""
    source = target.source
    if source is None:
        raise ValueError("no layer to put the mask on")
    existing = [n.name() for n in source.childNodes()]
    name = unique_name(f"{meta.get('capability', 'muselink')} {output.name}", existing)
    selection = Selection()
    x, y, w, h = target.bounds
    selection.setPixelData(bytes(doc.width() * doc.height()), 0, 0, doc.width(), doc.height())  # hidden outside the region
    selection.setPixelData(mask_bytes(output.payload, target.bounds), x, y, w, h)
    app = Krita.instance()
    action = app.action("add_new_transparency_mask")
    if action is not None and _show(app, doc):
        before = {n.uniqueId() for n in _walk(doc.rootNode())}
        kept = doc.selection()
        # Krita activates a layer added a moment ago (this job's image output) from its event loop: let that happen
        # first, or the action puts the mask on that layer
        QApplication.processEvents(QEventLoop.ExcludeUserInputEvents)
        doc.setActiveNode(source)
        # with nothing selected the action makes a plain mask (one undo step: undo removes it); with a selection it
        # would consume it, and undo would bring back a selection the user never made. The pixels go in after.
        doc.setSelection(None)
        _until(lambda: (doc.activeNode() is not None and doc.activeNode().uniqueId() == source.uniqueId()))
        action.trigger()
        doc.waitForDone()
        made = [n for n in _walk(doc.rootNode()) if n.uniqueId() not in before and n.type() == "transparencymask"]
        if made and made[0].parentNode().uniqueId() != source.uniqueId():
            # Krita put it on the node it had just made active (the layer this job added a moment ago): move it
            made[0].remove()
            source.addChildNode(made[0], None)
        if kept is not None:
            doc.setSelection(kept)
        doc.setActiveNode(source)  # Krita made the new mask active; the user keeps working on the layer
        QTimer.singleShot(100, lambda: _activate(doc, source))
        if made:
            made[0].setPixelData(selection.pixelData(0, 0, doc.width(), doc.height()), 0, 0, doc.width(), doc.height())
            made[0].setName(name)
            doc.refreshProjection()
            return Applied(kind="mask", name=name, handle=made[0])
    mask = doc.createSelectionMask(name)
    mask.setSelection(selection)
    source.addChildNode(mask, None)
    doc.refreshProjection()
    return Applied(kind="selection", name=name, handle=mask)


def _walk(node):
    for child in node.childNodes():
        yield child
        yield from _walk(child)


def _until(done, timeout: float = 2.0) -> bool:
    """Let Qt deliver events until ``done()`` (Krita applies some changes, such as the active node, from its
    event loop: an action triggered before then acts on the node that was active, e.g. the layer just added)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents(QEventLoop.ExcludeUserInputEvents)
        time.sleep(0.01)
    return True


def _show(app, doc) -> bool:
    """True when a window's active view shows ``doc``, so Krita's actions act on it; if the user moved to another
    document meanwhile, its view is brought back in that window. Focus is not taken: results also arrive while
    the user works in another application, when Krita has no active window. False without a window."""
    for window in app.windows():
        view = next((v for v in window.views() if v.document() == doc), None)
        if view is None:
            continue
        active = window.activeView()
        if active is None or active.document() != doc:
            window.showView(view)
            active = window.activeView()
        return active is not None and active.document() == doc
    return False


def _activate(doc, node) -> None:
    try:
        doc.setActiveNode(node)
    except Exception:  # a slot: never let it reach Qt
        traceback.print_exc(file=sys.stderr)
