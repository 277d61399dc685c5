"""The plugin manager: loads built-in and third-party plugins and indexes their capabilities."""
from __future__ import annotations

import importlib
import json
import logging
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from muselink.bridge.schema import CapabilitySpec

from .capability import Capability

log = logging.getLogger("muselink.plugins")


class Registry:
    """A pluggy manager plus the capability index built from ``muselink_capabilities``."""

    def __init__(self, load_entry_points: bool = True, builtins: tuple[str, ...] | None = None):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, str] = {}  # plugin name -> "ok" or the load error
        from muselink.plugins import DEFAULT_PLUGINS

        for module_name in DEFAULT_PLUGINS if builtins is None else builtins:
            self._load(module_name, lambda m=module_name: importlib.import_module(m))
        if load_entry_points:
            for ep in entry_points(group=hookspecs.ENTRY_POINT_GROUP):
                self._load(ep.name, ep.load)
        self.capabilities = self._collect()

    def _load(self, name: str, loader) -> None:
        try:
            plugin = loader()
            self.pm.register(plugin, name=name)
            self.plugins[name] = "ok"
        except Exception as exc:  # a broken plugin is reported, never fatal
            self.plugins[name] = f"failed to load: {type(exc).__name__}: {exc}"
            log.warning("plugin %s %s", name, self.plugins[name])

    def register(self, plugin, name: str) -> None:
        """Register an extra plugin object (used by tests and embedding code) and re-index."""
        self.pm.register(plugin, name=name)
        self.plugins[name] = "ok"
        self.capabilities = self._collect()

    def _collect(self) -> dict[str, Capability]:
        found: dict[str, Capability] = {}
        for caps in self.pm.hook.muselink_capabilities():
            for cap in caps or ():
                if cap.name not in found and self._schema_ok(cap):
                    found[cap.name] = cap
        return dict(sorted(found.items()))

    @staticmethod
    def _schema_ok(cap: Capability) -> bool:
        """A capability whose schema clients could not read (e.g. choices that are not strings or numbers)
        is left out and logged, so ``status`` always decodes."""
        spec = CapabilitySpec(cap.name, cap.summary, cap.lane, tuple(cap.params), tuple(cap.inputs), tuple(cap.outputs))
        try:
            CapabilitySpec.from_json(json.loads(json.dumps(spec.to_json(), allow_nan=False)), f"capability {cap.name!r}")
        except (ValueError, TypeError) as exc:  # ProtocolError is a ValueError
            log.warning("capability %s left out: its schema cannot be sent: %s", cap.name, exc)
            return False
        return True

    def get(self, name: str) -> Capability:
        try:
            return self.capabilities[name]
        except KeyError:
            raise KeyError(f"unknown capability {name!r}; available: {', '.join(self.capabilities) or 'none'}") from None
