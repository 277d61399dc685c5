"""Daemon-side tools for the host add-ons: ``muselink install|uninstall HOST`` and ``muselink midi …``.

These run in the muselink command line (they may use ``muselink.core.api``); the add-ons they
install or start (``muselink.host_addons``) import only the bridge. An installer is a module with
``install(args) -> int`` and ``uninstall(args) -> int``, listed in :data:`INSTALLERS`. Cheap to
import: each command loads its module when it runs.
"""
from __future__ import annotations

import importlib

from muselink.core.api import hookimpl

INSTALLERS = {"krita": "muselink.plugins.hosts.krita_installer", "blender": "muselink.plugins.hosts.blender_installer",
              "ardour": "muselink.plugins.hosts.ardour_installer"}


def cmd_install(args) -> int:
    module = importlib.import_module(INSTALLERS[args.host])
    return module.install(args) if args.action == "install" else module.uninstall(args)


@hookimpl(trylast=True)
def muselink_add_commands(subparsers) -> None:
    for action in ("install", "uninstall"):
        p = subparsers.add_parser(action, help=f"{action} a host add-on ({', '.join(INSTALLERS)})")
        p.add_argument("host", choices=sorted(INSTALLERS))
        p.add_argument("--profile", help="Krita: the resource folder (default: the user's)")
        p.add_argument("--blender", help="Blender: path to the blender executable (default: on PATH)")
        p.add_argument("--user-resources", help="Blender: BLENDER_USER_RESOURCES folder to install into")
        p.add_argument("--ardour-config", help="Ardour: its configuration folder, e.g. ~/.config/ardour8 "
                                               "(default: every Ardour 7 and 8 folder)")
        p.set_defaults(func=cmd_install, action=action)
    from .midi_commands import add_commands

    add_commands(subparsers)
