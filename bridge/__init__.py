"""muselink bridge: wire protocol and client. Stdlib + pyzmq only (numpy optional), so every
host add-on can vendor it into its host's embedded Python."""
from .payloads import BlobData, ImageData, Note, NotesData, ProtocolError
from .protocol import PROTOCOL_VERSION
from .values import Bounds, Extent

__all__ = ["BlobData", "Bounds", "Extent", "ImageData", "Note", "NotesData", "PROTOCOL_VERSION", "ProtocolError"]
