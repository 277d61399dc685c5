"""Reading inputs from files and writing results with provenance (for the CLI and the demo)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from muselink.bridge.payloads import BlobData, ImageData, NotesData

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
MIDI_SUFFIXES = {".mid", ".midi"}


def read_image(path: str | Path, mode: str = "RGBA") -> ImageData:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if mode == "L" and img.mode in ("RGBA", "LA"):
                array = np.asarray(img.convert("RGBA"))[:, :, 3]  # a transparent mask file: use its alpha
            else:
                array = np.asarray(img.convert(mode))
    except FileNotFoundError:
        raise ValueError(f"file not found: {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None
    return ImageData.from_numpy(array)


def read_input(path: str | Path) -> ImageData | BlobData:
    """An image file → ImageData (RGBA); a MIDI file → BlobData(audio/midi); a notes .json → NotesData."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        try:
            return NotesData.from_desc(json.loads(Path(path).read_text()), str(path))
        except FileNotFoundError:
            raise ValueError(f"file not found: {path}") from None
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ValueError(f"{path} is not a muselink notes file: {exc}") from None
    if suffix in MIDI_SUFFIXES:
        try:
            return BlobData("audio/midi", Path(path).read_bytes())
        except FileNotFoundError:
            raise ValueError(f"file not found: {path}") from None
    return read_image(path)


def transparent_mask(image: ImageData) -> ImageData | None:
    """White where ``image`` is transparent (the CLI's default inpaint mask), or None if opaque."""
    array = image.to_numpy()
    if array.shape[2] != 4 or array[:, :, 3].min() == 255:
        return None
    return ImageData.from_numpy(np.where(array[:, :, 3] < 255, 255, 0).astype(np.uint8))


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


def save_image(image: ImageData, path: str | Path, meta: dict | None = None) -> Path:
    """Write a PNG (or other format by suffix); PNGs carry ``parameters`` + ``muselink`` text chunks."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = image.to_numpy()
    img = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if path.suffix.lower() == ".png":
        info = PngInfo()
        if meta:
            info.add_text("parameters", a1111_parameters(meta))
            info.add_text("muselink", json.dumps(meta, default=str))
        img.save(path, pnginfo=info)
    else:
        img.convert("RGB").save(path)
    return path


def save_payload(payload, path: str | Path, meta: dict | None = None) -> Path:
    path = Path(path)
    if isinstance(payload, ImageData):
        return save_image(payload, path, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, BlobData):
        path.write_bytes(payload.to_bytes())
    elif isinstance(payload, NotesData) and path.suffix.lower() in MIDI_SUFFIXES:
        from .midifile import midi_from_notes

        path.write_bytes(midi_from_notes(payload, provenance=meta))
    elif isinstance(payload, NotesData):
        path.write_text(json.dumps(payload.describe(), indent=1))
    return path


def natural_suffix(payload) -> str:
    """The file suffix a payload is best saved with."""
    if isinstance(payload, ImageData):
        return ".png"
    if isinstance(payload, NotesData):
        return ".json"
    if payload.media_type.startswith("text/plain"):
        return ".txt"
    return {"audio/midi": ".mid", "image/png": ".png"}.get(payload.media_type, ".bin")
