"""Daemon configuration and user directories."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"
DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_QUEUED = 100


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
class LaneConfig:
    """How a lane's workers run. ``nice`` > 0 lowers their CPU priority (< 0 raises it where allowed); ``threads`` caps the math
    libraries' thread pools (0 = their default); ``num_cpus``/``num_gpus`` are the Ray resources each
    actor reserves (0 CPUs: a latency lane's actor is always placed, even on a full cluster). While a job of
    a ``latency`` lane runs, the local workers of the lanes that ``yields`` are paused (``yielding.py``)."""

    workers: int = 1
    nice: int = 0
    threads: int = 0
    num_cpus: float = 0.0
    num_gpus: float = 0.0
    latency: bool = False
    yields: bool = False


def default_lanes() -> dict[str, LaneConfig]:
    """One worker per lane, so no model is loaded twice. The interactive lane (MIDI answers, tens of
    milliseconds) is the latency lane: a higher priority where the system allows it, and while one of its
    jobs runs the other lanes' workers pause. The image lane (fast style, cut-out: seconds) gives way a
    little; the heavy lane (VGG, diffusion) and the text lane more: lower priority and a thread budget that
    leaves a core free for the others."""
    spare = max(1, (os.cpu_count() or 2) - 1)
    return {"interactive": LaneConfig(nice=-5, latency=True), "image": LaneConfig(nice=4, yields=True),
            "heavy": LaneConfig(nice=10, threads=spare, num_cpus=1.0, yields=True),
            "text": LaneConfig(nice=5, threads=spare, yields=True)}


@dataclass
class DaemonConfig:
    endpoint: str = field(default_factory=default_endpoint)
    device: str = "auto"
    model_memory_bytes: int = 0  # 0 = automatic (half of RAM), per worker
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    lanes: dict[str, LaneConfig] = field(default_factory=default_lanes)
    config_dir: Path = field(default_factory=config_dir)
    curve_secret_key: str | None = None  # path to a CurveZMQ secret key file
    curve_clients_dir: str | None = None  # folder of authorised client public keys
    max_queued_per_client: int = DEFAULT_MAX_QUEUED  # queued (not yet running) jobs per client, all lanes
    executor: str = "local"  # local (worker processes) | ray (Ray actors)
    ray_address: str | None = None  # None: start a local Ray; "auto" or HOST:PORT: join a cluster
    worker_memory_bytes: int = 0  # 0 = no cap; else a job over it ends out_of_memory
    cancel_grace_s: float = 5.0  # a cancelled job that does not stop by then has its worker restarted
    role: str = "broker"  # where plugins are being configured: "broker" (schemas only) or "worker" (runs jobs)


def parse_lanes(text: str, base: dict[str, LaneConfig] | None = None) -> dict[str, LaneConfig]:
    """``"heavy=4,interactive=1"`` → the default lanes with those worker counts (new names add lanes)."""
    lanes = dict(base if base is not None else default_lanes())
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, count = item.partition("=")
        if not sep or not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise ValueError(f"--lanes item {item!r} must look like lane=N with N >= 1 (e.g. heavy=2)")
        old = lanes.get(name.strip(), LaneConfig())
        lanes[name.strip()] = replace(old, workers=int(count))
    return lanes


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1000"`` → bytes."""
    text = text.strip().upper()
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if text and text[-1] == "B":
        text = text[:-1]
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)
