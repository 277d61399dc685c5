"""Loading diffusers pipelines offline into the daemon's shared model cache.

Everything is loaded with ``local_files_only=True``: a model that is not on this disk is an
error that says how to get it, never a download. torch and diffusers are imported lazily.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from .registry import ModelEntry, ModelError, local_path

log = logging.getLogger("muselink.diffusion")

SCHEDULERS = {
    "default": None,
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "dpm++2m": ("DPMSolverMultistepScheduler", {}),
    "dpm++2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
}
LOW_GPU_MEMORY = 8 << 30  # below this, attention slicing is switched on
LOW_RAM = 12 << 30


def torch_dtype(device: str):
    import torch

    return torch.float32 if device.startswith("cpu") else torch.float16


def total_memory(device: str) -> int:
    """Bytes of memory the device has (GPU memory for cuda, RAM otherwise)."""
    try:
        if device.startswith("cuda"):
            import torch

            return torch.cuda.get_device_properties(torch.device(device)).total_memory
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError, RuntimeError):
        return 0


@dataclass(eq=False)
class LoadedModel:
    """A base pipeline plus its text2img / img2img / inpaint variants (sharing the same weights)."""

    entry: ModelEntry
    pipe: Any
    device: str
    lock: threading.Lock = field(default_factory=threading.Lock)  # one job at a time per pipeline
    variants: dict = field(default_factory=dict)

    @property
    def components(self) -> dict:  # for core.models.estimate_size
        return self.pipe.components

    @property
    def family(self) -> str:
        return "sdxl" if "XL" in type(self.pipe).__name__ else "sd"

    @property
    def native_size(self) -> int:
        unet = getattr(self.pipe, "unet", None)
        scale = getattr(self.pipe, "vae_scale_factor", 8)
        return int(unet.config.sample_size * scale) if unet is not None else 512

    def variant(self, task: str):
        """The pipeline for ``task`` (text2img | img2img | inpaint), built once with ``from_pipe``."""
        if task not in self.variants:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

            auto = {"text2img": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image,
                    "inpaint": AutoPipelineForInpainting}[task]
            try:
                pipe = auto.from_pipe(self.pipe)
            except (ValueError, KeyError) as exc:
                raise ValueError(f"model {self.entry.name!r} ({type(self.pipe).__name__}) cannot do {task}: {exc}") from None
            pipe.set_progress_bar_config(disable=True)
            self.variants[task] = pipe
        return self.variants[task]

    def set_scheduler(self, pipe, name: str) -> None:
        import diffusers

        base = self.pipe.scheduler
        if SCHEDULERS.get(name) is None:
            pipe.scheduler = base
            return
        cls_name, extra = SCHEDULERS[name]
        pipe.scheduler = getattr(diffusers, cls_name).from_config(base.config, **extra)


def _single_file_class(path: str):
    """StableDiffusionXLPipeline for SDXL checkpoints (second text encoder), else StableDiffusionPipeline."""
    diffusers = import_diffusers()

    keys: set = set()
    if path.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(path, framework="pt") as fh:
            keys = set(fh.keys())
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return diffusers.StableDiffusionXLPipeline
    return diffusers.StableDiffusionPipeline


_import_lock = threading.Lock()


def import_diffusers():
    """Import diffusers (and resolve its lazy pipeline modules) once; safe from several threads.

    diffusers' lazy module is not safe to import from two threads at once (one may see it half
    initialised), and the daemon warms the import in the background while a job may start.
    """
    with _import_lock:
        import diffusers
        import transformers  # noqa: F401
        from diffusers import (AutoPipelineForImage2Image, AutoPipelineForInpainting,  # noqa: F401
                               AutoPipelineForText2Image, DiffusionPipeline, StableDiffusionPipeline)
    return diffusers


def _quiet() -> None:
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _dtype_key() -> str:
    """diffusers >= 0.36 calls it ``dtype`` (``torch_dtype`` is deprecated); older ones ``torch_dtype``."""
    try:
        from diffusers.utils import deprecation_utils

        return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    except ImportError:
        return "torch_dtype"


def load_pipeline(entry: ModelEntry, device: str):
    """Load ``entry`` onto ``device`` (fp16 on GPUs, fp32 on CPU) with only local files."""
    diffusers = import_diffusers()
    _quiet()
    dtype = torch_dtype(device)
    path = local_path(entry)
    common = {_dtype_key(): dtype, "local_files_only": True}
    try:
        if entry.kind == "single_file":
            cls = _single_file_class(str(path))
            kwargs = dict(common)
            if entry.config:
                kwargs["config"] = entry.config
            pipe = cls.from_single_file(str(path), **kwargs)
        else:
            pipe = diffusers.DiffusionPipeline.from_pretrained(str(path), **common)
    except (OSError, ValueError) as exc:
        hint = ""
        if entry.kind == "single_file" and not entry.config:
            hint = (" A single-file checkpoint needs its pipeline config offline: re-add it with "
                    f"`muselink models add --replace --config DIFFUSERS_FOLDER_OR_CACHED_REPO {entry.name} {entry.source}`.")
        raise ModelError(f"cannot load model {entry.name!r} from {path} without downloading: {exc}.{hint}") from None
    pipe.set_progress_bar_config(disable=True)
    pipe.to(device)
    memory = total_memory(device)
    if device != "cpu" and memory and memory < LOW_GPU_MEMORY or device == "cpu" and memory and memory < LOW_RAM:
        if hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing()
            log.info("memory is low (%.1f GB): attention slicing on for %s", memory / 2**30, entry.name)
    return LoadedModel(entry=entry, pipe=pipe, device=device)


def get_model(ctx, entry: ModelEntry) -> LoadedModel:
    """The cached pipeline for ``entry`` on the job's device (loaded once, LRU-evicted under the budget)."""
    key = f"diffusers:{entry.name}:{entry.hash[:12]}:{ctx.device}"
    return ctx.models.get(key, lambda: load_pipeline(entry, ctx.device))


def describe(model: LoadedModel) -> dict:
    """Components, parameter counts and sizes, for ``muselink models check``."""
    from muselink.core.api import estimate_size

    parts = {}
    for name, comp in model.pipe.components.items():
        if comp is None:
            continue
        info = {"class": type(comp).__name__}
        if hasattr(comp, "parameters"):
            info["parameters"] = sum(p.numel() for p in comp.parameters())
            info["bytes"] = estimate_size(comp)
        parts[name] = info
    return {"pipeline": type(model.pipe).__name__, "native_size": model.native_size, "components": parts,
            "bytes": estimate_size(model)}
