"""``muselink install blender`` / ``muselink uninstall blender``.

Asks Blender for its version, its Python version and its user folders, then

* Blender 4.2+: builds an extension zip (this package + ``blender_manifest.toml`` listing a pyzmq
  wheel for Blender's Python, fetched with pip; bridge, host contract and pluggy in ``_vendor``)
  and installs and enables it through Blender's extension API
  (``bpy.ops.extensions.package_install_files``) into the ``user_default`` repository;
* Blender 3.x–4.1: copies the package as the legacy add-on ``muselink_blender`` with a ``_vendor``
  folder (pyzmq built for Blender's Python included) and enables it.

``--blender`` may name a Blender executable or a Python that has the ``bpy`` module (PyPI
``bpy``); ``--user-resources`` sets ``BLENDER_USER_RESOURCES`` (install somewhere else than the
user's own Blender folders, e.g. for tests). Preferences are saved so the add-on stays enabled.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from muselink.core.api import CliError
from muselink.host_addons import blender as addon

from . import vendor

HERE = Path(addon.__file__).resolve().parent  # host_addons/blender: the add-on's package
ADDON_ID = "muselink_blender"
EXTENSION_REPO = "user_default"
LEFT_OUT = ("__pycache__", "*.pyc", "_vendor", "wheels", ".gitignore")  # build leftovers, never shipped
MARK = "MUSELINK-BLENDER:"
PLATFORMS = {("linux", "x86_64"): ("linux-x64", "manylinux_2_28_x86_64"),
             ("linux", "aarch64"): ("linux-arm64", "manylinux_2_28_aarch64"),
             ("darwin", "arm64"): ("macos-arm64", "macosx_11_0_arm64"),
             ("darwin", "x86_64"): ("macos-x64", "macosx_10_15_x86_64"),
             ("win32", "amd64"): ("windows-x64", "win_amd64")}

INFO_SCRIPT = f"""
import bpy, sys, json, platform
print({MARK!r} + json.dumps({{"version": list(bpy.app.version), "version_string": bpy.app.version_string,
    "python": "%d.%d" % sys.version_info[:2], "system": sys.platform, "machine": platform.machine().lower(),
    "addons": bpy.utils.user_resource('SCRIPTS', path="addons"),
    "extensions": bpy.utils.user_resource('EXTENSIONS') if bpy.app.version >= (4, 2, 0) else ""}}))
"""

INSTALL_EXTENSION = f"""
import bpy, addon_utils, json
repo = next(r for r in bpy.context.preferences.extensions.repos if r.module == {EXTENSION_REPO!r})
repo.enabled = True
bpy.ops.extensions.package_install_files(filepath=ZIP, repo={EXTENSION_REPO!r}, enable_on_install=True, overwrite=True)
module = "bl_ext.{EXTENSION_REPO}.{ADDON_ID}"
enabled = addon_utils.check(module)[1]
bpy.ops.wm.save_userpref()
print({MARK!r} + json.dumps({{"module": module, "enabled": enabled, "operator": hasattr(bpy.types, "MUSELINK_OT_stylize_texture")}}))
addon_utils.disable(module)  # unregister before exit (bpy-as-a-module hangs otherwise)
"""

INSTALL_LEGACY = f"""
import bpy, addon_utils, json
addon_utils.modules_refresh()
mod = addon_utils.enable({ADDON_ID!r}, default_set=True)
bpy.ops.wm.save_userpref()
print({MARK!r} + json.dumps({{"module": {ADDON_ID!r}, "enabled": mod is not None,
                              "operator": hasattr(bpy.types, "MUSELINK_OT_stylize_texture")}}))
addon_utils.disable({ADDON_ID!r})
"""

UNINSTALL = f"""
import bpy, addon_utils, json
module = MODULE
if addon_utils.check(module)[1]:
    addon_utils.disable(module, default_set=True)
if module.startswith("bl_ext."):
    repo_index = next(i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == {EXTENSION_REPO!r})
    bpy.ops.extensions.package_uninstall(repo_index=repo_index, pkg_id={ADDON_ID!r})
bpy.ops.wm.save_userpref()
print({MARK!r} + json.dumps({{"module": module, "removed": True}}))
"""



def _error(message: str) -> Exception:
    return CliError(message)


def find_blender(path: str | None) -> str:
    found = path or shutil.which("blender")
    if not found:
        raise _error("Blender not found on PATH; pass --blender /path/to/blender (or a Python with the bpy module)")
    if not (Path(found).exists() or shutil.which(found)):
        raise _error(f"--blender {found}: no such file")
    return found


def is_bpy_python(blender: str) -> bool:
    """True when ``blender`` is a Python interpreter with the ``bpy`` module, not a Blender executable."""
    return Path(blender).name.lower().startswith("python")


def run_in_blender(blender: str, code: str, env: dict | None = None, timeout: float = 180.0) -> dict:
    """Run ``code`` in Blender (background, or the bpy module) and return the JSON it printed after MARK."""
    if is_bpy_python(blender):
        cmd = [blender, "-c", code]
    else:
        cmd = [blender, "-b", "--python-exit-code", "1", "--python-expr", code]
    full_env = {**os.environ, **(env or {})}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise _error(f"{blender} did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise _error(f"cannot run {blender}: {exc}") from None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
    raise _error(f"{blender} failed (exit {proc.returncode}): " + " | ".join(tail))


def blender_env(args) -> dict:
    resources = getattr(args, "user_resources", None)
    return {"BLENDER_USER_RESOURCES": str(Path(resources).resolve())} if resources else {}


def detect(blender: str, env: dict | None = None) -> dict:
    """Blender's version, its Python version, platform and user add-on/extension folders."""
    info = run_in_blender(blender, INFO_SCRIPT, env)
    info["version"] = tuple(info["version"])
    info["extension"] = info["version"] >= (4, 2, 0)
    return info


def stage_package(dest: Path) -> None:
    """Copy the add-on's own files (its package with ``host/``, and the manifest; no build leftovers) into ``dest``."""
    shutil.copytree(HERE, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*LEFT_OUT))


def vendor_into(dest: Path, python_version: str | None) -> list:
    """``_vendor`` with bridge, host contract, pluggy, and pyzmq for ``python_version`` (None: no pyzmq)."""
    vendor_dir = dest / "_vendor"
    vendor.vendor_pure(vendor_dir)
    vendor.write_vendor_init(vendor_dir)
    return [vendor.vendor_pyzmq(vendor_dir, python_version)] if python_version else []


def platform_tags(info: dict) -> tuple[str, str]:
    key = (info["system"], info["machine"])
    if key not in PLATFORMS:
        raise _error(f"no pyzmq wheel mapping for Blender on {key[0]}/{key[1]}")
    return PLATFORMS[key]


def download_pyzmq_wheel(dest: Path, python_version: str, platform_tag: str) -> Path:
    """A binary pyzmq wheel for Blender's Python and platform, fetched from the package index."""
    try:
        return vendor.download_pyzmq_wheel(dest, python_version, platform_tag)
    except RuntimeError as exc:
        raise _error(str(exc)) from None


def manifest_text(platform: str, wheels: list) -> str:
    text = (HERE / "blender_manifest.toml").read_text()
    extra = f'platforms = ["{platform}"]\nwheels = [{", ".join(json.dumps("./wheels/" + w) for w in wheels)}]\n'
    head, sep, tail = text.partition("\n[permissions]")
    return head.rstrip() + "\n" + extra + sep + tail


def build_extension(out_zip: Path, info: dict) -> Path:
    """The extension zip for this Blender: package + manifest with the pyzmq wheel + _vendor."""
    platform, tag = platform_tags(info)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / ADDON_ID
        stage_package(stage)
        vendor_into(stage, None)  # pyzmq comes as a wheel that Blender installs itself
        wheel = download_pyzmq_wheel(stage / "wheels", info["python"], tag)
        (stage / "blender_manifest.toml").write_text(manifest_text(platform, [wheel.name]))
        out_zip.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(stage.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, path.relative_to(stage).as_posix())
    return out_zip


def install(args) -> int:
    blender = find_blender(getattr(args, "blender", None))
    env = blender_env(args)
    info = detect(blender, env)
    print(f"Blender {info['version_string']} with Python {info['python']}")
    if info["extension"]:
        with tempfile.TemporaryDirectory() as tmp:
            zip_path = build_extension(Path(tmp) / f"{ADDON_ID}.zip", info)
            print(f"built extension {zip_path.name} ({zip_path.stat().st_size // 1024} KiB)")
            result = run_in_blender(blender, f"ZIP = {str(zip_path)!r}\n" + INSTALL_EXTENSION, env)
    else:
        target = Path(info["addons"]) / ADDON_ID
        if target.exists():
            shutil.rmtree(target)
        stage_package(target)
        for line in vendor_into(target, info["python"]):
            print(line)
        result = run_in_blender(blender, INSTALL_LEGACY, env)
    if not (result.get("enabled") and result.get("operator")):
        raise _error(f"the add-on was copied but Blender did not enable it ({result})")
    where = info["extensions"] if info["extension"] else info["addons"]
    print(f"installed and enabled {result['module']} in {where}")
    return 0


def uninstall(args) -> int:
    blender = find_blender(getattr(args, "blender", None))
    env = blender_env(args)
    info = detect(blender, env)
    legacy = Path(info["addons"]) / ADDON_ID
    module = f"bl_ext.{EXTENSION_REPO}.{ADDON_ID}" if info["extension"] else ADDON_ID
    if info["extension"] and not (Path(info["extensions"]) / EXTENSION_REPO / ADDON_ID).exists() and not legacy.exists():
        print("muselink is not installed in this Blender")
        return 0
    if not info["extension"] and not legacy.exists():
        print("muselink is not installed in this Blender")
        return 0
    run_in_blender(blender, f"MODULE = {module!r}\n" + UNINSTALL, env)
    if legacy.exists():
        shutil.rmtree(legacy)
    print(f"uninstalled {module}")
    return 0
