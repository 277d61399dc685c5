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

from .fields import Fields, ProtocolError, loads, show
from .payloads import Payload, decode_payloads, encode_payloads
from .schema import CapabilitySpec

PROTOCOL_VERSION = 1
TAG = b"muselink/%d" % PROTOCOL_VERSION
TAG_PREFIX = b"muselink/"


@dataclass(frozen=True)
class Message:
    command: ClassVar[str] = ""
    has_payloads: ClassVar[bool] = False

    def header(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "payloads"}

    def payload_map(self) -> dict[str, Payload]:
        """The message's payloads (empty for messages that carry none)."""
        payloads: dict[str, Payload] = getattr(self, "payloads", {})
        return payloads

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        """Build the message from its header fields; every read goes through ``h`` (total)."""
        raise NotImplementedError


# ---- client → daemon -------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello(Message):
    """First message of a client: names it and states its protocol version."""

    client: str = "client"
    protocol: int = PROTOCOL_VERSION
    command: ClassVar[str] = "hello"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(client=h.name("client"), protocol=h.integer("protocol", lo=0, hi=1 << 16))


@dataclass(frozen=True)
class StatusRequest(Message):
    command: ClassVar[str] = "status"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls()


@dataclass(frozen=True)
class Submit(Message):
    """Run ``capability`` with ``params`` on ``payloads``; ``job`` is chosen by the client.

    ``session`` enables live mode: a newer submit from the same client and session replaces
    one of that session still waiting in the queue (latest wins).
    """

    job: str
    capability: str
    params: dict[str, Any] = field(default_factory=dict)
    payloads: dict[str, Payload] = field(default_factory=dict)
    session: str | None = None
    command: ClassVar[str] = "submit"
    has_payloads: ClassVar[bool] = True

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(job=h.name("job"), capability=h.name("capability"), params=h.mapping("params"), payloads=payloads,
                   session=h.optional_name("session"))


@dataclass(frozen=True)
class Cancel(Message):
    """Cancel the sender's own job ``job``; other clients' jobs are never touched."""

    job: str
    command: ClassVar[str] = "cancel"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(job=h.name("job"))


@dataclass(frozen=True)
class Ping(Message):
    nonce: int = 0
    command: ClassVar[str] = "ping"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(nonce=h.integer("nonce", 0))


# ---- daemon → client -------------------------------------------------------------------------

@dataclass(frozen=True)
class Status(Message):
    """Answer to ``hello`` and ``status``: versions, capabilities with their typed schemas, lanes, plugins.

    ``capabilities`` holds :class:`~.schema.CapabilitySpec`; JSON objects given here are read into specs
    (a malformed one raises :class:`ProtocolError` naming its field)."""

    protocol: int
    daemon_version: str
    capabilities: list[CapabilitySpec] = field(default_factory=list)
    lanes: dict[str, Any] = field(default_factory=dict)
    plugins: dict[str, Any] = field(default_factory=dict)
    max_message_bytes: int = 0
    workers: list[Any] = field(default_factory=list)  # one entry per worker: name, lane, pid, state, restarts, models, RSS
    command: ClassVar[str] = "status"

    def __post_init__(self) -> None:
        specs = [CapabilitySpec.from_json(c, f"status capabilities[{i}]") for i, c in enumerate(self.capabilities)]
        object.__setattr__(self, "capabilities", specs)

    def header(self) -> dict[str, Any]:
        return {**super().header(), "capabilities": [c.to_json() for c in self.capabilities]}

    def capability(self, name: str) -> CapabilitySpec | None:
        return next((c for c in self.capabilities if c.name == name), None)

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(protocol=h.integer("protocol", lo=0, hi=1 << 16), daemon_version=h.name("daemon_version"),
                   capabilities=h.items("capabilities"), lanes=h.mapping("lanes"), plugins=h.mapping("plugins"),
                   max_message_bytes=h.integer("max_message_bytes", 0, lo=0), workers=h.items("workers"))


@dataclass(frozen=True)
class Accepted(Message):
    job: str
    lane: str
    position: int = 0
    command: ClassVar[str] = "accepted"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(job=h.name("job"), lane=h.name("lane"), position=h.integer("position", 0, lo=0))


@dataclass(frozen=True)
class Progress(Message):
    """``fraction`` in [0, 1]; ``payloads`` may hold a ``preview`` image."""

    job: str
    fraction: float
    message: str = ""
    step: int = 0
    total: int = 0
    payloads: dict[str, Payload] = field(default_factory=dict)
    command: ClassVar[str] = "progress"
    has_payloads: ClassVar[bool] = True

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(job=h.name("job"), fraction=h.number("fraction", lo=0.0, hi=1.0), message=h.text("message", ""),
                   step=h.integer("step", 0, lo=0), total=h.integer("total", 0, lo=0), payloads=payloads)

    @property
    def preview(self) -> Payload | None:
        return self.payloads.get("preview")


@dataclass(frozen=True)
class Result(Message):
    """Terminal reply: named output payloads and metadata (provenance, metrics)."""

    job: str
    payloads: dict[str, Payload] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    command: ClassVar[str] = "result"
    has_payloads: ClassVar[bool] = True

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(job=h.name("job"), payloads=payloads, meta=h.mapping("meta"))


@dataclass(frozen=True)
class Cancelled(Message):
    """Terminal reply: the job was cancelled (by its client, superseded, or at shutdown)."""

    job: str
    reason: str = "cancelled by client"
    command: ClassVar[str] = "cancelled"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(job=h.name("job"), reason=h.text("reason", ""))


@dataclass(frozen=True)
class Error(Message):
    """Terminal reply for a job (or a reply to a bad message when ``job`` is None)."""

    code: str
    message: str
    job: str | None = None
    traceback: str | None = None
    command: ClassVar[str] = "error"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(code=h.name("code"), message=h.text("message", ""), job=h.optional_name("job"),
                   traceback=h.optional_text("traceback"))


@dataclass(frozen=True)
class Pong(Message):
    nonce: int = 0
    command: ClassVar[str] = "pong"

    @classmethod
    def from_header(cls, h: Fields, payloads: dict[str, Payload]) -> Message:
        return cls(nonce=h.integer("nonce", 0))


CLIENT_MESSAGES: dict[str, type[Message]] = {m.command: m for m in (Hello, StatusRequest, Submit, Cancel, Ping)}
DAEMON_MESSAGES: dict[str, type[Message]] = {m.command: m for m in (Status, Accepted, Progress, Result, Cancelled, Error, Pong)}
TERMINAL = (Result, Cancelled, Error)


def encode(message: Message) -> list[Any]:
    """Frames for ``message``: tag, command, JSON header, then raw payload frames (not copied)."""
    header = message.header()
    frames: list[Any] = []
    if message.has_payloads:
        header["payloads"], frames = encode_payloads(message.payload_map())
    return [TAG, message.command.encode(), json.dumps(header, separators=(",", ":"), allow_nan=False).encode(), *frames]


def _bytes(frame: Any) -> bytes:
    return bytes(frame.bytes if hasattr(frame, "bytes") and not isinstance(frame, (bytes, bytearray)) else frame)


def decode(frames: list[Any], registry: dict[str, type[Message]]) -> Message:
    """Parse frames (bytes or zmq.Frame) into a message from ``registry``.

    Total: any input either decodes or raises :class:`ProtocolError` with a code naming the problem."""
    if len(frames) < 3:
        raise ProtocolError("frame_count", f"a message needs at least 3 frames (tag, command, header), got {len(frames)}")
    tag, command, header_bytes = (_bytes(f) for f in frames[:3])
    if not tag.startswith(TAG_PREFIX):
        raise ProtocolError("bad_tag", f"first frame must be the protocol tag {TAG.decode()!r}, got {tag[:32]!r}")
    if tag != TAG:
        raise ProtocolError("protocol_version",
                            f"protocol mismatch: peer speaks {show(tag.decode(errors='replace'))}, this side speaks {TAG.decode()}")
    name = command.decode(errors="replace")
    cls = registry.get(name)
    if cls is None:
        raise ProtocolError("unknown_command", f"unknown command {show(name)}; expected one of {sorted(registry)}")
    header = loads(header_bytes, name)
    if not isinstance(header, dict):
        raise ProtocolError("bad_json", f"{name}: header must be a JSON object, got {type(header).__name__}")
    binary = [f.buffer if hasattr(f, "buffer") else f for f in frames[3:]]
    payloads: dict[str, Payload] = {}
    if cls.has_payloads:
        payloads = decode_payloads(header.get("payloads", {}), binary, name)
    elif binary:
        raise ProtocolError("frame_count", f"{name}: takes no binary frames, got {len(binary)}")
    return cls.from_header(Fields(header, name), payloads)


def job_of(frames: list[Any]) -> str | None:
    """Best-effort job id from a message that failed to decode, so its error reply can name it."""
    if len(frames) < 3:
        return None
    try:  # lenient on purpose: the message is already known to be bad, only its job id is wanted
        header = json.loads(_bytes(frames[2]))
    except (ValueError, RecursionError):
        return None
    job = header.get("job") if isinstance(header, dict) else None
    return job if isinstance(job, str) and job else None
