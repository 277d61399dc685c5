"""A1111-compatible ``parameters`` text for the PNGs of diffusion results (read by A1111, ComfyUI, Civitai …).

The capability puts it in its result's ``meta["png_text"]``; whoever writes the PNG (the CLI, a host)
copies it without knowing these keys.
"""
from __future__ import annotations


def a1111_parameters(meta: dict) -> str:
    """A1111-style ``parameters`` text: prompt, negative prompt, then ``Key: value`` pairs."""
    params = dict(meta.get("params", {}))
    prompt = params.pop("prompt", "") or ""
    negative = params.pop("negative_prompt", "") or ""
    model_param = params.pop("model", None)  # a capability's `model` parameter names the model too
    width, height = params.pop("width", None), params.pop("height", None)
    size = meta.get("size") if isinstance(meta.get("size"), (list, tuple)) and len(meta["size"]) == 2 else None
    size = size or ([width, height] if width and height else None)
    pairs = {"Steps": params.pop("steps", None), "Sampler": params.pop("scheduler", None),
             "CFG scale": params.pop("guidance", None), "Seed": meta.get("seed", params.pop("seed", None)),
             "Size": f"{size[0]}x{size[1]}" if size else None,
             "Model": meta.get("model_name") or meta.get("model") or model_param, "Model hash": meta.get("model_hash"),
             "Capability": meta.get("capability")}
    for key, value in params.items():
        pairs[key.replace("_", " ").capitalize()] = value
    text = prompt + (f"\nNegative prompt: {negative}" if negative else "")
    tail = ", ".join(f"{k}: {v}" for k, v in pairs.items() if v not in (None, ""))
    return f"{text}\n{tail}".strip()


def with_png_text(meta: dict, capability: str, params: dict) -> dict:
    """``meta`` plus ``png_text.parameters`` for the result of ``capability`` run with ``params``."""
    text = a1111_parameters({**meta, "capability": capability, "params": params})
    return {**meta, "png_text": {"parameters": text}}
