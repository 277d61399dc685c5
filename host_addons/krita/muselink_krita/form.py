"""A capability's parameter specs → the docker's form, and the form's values → parameters.

The only Krita-specific part is which widget shows which parameter type; every value is checked
by the schema's own :meth:`ParamSpec.coerce` (the daemon's rules and messages) before it is sent.
The Qt panel turns each :class:`Field` into a widget.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from .deps import CapabilitySpec, HostInfo, ParamSpec

SLIDER_STEPS = 1000
RANDOM_SEED = -1  # the seed box's "random" value; a concrete seed is drawn before submitting
KRITA = HostInfo(name="krita", captures=("image", "mask"), applies=("image", "document", "mask", "text"),
                 label="the docker")
WIDGETS = {"int": "spin", "seed": "seed", "bool": "check", "choice": "choice", "text": "text", "weights": "weights"}


@dataclass(frozen=True)
class Field:
    """One form row. ``widget``: slider (bounded float), spin (int), seed, check, choice, text (multi-line
    prompt), line (one-line string, unbounded float, unknown types) or weights (``name:weight,…``)."""

    param: ParamSpec
    widget: str
    default: Any
    expand: bool = False  # a prompt box with an "Expand" button beside it (the daemon offers text.expand_prompt)

    name = property(lambda self: self.param.name)
    label = property(lambda self: self.param.label)
    help = property(lambda self: self.param.help)
    min = property(lambda self: self.param.min)
    max = property(lambda self: self.param.max)
    choices = property(lambda self: self.param.choices)

    def to_slider(self, value: float) -> int:
        lo, hi = self.min, self.max
        return 0 if hi == lo else round((float(value) - lo) / (hi - lo) * SLIDER_STEPS)

    def from_slider(self, position: int) -> float:
        lo, hi = self.min, self.max
        return round(lo + (hi - lo) * position / SLIDER_STEPS, 6)


def field_for(param: ParamSpec) -> Field:
    default = param.default
    if param.type == "float":
        bounded = param.min is not None and param.max is not None
        return Field(param, "slider" if bounded else "line", default)
    widget = WIDGETS.get(param.type, "line")
    if widget == "seed":
        default = RANDOM_SEED if default is None else default
    elif widget == "check":
        default = bool(default)
    elif widget in ("text", "weights"):
        default = "" if widget == "weights" else default or ""
    elif widget == "line":
        default = "" if default is None else default
    return Field(param, widget, default)


def form_for(capability: CapabilitySpec, expandable: tuple[str, ...] = ()) -> list[Field]:
    """The form rows for a capability's parameters, in schema order; ``expandable`` names the prompt boxes
    that get an "Expand" button (``Session.expandable``)."""
    fields = [field_for(p) for p in capability.params]
    return [replace(f, expand=True) if f.name in expandable and f.widget == "text" else f for f in fields]


def usable(capability: CapabilitySpec) -> tuple[bool, str]:
    """(True, "") when the docker can run it: available, its inputs are a picture (and a selection),
    and its results have a place in Krita (a layer, a document, a mask, a prompt)."""
    why = capability.usable_by(KRITA.captures, KRITA.applies, KRITA.called)
    return (why is None, why or "")


def takes_mask(capability: CapabilitySpec) -> bool:
    return any(i.kind == "mask" for i in capability.inputs)


def value_for(field: Field, raw: Any, rng: random.Random | None = None) -> Any:
    """A widget's raw value as the parameter value to send (None = leave it to the daemon)."""
    if field.widget == "seed":
        value = ParamSpec(field.name, "seed").coerce(raw)  # an integer; below zero means "draw one"
        return (rng or random).randrange(0, 2**31 - 1) if value < 0 else field.param.coerce(value)
    if field.widget == "check":
        raw = bool(raw)
    elif field.widget in ("weights", "line") and isinstance(raw, str):
        raw = raw.strip() if field.widget == "weights" else raw
        if raw == "":
            return None
    return field.param.coerce(raw)


def params_from_values(fields: list[Field], values: dict[str, Any], rng: random.Random | None = None) -> dict[str, Any]:
    """Parameters for a job from ``{name: raw widget value}``; unset/None values are left out."""
    params = {}
    for field in fields:
        if field.name not in values:
            continue
        value = value_for(field, values[field.name], rng)
        if value is not None:
            params[field.name] = value
    return params
