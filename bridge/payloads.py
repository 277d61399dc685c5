"""Typed payloads that travel with jobs: raw images, note lists and opaque blobs.

An image travels as one raw binary frame described by ``{width, height, channels, dtype,
stride}``; a note list travels inline in the JSON header as a compact list of lists; a blob
(a MIDI file, a PNG) travels as one frame with a media type. Stdlib only; numpy optional.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DTYPE_SIZES = {"uint8": 1, "uint16": 2, "float32": 4}


class ProtocolError(ValueError):
    """A message that does not follow the protocol. ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _need(desc: dict, key: str, kind: type | tuple, where: str) -> Any:
    value = desc.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ProtocolError("bad_message", f"{where}: field '{key}' must be {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "a list", float: "a number"}
    if isinstance(kind, tuple):
        return " or ".join(names.get(k, k.__name__) for k in kind)
    return names.get(kind, kind.__name__)


@dataclass(frozen=True)
class ImageData:
    """A raw pixel buffer, rows top to bottom, channels interleaved (1 = gray/mask, 3 = RGB, 4 = RGBA)."""

    width: int
    height: int
    channels: int
    data: Any = field(repr=False)  # bytes, memoryview, numpy array or zmq.Frame buffer
    dtype: str = "uint8"
    stride: int = 0  # bytes per row; 0 means tightly packed

    kind = "image"

    @property
    def row_bytes(self) -> int:
        return self.width * self.channels * DTYPE_SIZES[self.dtype]

    @property
    def nbytes(self) -> int:
        return (self.stride or self.row_bytes) * self.height

    def rows(self) -> list:
        """Each row's pixel bytes (stride padding removed), top to bottom. Stdlib only."""
        raw = memoryview(self.data).cast("B")
        stride = self.stride or self.row_bytes
        return [bytes(raw[y * stride: y * stride + self.row_bytes]) for y in range(self.height)]

    def packed(self) -> bytes:
        """All pixels as one tightly packed bytes object. Stdlib only."""
        if (self.stride or self.row_bytes) == self.row_bytes:
            return bytes(memoryview(self.data).cast("B")[: self.nbytes])
        return b"".join(self.rows())

    def describe(self) -> dict:
        return {"kind": "image", "width": self.width, "height": self.height, "channels": self.channels,
                "dtype": self.dtype, "stride": self.stride or self.row_bytes}

    def frames(self) -> list:
        return [self.data]

    @classmethod
    def from_numpy(cls, array) -> ImageData:
        """Wrap an HxW or HxWxC array (uint8/uint16/float32) without copying when it is contiguous."""
        import numpy as np

        array = np.ascontiguousarray(array)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"image array must be HxW or HxWxC, got shape {array.shape}")
        h, w, c = array.shape
        return cls(width=w, height=h, channels=c, data=array, dtype=str(array.dtype))

    def to_numpy(self):
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
    def from_frame(cls, desc: dict, frame, where: str) -> ImageData:
        width = _need(desc, "width", int, where)
        height = _need(desc, "height", int, where)
        channels = _need(desc, "channels", int, where)
        dtype = desc.get("dtype", "uint8")
        if dtype not in DTYPE_SIZES:
            raise ProtocolError("bad_message", f"{where}: field 'dtype' must be one of {sorted(DTYPE_SIZES)}, got {dtype!r}")
        if width <= 0 or height <= 0:
            raise ProtocolError("bad_message", f"{where}: image size must be positive, got {width}x{height}")
        if channels not in (1, 2, 3, 4):
            raise ProtocolError("bad_message", f"{where}: field 'channels' must be 1-4, got {channels}")
        row = width * channels * DTYPE_SIZES[dtype]
        stride = desc.get("stride", row)
        if not isinstance(stride, int) or stride < row:
            raise ProtocolError("bad_message",
                                f"{where}: field 'stride' must be an integer >= {row} (width*channels*itemsize), got {stride!r}")
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

    notes: tuple = ()
    ppq: int = 480
    bpm: float = 120.0
    time_signature: tuple = (4, 4)
    key: str | None = None  # e.g. "C major", "a minor"; None when unknown

    kind = "notes"

    def describe(self) -> dict:
        return {"kind": "notes", "ppq": self.ppq, "bpm": self.bpm, "time_signature": list(self.time_signature),
                "key": self.key,
                "notes": [[n.start, n.duration, n.pitch, n.velocity, n.channel] for n in self.notes]}

    def frames(self) -> list:
        return []

    @classmethod
    def from_desc(cls, desc: dict, where: str) -> NotesData:
        ppq = _need(desc, "ppq", int, where)
        bpm = _need(desc, "bpm", (int, float), where)
        if ppq <= 0:
            raise ProtocolError("bad_message", f"{where}: field 'ppq' must be positive, got {ppq}")
        if not 10 <= bpm <= 400:
            raise ProtocolError("bad_message", f"{where}: field 'bpm' must be between 10 and 400, got {bpm}")
        ts = desc.get("time_signature", [4, 4])
        if not (isinstance(ts, list) and len(ts) == 2 and all(isinstance(v, int) and v > 0 for v in ts)):
            raise ProtocolError("bad_message", f"{where}: field 'time_signature' must be [numerator, denominator], got {ts!r}")
        raw = _need(desc, "notes", list, where)
        notes = []
        for i, item in enumerate(raw):
            if not (isinstance(item, list) and len(item) == 5 and all(isinstance(v, int) for v in item)):
                raise ProtocolError("bad_message",
                                    f"{where}: notes[{i}] must be [start, duration, pitch, velocity, channel] integers, got {item!r}")
            start, dur, pitch, vel, ch = item
            if start < 0 or dur <= 0 or not 0 <= pitch <= 127 or not 0 <= vel <= 127 or not 0 <= ch <= 15:
                raise ProtocolError("bad_message", f"{where}: notes[{i}] out of range "
                                                   f"(start>=0, duration>0, pitch/velocity 0-127, channel 0-15): {item!r}")
            notes.append(Note(start, dur, pitch, vel, ch))
        key = desc.get("key")
        return cls(notes=tuple(notes), ppq=ppq, bpm=float(bpm), time_signature=tuple(ts),
                   key=key if isinstance(key, str) else None)


@dataclass(frozen=True)
class BlobData:
    """Opaque bytes with a media type, e.g. ``audio/midi`` or ``image/png``."""

    media_type: str
    data: Any = field(repr=False)

    kind = "blob"

    def describe(self) -> dict:
        return {"kind": "blob", "media_type": self.media_type, "size": len(memoryview(self.data).cast("B"))}

    def frames(self) -> list:
        return [self.data]

    def to_bytes(self) -> bytes:
        return bytes(self.data)

    @classmethod
    def from_frame(cls, desc: dict, frame, where: str) -> BlobData:
        media_type = _need(desc, "media_type", str, where)
        size = len(memoryview(frame).cast("B"))
        if "size" in desc and desc["size"] != size:
            raise ProtocolError("frame_size", f"{where}: frame has {size} bytes but its header says {desc['size']}")
        return cls(media_type=media_type, data=frame)


Payload = ImageData | NotesData | BlobData


def encode_payloads(payloads: dict) -> tuple[dict, list]:
    """Describe named payloads for a JSON header and collect their frames in order."""
    described, frames = {}, []
    for name, payload in payloads.items():
        desc = payload.describe()
        extra = payload.frames()
        if extra:
            desc["frame"] = len(frames)
            frames.extend(extra)
        described[name] = desc
    return described, frames


def decode_payloads(described: Any, frames: list, where: str) -> dict:
    """Rebuild named payloads from header descriptions and binary frames; every frame must be used."""
    if not isinstance(described, dict):
        raise ProtocolError("bad_message", f"{where}: field 'payloads' must be an object, got {described!r}")
    result, used = {}, set()
    for name, desc in described.items():
        at = f"{where} payload '{name}'"
        if not isinstance(desc, dict):
            raise ProtocolError("bad_message", f"{at}: must be an object")
        kind = desc.get("kind")
        if kind == "notes":
            result[name] = NotesData.from_desc(desc, at)
            continue
        index = desc.get("frame")
        if not isinstance(index, int) or not 0 <= index < len(frames):
            raise ProtocolError("frame_count", f"{at}: refers to frame {index!r} but the message carries {len(frames)} binary frame(s)")
        used.add(index)
        if kind == "image":
            result[name] = ImageData.from_frame(desc, frames[index], at)
        elif kind == "blob":
            result[name] = BlobData.from_frame(desc, frames[index], at)
        else:
            raise ProtocolError("bad_message", f"{at}: field 'kind' must be image, notes or blob, got {kind!r}")
    if len(used) != len(frames):
        raise ProtocolError("frame_count", f"{where}: message carries {len(frames)} binary frame(s) but the header uses {len(used)}")
    return result
