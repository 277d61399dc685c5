"""muselink for Blender: stylize and generate textures with a local muselink daemon.

One package that is both a Blender 4.2+ extension (``blender_manifest.toml``, pyzmq as a bundled
wheel) and a legacy Blender 3.x add-on (``bl_info``, pyzmq in ``_vendor``). ``muselink install
blender`` builds and installs it. Same rooms as every add-on: ``host/`` is the only code importing
``bpy`` (adapter, operators, panel, properties, timers); :mod:`.controller` is the session glue (the
bridge's host session on a worker thread); :mod:`.form`, :mod:`.wiring` and :mod:`.pixels` are plain
Python, unit-tested without Blender.
"""
import os
import sys

bl_info = {
    "name": "muselink",
    "author": "muselink",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "3D Viewport / Shader Editor > Sidebar > muselink",
    "description": "Stylize and generate textures with a local muselink daemon",
    "category": "Material",
}

_VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_vendor")


def _use_vendor() -> None:
    """Put the vendored bridge, host contract, pluggy (and on 3.x pyzmq) first on sys.path."""
    if os.path.isdir(_VENDOR) and _VENDOR not in sys.path:
        sys.path.insert(0, _VENDOR)


def register():
    _use_vendor()
    from . import host

    host.register()


def unregister():
    from . import host

    host.unregister()
