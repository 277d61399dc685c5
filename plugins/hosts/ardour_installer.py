"""``muselink install ardour`` / ``muselink uninstall ardour``.

Writes three Lua *action scripts* (``muselink_continue.lua``, ``muselink_infill.lua``,
``muselink_variation.lua``) into the ``scripts`` folder of the user's Ardour 7 and 8 configuration:

* Linux: ``$XDG_CONFIG_HOME/ardour7/scripts`` (``~/.config/ardour7/scripts``), ``…/ardour8/scripts``
* macOS: ``~/Library/Preferences/Ardour7/scripts``, ``…/Ardour8/scripts``
* Windows: ``%LOCALAPPDATA%\\ardour7\\scripts``, ``…\\ardour8\\scripts``

(every one of those configuration folders that exists; both when none does yet), or into
``--ardour-config DIR``'s ``scripts``. Each script is rendered from ``muselink_action.lua`` with the
command that runs this muselink (this Python, ``-m muselink.core.cli``), so Ardour needs nothing on
its ``PATH``. Ardour lists them in Edit › Lua Scripts › Script Manager, where the user binds them
(Ardour keeps the bindings in its own ``ui_scripts`` file, which it rewrites; muselink does not edit it).
Uninstall removes only files that carry muselink's mark.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

TEMPLATE = Path(importlib.util.find_spec("muselink.host_addons.ardour").submodule_search_locations[0]) / "muselink_action.lua"
MARK = "muselink-ardour-action"
VERSIONS = (7, 8)
TIMEOUT_S = 60
ACTIONS = {
    "continue": "Continue the selected MIDI region(s) for N more bars (muselink's music model, music.continue).",
    "infill": "Redo some bars of the selected MIDI region(s), given the music around them (music.infill): a new "
              "take of the region with those bars rewritten.",
    "variation": "A new take of the selected MIDI region(s): same key, meter and rhythm, different notes "
                 "(music.variation; 'similarity' sets how many notes stay).",
}
BIND_HINT = ("In Ardour: Edit > Lua Scripts > Script Manager > Action Scripts: select an unset action, press "
             "'Add/Set' and pick 'muselink: continue' (the same for infill and variation). They then appear as "
             "buttons in the editor toolbar and can get keyboard shortcuts.")


def config_root() -> Path:
    """The folder holding Ardour's per-version configuration folders on this OS."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def version_dir(version: int) -> Path:
    name = f"Ardour{version}" if sys.platform == "darwin" else f"ardour{version}"
    return config_root() / name


def script_dirs(explicit: str | None = None) -> list[Path]:
    """``scripts`` folders to install into: ``explicit``'s, else those of every Ardour 7/8 configuration
    folder that exists, else both (so Ardour finds them on its first start)."""
    if explicit:
        return [Path(explicit).expanduser() / "scripts"]
    found = [version_dir(v) for v in VERSIONS if version_dir(v).is_dir()]
    return [d / "scripts" for d in (found or [version_dir(v) for v in VERSIONS])]


def lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def muselink_command() -> list[str]:
    """How an Ardour script runs this muselink: this interpreter with the CLI module."""
    return [sys.executable, "-m", "muselink.core.cli"]


def render(action: str, command: list[str], timeout: float = TIMEOUT_S) -> str:
    """The action script for ``action`` (one of ACTIONS) running ``command``."""
    text = TEMPLATE.read_text()
    for key, value in (("@ACTION@", action), ("@DESCRIPTION@", ACTIONS[action]),
                       ("@COMMAND@", "{ " + ", ".join(lua_string(a) for a in command) + " }"),
                       ("@TIMEOUT@", f"{timeout:g}")):
        text = text.replace(key, value)
    return text


def script_name(action: str) -> str:
    return f"muselink_{action}.lua"


def install(args) -> int:
    from muselink.core.api import CliError

    written = []
    try:
        for folder in script_dirs(getattr(args, "ardour_config", None)):
            folder.mkdir(parents=True, exist_ok=True)
            for action in ACTIONS:
                path = folder / script_name(action)
                path.write_text(render(action, muselink_command()))
                written.append(path)
    except OSError as exc:
        raise CliError(f"installing the Ardour actions failed: {exc}") from None
    folders = sorted({str(p.parent) for p in written})
    print(f"installed the muselink Ardour actions (continue, infill, variation) into {', '.join(folders)}")
    print(f"  they run: {' '.join(muselink_command())} midi clip ... (Ardour waits at most {TIMEOUT_S} s)")
    print(f"  {BIND_HINT}")
    print("  start the daemon first: muselink serve")
    return 0


def uninstall(args) -> int:
    removed = []
    explicit = getattr(args, "ardour_config", None)
    folders = script_dirs(explicit) if explicit else [version_dir(v) / "scripts" for v in VERSIONS]
    for folder in folders:
        for action in ACTIONS:
            path = folder / script_name(action)
            try:
                if MARK in path.read_text(errors="replace"):
                    path.unlink()
                    removed.append(str(path))
            except OSError:
                continue
    print("removed " + ", ".join(removed) if removed else "the muselink Ardour actions are not installed")
    if removed:
        print("  Ardour keeps any action slot you bound to them; clear it in Edit > Lua Scripts > Script Manager")
    return 0
