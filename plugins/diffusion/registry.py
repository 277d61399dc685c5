"""The user's diffusion models: ``models.json`` in the config dir. Pure stdlib; never downloads.

A source is one of

* ``folder``: a local diffusers folder (has ``model_index.json``);
* ``single_file``: one ``.safetensors`` / ``.ckpt`` checkpoint (loaded with ``from_single_file``);
* ``hub``: a Hugging Face repo id that is already in the local cache (``local_files_only``).

The first model added is the default.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
ADD_HINT = "add one with `muselink models add NAME SOURCE` (a diffusers folder, a .safetensors/.ckpt file or a cached hub id)"


class ModelError(ValueError):
    """A model-management problem the user can fix; the message says how."""


@dataclass
class ModelEntry:
    name: str
    kind: str  # folder | single_file | hub
    source: str  # absolute path, or the hub repo id
    hash: str = ""  # sha256 of the weights (first 12 hex digits, A1111 style prefix of the full hash)
    size_bytes: int = 0
    config: str | None = None  # single_file: a diffusers folder / cached repo id with the pipeline config
    added: float = field(default_factory=time.time)

    @property
    def short_hash(self) -> str:
        return self.hash[:10]


def models_file(config_dir: str | os.PathLike) -> Path:
    return Path(config_dir) / "models.json"


def load_entries(config_dir) -> list[ModelEntry]:
    path = models_file(config_dir)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text())
        return [ModelEntry(**item) for item in data.get("models", [])]
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{path} is not a valid models file ({exc}); fix or delete it") from None


def save_entries(config_dir, entries: list[ModelEntry]) -> Path:
    path = models_file(config_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"version": 1, "models": [asdict(e) for e in entries]}, indent=1))
    os.replace(tmp, path)
    return path


def find(config_dir, name: str | None) -> ModelEntry:
    """The entry called ``name`` (or the default, the first added); ModelError naming the fix."""
    entries = load_entries(config_dir)
    if not entries:
        raise ModelError(f"no diffusion model is configured; {ADD_HINT}")
    if not name:
        return entries[0]
    for entry in entries:
        if entry.name == name:
            return entry
    raise ModelError(f"unknown model {name!r}; configured: {', '.join(e.name for e in entries)} "
                     f"(`muselink models list`)")


def weight_files(entry_kind: str, path: Path) -> list[Path]:
    if entry_kind == "single_file":
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def hash_files(files: list[Path], root: Path | None = None) -> str:
    """sha256 over the files' bytes (and, for folders, their relative names), streamed."""
    digest = hashlib.sha256()
    for path in files:
        if root is not None:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def cached_hub_snapshot(repo_id: str) -> Path:
    """The local snapshot folder of ``repo_id`` in the Hugging Face cache; ModelError if not there."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ModelError("huggingface_hub is not installed (pip install 'muselink[diffusion]')") from None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError and friends
        raise ModelError(
            f"{repo_id!r} is not a local folder or file, and it is not in the local Hugging Face cache "
            f"({type(exc).__name__}). muselink never downloads at run time: fetch it once with "
            f"`hf download {repo_id}` (or `huggingface-cli download {repo_id}`) on a machine with internet, "
            f"or point SOURCE at a downloaded folder or .safetensors file") from None


def resolve_source(source: str) -> tuple[str, str, Path]:
    """SOURCE → (kind, normalised source, local path with the weights)."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").exists():
            raise ModelError(f"{path} is a folder but not a diffusers pipeline (no model_index.json); "
                             f"use a folder saved with save_pretrained, or a single .safetensors/.ckpt file")
        return "folder", str(path.resolve()), path.resolve()
    if path.is_file():
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise ModelError(f"{path} is not a checkpoint; single files must end in "
                             f"{' or '.join(SINGLE_FILE_SUFFIXES)}")
        return "single_file", str(path.resolve()), path.resolve()
    if path.suffix.lower() in SINGLE_FILE_SUFFIXES or os.sep in source and not HUB_ID_RE.match(source):
        raise ModelError(f"file not found: {source}")
    if HUB_ID_RE.match(source):
        return "hub", source, cached_hub_snapshot(source)
    raise ModelError(f"{source!r} is neither a local folder, a .safetensors/.ckpt file nor a hub id (owner/name)")


def add(config_dir, name: str, source: str, config: str | None = None, replace: bool = False) -> ModelEntry:
    if not NAME_RE.match(name or ""):
        raise ModelError(f"model name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
    kind, normalised, local = resolve_source(source)
    if config is not None:
        if kind != "single_file":
            raise ModelError("--config only applies to single-file checkpoints")
        config_path = Path(config).expanduser()
        if config_path.is_dir():
            if not (config_path / "model_index.json").exists():
                raise ModelError(f"--config {config} has no model_index.json (it must be a diffusers folder)")
            config = str(config_path.resolve())
        elif HUB_ID_RE.match(config):
            cached_hub_snapshot(config)
        else:
            raise ModelError(f"--config {config!r} is neither a diffusers folder nor a cached hub id")
    files = weight_files(kind, local)
    if not files:
        raise ModelError(f"no weight files ({', '.join(WEIGHT_SUFFIXES)}) under {local}")
    entry = ModelEntry(name=name, kind=kind, source=normalised, config=config,
                       hash=hash_files(files, None if kind == "single_file" else local),
                       size_bytes=sum(f.stat().st_size for f in files))
    entries = load_entries(config_dir)
    existing = [e for e in entries if e.name == name]
    if existing and not replace:
        raise ModelError(f"a model called {name!r} already exists ({existing[0].source}); "
                         f"use --replace or `muselink models remove {name}`")
    entries = [entry if e.name == name else e for e in entries] if existing else entries + [entry]
    save_entries(config_dir, entries)
    return entry


def remove(config_dir, name: str) -> ModelEntry:
    entries = load_entries(config_dir)
    for entry in entries:
        if entry.name == name:
            save_entries(config_dir, [e for e in entries if e.name != name])
            return entry
    raise ModelError(f"unknown model {name!r}")


def local_path(entry: ModelEntry) -> Path:
    """Where the entry's weights are now (the cached snapshot for hub ids)."""
    if entry.kind == "hub":
        return cached_hub_snapshot(entry.source)
    path = Path(entry.source)
    if not path.exists():
        raise ModelError(f"model {entry.name!r}: {path} no longer exists; re-add it with "
                         f"`muselink models add --replace {entry.name} NEW_SOURCE`")
    return path
