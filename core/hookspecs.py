"""The muselink plugin contract: every hook a plugin may implement.

Plugins are modules or objects with functions marked ``@hookimpl``. Built-in capabilities are
ordinary plugins (see ``muselink.plugins.DEFAULT_PLUGINS``); third-party plugins are found
through the entry-point group ``muselink.plugins.v1``. A plugin that fails to load is reported
in ``status`` and skipped.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .capability import Capability
    from .config import DaemonConfig

PROJECT = "muselink"
ENTRY_POINT_GROUP = "muselink.plugins.v1"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def muselink_capabilities() -> list[Capability]:
    """Return the capabilities this plugin provides.

    Called once when the daemon (or the CLI) builds its registry. Each result is a list of
    :class:`muselink.core.capability.Capability`; all lists are concatenated. A name offered by
    two plugins keeps the first registered one (later plugins are called first by pluggy, so a
    third-party plugin can override a built-in, which is ``trylast``). Not ``firstresult``.
    """


@hookspec
def muselink_configure(config: DaemonConfig) -> None:
    """Receive the daemon configuration (device, model memory budget, config dir) before serving.

    Called once in the daemon process before the first job. Return value ignored; not ``firstresult``.
    """


@hookspec
def muselink_add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add sub-commands to the ``muselink`` CLI (e.g. ``muselink models``, ``muselink train``).

    ``subparsers`` is argparse's sub-parser collection; set ``func=callable(args) -> int`` as the
    parser default to handle the command. Return value ignored; not ``firstresult``.
    """


@hookspec
def muselink_demo(client: Any, out_dir: Path) -> list[Path]:
    """Add a step to ``muselink demo``: run capabilities through ``client`` (a bridge ``Client`` already
    connected to the demo's daemon) on sample inputs and write the results under ``out_dir``.

    Returns the paths written (printed by the demo). Called after the built-in style steps; the lists
    of all plugins are concatenated. A plugin whose capabilities are unavailable returns []. Not ``firstresult``.
    """


@hookspec
def muselink_shutdown() -> None:
    """Release resources (models, threads, files) when the daemon stops. Return value ignored."""
