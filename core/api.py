"""The published plugin API: everything a muselink plugin imports from ``muselink.core``.

A plugin (built-in or third-party) uses this module and the bridge (``muselink.bridge``: payload
types, the schema) and nothing else of muselink; ``tests/test_layers.py`` checks that for every
built-in plugin, like datasette's plugin meta-tests. The hooks themselves are documented in
:mod:`muselink.core.hookspecs`.

* hooks: :data:`hookimpl` (and :data:`ENTRY_POINT_GROUP` for third-party packages);
* capabilities: :class:`Capability`, :class:`Param`, :class:`InputSpec`, :class:`OutputSpec`,
  :class:`JobContext`, :class:`JobOutput`, :class:`JobCancelled`, :data:`OUTPUT_KINDS`;
* errors: :class:`CliError` (a command's one-line failure);
* places and devices: :func:`cache_dir`, :func:`config_dir`, :func:`default_endpoint`, :func:`resolve_device`,
  :func:`estimate_size` (for the model cache);
* notes and MIDI files: :func:`notes_from_midi`, :func:`midi_from_notes`, :func:`provenance_of`,
  :func:`lyrics_of`, :data:`MIDI_MEDIA_TYPES`;
* files: :func:`file_digest` (a model file's provenance hash), :func:`save_payload` (for ``muselink_demo`` steps).
"""
from __future__ import annotations

from typing import Any

from muselink.bridge.schema import OUTPUT_KINDS

from . import __version__
from .capability import Capability, InputSpec, JobCancelled, JobContext, JobOutput, OutputSpec, Param
from .config import cache_dir, config_dir, default_endpoint
from .errors import CliError
from .hookspecs import ENTRY_POINT_GROUP, hookimpl
from .files import file_digest, save_payload
from .midifile import MIDI_MEDIA_TYPES, lyrics_of, midi_from_notes, notes_from_midi, provenance_of

__all__ = ["ENTRY_POINT_GROUP", "MIDI_MEDIA_TYPES", "OUTPUT_KINDS", "Capability", "CliError", "InputSpec", "JobCancelled",
           "JobContext", "JobOutput", "OutputSpec", "Param", "__version__", "cache_dir", "config_dir", "default_endpoint",
           "estimate_size", "file_digest", "hookimpl", "lyrics_of", "midi_from_notes", "notes_from_midi", "provenance_of",
           "resolve_device", "save_payload"]


def resolve_device(requested: str = "auto") -> str:
    """``auto`` → cuda > mps > cpu as far as torch (if installed) can see; anything else as given."""
    from .worker import resolve_device as resolve

    return resolve(requested)


def estimate_size(model: Any) -> int:
    """Bytes a loaded model holds (torch parameters and buffers, numpy arrays, a pipeline's components)."""
    from .models import estimate_size as estimate

    return estimate(model)
