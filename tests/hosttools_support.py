"""Shared by the real-host tests of the image tools and prompt expansion (Krita and Blender).

* :func:`astronaut` — a real photo (scikit-image's astronaut) at a small size, as RGB;
* ``tools_daemon`` — a real daemon with the image tools (real weights) and, for the prompt fields,
  the tiny random-weight diffusion pipeline (TEST FIXTURE ONLY, ``diffusion_tiny.py``) registered as
  ``tiny`` with the real ``muselink models add``; ``text.expand_prompt`` runs the real SmolLM2 model;
* :func:`require_tools` — skip (fail in CI) when a capability is not usable on this daemon.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import IN_CI
from muselink.bridge.client import Client

IMAGE_TOOLS = ("image.upscale", "image.cutout", "image.lineart")
_TINY: dict[str, Path] = {}


def astronaut(size: int) -> np.ndarray:
    """scikit-image's astronaut photo resized to ``size`` x ``size`` (RGB uint8)."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.LANCZOS))


def tiny_sd_folder(root: Path) -> Path:
    """The tiny random-weight pipeline saved once per test session (a diffusers folder)."""
    if "folder" not in _TINY:
        pytest.importorskip("diffusers")
        from diffusion_tiny import build_pipeline, save_folder

        _TINY["folder"] = save_folder(build_pipeline(), root / "tiny")
    return _TINY["folder"]


def models_add(config: Path, name: str, folder: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "muselink.core.cli", "models", "add", name, str(folder)],
                          capture_output=True, text=True, timeout=240,
                          env={**os.environ, "MUSELINK_CONFIG_DIR": str(config)})
    assert proc.returncode == 0, proc.stderr


def require_tools(endpoint: str, *names: str) -> None:
    """Every capability in ``names`` is offered and available on the daemon; else skip (fail in CI) with the reason."""
    client = Client(endpoint, name="require", timeout=30)
    try:
        caps = {c.name: c for c in client.hello().capabilities}
    finally:
        client.close()
    missing = [f"{n}: {caps[n].unavailable_reason if n in caps else 'not offered'}" for n in names
               if n not in caps or not caps[n].available]
    if missing:
        message = "capabilities unavailable here (make test installs them): " + "; ".join(missing)
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def tools_daemon(daemon_factory, tmp_path, tmp_path_factory):
    """A real daemon with the image tools, text.expand_prompt and the tiny diffusion fixture as model 'tiny'."""
    models_add(tmp_path / "config", "tiny", tiny_sd_folder(tmp_path_factory.getbasetemp()))
    endpoint, _ = daemon_factory()
    return endpoint


def expand_directly(endpoint: str, prompt: str, seed: int) -> str:
    """What the daemon's text.expand_prompt makes of ``prompt`` with ``seed`` (to compare with what a host showed)."""
    client = Client(endpoint, name="check", timeout=120)
    try:
        result = client.run("text.expand_prompt", params={"prompt": prompt, "seed": seed}, timeout=180)
    finally:
        client.close()
    return bytes(result.payloads["text"].to_bytes()).decode("utf-8")
