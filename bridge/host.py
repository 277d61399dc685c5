"""What passes between the host session and a host add-on's adapter: values only, no host API.

A host adapter (the add-on's ``host`` room, the only code importing ``krita``, ``bpy`` or the MIDI
backend) implements three hooks (``muselink_hostspec``): describe the host, capture the user's work
for a capability's inputs, and apply one result output by its kind. These are the values they take
and return. Stdlib only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .payloads import BlobData, Payload
from .schema import InputSpec


@dataclass(frozen=True)
class HostInfo:
    """Who the host is and what it can do.

    ``captures``: input kinds it fills, one input per entry (``("image", "mask")``: one picture and its
    selection); ``applies``: the output kinds it places (see ``schema.OUTPUT_KINDS``); ``label``: how
    messages name it ("the docker")."""

    name: str
    version: str = ""
    captures: tuple[str, ...] = ()
    applies: tuple[str, ...] = ()
    label: str = ""

    @property
    def called(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class CaptureRequest:
    """What to capture: ``inputs`` are the capability's input specs (the session fills them in from the
    schema); ``source`` is host-specific ("layer", "merged", "texture", "render", "phrase")."""

    capability: str
    source: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()

    def wants(self, kind: str) -> InputSpec | None:
        """The first input of ``kind`` (None when the capability takes none; all inputs when unknown)."""
        if not self.inputs:
            return InputSpec(kind, kind, required=False)
        return next((i for i in self.inputs if i.kind == kind), None)


@dataclass(frozen=True)
class Capture:
    """What the host sent: payloads for the job plus where the answer belongs (``target``)."""

    payloads: dict[str, Payload]
    target: Any = None  # host-specific placement: bounds + document, node + image, beat map …
    description: str = ""


@dataclass(frozen=True)
class Output:
    """One output of a result: its name, its kind (where it goes) and its payload."""

    name: str
    kind: str
    payload: Payload

    def text(self) -> str:
        """A ``text`` output's words (a ``text/plain`` blob, UTF-8)."""
        data = self.payload.to_bytes() if isinstance(self.payload, BlobData) else b""
        return data.decode("utf-8", "replace")


@dataclass(frozen=True)
class Applied:
    """What applying an output created in the host (a new layer, image, mask, clip), for undo and tests."""

    kind: str
    name: str
    handle: Any = None


class NothingCaptured(ValueError):
    """The host had nothing to capture (no document, no image, no phrase)."""


class HostHooks(Protocol):
    """The host hooks as the session calls them (``muselink_hostspec`` documents them)."""

    def muselink_host_info(self) -> HostInfo | None: ...
    def muselink_host_capture(self, *, request: CaptureRequest) -> Capture | None: ...
    def muselink_host_apply(self, *, capture: Capture, output: Output, meta: dict[str, Any],
                            replace: Applied | None) -> Applied | None: ...


class HostManager(Protocol):
    """A pluggy manager with the host hookspecs (``muselink_hostspec.host_manager``)."""

    @property
    def hook(self) -> HostHooks: ...
