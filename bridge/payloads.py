"""Typed payloads that travel with jobs: raw images, note lists and opaque blobs.

An image travels as one raw binary frame described by ``{width, height, channels, dtype,
stride}``; a note list travels inline in the JSON header as a compact list of lists; a blob
(a MIDI file, a PNG) travels as one frame with a media type. Stdlib only; numpy optional.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .fields import Fields, ProtocolError, show

__all__ = ["BlobData", "ImageData", "Note", "NotesData", "Payload", "ProtocolError", "decode_payloads",
           "encode_payloads"]

DTYPE_SIZES = {"uint8": 1, "uint16": 2, "float32": 4}
MAX_SIDE = 1 << 20  # pixels per image side; the frame size check bounds the rest


@dataclass(frozen=True)
class ImageData:
    """A raw pixel buffer, rows top to bottom, channels interleaved (1 = gray/mask, 3 = RGB, 4 = RGBA)."""

    width: int
    height: int
    channels: int
    data: Any = field(repr=False)  # bytes, memoryview, numpy array or zmq.Frame buffer
    dtype: str = "uint8"
    stride: int = 0  # bytes per row; 0 means tightly packed

    kind: ClassVar[str] = "image"

    @property
    def row_bytes(self) -> int:
        return self.width * self.channels * DTYPE_SIZES[self.dtype]

    @property
    def nbytes(self) -> int:
        return (self.stride or self.row_bytes) * self.height

    def rows(self) -> list[bytes]:
        """Each row's pixel bytes (stride padding removed), top to bottom. Stdlib only."""
        raw = memoryview(self.data).cast("B")
        stride = self.stride or self.row_bytes
        return [bytes(raw[y * stride: y * stride + self.row_bytes]) for y in range(self.height)]

    def packed(self) -> bytes:
        """All pixels as one tightly packed bytes object. Stdlib only."""
        if (self.stride or self.row_bytes) == self.row_bytes:
            return bytes(memoryview(self.data).cast("B")[: self.nbytes])
        return b"".join(self.rows())

    def describe(self) -> dict[str, Any]:
        return {"kind": "image", "width": self.width, "height": self.height, "channels": self.channels,
                "dtype": self.dtype, "stride": self.stride or self.row_bytes}

    def frames(self) -> list[Any]:
        return [self.data]

    @classmethod
    def from_numpy(cls, array: Any) -> ImageData:
        """Wrap an HxW or HxWxC array (uint8/uint16/float32) without copying when it is contiguous."""
        import numpy as np

        array = np.ascontiguousarray(array)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"image array must be HxW or HxWxC, got shape {array.shape}")
        h, w, c = array.shape
        return cls(width=w, height=h, channels=c, data=array, dtype=str(array.dtype))

    def to_numpy(self) -> Any:
        """An HxWxC numpy view of the buffer (read-only when the buffer is)."""
        import numpy as np

        data = self.data
        if isinstance(data, np.ndarray) and data.shape == (self.height, self.width, self.channels):
            return data
        flat = np.frombuffer(data, dtype=np.uint8)
        stride = self.stride or self.row_bytes
        rows = flat[: stride * self.height].reshape(self.height, stride)[:, : self.row_bytes]
        return rows.view(self.dtype).reshape(self.height, self.width, self.channels)

    @classmethod
    def from_frame(cls, desc: dict[str, Any], frame: Any, where: str) -> ImageData:
        f = Fields(desc, where)
        width = f.integer("width", lo=1, hi=MAX_SIDE)
        height = f.integer("height", lo=1, hi=MAX_SIDE)
        channels = f.integer("channels", lo=1, hi=4)
        dtype = f.text("dtype", "uint8")
        if dtype not in DTYPE_SIZES:
            f.fail("dtype", f"one of {sorted(DTYPE_SIZES)}", dtype)
        row = width * channels * DTYPE_SIZES[dtype]
        stride = f.integer("stride", row, lo=row)
        size = len(memoryview(frame).cast("B"))
        expected = stride * height
        if size != expected:
            raise ProtocolError("frame_size", f"{where}: frame has {size} bytes but its header says {expected} "
                                              f"({width}x{height}x{channels} {dtype}, stride {stride})")
        return cls(width=width, height=height, channels=channels, data=frame, dtype=dtype, stride=stride)


@dataclass(frozen=True)
class Note:
    """One note: times in ticks at the enclosing ``NotesData.ppq``."""

    start: int
    duration: int
    pitch: int
    velocity: int = 80
    channel: int = 0


@dataclass(frozen=True)
class NotesData:
    """A note stream with its timing context (ticks per quarter, tempo, meter)."""

    notes: tuple[Note, ...] = ()
    ppq: int = 480
    bpm: float = 120.0
    time_signature: tuple[int, int] = (4, 4)
    key: str | None = None  # e.g. "C major", "a minor"; None when unknown

    kind: ClassVar[str] = "notes"

    def describe(self) -> dict[str, Any]:
        return {"kind": "notes", "ppq": self.ppq, "bpm": self.bpm, "time_signature": list(self.time_signature),
                "key": self.key,
                "notes": [[n.start, n.duration, n.pitch, n.velocity, n.channel] for n in self.notes]}

    def frames(self) -> list[Any]:
        return []

    @classmethod
    def from_desc(cls, desc: dict[str, Any], where: str) -> NotesData:
        f = Fields(desc, where)
        ppq = f.integer("ppq", lo=1, hi=1 << 16)
        bpm = f.number("bpm", lo=10, hi=400)
        ts = f.items("time_signature", [4, 4])
        if not (len(ts) == 2 and all(type(v) is int and 0 < v <= 64 for v in ts)):
            f.fail("time_signature", "[numerator, denominator] (integers 1-64)", ts)
        notes = []
        for i, item in enumerate(f.items("notes")):
            if not (isinstance(item, list) and len(item) == 5 and all(type(v) is int for v in item)):
                raise ProtocolError("bad_message", f"{where}: notes[{i}] must be [start, duration, pitch, velocity, channel] "
                                                   f"integers, got {show(item)}")
            start, dur, pitch, vel, ch = item
            if not (0 <= start < 1 << 40 and 0 < dur < 1 << 40 and 0 <= pitch <= 127 and 0 <= vel <= 127 and 0 <= ch <= 15):
                raise ProtocolError("bad_message", f"{where}: notes[{i}] out of range "
                                                   f"(start>=0, duration>0, pitch/velocity 0-127, channel 0-15): {show(item)}")
            notes.append(Note(start, dur, pitch, vel, ch))
        key = desc.get("key")
        return cls(notes=tuple(notes), ppq=ppq, bpm=bpm, time_signature=(ts[0], ts[1]),
                   key=key if isinstance(key, str) else None)


@dataclass(frozen=True)
class BlobData:
    """Opaque bytes with a media type, e.g. ``audio/midi`` or ``image/png``."""

    media_type: str
    data: Any = field(repr=False)

    kind: ClassVar[str] = "blob"

    def describe(self) -> dict[str, Any]:
        return {"kind": "blob", "media_type": self.media_type, "size": len(memoryview(self.data).cast("B"))}

    def frames(self) -> list[Any]:
        return [self.data]

    def to_bytes(self) -> bytes:
        return bytes(self.data)

    @classmethod
    def from_frame(cls, desc: dict[str, Any], frame: Any, where: str) -> BlobData:
        f = Fields(desc, where)
        media_type = f.name("media_type")
        size = len(memoryview(frame).cast("B"))
        if "size" in desc and f.integer("size", lo=0) != size:
            raise ProtocolError("frame_size", f"{where}: frame has {size} bytes but its header says {desc['size']}")
        return cls(media_type=media_type, data=frame)


Payload = ImageData | NotesData | BlobData


def encode_payloads(payloads: dict[str, Payload]) -> tuple[dict[str, Any], list[Any]]:
    """Describe named payloads for a JSON header and collect their frames in order."""
    described: dict[str, Any] = {}
    frames: list[Any] = []
    for name, payload in payloads.items():
        desc = payload.describe()
        extra = payload.frames()
        if extra:
            desc["frame"] = len(frames)
            frames.extend(extra)
        described[name] = desc
    return described, frames


def decode_payloads(described: Any, frames: list[Any], where: str) -> dict[str, Payload]:
    """Rebuild named payloads from header descriptions and binary frames; every frame is used exactly once."""
    if not isinstance(described, dict):
        raise ProtocolError("bad_message", f"{where}: field 'payloads' must be an object, got {show(described)}")
    result: dict[str, Payload] = {}
    used: set[int] = set()
    for name, desc in described.items():
        at = f"{where} payload {show(name)}"
        if not isinstance(desc, dict):
            raise ProtocolError("bad_message", f"{at}: must be an object, got {show(desc)}")
        kind = desc.get("kind")
        if kind == "notes":
            result[name] = NotesData.from_desc(desc, at)
            continue
        if kind not in ("image", "blob"):
            raise ProtocolError("bad_message", f"{at}: field 'kind' must be image, notes or blob, got {show(kind)}")
        index = desc.get("frame")
        if type(index) is not int or not 0 <= index < len(frames):
            raise ProtocolError("frame_count", f"{at}: refers to frame {show(index)} but the message carries "
                                               f"{len(frames)} binary frame(s)")
        if index in used:
            raise ProtocolError("frame_count", f"{at}: frame {index} is already used by another payload")
        used.add(index)
        if kind == "image":
            result[name] = ImageData.from_frame(desc, frames[index], at)
        else:
            result[name] = BlobData.from_frame(desc, frames[index], at)
    if len(used) != len(frames):
        raise ProtocolError("frame_count", f"{where}: message carries {len(frames)} binary frame(s) but the header uses {len(used)}")
    return result
