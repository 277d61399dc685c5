"""muselink bridge: wire protocol, client, capability schema and the host session every add-on drives.
Stdlib + pyzmq only (numpy optional), so every host add-on can vendor it into its host's embedded Python."""
from .payloads import BlobData, ImageData, Note, NotesData, ProtocolError
from .protocol import PROTOCOL_VERSION
from .values import Bounds, Extent

__all__ = ["BlobData", "Bounds", "Extent", "ImageData", "Note", "NotesData", "PROTOCOL_VERSION", "ProtocolError"]
