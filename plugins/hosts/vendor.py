"""Vendoring for host add-ons (run by ``muselink install``): copy the bridge, the host contract, pluggy
and a pyzmq build that matches the *host's* Python into an add-on's ``_vendor`` folder.

Inside the add-on, ``_vendor`` goes first on ``sys.path`` and the bridge imports as
``muselink_bridge``, so it never clashes with a muselink installed in the host's Python.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

from muselink import bridge
from muselink.host_addons import hostspec

BRIDGE = Path(bridge.__file__).resolve().parent
HOSTSPEC = Path(hostspec.__file__).resolve()


def _copy_package(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def vendor_pure(dest: Path) -> None:
    """Bridge (as ``muselink_bridge``), ``muselink_hostspec.py`` and pluggy into ``dest``."""
    import pluggy

    dest.mkdir(parents=True, exist_ok=True)
    _copy_package(BRIDGE, dest / "muselink_bridge")
    shutil.copy2(HOSTSPEC, dest / "muselink_hostspec.py")
    _copy_package(Path(pluggy.__file__).parent, dest / "pluggy")


def _platform_tag() -> str:
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def vendor_pyzmq(dest: Path, python_version: str, platform: str | None = None) -> str:
    """Put a pyzmq built for ``python_version`` (e.g. "3.11") into ``dest``; return how it was found.

    When the host's Python matches the one running this code, the installed pyzmq is copied;
    otherwise a binary wheel for that version and platform is fetched with pip and unpacked.
    """
    import zmq

    dest.mkdir(parents=True, exist_ok=True)
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python_version == here and (platform is None or platform == _platform_tag()):
        site = Path(zmq.__file__).parent.parent
        _copy_package(site / "zmq", dest / "zmq")
        if (site / "pyzmq.libs").exists():
            _copy_package(site / "pyzmq.libs", dest / "pyzmq.libs")
        return f"copied pyzmq {zmq.__version__} built for Python {here}"
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_pyzmq_wheel(Path(tmp), python_version, platform)
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith(("zmq/", "pyzmq.libs/")):
                    zf.extract(member, dest)
        return f"unpacked {wheel.name}"


def download_pyzmq_wheel(dest: Path, python_version: str, platform: str | None = None) -> Path:
    """A binary wheel of this pyzmq version for ``python_version`` (and ``platform``), fetched with pip
    into ``dest``; RuntimeError saying why when there is none."""
    import zmq

    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps", "-q",
           "--python-version", python_version, "-d", str(dest), f"pyzmq=={zmq.__version__}"]
    if platform:
        cmd[5:5] = ["--platform", platform]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("pyzmq-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(f"could not get a pyzmq wheel for Python {python_version}"
                           f"{' on ' + platform if platform else ''}: {proc.stderr.strip()[-300:]}")
    return wheels[0]


def write_vendor_init(dest: Path) -> None:
    (dest / "__init__.py").write_text('"""Third-party and bridge code vendored by muselink install."""\n')


def remove_tree(path: Path) -> bool:
    if path.is_symlink() or path.is_file():
        path.unlink()
        return True
    if path.exists():
        shutil.rmtree(path)
        return True
    return False


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
