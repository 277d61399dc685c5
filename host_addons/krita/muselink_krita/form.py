"""Capability schema (from the daemon's ``status``) → a model of the docker's parameter form.

The Qt panel turns each :class:`Field` into a widget; values read back from widgets go through
:func:`params_from_values`, which checks them the way the daemon will and names the parameter.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SLIDER_STEPS = 1000
RANDOM_SEED = -1  # the seed box's "random" value; a concrete seed is drawn before submitting
IMAGE_INPUT = "image"
MASK_INPUT = "mask"


@dataclass(frozen=True)
class Field:
    """One form row. ``widget``: slider (float range), spin (int), seed, check, choice, text (multi-line
    prompt), line (one-line string) or weights (``name:weight,…``)."""

    name: str
    widget: str
    default: Any
    label: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple = ()

    def to_slider(self, value: float) -> int:
        lo, hi = self.min, self.max
        return 0 if hi == lo else round((float(value) - lo) / (hi - lo) * SLIDER_STEPS)

    def from_slider(self, position: int) -> float:
        lo, hi = self.min, self.max
        return round(lo + (hi - lo) * position / SLIDER_STEPS, 6)


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def field_for(param: dict) -> Field:
    kind = param.get("type")
    common = dict(name=param["name"], default=param.get("default"), label=_label(param["name"]),
                  help=param.get("help", ""), min=param.get("min"), max=param.get("max"),
                  choices=tuple(param.get("choices") or ()))
    if kind == "float":
        if common["min"] is not None and common["max"] is not None:
            return Field(widget="slider", **common)
        return Field(widget="line", **common)
    if kind == "int":
        return Field(widget="spin", **common)
    if kind == "seed":
        return Field(widget="seed", **{**common, "default": RANDOM_SEED if common["default"] is None else common["default"]})
    if kind == "bool":
        return Field(widget="check", **{**common, "default": bool(common["default"])})
    if kind == "choice":
        return Field(widget="choice", **common)
    if kind == "text":
        return Field(widget="text", **{**common, "default": common["default"] or ""})
    if kind == "weights":
        return Field(widget="weights", **{**common, "default": ""})
    return Field(widget="line", **{**common, "default": "" if common["default"] is None else common["default"]})


def form_for(capability: dict) -> list:
    """The form rows for a capability's ``params`` schema, in schema order."""
    return [field_for(p) for p in capability.get("params", [])]


def usable(capability: dict) -> tuple:
    """(True, "") when the docker can run it: available, takes an ``image``, needs nothing else."""
    if not capability.get("available", True):
        return False, capability.get("unavailable_reason") or "unavailable on the daemon"
    inputs = capability.get("inputs", [])
    names = {i["name"] for i in inputs}
    if IMAGE_INPUT not in names:
        return False, "does not take an image"
    other = [i["name"] for i in inputs if i.get("required", True) and i["name"] not in (IMAGE_INPUT, MASK_INPUT)]
    if other:
        return False, f"needs input(s) the docker cannot send: {', '.join(other)}"
    return True, ""


def takes_mask(capability: dict) -> bool:
    return any(i["name"] == MASK_INPUT for i in capability.get("inputs", []))


def _number(field: Field, raw: Any, kind: type) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"parameter '{field.name}' must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if field.min is not None and value < field.min or field.max is not None and value > field.max:
        raise ValueError(f"parameter '{field.name}' must be between {field.min} and {field.max}, got {value}")
    return value


def value_for(field: Field, raw: Any, rng: random.Random | None = None) -> Any:
    """A widget's raw value as the parameter value to send (None = leave it to the daemon)."""
    if field.widget == "slider":
        return _number(field, raw, float)
    if field.widget == "spin":
        return _number(field, raw, int)
    if field.widget == "seed":
        value = _number(Field(field.name, "seed", None, ""), raw, int)
        if value < 0:
            value = (rng or random).randrange(0, 2**31 - 1)
        return value
    if field.widget == "check":
        return bool(raw)
    if field.widget == "choice":
        if raw not in field.choices:
            raise ValueError(f"parameter '{field.name}' must be one of {', '.join(map(str, field.choices))}; got {raw!r}")
        return raw
    if field.widget == "weights":
        return raw.strip() or None if isinstance(raw, str) else raw
    if field.widget == "line" and field.default is not None and isinstance(field.default, float):
        return _number(field, raw, float)
    return raw


def params_from_values(fields: list, values: dict, rng: random.Random | None = None) -> dict:
    """Parameters for ``submit`` from ``{name: raw widget value}``; unset/None values are left out."""
    params = {}
    for field in fields:
        if field.name not in values:
            continue
        value = value_for(field, values[field.name], rng)
        if value is not None and value != "" or field.widget == "text":
            params[field.name] = value
    return params
