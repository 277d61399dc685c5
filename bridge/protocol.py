"""The muselink wire protocol: frozen message dataclasses with pure ``encode``/``decode``.

A message is a multipart ZeroMQ message::

    [b"muselink/1", command, JSON header, *binary frames]

(the daemon's ROUTER socket adds the peer identity in front). Payloads (images, notes, blobs)
are described in the header under ``payloads`` and their bytes follow as raw frames. See
``docs/protocol.md`` for a worked example of every message. Never pickle.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .payloads import ProtocolError, decode_payloads, encode_payloads

PROTOCOL_VERSION = 1
TAG = b"muselink/%d" % PROTOCOL_VERSION
TAG_PREFIX = b"muselink/"


@dataclass(frozen=True)
class Message:
    command: ClassVar[str] = ""
    has_payloads: ClassVar[bool] = False

    def header(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "payloads"}

    @classmethod
    def from_header(cls, header: dict, payloads: dict) -> Message:
        raise NotImplementedError


def _str(h: dict, key: str, cmd: str, optional: bool = False) -> Any:
    value = h.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ProtocolError("bad_message", f"{cmd}: field '{key}' must be a non-empty string, got {value!r}")
    return value


def _obj(h: dict, key: str, cmd: str) -> dict:
    value = h.get(key, {})
    if not isinstance(value, dict):
        raise ProtocolError("bad_message", f"{cmd}: field '{key}' must be an object, got {value!r}")
    return value


def _num(h: dict, key: str, cmd: str, default: float | None = None) -> float:
    value = h.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError("bad_message", f"{cmd}: field '{key}' must be a number, got {value!r}")
    return value


# ---- client → daemon -------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello(Message):
    """First message of a client: names it and states its protocol version."""

    client: str = "client"
    protocol: int = PROTOCOL_VERSION
    command: ClassVar[str] = "hello"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(client=_str(h, "client", "hello"), protocol=int(_num(h, "protocol", "hello")))


@dataclass(frozen=True)
class StatusRequest(Message):
    command: ClassVar[str] = "status"

    @classmethod
    def from_header(cls, h, payloads):
        return cls()


@dataclass(frozen=True)
class Submit(Message):
    """Run ``capability`` with ``params`` on ``payloads``; ``job`` is chosen by the client.

    ``session`` enables live mode: a newer submit from the same client and session replaces
    one of that session still waiting in the queue (latest wins).
    """

    job: str
    capability: str
    params: dict = field(default_factory=dict)
    payloads: dict = field(default_factory=dict)
    session: str | None = None
    command: ClassVar[str] = "submit"
    has_payloads: ClassVar[bool] = True

    @classmethod
    def from_header(cls, h, payloads):
        return cls(job=_str(h, "job", "submit"), capability=_str(h, "capability", "submit"),
                   params=_obj(h, "params", "submit"), payloads=payloads,
                   session=_str(h, "session", "submit", optional=True))


@dataclass(frozen=True)
class Cancel(Message):
    """Cancel the sender's own job ``job``; other clients' jobs are never touched."""

    job: str
    command: ClassVar[str] = "cancel"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(job=_str(h, "job", "cancel"))


@dataclass(frozen=True)
class Ping(Message):
    nonce: int = 0
    command: ClassVar[str] = "ping"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(nonce=int(_num(h, "nonce", "ping", 0)))


# ---- daemon → client -------------------------------------------------------------------------

@dataclass(frozen=True)
class Status(Message):
    """Answer to ``hello`` and ``status``: versions, capabilities with schemas, lanes, plugins."""

    protocol: int
    daemon_version: str
    capabilities: list = field(default_factory=list)
    lanes: dict = field(default_factory=dict)
    plugins: dict = field(default_factory=dict)
    max_message_bytes: int = 0
    command: ClassVar[str] = "status"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(protocol=int(_num(h, "protocol", "status")), daemon_version=_str(h, "daemon_version", "status"),
                   capabilities=list(h.get("capabilities", [])), lanes=_obj(h, "lanes", "status"),
                   plugins=_obj(h, "plugins", "status"), max_message_bytes=int(h.get("max_message_bytes", 0)))


@dataclass(frozen=True)
class Accepted(Message):
    job: str
    lane: str
    position: int = 0
    command: ClassVar[str] = "accepted"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(job=_str(h, "job", "accepted"), lane=_str(h, "lane", "accepted"),
                   position=int(_num(h, "position", "accepted", 0)))


@dataclass(frozen=True)
class Progress(Message):
    """``fraction`` in [0, 1]; ``payloads`` may hold a ``preview`` image."""

    job: str
    fraction: float
    message: str = ""
    step: int = 0
    total: int = 0
    payloads: dict = field(default_factory=dict)
    command: ClassVar[str] = "progress"
    has_payloads: ClassVar[bool] = True

    @classmethod
    def from_header(cls, h, payloads):
        return cls(job=_str(h, "job", "progress"), fraction=float(_num(h, "fraction", "progress")),
                   message=str(h.get("message", "")), step=int(h.get("step", 0)), total=int(h.get("total", 0)),
                   payloads=payloads)

    @property
    def preview(self):
        return self.payloads.get("preview")


@dataclass(frozen=True)
class Result(Message):
    """Terminal reply: named output payloads and metadata (provenance, metrics)."""

    job: str
    payloads: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    command: ClassVar[str] = "result"
    has_payloads: ClassVar[bool] = True

    @classmethod
    def from_header(cls, h, payloads):
        return cls(job=_str(h, "job", "result"), payloads=payloads, meta=_obj(h, "meta", "result"))


@dataclass(frozen=True)
class Cancelled(Message):
    """Terminal reply: the job was cancelled (by its client, superseded, or at shutdown)."""

    job: str
    reason: str = "cancelled by client"
    command: ClassVar[str] = "cancelled"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(job=_str(h, "job", "cancelled"), reason=str(h.get("reason", "")))


@dataclass(frozen=True)
class Error(Message):
    """Terminal reply for a job (or a reply to a bad message when ``job`` is None)."""

    code: str
    message: str
    job: str | None = None
    traceback: str | None = None
    command: ClassVar[str] = "error"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(code=_str(h, "code", "error"), message=str(h.get("message", "")),
                   job=h.get("job") if isinstance(h.get("job"), str) else None,
                   traceback=h.get("traceback") if isinstance(h.get("traceback"), str) else None)


@dataclass(frozen=True)
class Pong(Message):
    nonce: int = 0
    command: ClassVar[str] = "pong"

    @classmethod
    def from_header(cls, h, payloads):
        return cls(nonce=int(_num(h, "nonce", "pong", 0)))


CLIENT_MESSAGES = {m.command: m for m in (Hello, StatusRequest, Submit, Cancel, Ping)}
DAEMON_MESSAGES = {m.command: m for m in (Status, Accepted, Progress, Result, Cancelled, Error, Pong)}
TERMINAL = (Result, Cancelled, Error)


def encode(message: Message) -> list:
    """Frames for ``message``: tag, command, JSON header, then raw payload frames (not copied)."""
    header = message.header()
    frames: list = []
    if message.has_payloads:
        header["payloads"], frames = encode_payloads(message.payloads)
    return [TAG, message.command.encode(), json.dumps(header, separators=(",", ":")).encode(), *frames]


def decode(frames: list, registry: dict) -> Message:
    """Parse frames (bytes or zmq.Frame) into a message from ``registry``; raises ProtocolError."""
    if len(frames) < 3:
        raise ProtocolError("frame_count", f"a message needs at least 3 frames (tag, command, header), got {len(frames)}")
    raw = [f.bytes if hasattr(f, "bytes") and not isinstance(f, (bytes, bytearray)) else f for f in frames[:3]]
    tag, command, header_bytes = (bytes(r) for r in raw)
    if not tag.startswith(TAG_PREFIX):
        raise ProtocolError("bad_tag", f"first frame must be the protocol tag {TAG.decode()!r}, got {tag[:32]!r}")
    if tag != TAG:
        raise ProtocolError("protocol_version",
                            f"protocol mismatch: peer speaks {tag.decode(errors='replace')}, this side speaks {TAG.decode()}")
    name = command.decode(errors="replace")
    cls = registry.get(name)
    if cls is None:
        raise ProtocolError("unknown_command", f"unknown command {name!r}; expected one of {sorted(registry)}")
    try:
        header = json.loads(header_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("bad_json", f"{name}: header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise ProtocolError("bad_json", f"{name}: header must be a JSON object, got {type(header).__name__}")
    binary = [f.buffer if hasattr(f, "buffer") else f for f in frames[3:]]
    if cls.has_payloads:
        payloads = decode_payloads(header.get("payloads", {}), binary, name)
    elif binary:
        raise ProtocolError("frame_count", f"{name}: takes no binary frames, got {len(binary)}")
    else:
        payloads = {}
    return cls.from_header(header, payloads)


def job_of(frames: list) -> str | None:
    """Best-effort job id from a message that failed to decode, so its error reply can name it."""
    try:
        header = json.loads(bytes(frames[2].bytes if hasattr(frames[2], "bytes") else frames[2]))
        job = header.get("job")
        return job if isinstance(job, str) else None
    except Exception:
        return None
