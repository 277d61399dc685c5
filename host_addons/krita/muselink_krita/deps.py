"""The bridge and host contract: vendored (inside Krita) or from the muselink package (tests).

The only muselink code the add-on uses; everything else it imports is stdlib, PyQt5 (``ui``) or
``krita`` (``host/`` only)."""
try:  # inside Krita: muselink install put these into _vendor
    import muselink_hostspec as hostspec
    from muselink_bridge import protocol
    from muselink_bridge.client import Client, DaemonUnavailable
    from muselink_bridge.host import Applied, Capture, CaptureRequest, HostInfo, Output
    from muselink_bridge.jobs import DONE, Job, Outcome
    from muselink_bridge.payloads import ImageData
    from muselink_bridge.prompts import PromptTarget
    from muselink_bridge.schema import CapabilitySpec, ParamSpec
    from muselink_bridge.session import NothingCaptured, Session
    from muselink_bridge.values import Bounds
except ImportError:  # a development checkout / the test suite
    from muselink.bridge import protocol
    from muselink.bridge.client import Client, DaemonUnavailable
    from muselink.bridge.host import Applied, Capture, CaptureRequest, HostInfo, Output
    from muselink.bridge.jobs import DONE, Job, Outcome
    from muselink.bridge.payloads import ImageData
    from muselink.bridge.prompts import PromptTarget
    from muselink.bridge.schema import CapabilitySpec, ParamSpec
    from muselink.bridge.session import NothingCaptured, Session
    from muselink.bridge.values import Bounds
    from muselink.host_addons import hostspec

__all__ = ["DONE", "Applied", "Bounds", "CapabilitySpec", "Capture", "CaptureRequest", "Client", "DaemonUnavailable",
           "HostInfo", "ImageData", "Job", "NothingCaptured", "Outcome", "Output", "ParamSpec", "PromptTarget", "Session",
           "hostspec", "protocol"]
