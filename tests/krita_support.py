"""Real Krita for end-to-end tests: the add-on installed into a private profile, and Krita's GUI on an Xvfb
display with the add-on's test driver (``host_addons/krita/muselink_krita/driver.py``) working its docker."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def install(profile: Path, config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CONFIG_HOME": str(config)}
    return subprocess.run([sys.executable, "-m", "muselink.core.cli", "install", "krita", "--profile", str(profile)],
                          env=env, capture_output=True, text=True, timeout=120)


def install_profile(home: Path) -> Path:
    """``muselink install krita`` into ``home`` (data/ and config/, as KritaRun uses them); returns ``home``."""
    proc = install(home / "data" / "krita", home / "config")
    assert proc.returncode == 0, proc.stderr
    return home


class KritaRun:
    """Krita on a private Xvfb display in its own process group, killed by PID on exit."""

    def __init__(self, home: Path, endpoint: str, display: str, spec: dict):
        self.out = home / "out"
        self.out.mkdir(exist_ok=True)
        spec = {**spec, "out": str(self.out)}
        (home / "spec.json").write_text(json.dumps(spec))
        env = {**os.environ, "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
               "MUSELINK_ENDPOINT": endpoint, "MUSELINK_KRITA_DRIVER": str(home / "spec.json"),
               "XDG_RUNTIME_DIR": str(home / "runtime"), "DISPLAY": display,
               "TMPDIR": str(home / "tmp")}  # Krita 5.1 runs one instance per temp folder (its single-instance socket)
        (home / "runtime").mkdir(mode=0o700, exist_ok=True)
        (home / "tmp").mkdir(exist_ok=True)
        self.log = open(home / "krita.log", "w")
        self.proc = subprocess.Popen(["krita", "--nosplash"],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.home = home

    def wait_for(self, name: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.out / name).exists():
                return True
            if self.proc.poll() is not None:
                return (self.out / name).exists()
            time.sleep(0.2)
        return False

    def report(self, timeout: float = 180) -> dict:
        assert self.wait_for("report.json", timeout), f"no report from Krita; log tail:\n{self.tail()}"
        time.sleep(0.2)
        return json.loads((self.out / "report.json").read_text())

    def finish(self, timeout: float = 30) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()

    def tail(self) -> str:
        self.log.flush()
        lines = (self.home / "krita.log").read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if "SAFE ASSERT" not in line and "krita.lib" not in line)[-3000:]

    def raw(self, name: str, shape) -> np.ndarray:
        return np.frombuffer((self.out / name).read_bytes(), np.uint8).reshape(shape)
