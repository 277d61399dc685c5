"""Where the bridge and the host contract come from: the copies vendored into the add-on
(``_vendor``, inside Blender) or the installed ``muselink`` package (tests, development).
The only muselink code the add-on uses; ``bpy`` is imported in ``host/`` only."""
from __future__ import annotations

try:  # inside Blender: the add-on's _vendor folder is on sys.path
    import muselink_hostspec as hostspec
    from muselink_bridge import protocol
    from muselink_bridge.client import default_endpoint
    from muselink_bridge.host import Applied, Capture, CaptureRequest, HostInfo
    from muselink_bridge.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job, Outcome, Policy
    from muselink_bridge.payloads import ImageData
    from muselink_bridge.prompts import PromptTarget
    from muselink_bridge.schema import CapabilitySpec, ParamSpec
    from muselink_bridge.session import Session
except ImportError:  # pragma: no cover - depends on how the add-on is loaded
    from muselink.bridge import protocol
    from muselink.bridge.client import default_endpoint
    from muselink.bridge.host import Applied, Capture, CaptureRequest, HostInfo
    from muselink.bridge.jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job, Outcome, Policy
    from muselink.bridge.payloads import ImageData
    from muselink.bridge.prompts import PromptTarget
    from muselink.bridge.schema import CapabilitySpec, ParamSpec
    from muselink.bridge.session import Session
    from muselink.host_addons import hostspec

__all__ = ["CANCELLED", "DONE", "FAILED", "QUEUED", "RUNNING", "Applied", "CapabilitySpec", "Capture", "CaptureRequest",
           "HostInfo", "ImageData", "Job", "Outcome", "ParamSpec", "Policy", "PromptTarget", "Session", "default_endpoint", "hostspec",
           "protocol"]
