"""``muselink install krita`` / ``muselink uninstall krita``.

Install copies the pykrita plugin (``muselink_krita/`` + its ``.desktop``) into
``<profile>/pykrita/``, vendors the bridge, the host contract, pluggy and a pyzmq built for
*that Krita's* Python into ``muselink_krita/_vendor``, and sets ``enable_muselink_krita=true``
under ``[python]`` in ``kritarc``. Uninstall removes all three.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

from muselink.core.api import CliError
from muselink.host_addons import krita as addon

from . import vendor

HERE = Path(addon.__file__).resolve().parent  # host_addons/krita: the plugin folder and its .desktop file
PLUGIN = "muselink_krita"
DESKTOP = f"{PLUGIN}.desktop"
ENABLE_KEY = f"enable_{PLUGIN}"
PY_VERSION = re.compile(rb"libpython(3\.\d+)")


class InstallError(Exception):
    """Shown to the user as one line."""


def default_profile() -> Path:
    """Krita's resource folder: where its ``pykrita`` lives."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "krita"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "krita"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "krita"


def kritarc_path() -> Path:
    if os.environ.get("MUSELINK_KRITARC"):
        return Path(os.environ["MUSELINK_KRITARC"])
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "kritarc"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "kritarc"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kritarc"


# ---- kritarc (QSettings INI) edits, line based so everything else stays byte-identical ---------------

def _section_span(lines: list, section: str) -> tuple:
    start = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if start is None:
        return None, None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    return start, end


def set_ini_key(text: str, section: str, key: str, value: str) -> str:
    lines = text.splitlines()
    start, end = _section_span(lines, section)
    entry = f"{key}={value}"
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{section}]", entry]
    else:
        hit = next((i for i in range(start + 1, end) if lines[i].split("=", 1)[0].strip() == key), None)
        if hit is not None:
            lines[hit] = entry
        else:
            insert = end
            while insert > start + 1 and not lines[insert - 1].strip():
                insert -= 1
            lines.insert(insert, entry)
    return "\n".join(lines) + "\n"


def remove_ini_key(text: str, section: str, key: str) -> str:
    lines = text.splitlines()
    start, end = _section_span(lines, section)
    if start is None:
        return text
    kept = [line for i, line in enumerate(lines) if not (start < i < end and line.split("=", 1)[0].strip() == key)]
    return "\n".join(kept) + ("\n" if kept else "")


# ---- which Python does this Krita embed? ------------------------------------------------------------

def python_from_binary(path: Path) -> str | None:
    """The ``libpython3.X`` a Krita library links (read from its dynamic section), or None."""
    try:
        found = PY_VERSION.search(path.read_bytes())
    except OSError:
        return None
    return found.group(1).decode() if found else None


def _pykrita_libraries(prefix: Path) -> list:
    patterns = ("lib/kritaplugins/kritapykrita.*", "lib/*/kritaplugins/kritapykrita.*", "lib64/kritaplugins/kritapykrita.*",
                "lib/libkritalibkis.*", "lib/*/libkritalibkis.*", "lib64/libkritalibkis.*")
    return [p for pattern in patterns for p in sorted(prefix.glob(pattern))]


def detect_krita_python(krita: str | None = None) -> tuple:
    """(``"3.X"``, how it was found) for the Krita at ``krita`` / ``$MUSELINK_KRITA`` / on PATH."""
    forced = os.environ.get("MUSELINK_KRITA_PYTHON")
    if forced:
        if not re.fullmatch(r"3\.\d+", forced):
            raise InstallError(f"MUSELINK_KRITA_PYTHON must look like 3.11, got {forced!r}")
        return forced, "MUSELINK_KRITA_PYTHON"
    exe = krita or os.environ.get("MUSELINK_KRITA") or shutil.which("krita")
    if not exe:
        raise InstallError("Krita not found on PATH; set MUSELINK_KRITA=/path/to/krita "
                           "(or MUSELINK_KRITA_PYTHON=3.X for the Python your Krita bundles)")
    exe = Path(exe).resolve()
    if exe.suffix.lower() == ".appimage":
        raise InstallError(f"{exe} is an AppImage with its own bundled Python; extract it (--appimage-extract) and "
                           "set MUSELINK_KRITA=squashfs-root/usr/bin/krita, or set MUSELINK_KRITA_PYTHON=3.X")
    prefix = exe.parent.parent
    for lib in _pykrita_libraries(prefix):
        version = python_from_binary(lib)
        if version:
            return version, f"{lib} links libpython{version}"
    for dll in sorted(exe.parent.glob("python3*.dll")):  # Windows builds
        digits = re.fullmatch(r"python3(\d+)\.dll", dll.name, re.I)
        if digits:
            return f"3.{digits.group(1)}", f"{dll.name} next to {exe.name}"
    framework = exe.parent.parent / "Frameworks" / "Python.framework" / "Versions"  # macOS bundle
    versions = sorted(p.name for p in framework.glob("3.*")) if framework.exists() else []
    if versions:
        return versions[-1], f"bundled {framework}"
    version = python_from_binary(exe)
    if version:
        return version, f"{exe} links libpython{version}"
    raise InstallError(f"could not tell which Python {exe} embeds (no kritapykrita plugin found under {prefix}); "
                       "set MUSELINK_KRITA_PYTHON=3.X")


# ---- install / uninstall ----------------------------------------------------------------------------

def _copy_plugin(pykrita: Path) -> Path:
    dest = pykrita / PLUGIN
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(HERE / PLUGIN, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "_vendor"))
    shutil.copy2(HERE / DESKTOP, pykrita / DESKTOP)
    return dest


def install(args) -> int:
    try:
        profile = Path(args.profile).expanduser() if getattr(args, "profile", None) else default_profile()
        version, how = detect_krita_python()
        pykrita = profile / "pykrita"
        pykrita.mkdir(parents=True, exist_ok=True)
        dest = _copy_plugin(pykrita)
        vendored = dest / "_vendor"
        vendor.vendor_pure(vendored)
        zmq_how = vendor.vendor_pyzmq(vendored, version)
        rc = kritarc_path()
        rc.parent.mkdir(parents=True, exist_ok=True)
        rc.write_text(set_ini_key(rc.read_text() if rc.exists() else "", "python", ENABLE_KEY, "true"))
    except (InstallError, RuntimeError, OSError) as exc:
        raise CliError(f"installing the Krita add-on failed: {exc}") from None
    manifest = {"plugin": str(dest), "desktop": str(pykrita / DESKTOP), "kritarc": str(rc),
                "krita_python": version, "krita_python_found": how, "pyzmq": zmq_how}
    (dest / "install.json").write_text(json.dumps(manifest, indent=1))
    print(f"installed the muselink Krita add-on into {pykrita}")
    print(f"  Krita's Python: {version} ({how}); pyzmq: {zmq_how}")
    print(f"  enabled in {rc}; restart Krita, then Settings > Dockers > muselink")
    return 0


def uninstall(args) -> int:
    profile = Path(args.profile).expanduser() if getattr(args, "profile", None) else default_profile()
    pykrita = profile / "pykrita"
    removed = [str(p) for p in (pykrita / PLUGIN, pykrita / DESKTOP) if vendor.remove_tree(p)]
    rc = kritarc_path()
    if rc.exists():
        text = rc.read_text()
        new = remove_ini_key(text, "python", ENABLE_KEY)
        if new != text:
            rc.write_text(new)
            removed.append(f"{ENABLE_KEY} in {rc}")
    print("removed " + ", ".join(removed) if removed else f"the muselink Krita add-on is not installed in {pykrita}")
    return 0
