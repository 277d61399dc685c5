"""muselink docker for Krita.

Inside Krita this package puts its ``_vendor`` folder (bridge, host contract, pluggy, pyzmq,
written by ``muselink install krita``) first on ``sys.path`` and registers the docker. Outside
Krita (unit tests) importing it does nothing else, so the pure modules stay testable.
"""
import importlib.util
import os
import sys

_VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_vendor")
if os.path.isdir(_VENDOR) and _VENDOR not in sys.path:
    sys.path.insert(0, _VENDOR)

# MUSELINK_KRITA_REGISTER=0: import the modules without adding the docker (kritarunner API tests)
if importlib.util.find_spec("krita") is not None and os.environ.get("MUSELINK_KRITA_REGISTER", "1") != "0":
    from .host.docker import register

    register()
