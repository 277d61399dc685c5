"""What a capability is: its parameter schema, the inputs it takes, and how it runs.

Plugins return :class:`Capability` objects from the ``muselink_capabilities`` hook. The daemon
validates parameters against the schema before a job is queued, so a capability's ``run`` only
sees clean values. Follows diffusers' shape: ``check_inputs`` raises ``ValueError`` naming the
parameter, a step callback reports progress and honours cancel, the output is a dataclass.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from muselink.bridge.fields import show
from muselink.bridge.payloads import ImageData, Payload

PARAM_TYPES = ("int", "float", "str", "bool", "choice", "seed", "text", "weights")


@dataclass(frozen=True)
class Param:
    """One parameter: ``type`` is one of PARAM_TYPES; ``text`` is a multi-line prompt box and
    ``weights`` a ``name:weight,name:weight`` blend over ``choices``."""

    name: str
    type: str
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        if self.min is not None:
            data["min"] = self.min
        if self.max is not None:
            data["max"] = self.max
        if self.choices:
            data["choices"] = list(self.choices)
        return data

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ValueError naming it."""
        where = f"parameter '{self.name}'"
        if self.type in ("int", "seed"):
            if isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    raise ValueError(f"{where} must be an integer, got {show(value)}") from None
            if isinstance(value, bool) or not isinstance(value, int) and not (isinstance(value, float) and value.is_integer()):
                raise ValueError(f"{where} must be an integer, got {show(value)}")
            value = int(value)
        elif self.type == "float":
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise ValueError(f"{where} must be a number, got {show(value)}") from None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{where} must be a finite number, got {show(value)}")
            value = float(value)
        elif self.type == "bool":
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                value = value.lower() in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {show(value)}")
        elif self.type in ("str", "text"):
            if not isinstance(value, str):
                raise ValueError(f"{where} must be a string, got {show(value)}")
        elif self.type == "choice":
            if not isinstance(value, (str, int, float)) or value not in self.choices:
                raise ValueError(f"{where} must be one of {', '.join(map(str, self.choices))}; got {show(value)}")
        elif self.type == "weights":
            value = parse_weights(value, self.choices, where)
        if self.type in ("int", "float", "seed"):
            if self.min is not None and value < self.min or self.max is not None and value > self.max:
                raise ValueError(f"{where} must be between {self.min} and {self.max}, got {value}")
        return value


def parse_weights(value: Any, choices: tuple[Any, ...], where: str) -> dict[str, float]:
    """``"mosaic:0.7,candy:0.3"`` or ``{"mosaic": 0.7}`` → ``{"mosaic": 0.7, "candy": 0.3}``."""
    if isinstance(value, str):
        items = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, _, weight = part.partition(":")
            try:
                items[name.strip()] = float(weight) if weight else 1.0
            except ValueError:
                raise ValueError(f"{where}: weight for {show(name)} must be a number, got {show(weight)}") from None
        value = items
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where} must be 'name:weight,...' with at least one entry, got {show(value)}")
    for name, weight in value.items():
        if choices and name not in choices:
            raise ValueError(f"{where}: unknown name {show(name)}; choose from {', '.join(choices)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise ValueError(f"{where}: weight for {show(name)} must be a non-negative finite number, got {show(weight)}")
    if sum(value.values()) <= 0:
        raise ValueError(f"{where}: weights must not all be zero")
    return {k: float(v) for k, v in value.items()}


@dataclass(frozen=True)
class InputSpec:
    """A named input: ``kind`` is ``image``, ``mask`` (1-channel image, 255 = change), ``notes`` or ``midi``."""

    name: str
    kind: str
    required: bool = True
    help: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "required": self.required, "help": self.help}


class JobCancelled(Exception):
    """Raised inside a capability (by ``JobContext.check_cancelled``) to stop at the current step."""


class JobContext:
    """What a running capability may use: progress, cancel flag, model cache, device.

    ``device`` may be given as a string or as a zero-argument function; a function is called once,
    on first use, so a worker whose capabilities never ask for a device never imports torch."""

    def __init__(self, job_id: str, models: Any = None, device: str | Callable[[], str] = "cpu",
                 cancel_event: threading.Event | None = None,
                 report: Callable[[float, str, int, int, ImageData | None], None] | None = None):
        self.job_id = job_id
        self.models = models  # core.models.ModelCache
        self._device = device
        self.cancel_event = cancel_event or threading.Event()
        self.report: Callable[[float, str, int, int, ImageData | None], None] = report or (lambda *a: None)

    @property
    def device(self) -> str:
        if callable(self._device):
            self._device = self._device()
        return self._device

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled()

    def progress(self, fraction: float, message: str = "", step: int = 0, total: int = 0,
                 preview: ImageData | None = None) -> None:
        """Report progress (and raise JobCancelled if the job was cancelled meanwhile)."""
        self.report(max(0.0, min(1.0, float(fraction))), message, step, total, preview)
        self.check_cancelled()


@dataclass
class JobOutput:
    """What ``run`` returns: named payloads and JSON-able metadata (provenance, metrics)."""

    payloads: dict[str, Payload]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Capability:
    """A named thing the daemon can do. ``run(inputs, params, ctx) -> JobOutput``."""

    name: str
    summary: str
    run: Callable[[dict[str, Payload], dict[str, Any], JobContext], JobOutput]
    params: tuple[Param, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[str, ...] = ("image",)
    lane: str = "interactive"
    available: Callable[[], str | None] = lambda: None  # returns a reason when not usable

    def unavailable_reason(self) -> str | None:
        """Why the capability cannot run now (None when it can); a failing check is a reason, not a crash."""
        try:
            reason = self.available()
        except Exception as exc:  # plugin code: report, never raise into the daemon
            return f"its availability check failed: {type(exc).__name__}: {exc}"
        return None if reason is None else str(reason)

    def to_json(self) -> dict[str, Any]:
        reason = self.unavailable_reason()
        return {"name": self.name, "summary": self.summary, "lane": self.lane,
                "params": [p.to_json() for p in self.params], "inputs": [i.to_json() for i in self.inputs],
                "outputs": list(self.outputs), "available": reason is None, "unavailable_reason": reason}

    def validate(self, params: dict[str, Any], payloads: dict[str, Payload]) -> dict[str, Any]:
        """Fill defaults and coerce ``params``; check required inputs. Raises ValueError naming the problem."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown parameter {show(unknown[0])} for {self.name}; known: {', '.join(known) or 'none'}")
        clean = {}
        for p in self.params:
            value = params.get(p.name, p.default)
            clean[p.name] = None if value is None else p.coerce(value)
        specs = {i.name: i for i in self.inputs}
        for spec in self.inputs:
            if spec.required and spec.name not in payloads:
                raise ValueError(f"{self.name} needs input '{spec.name}' ({spec.kind})")
        extra = sorted(set(payloads) - set(specs))
        if extra:
            raise ValueError(f"unknown input {show(extra[0])} for {self.name}; known: {', '.join(specs) or 'none'}")
        for name, payload in payloads.items():
            want = specs[name].kind
            have = payload.kind
            ok = (have == "image" and want in ("image", "mask")) or (have == "notes" and want in ("notes", "midi")) \
                or (have == "blob" and want in ("midi", "blob", "notes"))
            if not ok:
                raise ValueError(f"input '{name}' must be {want}, got {have}")
        return clean
