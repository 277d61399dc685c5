"""*Structured* hostile messages: valid muselink messages mutated field by field.

Random bytes never get past the tag check; these reach every decoder and handler: each command
(client and daemon side, plus unknown ones), each header field and payload-description field given
values of every JSON type (and NaN/Infinity, which Python's json accepts), out-of-range numbers,
huge declared sizes with tiny frames, deep nesting, dropped/duplicated/extra frames and wrong tags.

One generator, :func:`build_message`, takes its decisions from a :class:`Picker`. Hypothesis drives
it in the suite (``messages()``: shrinking, minimal failing examples); a seeded ``random.Random``
drives it in ``python -m benchmarks fuzz``, where 100,000+ messages must be cheap to make.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

from muselink.bridge import protocol as P

T = TypeVar("T")
CAPABILITIES = ("debug.echo", "debug.work", "style.fast", "music.continue", "no.such.capability", "")
ATOMS: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 7, 2**31, 2**63, -(2**63) - 1, 10**30, 2**80, 0.5, -0.0, 1e308, 1e-320,
    float("nan"), float("inf"), float("-inf"), "", "x", "uint8", "image", "notes", "blob", "mosaic", "\x00", "é" * 3,
    "x" * 5000,
)


class Picker:
    """Where the generator's decisions come from."""

    def choice(self, options: Sequence[T]) -> T:
        raise NotImplementedError

    def integer(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def binary(self, max_size: int) -> bytes:
        raise NotImplementedError


class RandomPicker(Picker):
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def binary(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


class HypothesisPicker(Picker):
    def __init__(self, draw: Any):
        self.draw = draw

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def binary(self, max_size: int) -> bytes:
        return self.draw(st.binary(max_size=max_size))


def hostile(p: Picker, depth: int = 0) -> Any:
    """Any JSON-ish value: every type, extremes, NaN/Infinity, oversized strings, a little nesting."""
    kind = p.choice(("atom", "atom", "atom", "int", "list", "dict") if depth < 3 else ("atom", "int"))
    if kind == "atom":
        return p.choice(ATOMS)
    if kind == "int":
        return p.integer(-(2**70), 2**70)
    if kind == "list":
        return [hostile(p, depth + 1) for _ in range(p.integer(0, 3))]
    return {p.choice(("a", "job", "kind", "")): hostile(p, depth + 1) for _ in range(p.integer(0, 3))}


TEMPLATES = {
    "hello": lambda: {"client": "fuzz", "protocol": P.PROTOCOL_VERSION},
    "status": lambda: {"protocol": 1, "daemon_version": "0", "capabilities": [], "lanes": {}, "plugins": {},
                       "max_message_bytes": 0},
    "submit": lambda: {"job": "j", "capability": "debug.echo", "params": {}, "session": None},
    "cancel": lambda: {"job": "j"},
    "ping": lambda: {"nonce": 1},
    "accepted": lambda: {"job": "j", "lane": "interactive", "position": 0},
    "progress": lambda: {"job": "j", "fraction": 0.5, "message": "m", "step": 1, "total": 2},
    "result": lambda: {"job": "j", "meta": {}},
    "cancelled": lambda: {"job": "j", "reason": "r"},
    "error": lambda: {"code": "failed", "message": "m", "job": "j", "traceback": None},
    "pong": lambda: {"nonce": 1},
}
WITH_PAYLOADS = {"submit", "progress", "result"}
CLIENT_COMMANDS = (*sorted(P.CLIENT_MESSAGES), "bogus")
ALL_COMMANDS = (*sorted(TEMPLATES), "", "bogus")


def _mutate(p: Picker, fields: dict[str, Any], extra: Sequence[str] = ("extra",)) -> None:
    for _ in range(p.integer(0, 3)):
        key = p.choice((*sorted(fields), *extra))
        if p.choice((True, False)):
            fields[key] = hostile(p)
        else:
            fields.pop(key, None)


def build_payloads(p: Picker) -> tuple[Any, list[bytes]]:
    """A payloads description and its frames, each field possibly mutated."""
    described: dict[str, Any] = {}
    frames: list[bytes] = []
    for i in range(p.integer(0, 3)):
        kind = p.choice(("image", "notes", "blob", "other"))
        frame: bytes | None = None
        if kind == "image":
            desc = {"kind": "image", "width": 4, "height": 2, "channels": 4, "dtype": "uint8", "stride": 16, "frame": len(frames)}
            frame = bytes(32)
        elif kind == "blob":
            desc, frame = {"kind": "blob", "media_type": "audio/midi", "size": 4, "frame": len(frames)}, b"MThd"
        elif kind == "notes":
            desc = {"kind": "notes", "ppq": 480, "bpm": 120.0, "time_signature": [4, 4], "key": "C major",
                    "notes": [[0, 480, 60, 80, 0], [480, 480, 62, 80, 0]]}
            if p.choice((True, False)):
                desc["notes"] = [[hostile(p) for _ in range(5)] if p.choice((True, False)) else hostile(p)
                                 for _ in range(p.integer(0, 3))]
        else:
            desc = {"kind": hostile(p)}
        _mutate(p, desc, ("frame", "extra"))
        if frame is not None:
            frames.append(p.choice((frame, frame, frame, frame[:1], b"", frame * 64)))
        described[p.choice(("image", "style", "mask", "notes", "midi", f"p{i}"))] = desc
    frames_op = p.choice(("keep",) * 6 + ("drop", "duplicate", "extra"))
    if frames_op == "drop" and frames:
        frames.pop(p.integer(0, len(frames) - 1))
    elif frames_op == "duplicate" and frames:
        frames.append(frames[0])
    elif frames_op == "extra":
        frames.append(p.binary(64))
    if p.integer(0, 19) == 0:
        return hostile(p), frames
    return described, frames


def build_message(p: Picker, commands: Sequence[str] = ALL_COMMANDS) -> list[bytes]:
    """One hostile multipart message (without the ROUTER identity frame)."""
    command = p.choice(commands)
    header: dict[str, Any] = TEMPLATES[command]() if command in TEMPLATES else {}
    if command == "submit":
        header["capability"] = p.choice(CAPABILITIES)
        header["job"] = p.choice(("j", "k", "fuzz-1"))
        header["params"] = {p.choice(("steps", "delay", "style", "strength", "bars", "x")): hostile(p)
                            for _ in range(p.integer(0, 3))}
    _mutate(p, header)
    frames: list[bytes] = []
    if command in WITH_PAYLOADS or p.integer(0, 9) == 0:
        header["payloads"], frames = build_payloads(p)
    shape = p.choice(("json",) * 12 + ("deep", "not-json", "not-object", "nan"))
    if shape == "deep":
        depth = p.integer(20, 3000)
        body = ("[" * depth + "]" * depth).encode() if p.choice((True, False)) else \
            ('{"job":' + '{"a":' * depth + "1" + "}" * depth + "}").encode()
    elif shape == "not-json":
        body = p.binary(40)
    elif shape == "not-object":
        body = json.dumps(p.choice(ATOMS)).encode()
    elif shape == "nan":
        body = json.dumps({**header, "job": "j", "nonce": float("nan"), "protocol": float("inf")}).encode()
    else:
        body = json.dumps(header).encode()  # allow_nan: NaN/Infinity tokens reach the decoder
    tag = p.choice((P.TAG,) * 16 + (b"muselink/2", b"junk", b""))
    parts = [tag, command.encode(), body, *frames]
    cut = p.choice((None,) * 16 + (0, 1, 2))
    return parts if cut is None else parts[:cut] or [b""]


@st.composite
def messages(draw: Any, commands: Sequence[str] = ALL_COMMANDS) -> list[bytes]:
    """Hypothesis strategy over :func:`build_message`."""
    return build_message(HypothesisPicker(draw), commands)
