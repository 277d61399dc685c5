"""Shared fixtures: a real ``muselink serve`` subprocess on a free port, and clients for it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from muselink.bridge.client import Client
from muselink.core.demo import free_endpoint, start_daemon, stop_daemon

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
THIRDPARTY = Path(__file__).resolve().parent / "thirdparty"


def require_host(*programs: str) -> None:
    """Skip when a host program is missing, except in CI where a missing host is a failure."""
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        message = f"host program(s) not installed: {', '.join(missing)} (make hosts installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def isolated_config(tmp_path, monkeypatch):
    """Point muselink's config and cache dirs at a temp folder."""
    monkeypatch.setenv("MUSELINK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MUSELINK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def daemon_factory(tmp_path):
    """Start real daemons: ``daemon_factory(*serve_args, env={...})`` → (endpoint, process)."""
    procs = []

    def start(*args, endpoint=None, env=None, client_options=None):
        endpoint = endpoint or free_endpoint()
        env = {"MUSELINK_CONFIG_DIR": str(tmp_path / "config"), **(env or {})}
        proc = start_daemon(endpoint, list(args), env=env, client_options=client_options)
        procs.append(proc)
        return endpoint, proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            stop_daemon(proc)


@pytest.fixture
def daemon(daemon_factory):
    """The endpoint of a fresh real daemon."""
    endpoint, _ = daemon_factory()
    return endpoint


@pytest.fixture
def client_factory():
    clients = []

    def make(endpoint, name="test", timeout=10.0):
        client = Client(endpoint, name=name, timeout=timeout)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(daemon, client_factory):
    c = client_factory(daemon)
    c.hello()
    return c


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory):
    """One real daemon for a whole test module (for tests that do not stop or break it)."""
    endpoint = free_endpoint()
    proc = start_daemon(endpoint, [], env={"MUSELINK_CONFIG_DIR": str(tmp_path_factory.mktemp("config"))})
    yield endpoint
    stop_daemon(proc)


@pytest.fixture(scope="module")
def shared_client(shared_daemon):
    c = Client(shared_daemon, name="shared", timeout=10.0)
    c.hello()
    yield c
    c.close()


@pytest.fixture
def xvfb(tmp_path):
    """A private Xvfb server, proven to accept a client (``xserver.start_xvfb``); yields the DISPLAY value."""
    from xserver import start_xvfb, stop_process

    require_host("Xvfb")
    try:
        proc, display = start_xvfb(tmp_path / "xvfb.log")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield display
    stop_process(proc)


@pytest.fixture(scope="session")
def thirdparty_plugin(tmp_path_factory) -> Path:
    """The third-party test plugin (tests/thirdparty) pip-installed into a fresh folder; put that folder on
    a daemon's PYTHONPATH and the plugin loads through the ``muselink.plugins.v1`` entry point."""
    source = tmp_path_factory.mktemp("thirdparty-src") / "pkg"
    shutil.copytree(THIRDPARTY, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path_factory.mktemp("thirdparty-site")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return target


@pytest.fixture
def thirdparty_daemon(daemon_factory, thirdparty_plugin):
    """A real daemon with the third-party test plugin installed."""
    endpoint, _ = daemon_factory(env={"PYTHONPATH": str(thirdparty_plugin)})
    return endpoint


@pytest.fixture
def kill_client_mid_job():
    """``kill_client_mid_job(script, endpoint)``: run a client script that prints 'running' once its job runs,
    SIGKILL it there, and return the monotonic time of the kill (the process is always reaped)."""
    import signal
    import subprocess
    import time

    procs = []

    def run(script: str, endpoint: str) -> float:
        proc = subprocess.Popen([sys.executable, "-c", script, endpoint], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "running"
        proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(5)
        return killed

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
