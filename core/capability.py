"""What a capability is: its parameter schema, the inputs it takes, the outputs it makes, and how it runs.

Plugins return :class:`Capability` objects from the ``muselink_capabilities`` hook. The schema half
(:class:`Param`, :class:`InputSpec`, :class:`OutputSpec`, their checks and messages) lives in
``muselink.bridge.schema`` so every host checks values exactly as the daemon does; a capability adds
``run`` and its availability. The daemon validates parameters against the schema before a job is
queued, so ``run`` only sees clean values. Follows diffusers' shape: ``check_inputs`` raises
``ValueError`` naming the parameter, a step callback reports progress and honours cancel, the output
is a dataclass.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from muselink.bridge.payloads import ImageData, Payload
from muselink.bridge.schema import PARAM_TYPES, CapabilitySpec, InputSpec, OutputSpec, parse_weights
from muselink.bridge.schema import ParamSpec as Param

__all__ = ["PARAM_TYPES", "Capability", "InputSpec", "JobCancelled", "JobContext", "JobOutput", "OutputSpec", "Param",
           "parse_weights"]


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
    """A named thing the daemon can do. ``run(inputs, params, ctx) -> JobOutput``.

    ``outputs`` lists :class:`OutputSpec` (a bare name is accepted: a known output kind's name is that
    kind, e.g. ``"image"``, ``"mask"``, ``"notes"``, ``"text"``; any other name is a ``file``)."""

    name: str
    summary: str
    run: Callable[[dict[str, Payload], dict[str, Any], JobContext], JobOutput]
    params: tuple[Param, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec | str, ...] = ("image",)
    lane: str = "interactive"
    available: Callable[[], str | None] = lambda: None  # returns a reason when not usable

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", tuple(OutputSpec.of(o) for o in self.outputs))

    def unavailable_reason(self) -> str | None:
        """Why the capability cannot run now (None when it can); a failing check is a reason, not a crash."""
        try:
            reason = self.available()
        except Exception as exc:  # plugin code: report, never raise into the daemon
            return f"its availability check failed: {type(exc).__name__}: {exc}"
        return None if reason is None else str(reason)

    def spec(self) -> CapabilitySpec:
        """The schema every client sees (in ``status``), with availability checked now."""
        reason = self.unavailable_reason()
        return CapabilitySpec(name=self.name, summary=self.summary, lane=self.lane, params=tuple(self.params),
                              inputs=tuple(self.inputs), outputs=tuple(OutputSpec.of(o) for o in self.outputs),
                              available=reason is None, unavailable_reason=reason)

    def to_json(self) -> dict[str, Any]:
        return self.spec().to_json()

    def validate(self, params: dict[str, Any], payloads: dict[str, Payload]) -> dict[str, Any]:
        """Fill defaults and coerce ``params``; check required inputs. Raises ValueError naming the problem."""
        spec = CapabilitySpec(name=self.name, params=tuple(self.params), inputs=tuple(self.inputs))
        return spec.validate(params, {name: payload.kind for name, payload in payloads.items()})
