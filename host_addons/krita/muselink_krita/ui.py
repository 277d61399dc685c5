"""The docker's Qt panel (the add-on's ``ui``): renders :class:`PanelState`, turns widgets into parameters.

PyQt5 only (no ``krita`` import): each parameter type maps to one widget (:mod:`.form`). ZeroMQ is
serviced by a ``QSocketNotifier`` on the client's FDs plus a 100 ms ``QTimer``, both calling
``Controller.tick`` — nothing here blocks. Every slot catches its exceptions: one escaping into Qt
would open a modal dialog inside Krita.
"""
from __future__ import annotations

import functools
import sys
import traceback

from PyQt5.QtCore import QSocketNotifier, Qt, QTimer
from PyQt5.QtGui import QImage, QPixmap
from PyQt5.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                             QProgressBar, QPushButton, QScrollArea, QSlider, QSpinBox, QVBoxLayout, QWidget)

from .controller import Controller, PanelState
from .form import SLIDER_STEPS, form_for, usable
from .region import as_rgba8

SOURCES = (("layer", "Active layer"), ("merged", "Merged image"))
INT_LIMIT = 2**31 - 1


def guarded(method):
    """Qt slot wrapper: log and show any exception instead of letting it reach Qt."""
    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            try:
                self.message.setText(f"internal error in {method.__name__}: {exc}")
            except Exception:
                pass
    return wrapper


class Panel(QWidget):
    def __init__(self, pm, parent=None, endpoint=None):
        super().__init__(parent)
        self.fields = []
        self.editors = {}
        self.expand_buttons = {}  # prompt parameter -> its Expand/Stop button
        self.history = []  # (connected, busy, progress %, progress text, message) as shown; read by tests
        self._caps_shown = None
        self._build()
        self.controller = Controller(pm, view=self.refresh, endpoint=endpoint)
        self.notifiers = []
        for fd in self.controller.client.fds():
            notifier = QSocketNotifier(fd, QSocketNotifier.Read, self)
            notifier.activated.connect(self._on_socket)
            self.notifiers.append(notifier)
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self._on_timer)
        self.timer.start()
        self.refresh(self.controller.state)

    # ---- layout --------------------------------------------------------------------------------
    def _build(self) -> None:
        scroll = QScrollArea(self)  # a short dock scrolls instead of squashing the form
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        QVBoxLayout(self).addWidget(scroll)
        self.layout().setContentsMargins(0, 0, 0, 0)
        body = QWidget()
        scroll.setWidget(body)
        outer = QVBoxLayout(body)
        self.connection = QLabel("connecting…")
        self.connection.setWordWrap(True)
        outer.addWidget(self.connection)
        top = QFormLayout()
        self.capability = QComboBox()
        self.capability.currentIndexChanged.connect(self._on_capability)
        top.addRow("Capability", self.capability)
        self.source = QComboBox()
        for key, label in SOURCES:
            self.source.addItem(label, key)
        top.addRow("Send", self.source)
        outer.addLayout(top)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        outer.addWidget(self.summary)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        outer.addWidget(self.form_host)
        offer = QHBoxLayout()  # a text result (an expanded prompt, a caption), offered for the prompt box above
        self.offered = QLabel("")
        self.offered.setWordWrap(True)
        self.use_offered = QPushButton("Use")
        self.use_offered.setToolTip("put this text in the prompt box")
        self.use_offered.clicked.connect(self._on_use_offered)
        offer.addWidget(self.offered, 1)
        offer.addWidget(self.use_offered)
        outer.addLayout(offer)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self._on_apply)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._on_cancel)
        self.live_box = QCheckBox("Live")
        self.live_box.toggled.connect(self._on_live)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.live_box)
        outer.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        outer.addWidget(self.progress)
        self.progress_label = QLabel("")
        outer.addWidget(self.progress_label)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignCenter)
        self.preview.setMinimumHeight(96)
        outer.addWidget(self.preview)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        outer.addWidget(self.message)
        outer.addStretch(1)

    def _editor_for(self, field):
        w = field.widget
        if w == "slider":
            row = QWidget()
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            slider = QSlider(Qt.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setValue(field.to_slider(field.default if field.default is not None else field.min))
            label = QLabel(f"{field.from_slider(slider.value()):.2f}")
            slider.valueChanged.connect(lambda v, f=field, lab=label: lab.setText(f"{f.from_slider(v):.2f}"))
            lay.addWidget(slider)
            lay.addWidget(label)
            return row, lambda: field.from_slider(slider.value()), slider
        if w in ("spin", "seed"):
            spin = QSpinBox()
            lo = -1 if w == "seed" else int(max(field.min if field.min is not None else -INT_LIMIT, -INT_LIMIT))
            hi = int(min(field.max if field.max is not None else INT_LIMIT, INT_LIMIT))
            spin.setRange(lo, hi)
            if w == "seed":
                spin.setSpecialValueText("random")
            spin.setValue(int(field.default if field.default is not None else lo))
            return spin, spin.value, spin
        if w == "check":
            box = QCheckBox()
            box.setChecked(bool(field.default))
            return box, box.isChecked, box
        if w == "choice":
            combo = QComboBox()
            combo.addItems([str(c) for c in field.choices])
            if field.default in field.choices:
                combo.setCurrentIndex(list(field.choices).index(field.default))
            return combo, lambda: field.choices[combo.currentIndex()], combo
        if w == "text":
            text = QPlainTextEdit(str(field.default or ""))
            text.setMaximumHeight(72)
            if not field.expand:
                return text, text.toPlainText, text
            row = QWidget()  # the prompt box and, beside it, Expand (Stop while it runs)
            lay = QHBoxLayout(row)
            lay.setContentsMargins(0, 0, 0, 0)
            button = QPushButton("Expand")
            button.setToolTip("add style and detail words to this prompt (text.expand_prompt); "
                              "the result is offered below, Use puts it here")
            button.clicked.connect(lambda _=False, name=field.name: self._on_expand(name))
            lay.addWidget(text, 1)
            lay.addWidget(button, 0, Qt.AlignTop)
            self.expand_buttons[field.name] = button
            return row, text.toPlainText, text
        line = QLineEdit("" if field.default is None else str(field.default))
        if w == "weights":
            line.setPlaceholderText("name:weight, … (optional)")
        return line, line.text, line

    def _rebuild_form(self, capability) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = form_for(capability, self.controller.expandable(capability.name)) if capability else []
        self.editors = {}
        self.expand_buttons = {}
        for field in self.fields:
            widget, getter, editor = self._editor_for(field)
            widget.setToolTip(field.help)
            self.form.addRow(field.label, widget)
            self.editors[field.name] = (getter, editor)
        self.summary.setText(capability.summary if capability else "")

    # ---- values --------------------------------------------------------------------------------
    def values(self) -> dict:
        return {name: getter() for name, (getter, _) in self.editors.items()}

    def current_capability(self) -> str:
        return self.capability.currentData() or ""

    def current_source(self) -> str:
        return self.source.currentData() or "layer"

    def settings(self) -> tuple:
        source = "layer" if self.live_box.isChecked() else self.current_source()  # live: merged would see its own layer
        return self.current_capability(), self.values(), source

    # ---- slots ---------------------------------------------------------------------------------
    @guarded
    def _on_socket(self, *_):
        self.controller.tick()

    @guarded
    def _on_timer(self):
        self.controller.tick()

    @guarded
    def _on_capability(self, *_):
        caps = self.controller.capabilities
        self._rebuild_form(caps.get(self.current_capability()))
        self.refresh(self.controller.state)

    @guarded
    def _on_apply(self, *_):
        self.controller.apply(self.current_capability(), self.values(), self.current_source())

    @guarded
    def _on_cancel(self, *_):
        self.controller.cancel()

    @guarded
    def _on_expand(self, name):
        if self.controller.state.expanding == name:
            self.controller.stop_expanding()
            return
        seed = self.values().get("seed")  # the image's seed, when one is set (the seed box's "random" is -1)
        text = self.editors[name][1].toPlainText()
        self.controller.expand(self.current_capability(), name, text, seed if isinstance(seed, int) and seed >= 0 else None)

    @guarded
    def _on_use_offered(self, *_):
        name, text = self.controller.use_offered_text()
        fields = {f.name: f for f in self.fields}
        target = name if name in fields else next((f.name for f in self.fields if f.widget == "text"), None)
        editor = self.editors[target][1] if target is not None else None
        if isinstance(editor, QPlainTextEdit):
            editor.setPlainText(text)
        elif isinstance(editor, QLineEdit):
            editor.setText(text)
        self.refresh(self.controller.state)

    @guarded
    def _on_live(self, on):
        self.controller.set_live(on, self.settings if on else None)

    # ---- render --------------------------------------------------------------------------------
    def _show_capabilities(self, caps: list) -> None:
        names = [c.name for c in caps]
        if names == self._caps_shown:
            return
        self._caps_shown = names
        current = self.current_capability()
        self.capability.blockSignals(True)
        self.capability.clear()
        for cap in caps:
            ok, why = usable(cap)
            self.capability.addItem(cap.name if ok else f"{cap.name} ({why})", cap.name)
            if not ok:
                self.capability.model().item(self.capability.count() - 1).setEnabled(False)
        usable_names = [c.name for c in caps if usable(c)[0]]
        pick = current if current in usable_names else (usable_names[0] if usable_names else None)
        if pick:
            self.capability.setCurrentIndex(names.index(pick))
        self.capability.blockSignals(False)
        self._rebuild_form(next((c for c in caps if c.name == pick), None))

    def _show_preview(self, image) -> None:
        if image is None:
            self.preview.clear()
            return
        rgba = as_rgba8(image)
        qimage = QImage(rgba, image.width, image.height, image.width * 4, QImage.Format_RGBA8888).copy()
        self.preview.setPixmap(QPixmap.fromImage(qimage).scaled(160, 120, Qt.KeepAspectRatio, Qt.SmoothTransformation))

    def refresh(self, state: PanelState) -> None:
        self.connection.setText(("● " if state.connected else "○ ") + state.connection_text)
        self.connection.setStyleSheet("color: #2a8f2a;" if state.connected else "color: #b03030;")
        self._show_capabilities(state.capabilities)
        cap = self.controller.capabilities.get(self.current_capability())
        ok = cap is not None and usable(cap)[0]
        self.apply_button.setEnabled(state.connected and ok and not (state.busy and self.controller.one_shot_running))
        self.cancel_button.setEnabled(state.busy)
        self.live_box.setEnabled(state.connected or state.live)
        self.capability.setEnabled(state.connected)
        self.progress.setValue(round(state.progress * 100))
        self.progress_label.setText(state.progress_text)
        self._show_preview(state.preview)
        self.message.setText(state.message)
        self.message.setStyleSheet("color: #b03030;" if state.error else "")
        for name, button in self.expand_buttons.items():
            button.setText("Stop" if state.expanding == name else "Expand")
            button.setEnabled(state.connected and (not state.expanding or state.expanding == name))
        offered = f"expanding… {state.expand_text}".strip() if state.expanding else state.offered_text
        self.offered.setText(offered)
        self.offered.setStyleSheet("color: #808080; font-style: italic;" if state.expanding else "")
        self.offered.setVisible(bool(offered))
        self.use_offered.setVisible(bool(state.offered_text) and not state.expanding)
        shown = (state.connected, state.busy, self.progress.value(), state.progress_text, state.message)
        if not self.history or self.history[-1] != shown:
            self.history.append(shown)
            del self.history[:-200]

    def close_client(self) -> None:
        for thing in (self.timer, *self.notifiers):
            try:
                thing.stop() if thing is self.timer else thing.setEnabled(False)
            except RuntimeError:  # Qt already deleted it at shutdown
                pass
        self.controller.close()
