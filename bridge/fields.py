"""Total, typed reads from decoded JSON: every failure is a :class:`ProtocolError` naming the field.

Everything a peer sends is untrusted. The decoders in ``protocol.py`` and ``payloads.py`` read
their fields only through :class:`Fields`, so any JSON value of any type in any field becomes a
named error, never a ``TypeError``/``OverflowError`` deep in the daemon or a host's UI loop.
Stdlib only.
"""
from __future__ import annotations

import json
import math
import reprlib
from typing import Any, NoReturn

MAX_DEPTH = 32  # no muselink header nests deeper than ~6 levels; params are flat values
INT_RANGE = (-(2**63), 2**63 - 1)

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_repr.maxlevel = 3


class ProtocolError(ValueError):
    """A message that does not follow the protocol. ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def show(value: object) -> str:
    """A short, bounded ``repr`` for error messages (a peer may send megabytes or deep nesting)."""
    return _repr.repr(value)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def loads(data: bytes, where: str) -> Any:
    """Parse JSON strictly: no NaN/Infinity, bounded nesting; raises ProtocolError ``bad_json``."""
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ProtocolError("bad_json", f"{where}: header nests deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise ProtocolError("bad_json", f"{where}: header is not valid JSON ({exc})") from None
    if not _depth_ok(value):
        raise ProtocolError("bad_json", f"{where}: header nests deeper than {MAX_DEPTH} levels")
    return value


class Fields:
    """Reads typed fields from one JSON object (a header, a payload description)."""

    _MISSING: Any = object()

    def __init__(self, data: dict[str, Any], where: str, code: str = "bad_message"):
        self.data = data
        self.where = where
        self.code = code

    def fail(self, key: str, want: str, value: object) -> NoReturn:
        raise ProtocolError(self.code, f"{self.where}: field '{key}' must be {want}, got {show(value)}")

    def _get(self, key: str, default: Any) -> Any:
        value = self.data.get(key, default)
        if value is Fields._MISSING:
            raise ProtocolError(self.code, f"{self.where}: field '{key}' is missing")
        return value

    def text(self, key: str, default: Any = _MISSING, *, empty: bool = True) -> str:
        """A string (non-empty unless ``empty``)."""
        value = self._get(key, default)
        if not isinstance(value, str) or (not empty and not value):
            self.fail(key, "a string" if empty else "a non-empty string", value)
        return value

    def name(self, key: str) -> str:
        """A required non-empty string (ids, names, codes)."""
        return self.text(key, empty=False)

    def optional_name(self, key: str) -> str | None:
        """A non-empty string, or None when absent or null."""
        value = self.data.get(key)
        return None if value is None else self.name(key)

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else self.text(key)

    def integer(self, key: str, default: Any = _MISSING, lo: int = INT_RANGE[0], hi: int = INT_RANGE[1]) -> int:
        """An integer in [lo, hi] (booleans are not integers)."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "an integer", value)
        if not lo <= value <= hi:
            self.fail(key, f"an integer in [{lo}, {hi}]", value)
        return value

    def number(self, key: str, default: Any = _MISSING, lo: float = -math.inf, hi: float = math.inf) -> float:
        """A finite number in [lo, hi]."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, "a finite number", value)
        if not lo <= value <= hi:
            self.fail(key, f"a number in [{lo}, {hi}]", value)
        return float(value)

    def mapping(self, key: str, default: Any = _MISSING) -> dict[str, Any]:
        value = self._get(key, {} if default is Fields._MISSING else default)
        if not isinstance(value, dict):
            self.fail(key, "an object", value)
        return value

    def items(self, key: str, default: Any = _MISSING) -> list[Any]:
        value = self._get(key, [] if default is Fields._MISSING else default)
        if not isinstance(value, list):
            self.fail(key, "a list", value)
        return value
