"""Stable-Diffusion-family image generation with diffusers, run from models the user already has.

Capabilities (heavy lane): ``image.generate`` (text → image), ``image.refine`` (image → image with
``strength``) and ``image.inpaint`` (only the masked region regenerated). Models are managed offline
with ``muselink models add|list|check|remove`` and kept in ``models.json`` in the config dir.
Cheap to import: torch and diffusers load only when a job runs.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from muselink.core.api import Capability, InputSpec, Param, hookimpl
from muselink.core.api import config_dir as default_config_dir

from . import registry
from .loading import SCHEDULERS
from ..imaging import TILING_AXES

_state: dict = {"config_dir": None}


def config_dir() -> Path:
    """The daemon's configured dir (``muselink_configure``), else ``$MUSELINK_CONFIG_DIR`` / ~/.config/muselink."""
    return Path(_state["config_dir"] or default_config_dir())


def unavailable() -> str | None:
    missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install 'muselink[diffusion]')"
    try:
        if not registry.load_entries(config_dir()):
            return f"no diffusion model is configured; {registry.ADD_HINT}"
    except registry.ModelError as exc:
        return str(exc)
    return None


def _runner(name: str, capability: str):
    def run(inputs, params, ctx):
        from . import run as impl
        from .provenance import with_png_text

        output = getattr(impl, name)(inputs, params, ctx, config_dir())
        output.meta = with_png_text(output.meta, capability, params)  # A1111 `parameters` for PNG writers
        return output

    run.__name__ = name
    return run


COMMON = (
    Param("model", "str", None, "model name from `muselink models list` (default: the first added)"),
    Param("prompt", "text", "", "what to paint"),
    Param("negative_prompt", "text", "", "what to avoid"),
    Param("steps", "int", 25, "denoising steps", 1, 200),
    Param("guidance", "float", 7.0, "classifier-free guidance scale (1 = off)", 0.0, 30.0),
    Param("seed", "seed", None, "random seed; the same seed, model and parameters give the same image", 0, 2**32 - 1),
    Param("scheduler", "choice", "default", "sampler (default: the model's own)", choices=tuple(SCHEDULERS)),
    Param("tiling", "choice", "none", "seamless texture: wrap around on these axes", choices=tuple(TILING_AXES)),
    Param("preview_every", "int", 5, "send a cheap preview every N steps (0 = never)", 0, 1000),
)
IMAGE = InputSpec("image", "image", help="the picture (or selected region), RGB or RGBA")


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(
            name="image.generate", summary="Text to image with your Stable Diffusion model (diffusers).",
            run=_runner("run_generate", "image.generate"), lane="heavy", available=unavailable,
            params=COMMON + (Param("width", "int", None, "result width (default: the model's native size)", 8, 8192),
                             Param("height", "int", None, "result height (default: the model's native size)", 8, 8192))),
        Capability(
            name="image.refine", summary="Image to image: repaint a picture guided by a prompt (strength).",
            run=_runner("run_refine", "image.refine"), lane="heavy", available=unavailable, inputs=(IMAGE,),
            params=COMMON + (Param("strength", "float", 0.5, "how much to change (0 = nothing, 1 = everything)",
                                   0.0, 1.0),)),
        Capability(
            name="image.inpaint", summary="Regenerate only the masked region; everything else stays bit-identical.",
            run=_runner("run_inpaint", "image.inpaint"), lane="heavy", available=unavailable,
            inputs=(IMAGE, InputSpec("mask", "mask", required=False,
                                     help="white = regenerate (default: the image's transparent pixels)")),
            params=COMMON + (Param("strength", "float", 1.0, "how much the masked region changes", 0.0, 1.0),
                             Param("mask_blur", "float", 4.0, "soft edge inside the mask, in pixels (0 = hard)",
                                   0.0, 256.0))),
    ]


def _warm_imports() -> None:
    """Import torch + diffusers in the background so the first job does not wait for them (~5-15 s)."""
    from .loading import import_diffusers

    try:
        import_diffusers()
    except Exception:  # the job that needs them reports the problem
        pass


@hookimpl
def muselink_configure(config):
    _state["config_dir"] = getattr(config, "config_dir", None)
    if unavailable() is None:  # a model is configured: get the libraries ready, load no weights yet
        import threading

        threading.Thread(target=_warm_imports, name="diffusion-imports", daemon=True).start()


@hookimpl
def muselink_add_commands(subparsers):
    from .commands import add_commands

    add_commands(subparsers)


@hookimpl
def muselink_shutdown():
    _state["config_dir"] = None
