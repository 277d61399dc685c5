"""A capability's parameter specs → the add-on's Blender properties, and back; which capability each
operator runs. Without Blender.

The only Blender-specific part is which property kind shows which parameter type
(:func:`property_specs`; ``host/props.py`` turns them into a ``PropertyGroup``); values going back
are checked by the schema's own :meth:`ParamSpec.coerce` (:func:`to_params`).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .deps import CapabilitySpec, HostInfo, ParamSpec

INT_LIMIT = 2 ** 31 - 1
PROMPT_PARAM = "prompt"
EXEMPLAR_CAPABILITY = "texture.synthesize"
SEAMLESS_PARAMS = ("seamless", "tileable", "tiling")
PICTURES = ("image", "document")
BLENDER = HostInfo(name="blender", captures=("image",), applies=("image", "document", "mask", "text"), label="Blender")


@dataclass(frozen=True)
class PropSpec:
    """One form field: ``prop`` is the Blender property name, ``kind`` int|float|bool|enum|string."""

    param: str
    prop: str
    kind: str
    options: dict = field(default_factory=dict)
    spec: ParamSpec | None = field(default=None, compare=False, repr=False)


def prop_name(param: str) -> str:
    """A Blender-safe property name for a parameter (prefixed, so it never clashes with ``name``)."""
    return "p_" + re.sub(r"\W", "_", param)


def _label(text: str) -> str:
    return text.replace("_", " ").replace("-", " ").capitalize()


def property_specs(params) -> list[PropSpec]:
    """Blender property specs for a capability's parameter specs."""
    specs = []
    for p in params:
        kind, default = p.type, p.default
        opts: dict[str, Any] = {"name": p.label, "description": p.help}
        if kind in ("int", "seed"):
            prop_kind = "int"
            opts["default"] = int(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else 0
            opts["min"] = max(-INT_LIMIT, int(p.min)) if p.min is not None else (0 if kind == "seed" else -INT_LIMIT)
            opts["max"] = min(INT_LIMIT, int(p.max)) if p.max is not None else INT_LIMIT
        elif kind == "float":
            prop_kind = "float"
            opts["default"] = float(default) if isinstance(default, (int, float)) else 0.0
            if p.min is not None:
                opts["min"] = float(p.min)
            if p.max is not None:
                opts["max"] = float(p.max)
        elif kind == "bool":
            prop_kind = "bool"
            opts["default"] = bool(default)
        elif kind == "choice" and p.choices:
            prop_kind = "enum"
            choices = [str(c) for c in p.choices]
            opts["items"] = [(c, _label(c), "") for c in choices]
            opts["default"] = str(default) if str(default) in choices else choices[0]
        else:  # str, text (prompts), weights ("name:weight,..."), unknown future types
            prop_kind = "string"
            opts["default"] = "" if default is None else (default if isinstance(default, str) else json.dumps(default))
            if kind == "weights" and p.choices:
                opts["description"] = f"{p.help} (names: {', '.join(map(str, p.choices))})"
        specs.append(PropSpec(p.name, prop_name(p.name), prop_kind, opts, p))
    return specs


def to_params(specs: list[PropSpec], values: dict) -> dict:
    """Form values (by property name) → daemon parameters, checked by the schema. Empty text fields are
    left out, so the daemon applies its default (e.g. ``weights`` = none)."""
    params = {}
    for spec in specs:
        if spec.prop not in values:
            continue
        value = values[spec.prop]
        if spec.kind == "string" and value == "":
            continue
        if spec.kind == "enum" and spec.spec is not None:  # Blender enums are strings; choices may be numbers
            value = next((c for c in spec.spec.choices if str(c) == value), value)
        params[spec.param] = spec.spec.coerce(value) if spec.spec is not None else value
    return params


def signature(capability: CapabilitySpec) -> str:
    """A short stable id of a capability's parameter schema (names a generated form class)."""
    blob = json.dumps([capability.name, [p.to_json() for p in capability.params]], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def find(capabilities, name: str) -> CapabilitySpec | None:
    return next((c for c in capabilities if c.name == name), None)


def image_inputs(capability: CapabilitySpec, required_only: bool = True) -> list[str]:
    return [i.name for i in capability.inputs if i.kind == "image" and (i.required or not required_only)]


def makes_picture(capability: CapabilitySpec) -> bool:
    return any(o.kind in PICTURES for o in capability.outputs)


def is_image_to_image(capability: CapabilitySpec) -> bool:
    """One required image in, results Blender can place: usable on a texture or a render."""
    required = [i for i in capability.inputs if i.required]
    placeable = all(o.kind in BLENDER.applies for o in capability.outputs if o.kind != "file")
    return len(required) == 1 and required[0].kind == "image" and makes_picture(capability) and placeable


def stylize_choices(capabilities) -> list[CapabilitySpec]:
    """Capabilities the stylize operators can run, available ones first, then by name."""
    found = [c for c in capabilities if is_image_to_image(c) and not c.name.startswith("debug.")]
    return sorted(found, key=lambda c: (not c.available, c.name))


def check_available(capabilities, name: str) -> CapabilitySpec:
    """The capability ``name``, or ValueError saying clearly why it cannot run."""
    cap = find(capabilities, name)
    if cap is None:
        known = ", ".join(c.name for c in capabilities) or "none"
        raise ValueError(f"the muselink daemon has no capability '{name}' (it offers: {known})")
    if not cap.available:
        raise ValueError(f"{name} is not usable on this daemon: {cap.unavailable_reason or 'unavailable'}")
    return cap


def pick_prompt_capability(capabilities) -> CapabilitySpec:
    """An image model that makes a picture from a prompt alone (texture models preferred), or a
    ValueError explaining that generating from a prompt needs one."""
    candidates = []
    for cap in capabilities:
        names = {p.name for p in cap.params}
        if PROMPT_PARAM in names and not image_inputs(cap) and makes_picture(cap):
            seamless = bool(names & set(SEAMLESS_PARAMS))
            candidates.append((not cap.available, "texture" not in cap.name, not seamless, cap.name, cap))
    if not candidates:
        raise ValueError("generating a texture from a prompt needs an image model, and this muselink daemon has none "
                         "(configure a diffusion model for the daemon, or generate from an exemplar image instead)")
    best = min(candidates, key=lambda item: item[:4])[-1]
    if not best.available:
        raise ValueError(f"generating a texture from a prompt needs an image model: {best.name} is installed but "
                         f"not usable: {best.unavailable_reason or 'unavailable'}")
    return best


def pick_exemplar_capability(capabilities) -> CapabilitySpec:
    """``texture.synthesize`` (a new texture grown from an exemplar), or a clear ValueError."""
    if find(capabilities, EXEMPLAR_CAPABILITY) is None:
        raise ValueError(f"generating a texture from an exemplar needs the daemon capability '{EXEMPLAR_CAPABILITY}', "
                         "which this muselink daemon does not offer (update muselink or enable its texture plugin)")
    cap = check_available(capabilities, EXEMPLAR_CAPABILITY)
    if not image_inputs(cap):
        raise ValueError(f"{EXEMPLAR_CAPABILITY} on this daemon takes no image input; cannot send an exemplar")
    return cap


def seamless_params(capability: CapabilitySpec) -> dict:
    """Make textures tile: a bool ``seamless``/``tileable`` switch on, or a ``tiling`` choice set to
    ``both`` (wrap on both axes). Empty when the capability has neither."""
    params: dict[str, Any] = {}
    for p in capability.params:
        if p.name not in SEAMLESS_PARAMS:
            continue
        if p.type == "bool":
            params[p.name] = True
        elif p.type == "choice" and "both" in p.choices:
            params[p.name] = "both"
    return params
