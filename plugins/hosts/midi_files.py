"""File workflows for DAWs without virtual ports: continue, infill, and a drop folder.

Each takes a bridge client (any object with ``run(capability, payloads, params, timeout=)``)
and plain paths; no MIDI ports are involved.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from collections.abc import Callable

from muselink.bridge.payloads import BlobData, NotesData
from muselink.core.api import MIDI_MEDIA_TYPES, midi_from_notes, notes_from_midi
from muselink.host_addons.midi.notes import append, rescale

log = logging.getLogger("muselink.midi")
ANSWER_SUFFIX = ".muselink.mid"


def notes_from_payloads(payloads: dict, where: str = "answer") -> NotesData:
    """The ``notes`` payload of a result, or its MIDI file parsed; ValueError when neither."""
    notes = payloads.get("notes")
    if isinstance(notes, NotesData):
        return notes
    for payload in payloads.values():
        if isinstance(payload, BlobData) and payload.media_type in MIDI_MEDIA_TYPES:
            return notes_from_midi(payload.to_bytes(), where)
    raise ValueError(f"{where} has no notes: expected a 'notes' or 'midi' payload, got {sorted(payloads)}")


def read_notes(path: Path) -> NotesData:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"MIDI file not found: {path}")
    notes = notes_from_midi(path.read_bytes(), str(path))
    if not notes.notes:
        raise ValueError(f"{path} has no notes to continue")
    return notes


def write_notes(notes: NotesData, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(midi_from_notes(notes))
    tmp.replace(path)  # a DAW watching the folder never sees half a file
    return path


def continue_file(client, src: Path, dst: Path, params: dict, answer_only: bool = False,
                  timeout: float | None = None) -> NotesData:
    """Write ``src`` + its continuation (or only the continuation) to ``dst``; returns what was written."""
    notes = read_notes(src)
    result = client.run("music.continue", {"notes": notes}, params, timeout=timeout)
    answer = notes_from_payloads(result.payloads, "music.continue result")
    out = answer if answer_only else append(notes, answer)
    write_notes(out, dst)
    return out


def infill_file(client, src: Path, dst: Path, from_bar: int, to_bar: int, params: dict,
                timeout: float | None = None) -> NotesData:
    """Regenerate bars ``from_bar``..``to_bar`` of ``src`` and write the whole piece to ``dst``."""
    if to_bar < from_bar:
        raise ValueError(f"--to ({to_bar}) must not be before --from ({from_bar})")
    notes = read_notes(src)
    result = client.run("music.infill", {"notes": notes}, {**params, "from_bar": from_bar, "to_bar": to_bar},
                        timeout=timeout)
    answer = rescale(notes_from_payloads(result.payloads, "music.infill result"), notes.ppq)
    out = splice(notes, answer, from_bar, to_bar)
    write_notes(out, dst)
    return out


def lyrics_file(client, src: Path, dst: Path, params: dict, timeout: float | None = None) -> str:
    """Write ``src`` with lyrics (one syllable per melody note, as MIDI lyric events) to ``dst``;
    returns the lyrics text."""
    notes = read_notes(src)
    result = client.run("text.lyrics", {"notes": notes}, params, timeout=timeout)
    midi = result.payloads.get("midi")
    if midi is None or getattr(midi, "media_type", "") != "audio/midi":
        raise ValueError("text.lyrics returned no MIDI file")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    tmp.write_bytes(midi.to_bytes())
    tmp.replace(dst)
    return str(result.meta.get("text", ""))


def splice(piece: NotesData, answer: NotesData, from_bar: int, to_bar: int) -> NotesData:
    """``piece`` with the notes starting in bars ``from_bar``..``to_bar`` (1 = first) taken from
    ``answer`` — right whether the model returns the whole piece or only the regenerated span."""
    num, den = piece.time_signature
    bar = round(piece.ppq * 4 * num / den)
    lo, hi = (from_bar - 1) * bar, to_bar * bar
    kept = [n for n in piece.notes if not lo <= n.start < hi]
    new = [n for n in answer.notes if lo <= n.start < hi]
    merged = tuple(sorted(kept + new, key=lambda n: (n.start, n.pitch)))
    return NotesData(merged, piece.ppq, piece.bpm, piece.time_signature, piece.key)


def answer_path(path: Path) -> Path:
    return path.with_name(path.stem + ANSWER_SUFFIX)


def pending_files(folder: Path) -> list:
    """``.mid`` files in ``folder`` that are not answers and have no answer yet."""
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".mid", ".midi") or path.name.endswith(ANSWER_SUFFIX):
            continue
        if answer_path(path).exists():
            continue
        found.append(path)
    return found


def watch(client, folder: Path, params: dict, once: bool = False, interval: float = 0.5,
          settle: float = 0.3, stop: Callable[[], bool] = lambda: False, answer_only: bool = True,
          report: Callable[[str], None] = print, job_timeout: float | None = None) -> int:
    """Answer every new ``.mid`` dropped in ``folder`` with ``<name>.muselink.mid`` beside it.

    A file is taken once its size stops changing for ``settle`` s. A file that fails is reported
    and skipped (not retried until it changes). ``once``: answer what is there now and return.
    Returns the number of answers written.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"drop folder not found: {folder}")
    done: dict = {}
    written = 0
    sizes: dict = {}
    while not stop():
        for path in pending_files(folder):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if done.get(path) == stat.st_mtime_ns:
                continue
            seen = sizes.get(path)
            if not once and (seen is None or seen[0] != stat.st_size or time.monotonic() - seen[1] < settle):
                if seen is None or seen[0] != stat.st_size:
                    sizes[path] = (stat.st_size, time.monotonic())
                continue
            done[path] = stat.st_mtime_ns
            try:
                continue_file(client, path, answer_path(path), params, answer_only=answer_only, timeout=job_timeout)
            except (ValueError, RuntimeError) as exc:
                report(f"{path.name}: {exc}")
                continue
            written += 1
            report(f"{path.name} -> {answer_path(path).name}")
        if once:
            break
        time.sleep(interval)
    return written
