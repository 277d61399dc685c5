"""The daemon's capability schema → what the Blender add-on shows and sends, without Blender.

``property_specs`` maps each parameter of a capability to a Blender property kind and its options
(the adapter turns them into a ``PropertyGroup``); ``to_params`` turns the form's values back
into daemon parameters; the ``pick_*`` helpers choose capabilities for each operator.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

INT_LIMIT = 2 ** 31 - 1
PROMPT_PARAM = "prompt"
EXEMPLAR_CAPABILITY = "texture.synthesize"
SEAMLESS_PARAMS = ("seamless", "tileable", "tiling")


@dataclass(frozen=True)
class PropSpec:
    """One form field: ``prop`` is the Blender property name, ``kind`` int|float|bool|enum|string."""

    param: str
    prop: str
    kind: str
    options: dict = field(default_factory=dict)


def prop_name(param: str) -> str:
    """A Blender-safe property name for a parameter (prefixed, so it never clashes with ``name``)."""
    return "p_" + re.sub(r"\W", "_", param)


def _label(text: str) -> str:
    return text.replace("_", " ").replace("-", " ").capitalize()


def property_specs(params: list) -> list:
    """Blender property specs for a capability's JSON parameter list (``Param.to_json`` shape)."""
    specs = []
    for p in params:
        kind, default, help_text = p.get("type", "str"), p.get("default"), p.get("help", "")
        opts = {"name": _label(p["name"]), "description": help_text}
        if kind in ("int", "seed"):
            opts["default"] = int(default) if isinstance(default, (int, float)) and not isinstance(default, bool) else 0
            opts["min"] = max(-INT_LIMIT, int(p["min"])) if p.get("min") is not None else (0 if kind == "seed" else -INT_LIMIT)
            opts["max"] = min(INT_LIMIT, int(p["max"])) if p.get("max") is not None else INT_LIMIT
            specs.append(PropSpec(p["name"], prop_name(p["name"]), "int", opts))
        elif kind == "float":
            opts["default"] = float(default) if isinstance(default, (int, float)) else 0.0
            if p.get("min") is not None:
                opts["min"] = float(p["min"])
            if p.get("max") is not None:
                opts["max"] = float(p["max"])
            specs.append(PropSpec(p["name"], prop_name(p["name"]), "float", opts))
        elif kind == "bool":
            opts["default"] = bool(default)
            specs.append(PropSpec(p["name"], prop_name(p["name"]), "bool", opts))
        elif kind == "choice" and p.get("choices"):
            choices = [str(c) for c in p["choices"]]
            opts["items"] = [(c, _label(c), "") for c in choices]
            opts["default"] = str(default) if str(default) in choices else choices[0]
            specs.append(PropSpec(p["name"], prop_name(p["name"]), "enum", opts))
        else:  # str, text (prompts), weights ("name:weight,..."), unknown future types
            opts["default"] = "" if default is None else (default if isinstance(default, str) else json.dumps(default))
            if kind == "weights" and p.get("choices"):
                opts["description"] = f"{help_text} (names: {', '.join(map(str, p['choices']))})"
            specs.append(PropSpec(p["name"], prop_name(p["name"]), "string", opts))
    return specs


def to_params(specs: list, values: dict) -> dict:
    """Form values (by property name) → daemon parameters. Empty text fields are left out, so the
    daemon applies its default (e.g. ``weights`` = none)."""
    params = {}
    for spec in specs:
        if spec.prop not in values:
            continue
        value = values[spec.prop]
        if spec.kind == "string" and value == "":
            continue
        params[spec.param] = value
    return params


def signature(capability: dict) -> str:
    """A short stable id of a capability's parameter schema (names a generated form class)."""
    blob = json.dumps([capability.get("name"), capability.get("params", [])], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def find(capabilities: list, name: str) -> dict | None:
    return next((c for c in capabilities if c.get("name") == name), None)


def image_inputs(capability: dict, required_only: bool = True) -> list:
    return [i["name"] for i in capability.get("inputs", [])
            if i.get("kind") == "image" and (i.get("required", True) or not required_only)]


def is_image_to_image(capability: dict) -> bool:
    """One required image in, an image out, nothing else required: usable on a texture or a render."""
    required = [i for i in capability.get("inputs", []) if i.get("required", True)]
    return (len(required) == 1 and required[0].get("kind") == "image"
            and "image" in capability.get("outputs", ["image"]))


def stylize_choices(capabilities: list) -> list:
    """Capabilities the stylize operators can run, available ones first, then by name."""
    found = [c for c in capabilities if is_image_to_image(c) and not c["name"].startswith("debug.")]
    return sorted(found, key=lambda c: (not c.get("available", True), c["name"]))


def check_available(capabilities: list, name: str) -> dict:
    """The capability ``name``, or ValueError saying clearly why it cannot run."""
    cap = find(capabilities, name)
    if cap is None:
        known = ", ".join(c["name"] for c in capabilities) or "none"
        raise ValueError(f"the muselink daemon has no capability '{name}' (it offers: {known})")
    if not cap.get("available", True):
        raise ValueError(f"{name} is not usable on this daemon: {cap.get('unavailable_reason') or 'unavailable'}")
    return cap


def pick_prompt_capability(capabilities: list) -> dict:
    """An image model that makes a picture from a prompt alone (texture models preferred), or a
    ValueError explaining that generating from a prompt needs one."""
    candidates = []
    for cap in capabilities:
        names = {p.get("name") for p in cap.get("params", [])}
        if PROMPT_PARAM in names and not image_inputs(cap) and "image" in cap.get("outputs", ["image"]):
            seamless = bool(names & set(SEAMLESS_PARAMS))
            candidates.append((not cap.get("available", True), "texture" not in cap["name"], not seamless, cap["name"], cap))
    if not candidates:
        raise ValueError("generating a texture from a prompt needs an image model, and this muselink daemon has none "
                         "(configure a diffusion model for the daemon, or generate from an exemplar image instead)")
    best = min(candidates, key=lambda item: item[:4])[-1]
    if not best.get("available", True):
        raise ValueError(f"generating a texture from a prompt needs an image model: {best['name']} is installed but "
                         f"not usable: {best.get('unavailable_reason') or 'unavailable'}")
    return best


def pick_exemplar_capability(capabilities: list) -> dict:
    """``texture.synthesize`` (a new texture grown from an exemplar), or a clear ValueError."""
    if find(capabilities, EXEMPLAR_CAPABILITY) is None:
        raise ValueError(f"generating a texture from an exemplar needs the daemon capability '{EXEMPLAR_CAPABILITY}', "
                         "which this muselink daemon does not offer (update muselink or enable its texture plugin)")
    cap = check_available(capabilities, EXEMPLAR_CAPABILITY)
    if not image_inputs(cap):
        raise ValueError(f"{EXEMPLAR_CAPABILITY} on this daemon takes no image input; cannot send an exemplar")
    return cap


def seamless_params(capability: dict) -> dict:
    """Make textures tile: a bool ``seamless``/``tileable`` switch on, or a ``tiling`` choice set to
    ``both`` (wrap on both axes). Empty when the capability has neither."""
    params = {}
    for p in capability.get("params", []):
        if p.get("name") not in SEAMLESS_PARAMS:
            continue
        if p.get("type") == "bool":
            params[p["name"]] = True
        elif p.get("type") == "choice" and "both" in p.get("choices", []):
            params[p["name"]] = "both"
    return params
