"""Reading inputs from files and writing results with provenance (for the CLI and the demo)."""
from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from muselink.bridge.payloads import BlobData, ImageData, NotesData, Payload

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


def read_for_kind(path: str | Path, kind: str) -> ImageData | BlobData | NotesData:
    """A file read as an input of ``kind``: ``image`` → RGBA (``rgb``: RGB), ``mask`` → one channel (a
    transparent mask file: its alpha), ``notes``/``midi`` → a MIDI file or a notes .json, ``blob`` → bytes."""
    if kind in ("mask", "image", "rgb"):
        return read_image(path, {"mask": "L", "image": "RGBA", "rgb": "RGB"}[kind])
    if kind in ("notes", "midi"):
        if Path(path).suffix.lower() not in MIDI_SUFFIXES | {".json"}:
            raise ValueError(f"{path}: this input takes notes, a MIDI file (.mid) or a notes .json")
        return read_input(path)
    try:
        return BlobData("application/octet-stream", Path(path).read_bytes())
    except FileNotFoundError:
        raise ValueError(f"file not found: {path}") from None


def read_input(path: str | Path) -> ImageData | BlobData | NotesData:
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


def png_text(meta: dict[str, Any]) -> dict[str, str]:
    """The PNG text chunks for a result: what its capability put in ``meta["png_text"]`` (e.g. diffusion's
    A1111 ``parameters``), else a ``parameters`` line of the capability and its parameters; always the
    full ``muselink`` JSON."""
    given = meta.get("png_text")
    chunks = {str(k): str(v) for k, v in given.items()} if isinstance(given, dict) else {}
    if "parameters" not in chunks:
        pairs = {key.replace("_", " ").capitalize(): value for key, value in dict(meta.get("params") or {}).items()}
        pairs["Capability"] = meta.get("capability")
        chunks["parameters"] = ", ".join(f"{k}: {v}" for k, v in pairs.items() if v not in (None, ""))
    chunks["muselink"] = json.dumps({k: v for k, v in meta.items() if k != "png_text"}, default=str)
    return chunks


def save_image(image: ImageData, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write a PNG (or other format by suffix); PNGs carry the :func:`png_text` chunks."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = image.to_numpy()
    img = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    if path.suffix.lower() == ".png":
        info = PngInfo()
        for key, text in (png_text(meta) if meta else {}).items():
            info.add_text(key, text)
        img.save(path, pnginfo=info)
    else:
        img.convert("RGB").save(path)
    return path


def save_payload(payload: Payload, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Write a result to ``path``: images as PNG (with provenance), notes as .mid or .json, blobs as they are."""
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


def natural_suffix(payload: Payload) -> str:
    """The file suffix a payload is best saved with."""
    if isinstance(payload, ImageData):
        return ".png"
    if isinstance(payload, NotesData):
        return ".json"
    return {"audio/midi": ".mid", "image/png": ".png", "text/plain": ".txt"}.get(payload.media_type, ".bin")


@lru_cache(maxsize=32)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """The digest, from the on-disk record when the file is unchanged since it was hashed (every worker process
    asks, and hashing a 100 MB model takes seconds on a busy machine), else computed and recorded."""
    from .config import cache_dir

    record = cache_dir() / "file-digests.json"
    try:
        known = json.loads(record.read_text())
    except (OSError, ValueError):
        known = {}
    entry = known.get(path) if isinstance(known, dict) else None
    if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [size, mtime_ns]:
        return str(entry[2])
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()[:16]
    try:
        known = known if isinstance(known, dict) else {}
        known[path] = [size, mtime_ns, value]
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(f"{record.name}.{os.getpid()}")
        tmp.write_text(json.dumps(known))
        tmp.replace(record)
    except OSError:
        pass  # a read-only cache only costs the hashing again
    return value


def file_digest(path: str | Path) -> str:
    """First 16 hex digits of a file's SHA-256 (a model's provenance hash); recorded in the cache folder and
    reused while the file's size and modification time are unchanged."""
    path = Path(path).resolve()
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)
