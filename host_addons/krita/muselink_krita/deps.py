"""The bridge and host contract, vendored (inside Krita) or from the muselink package (tests)."""
try:  # inside Krita: muselink install put these into _vendor
    import muselink_hostspec as hostspec
    from muselink_bridge import protocol
    from muselink_bridge.client import Client, DaemonUnavailable
    from muselink_bridge.payloads import ImageData
    from muselink_bridge.values import Bounds
except ImportError:  # a development checkout / the test suite
    from muselink.bridge import protocol
    from muselink.bridge.client import Client, DaemonUnavailable
    from muselink.bridge.payloads import ImageData
    from muselink.bridge.values import Bounds
    from muselink.host_addons import hostspec

__all__ = ["Bounds", "Client", "DaemonUnavailable", "ImageData", "hostspec", "protocol"]
