"""Prompt expansion beside prompt fields, written once for every host.

A capability's parameter of type ``text`` named ``prompt`` gets an "expand" action when the daemon
offers ``text.expand_prompt`` and the host can place text. The session runs the expansion as an
ordinary job (progress streams the text so far, cancel works like any job) whose capture target is a
:class:`PromptTarget`; its result is not placed in the user's work but handed back as an
``Applied("text", <parameter>, handle=<expanded text>)`` for the form to offer. Stdlib only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .schema import CapabilitySpec

EXPANDER = "text.expand_prompt"
"""The capability that expands a prompt: params ``{"prompt", "seed"}``, one ``text`` output."""
PROMPT_PARAMS = ("prompt",)
"""Parameter names that get the expand action (when of type ``text``)."""
SEED_LIMIT = 2**31  # text.expand_prompt's seeds are below this; an image seed is folded into it


@dataclass(frozen=True)
class PromptTarget:
    """Where an expansion belongs: the form field of ``param`` for ``capability``. ``field`` is the host's
    own name for that field when it has more than one prompt box (default: the parameter); ``original`` is
    the text that was expanded."""

    capability: str
    param: str
    original: str = ""
    field: str = ""


def expander(capabilities: Mapping[str, CapabilitySpec], applies: tuple[str, ...] = ("text",)) -> CapabilitySpec | None:
    """The daemon's prompt expander when it is there, available and its text has a place in the host."""
    spec = capabilities.get(EXPANDER)
    if spec is None or not spec.available or "text" not in applies:
        return None
    if spec.param("prompt") is None or not any(o.kind == "text" for o in spec.outputs):
        return None
    return spec


def expandable(spec: CapabilitySpec | None, capabilities: Mapping[str, CapabilitySpec],
               applies: tuple[str, ...] = ("text",)) -> tuple[str, ...]:
    """The parameters of ``spec`` that get an expand action (none when the daemon has no expander)."""
    if spec is None or spec.name == EXPANDER or expander(capabilities, applies) is None:
        return ()
    return tuple(p.name for p in spec.params if p.type == "text" and p.name in PROMPT_PARAMS)


def expansion_params(text: str, seed: Any = None) -> dict[str, Any]:
    """``{"prompt": text, "seed": seed}`` for the expander; ValueError for an empty prompt. A seed below
    zero (a form's "random") is left out; a larger image seed is folded into the expander's range."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("type a prompt first: there is nothing to expand")
    params: dict[str, Any] = {"prompt": text}
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        params["seed"] = seed % SEED_LIMIT
    return params


def expansion_text(payloads: Mapping[str, Any], spec: CapabilitySpec | None) -> str | None:
    """The expanded prompt in a result: its first ``text`` output (UTF-8), or None."""
    names = [o.name for o in spec.outputs if o.kind == "text"] if spec is not None else ["text"]
    for name in names:
        blob = payloads.get(name)
        if blob is not None and hasattr(blob, "to_bytes"):
            return bytes(blob.to_bytes()).decode("utf-8", "replace")
    return None
