"""The Krita side of the UI: the docker widget, the extension and their registration.

With :mod:`.adapter`, the only code importing ``krita``. The panel itself (:mod:`..ui`) is PyQt5 only.
"""
from __future__ import annotations

import os
import sys
import traceback

from krita import DockWidget, DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita, Selection
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from ..deps import hostspec
from ..ui import Panel
from .adapter import KritaAdapter

DOCKER_ID = "muselink_docker"
DOCKERS: list = []  # live docker instances (one per main window)


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
            from .. import driver

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
