"""The layers hold: who may import what, read from the source (like datasette's plugin meta-tests).

``python tests/test_layers.py`` prints the import map this checks, layer by layer.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"core": "muselink.core", "bridge": "muselink.bridge", "plugins": "muselink.plugins",
            "host_addons": "muselink.host_addons"}
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
BRIDGE = ("muselink.bridge", "muselink_bridge")
HOST_CONTRACT = ("muselink.host_addons.hostspec", "muselink_hostspec")
# each in-host add-on: its folder, the host API only its host/ room may import, what else it may use
ADDONS = {
    "krita": ("host_addons/krita/muselink_krita", ("krita",), ("PyQt5", "numpy")),
    "blender": ("host_addons/blender", ("bpy", "addon_utils", "bpy_extras", "mathutils"), ("numpy",)),
    "midi": ("host_addons/midi", ("rtmidi", "mido.backends"), ("mido",)),
}
MIDI_PORT_CALLS = (".open_input(", ".open_output(", "mido.Backend(", ".get_input_names(")
MAX_LINES = 400


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[:2] == ["tests", "thirdparty"]:  # the third-party test plugin: its own top-level package
        parts = parts[2:]
    else:
        parts[0] = PACKAGES[parts[0]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports (relative imports resolved), wherever in the file."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
                found += [module] if node.module else [f"{base}.{a.name}" for a in node.names]
            else:
                found += [f"{node.module}.{a.name}" if a.name != "*" else node.module for a in node.names]
    return found


def under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sources(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "_vendor" not in p.parts and "__pycache__" not in p.parts)


def third_party(names: list[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] not in STDLIB and not n.startswith(("muselink", "muselink_"))}


# ---- the tests -------------------------------------------------------------------------------------
def test_bridge_needs_only_the_standard_library_and_pyzmq():
    """Every bridge module imports the stdlib, pyzmq, numpy (optional, inside functions) and the bridge only."""
    for path in sources("bridge"):
        names = imports(path)
        assert all(under(n, BRIDGE) or n.split(".")[0] in STDLIB | {"zmq", "numpy"} for n in names), path


@pytest.mark.parametrize("host", sorted(ADDONS))
def test_only_the_host_room_imports_the_host_api(host):
    """In each add-on only ``host/`` imports its host's API (krita, bpy, the MIDI backend); the add-on imports
    nothing of muselink but the bridge and the host contract."""
    folder, api, allowed = ADDONS[host]
    for path in sources(folder):
        names = imports(path)
        own = module_name(ROOT / folder / "__init__.py")
        in_host = "host" in path.relative_to(ROOT / folder).parts[:-1]
        for name in names:
            if under(name, api):
                assert in_host, f"{path} imports {name}: only {folder}/host/ may"
            elif name.startswith("muselink"):
                assert under(name, BRIDGE + HOST_CONTRACT + (own,)), f"{path} imports {name}: an add-on imports only the bridge"
        extra = [n for n in third_party(names) if not under(n, api + allowed)]
        assert not extra, f"{path} imports {extra}"
        if host == "midi" and not in_host:
            assert not any(call in path.read_text() for call in MIDI_PORT_CALLS), f"{path} touches MIDI ports"


@pytest.mark.parametrize("host", sorted(ADDONS))
def test_every_add_on_has_the_same_rooms(host):
    """Each add-on has a ``host/`` folder with ``adapter.py`` (the host hooks) and a ``controller.py`` (session glue)."""
    folder = ROOT / ADDONS[host][0]
    for room in ("host/__init__.py", "host/adapter.py", "controller.py"):
        assert (folder / room).is_file(), f"{host}: {room} missing"
    assert "hookimpl" in (folder / "host" / "adapter.py").read_text()


def test_plugins_import_only_the_published_api_from_core():
    """A plugin imports ``muselink.core.api`` and nothing else of core (built-ins are held to it like third parties)."""
    for path in sources("plugins") + sources("tests/thirdparty"):
        bad = [n for n in imports(path) if under(n, ("muselink.core",)) and not under(n, ("muselink.core.api",))]
        assert not bad, f"{path} imports {bad}; use muselink.core.api"


def test_core_imports_no_plugin_and_no_add_on():
    """Core reaches plugins only through hooks: no plugin module, no host add-on is imported by core."""
    for path in sources("core"):
        bad = [n for n in imports(path) if under(n, ("muselink.host_addons",))
               or (under(n, ("muselink.plugins",)) and n != "muselink.plugins.DEFAULT_PLUGINS")]
        assert not bad, f"{path} imports {bad}"


def test_no_source_file_is_longer_than_the_house_limit():
    """Files stay small: no module of the daemon, the bridge, the plugins or the add-ons is over 400 lines."""
    for folder in PACKAGES:
        for path in sources(folder):
            assert len(path.read_text().splitlines()) <= MAX_LINES, f"{path} has more than {MAX_LINES} lines"


def _label(name: str) -> str:
    """``muselink_bridge.host.Output`` → ``bridge``; ``muselink.core.api.hookimpl`` → ``core.api`` …"""
    if under(name, BRIDGE):
        return "bridge"
    if under(name, HOST_CONTRACT):
        return "hostspec"
    parts = name.split(".")
    return ".".join(parts[1:3]) if parts[1] in ("core", "plugins", "host_addons") else name


def layer_map() -> str:
    """A printable summary: what each layer imports from the other layers, and which third-party packages."""
    lines = []
    layers = {"bridge": ("bridge", "muselink.bridge"), "core": ("core", "muselink.core"),
              "plugins": ("plugins", "muselink.plugins"),
              **{f"add-on {h}": (ADDONS[h][0], module_name(ROOT / ADDONS[h][0] / "__init__.py")) for h in sorted(ADDONS)}}
    for layer, (folder, own) in layers.items():
        inner: set[str] = set()
        outer: set[str] = set()
        for path in sources(folder):
            for name in imports(path):
                if name.startswith("muselink") and not under(name, (own,)):
                    inner.add(_label(name))
                elif not name.startswith("muselink") and name.split(".")[0] not in STDLIB:
                    outer.add(name.split(".")[0])
        lines.append(f"{layer:15s} muselink: {', '.join(sorted(inner)) or '-'}")
        lines.append(f"{'':15s} third-party: {', '.join(sorted(outer)) or '-'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(layer_map())
