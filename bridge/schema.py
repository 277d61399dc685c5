"""The capability schema, written once: parameter, input and output specs, and their checks.

The daemon validates every job with these specs, the ``status`` message carries them typed, and
every host builds its form from them (a host only maps a parameter ``type`` to a widget) and
checks values with :meth:`ParamSpec.coerce` before sending — the same rules and the same messages
everywhere. Output ``kind`` says where a result goes in a host (see :data:`OUTPUT_KINDS`), so a
capability built from standard kinds works in every host with no host code. Stdlib only.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .fields import Fields, ProtocolError, show

PARAM_TYPES = ("int", "float", "str", "bool", "choice", "seed", "text", "weights")
"""``text`` is a multi-line prompt box; ``weights`` a ``name:weight,name:weight`` blend over ``choices``;
``seed`` an integer where hosts offer "random". A type not listed (from a newer daemon) passes through."""

INPUT_KINDS = ("image", "mask", "notes", "midi", "blob")
"""``mask`` is a 1-channel image, 255 = change; ``midi`` a standard MIDI file (notes are accepted too)."""

OUTPUT_KINDS: dict[str, str] = {
    "image": "a picture placed over what it was made from (Krita: a new layer above the source, masked by the "
             "selection; Blender: a new image in the material's node)",
    "document": "a picture on its own, of any size (Krita: a new document; Blender: a new packed image, put in the "
                "material's node when it was made from a texture)",
    "mask": "one channel, 255 = keep (Krita: a transparency mask on the source layer; Blender: the material's alpha)",
    "notes": "notes in time (MIDI: played on the output port; files: a .mid)",
    "text": "text offered beside the prompt field (Krita, Blender: one click makes it the prompt)",
    "file": "bytes for the CLI to save beside the main result (e.g. a MIDI file); hosts leave it alone",
}
"""Where each output kind goes in a host. A host applies the kinds it lists in ``HostInfo.applies``."""

_PAYLOAD_FILLS = {"image": ("image", "mask"), "notes": ("notes", "midi"), "blob": ("midi", "blob", "notes")}


def _bound(f: Fields, key: str) -> int | float | None:
    """An optional finite number that keeps its JSON type (1 stays 1, so messages read 'between 1 and 50')."""
    value = f.data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        f.fail(key, "a finite number or null", value)
    return value


def _label(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").capitalize()


def parse_weights(value: Any, choices: tuple[Any, ...], where: str) -> dict[str, float]:
    """``"mosaic:0.7,candy:0.3"`` or ``{"mosaic": 0.7}`` → ``{"mosaic": 0.7, "candy": 0.3}``."""
    if isinstance(value, str):
        items: dict[str, Any] = {}
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
            raise ValueError(f"{where}: unknown name {show(name)}; choose from {', '.join(map(str, choices))}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise ValueError(f"{where}: weight for {show(name)} must be a non-negative finite number, got {show(weight)}")
    if sum(value.values()) <= 0:
        raise ValueError(f"{where}: weights must not all be zero")
    return {str(k): float(v) for k, v in value.items()}


class _JsonNames:
    """Read a spec's fields by their JSON names (``spec["name"]``), for code written against the JSON schema."""

    __dataclass_fields__: Any

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in self.__dataclass_fields__ else default


@dataclass(frozen=True)
class ParamSpec(_JsonNames):
    """One parameter: ``type`` is one of :data:`PARAM_TYPES`; ``min``/``max`` bound numbers; ``choices``
    lists a ``choice``'s values or a ``weights`` blend's names."""

    name: str
    type: str
    default: Any = None
    help: str = ""
    min: int | float | None = None
    max: int | float | None = None
    choices: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        """``preserve_colors`` → ``Preserve colors`` (what a form shows)."""
        return _label(self.name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default, "help": self.help}
        if self.min is not None:
            data["min"] = self.min
        if self.max is not None:
            data["max"] = self.max
        if self.choices:
            data["choices"] = list(self.choices)
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> ParamSpec:
        if not isinstance(data, dict):
            raise ProtocolError("bad_message", f"{where}: must be an object, got {show(data)}")
        f = Fields(data, where)
        choices = f.items("choices", [])
        if not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices):
            f.fail("choices", "a list of strings or numbers", choices)
        return cls(name=f.name("name"), type=f.text("type", "str", empty=False), default=data.get("default"),
                   help=f.text("help", ""), min=_bound(f, "min"), max=_bound(f, "max"), choices=tuple(choices))

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


@dataclass(frozen=True)
class InputSpec(_JsonNames):
    """A named input: ``kind`` is one of :data:`INPUT_KINDS`."""

    name: str
    kind: str
    required: bool = True
    help: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "required": self.required, "help": self.help}

    @classmethod
    def from_json(cls, data: Any, where: str) -> InputSpec:
        if not isinstance(data, dict):
            raise ProtocolError("bad_message", f"{where}: must be an object, got {show(data)}")
        f = Fields(data, where)
        required = data.get("required", True)
        if not isinstance(required, bool):
            f.fail("required", "true or false", required)
        return cls(name=f.name("name"), kind=f.text("kind", "image", empty=False), required=required,
                   help=f.text("help", ""))

    def accepts(self, payload_kind: str) -> bool:
        """Whether a payload of ``payload_kind`` (image, notes, blob) can feed this input."""
        return self.kind in _PAYLOAD_FILLS.get(payload_kind, ())


@dataclass(frozen=True)
class OutputSpec(_JsonNames):
    """A named output: ``kind`` (one of :data:`OUTPUT_KINDS`) says where a host puts it."""

    name: str
    kind: str
    help: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "help": self.help}

    @classmethod
    def of(cls, item: OutputSpec | str) -> OutputSpec:
        """An output from a spec or a bare name: a known kind's name is that kind, anything else a ``file``."""
        if isinstance(item, OutputSpec):
            return item
        return cls(item, item if item in OUTPUT_KINDS else "file")

    @classmethod
    def from_json(cls, data: Any, where: str) -> OutputSpec:
        if isinstance(data, str) and data:  # daemons before output kinds listed bare names
            return cls.of(data)
        if not isinstance(data, dict):
            raise ProtocolError("bad_message", f"{where}: must be an object or a name, got {show(data)}")
        f = Fields(data, where)
        return cls(name=f.name("name"), kind=f.text("kind", "file", empty=False), help=f.text("help", ""))


@dataclass(frozen=True)
class CapabilitySpec(_JsonNames):
    """What a capability is, as every client sees it: name, parameters, inputs, outputs, availability."""

    name: str
    summary: str = ""
    lane: str = "interactive"
    params: tuple[ParamSpec, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = (OutputSpec("image", "image"),)
    available: bool = True
    unavailable_reason: str | None = None

    # ---- reading ---------------------------------------------------------------------------
    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> OutputSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    # ---- the wire ----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "summary": self.summary, "lane": self.lane,
                "params": [p.to_json() for p in self.params], "inputs": [i.to_json() for i in self.inputs],
                "outputs": [o.to_json() for o in self.outputs], "available": self.available,
                "unavailable_reason": self.unavailable_reason}

    @classmethod
    def from_json(cls, data: Any, where: str = "capability") -> CapabilitySpec:
        """Total: any JSON value becomes a spec or a :class:`ProtocolError` naming the field."""
        if isinstance(data, CapabilitySpec):
            return data
        if not isinstance(data, dict):
            raise ProtocolError("bad_message", f"{where}: must be an object, got {show(data)}")
        f = Fields(data, where)
        name = f.name("name")
        at = f"{where} {show(name)}"
        available = data.get("available", True)
        if not isinstance(available, bool):
            f.fail("available", "true or false", available)
        outputs = f.items("outputs", ["image"])
        return cls(name=name, summary=f.text("summary", ""), lane=f.text("lane", "interactive", empty=False),
                   params=tuple(ParamSpec.from_json(p, f"{at} params[{i}]") for i, p in enumerate(f.items("params"))),
                   inputs=tuple(InputSpec.from_json(p, f"{at} inputs[{i}]") for i, p in enumerate(f.items("inputs"))),
                   outputs=tuple(OutputSpec.from_json(o, f"{at} outputs[{i}]") for i, o in enumerate(outputs)),
                   available=available, unavailable_reason=f.optional_text("unavailable_reason"))

    # ---- checks ------------------------------------------------------------------------------
    def coerce_params(self, params: Mapping[str, Any], fill_defaults: bool = True) -> dict[str, Any]:
        """``params`` checked and converted by type; unknown names refused. With ``fill_defaults`` every
        parameter is present (its default when not given). Raises ValueError naming the parameter."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown parameter {show(unknown[0])} for {self.name}; known: {', '.join(known) or 'none'}")
        clean: dict[str, Any] = {}
        for p in self.params:
            if p.name not in params and not fill_defaults:
                continue
            value = params.get(p.name, p.default)
            clean[p.name] = None if value is None else p.coerce(value)
        return clean

    def check_inputs(self, payload_kinds: Mapping[str, str]) -> None:
        """Required inputs present, no unknown ones, each of a fitting kind (``{name: payload kind}``)."""
        specs = {i.name: i for i in self.inputs}
        for spec in self.inputs:
            if spec.required and spec.name not in payload_kinds:
                raise ValueError(f"{self.name} needs input '{spec.name}' ({spec.kind})")
        extra = sorted(set(payload_kinds) - set(specs))
        if extra:
            raise ValueError(f"unknown input {show(extra[0])} for {self.name}; known: {', '.join(specs) or 'none'}")
        for name, have in payload_kinds.items():
            if not specs[name].accepts(have):
                raise ValueError(f"input '{name}' must be {specs[name].kind}, got {have}")

    def validate(self, params: Mapping[str, Any], payload_kinds: Mapping[str, str]) -> dict[str, Any]:
        """Fill defaults and coerce ``params``; check inputs. Raises ValueError naming the problem."""
        clean = self.coerce_params(params)
        self.check_inputs(payload_kinds)
        return clean

    def usable_by(self, captures: tuple[str, ...], applies: tuple[str, ...], host: str = "this host") -> str | None:
        """Why a host cannot run this capability (None when it can). The host fills one input per kind listed
        in ``captures`` (an input kind; ``notes`` also fills ``midi``) and places the output kinds in
        ``applies``; every output but a ``file`` must have a place."""
        if not self.available:
            return self.unavailable_reason or "unavailable on the daemon"
        free = list(captures)
        missing = []
        for spec in self.inputs:
            kind = next((k for k in free if k == spec.kind or (spec.kind, k) == ("midi", "notes")), None)
            if kind is not None:
                free.remove(kind)
            elif spec.required:
                missing.append(spec.name)
        if missing:
            return f"needs input(s) {host} cannot send: {', '.join(missing)}"
        placed = [o for o in self.outputs if o.kind != "file"]
        unplaceable = [o.name for o in placed if o.kind not in applies]
        if unplaceable or not placed:
            kinds = ", ".join(sorted({o.kind for o in self.outputs})) or "nothing"
            return f"its result ({kinds}) has no place in {host}"
        return None
