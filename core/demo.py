"""``muselink demo``: start a daemon, run the main jobs on sample inputs, write results, stop.

Plugins add their own steps through the ``muselink_demo`` hook (music: continue a sample melody)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData

from .files import save_payload
from .registry import Registry

DEMO_STYLES = ("starry-swirl", "mosaic", "stained-glass", "cyanotype")


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def start_daemon(endpoint: str, extra: list[str] | None = None, env: dict | None = None,
                 client_options: dict | None = None, new_session: bool = False) -> subprocess.Popen:
    """Start ``muselink serve`` as a subprocess and wait until it answers ``hello`` (asked by a client made
    with ``client_options``, e.g. CurveZMQ keys) and every worker is up, so the first job's timing is its own.
    ``new_session``: in a session of its own, as when started from its own terminal."""
    proc = subprocess.Popen([sys.executable, "-m", "muselink.core.cli", "--log-level", "warning", "serve",
                             "--endpoint", endpoint, *(extra or [])], env={**os.environ, **(env or {})},
                            start_new_session=new_session)
    with Client(endpoint, name="probe", timeout=0.5, **(client_options or {})) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"muselink serve exited with code {proc.returncode}")
            try:
                status = client.hello(timeout=0.5)
                if all(w.get("state") == "idle" for w in status.workers):
                    return proc
            except ConnectionError:
                pass
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("muselink serve did not answer (with every worker up) within 120 s")


def stop_daemon(proc: subprocess.Popen) -> int:
    proc.terminate()
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def sample_images() -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    return data.astronaut(), data.coffee()


def plugin_steps(registry: Registry, client: Client, out_dir: Path) -> list[Path]:
    """Every plugin's ``muselink_demo`` step, run with ``client``; the paths they wrote."""
    written: list[Path] = []
    for paths in registry.pm.hook.muselink_demo(client=client, out_dir=out_dir):
        written.extend(paths or ())
    return written


def run_demo(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    endpoint = free_endpoint()
    print(f"starting muselink daemon on {endpoint}")
    proc = start_daemon(endpoint)
    written = []
    try:
        with Client(endpoint, name="demo", timeout=30) as client:
            client.hello()
            photo, style_photo = sample_images()
            image = ImageData.from_numpy(photo)
            save_payload(image, out_dir / "astronaut.png")
            for style in DEMO_STYLES:
                result = client.run("style.fast", {"image": image}, {"style": style})
                written.append(save_payload(result.payloads["image"], out_dir / f"astronaut-{style}.png", result.meta))
                print(f"  {'style.fast ' + style:26s}{result.meta['seconds']:.2f} s -> {written[-1]}")
            result = client.run("style.fast", {"image": image}, {"weights": "mosaic:0.5,starry-swirl:0.5"})
            written.append(save_payload(result.payloads["image"], out_dir / "astronaut-blend.png", result.meta))
            print(f"  {'style.fast blend':26s}{result.meta['seconds']:.2f} s -> {written[-1]}")
            result = client.run("style.arbitrary", {"image": image, "style": ImageData.from_numpy(style_photo)})
            written.append(save_payload(result.payloads["image"], out_dir / "astronaut-arbitrary-coffee.png", result.meta))
            print(f"  {'style.arbitrary (coffee)':26s}{result.meta['seconds']:.2f} s -> {written[-1]}")
            written.extend(plugin_steps(Registry(), client, out_dir))
    finally:
        code = stop_daemon(proc)
    print(f"daemon stopped (exit {code}); {len(written)} results in {out_dir.resolve()}")
    return 0

