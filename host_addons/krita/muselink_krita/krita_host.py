"""The one module that imports ``krita``: the host adapter, the docker and their registration."""
from __future__ import annotations

import os
import sys
import traceback
from typing import NamedTuple

from krita import DockWidget, DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita, Selection
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from .deps import Bounds, ImageData, hostspec
from .layers import LIVE_SUFFIX, plan_layer
from .panel import Panel
from .region import capture_region, check_color_space, mask_payload, result_bgra

DOCKER_ID = "muselink_docker"
DOCKERS: list = []  # live docker instances (one per main window)


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
        return hostspec.HostInfo(name="krita", version=Krita.instance().version(), captures=("image", "mask"))

    @hostspec.hookimpl
    def muselink_host_capture(self, request):
        doc = self.document()
        if doc is None:
            return None
        node = doc.activeNode()
        if node is None:  # no view (kritarunner): the top paint layer
            node = next((n for n in reversed(doc.rootNode().childNodes()) if n.type() == "paintlayer"), None)
        merged = request.source == "merged"
        if merged:
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
        payloads = {"image": data.image}
        if request.options.get("mask") and data.mask is not None:
            payloads["mask"] = mask_payload(data)
        x, y, w, h = data.bounds
        where = "selection" if data.mask is not None else "canvas"
        return hostspec.Capture(payloads=payloads, target=KritaTarget(doc, node, data.bounds, data.mask),
                                description=f"{what}, {where} {w}x{h} at ({x}, {y})")

    @hostspec.hookimpl
    def muselink_host_apply(self, capture, payloads, meta, replace):
        target = capture.target
        image = payloads.get("image") or next((p for p in payloads.values() if isinstance(p, ImageData)), None)
        if image is None:
            raise ValueError(f"the result has no image (got {', '.join(payloads) or 'nothing'})")
        doc = target.document
        if doc not in Krita.instance().documents():
            raise ValueError("the document was closed while the job ran")
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
        return hostspec.Applied(kind="layer", name=plan.name, handle=LayerHandle(layer, target.bounds))


def _activate(doc, node) -> None:
    try:
        doc.setActiveNode(node)
    except Exception:  # a slot: never let it reach Qt
        traceback.print_exc(file=sys.stderr)


class MuselinkDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("muselink")
        self.setObjectName(DOCKER_ID)
        self.panel = Panel(hostspec.host_manager(KritaAdapter()), self)
        self.setWidget(self.panel)
        DOCKERS.append(self)

    def canvasChanged(self, canvas):
        pass


def close_main_window() -> None:
    """Quit Krita the safe way (QApplication.quit() crashes it): mark documents clean, close the window."""
    app = Krita.instance()
    for doc in app.documents():
        doc.setModified(False)
    window = app.activeWindow() or (app.windows()[0] if app.windows() else None)
    if window is not None:
        window.qwindow().close()


class MuselinkExtension(Extension):
    def setup(self):
        QApplication.instance().aboutToQuit.connect(_shutdown)

    def createActions(self, window):
        spec = os.environ.get("MUSELINK_KRITA_DRIVER")
        if spec:
            from . import driver

            api = driver.Api(krita=Krita.instance(), selection=Selection, dockers=DOCKERS, close=close_main_window)
            QTimer.singleShot(500, lambda: driver.start(api, spec))


def _shutdown():
    for docker in list(DOCKERS):
        try:
            docker.panel.close_client()
        except Exception:
            traceback.print_exc(file=sys.stderr)


def register() -> None:
    app = Krita.instance()
    app.addExtension(MuselinkExtension(app))
    app.addDockWidgetFactory(DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, MuselinkDocker))
