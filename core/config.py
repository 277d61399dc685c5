"""Daemon configuration and user directories."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"
DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024


def config_dir() -> Path:
    """``$MUSELINK_CONFIG_DIR`` or ``$XDG_CONFIG_HOME/muselink`` (``~/.config/muselink``)."""
    if os.environ.get("MUSELINK_CONFIG_DIR"):
        return Path(os.environ["MUSELINK_CONFIG_DIR"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "muselink"


def cache_dir() -> Path:
    """``$MUSELINK_CACHE_DIR`` or ``$XDG_CACHE_HOME/muselink`` (``~/.cache/muselink``)."""
    if os.environ.get("MUSELINK_CACHE_DIR"):
        return Path(os.environ["MUSELINK_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "muselink"


def default_endpoint() -> str:
    return os.environ.get("MUSELINK_ENDPOINT") or DEFAULT_ENDPOINT


@dataclass
class DaemonConfig:
    endpoint: str = field(default_factory=default_endpoint)
    device: str = "auto"
    model_memory_bytes: int = 0  # 0 = automatic (half of RAM)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    lanes: dict = field(default_factory=lambda: {"interactive": 2, "heavy": 1, "text": 1})
    config_dir: Path = field(default_factory=config_dir)
    curve_secret_key: str | None = None  # path to a CurveZMQ secret key file
    curve_clients_dir: str | None = None  # folder of authorised client public keys


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1000"`` → bytes."""
    text = text.strip().upper()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if text and text[-1] == "B":
        text = text[:-1]
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)
