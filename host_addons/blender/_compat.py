"""Where the bridge and the host contract come from: the copies vendored into the add-on
(``_vendor``, inside Blender) or the installed ``muselink`` package (tests, development)."""
from __future__ import annotations

try:  # inside Blender: the add-on's _vendor folder is on sys.path
    import muselink_hostspec as hostspec
    from muselink_bridge import client as bridge_client
    from muselink_bridge import protocol
    from muselink_bridge.payloads import ImageData
except ImportError:  # pragma: no cover - depends on how the add-on is loaded
    from muselink.host_addons import hostspec
    from muselink.bridge import client as bridge_client
    from muselink.bridge import protocol
    from muselink.bridge.payloads import ImageData

__all__ = ["ImageData", "bridge_client", "hostspec", "protocol"]
