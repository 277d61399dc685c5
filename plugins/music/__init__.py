"""Music capabilities from muselink's own symbolic-music model (trained on the music21 corpus).

* ``music.continue`` — notes/MIDI in → the next N bars in the input's key, meter and tempo;
* ``music.generate`` — from nothing, with key, meter, tempo, length and style (chorale/folk);
* ``music.infill`` — regenerate a span of bars given the bars before and after it;
* ``music.variation`` — a new take of the input: same key, meter and rhythm, new pitches for
  ``1 - similarity`` of its notes.

Output payloads: ``notes`` (NotesData of only the new notes, in the input's ticks/ppq) and ``midi``
(a standard MIDI file of the same notes whose text event carries the provenance). Cheap to import:
torch, MidiTok and mido load inside the functions.
"""
from __future__ import annotations

import importlib.util
import secrets
from functools import lru_cache
from pathlib import Path

from muselink.core.api import Capability, InputSpec, JobOutput, Param, file_digest, hookimpl

HERE = Path(__file__).resolve().parent
CHECKPOINT = HERE / "music.pt"
METERS = ("4/4", "3/4", "2/4", "6/8", "3/8", "9/8", "12/8", "2/2", "3/2", "5/4", "6/4")


def unavailable() -> str | None:
    if not CHECKPOINT.exists():
        return f"the music model checkpoint is missing ({CHECKPOINT}); run 'muselink train music'"
    for module in ("miditok", "mido", "torch"):  # found, not imported: the broker asks this on every status
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'muselink[music]')"
    return None


def _load(path: Path):
    from .engine import Engine
    from .model import load_checkpoint
    from .tokens import vocab

    model, _ = load_checkpoint(path)
    voc = vocab()
    if model.cfg.vocab_size != len(voc):
        raise RuntimeError(f"checkpoint {path} has a vocabulary of {model.cfg.vocab_size}, the tokenizer {len(voc)}")
    return Engine(model, voc, file_digest(path))


def load_engine(ctx=None, path: Path = CHECKPOINT):
    """The loaded model + tokenizer (shared through the daemon's model cache when ``ctx`` is given)."""
    if ctx is None or ctx.models is None:
        return _standalone(str(path))
    return ctx.models.get(f"music:{file_digest(path)}", lambda: _load(path))


@lru_cache(maxsize=2)
def _standalone(path: str):
    return _load(Path(path))


def _seed(params: dict) -> int:
    return params["seed"] if params.get("seed") is not None else secrets.randbelow(2**31)


def _output(cap: str, notes, params: dict, seed: int, eng, info: dict) -> JobOutput:
    from muselink.bridge.payloads import BlobData

    from .midi_io import to_midi

    clean = {k: v for k, v in params.items() if v is not None}
    provenance = {"capability": cap, "model": "muselink-music", "model_hash": eng.model_hash, "seed": seed,
                  "params": clean}
    midi = to_midi(notes, provenance, title=cap)
    meta = {"model": "muselink-music", "model_hash": eng.model_hash, "seed": seed, "params": clean,
            "notes": len(notes.notes), **info}
    # midi first: `muselink run -o x.mid` writes the first payload to x.mid
    return JobOutput(payloads={"midi": BlobData("audio/midi", midi), "notes": notes}, meta=meta)


def _one_thread() -> None:
    """Sampling is many tiny ops: one intra-op thread is fastest and spares the other lanes (per thread)."""
    import torch

    torch.set_num_threads(1)


def _input(inputs: dict):
    from .midi_io import as_notes, check_timing

    notes = as_notes(inputs["notes"])
    check_timing(notes.bpm, notes.ppq)
    if not notes.notes:
        raise ValueError("input 'notes' has no notes; give at least one note (music.generate starts from nothing)")
    return notes


def run_continue(inputs: dict, params: dict, ctx) -> JobOutput:
    _one_thread()
    notes = _input(inputs)
    seed = _seed(params)
    eng = load_engine(ctx)
    ctx.progress(0.1, "continuing")
    out, info = eng.continue_(notes, params["bars"], params["temperature"], params["top_p"], seed,
                              check=ctx.check_cancelled, after_tick=params["after_tick"])
    return _output("music.continue", out, params, seed, eng, info)


def run_generate(inputs: dict, params: dict, ctx) -> JobOutput:
    _one_thread()
    from .tokens import parse_key

    key = parse_key(params["key"])
    num, den = (int(v) for v in params["meter"].split("/"))
    seed = _seed(params)
    eng = load_engine(ctx)
    ctx.progress(0.1, "generating")
    out, info = eng.generate_(key, (num, den), params["tempo"], params["style"], params["bars"],
                              params["temperature"], params["top_p"], seed, check=ctx.check_cancelled)
    return _output("music.generate", out, params, seed, eng, info)


def run_infill(inputs: dict, params: dict, ctx) -> JobOutput:
    _one_thread()
    notes = _input(inputs)
    first = params["from_bar"]
    last = params["to_bar"] or first + params["bars"] - 1
    if last < first:
        raise ValueError(f"parameter 'to_bar' ({last}) must not be before 'from_bar' ({first})")
    seed = _seed(params)
    eng = load_engine(ctx)
    ctx.progress(0.1, "infilling")
    out, info = eng.infill(notes, first - 1, last - 1, params["temperature"], params["top_p"], seed,
                           check=ctx.check_cancelled)
    return _output("music.infill", out, params, seed, eng, info)


def run_variation(inputs: dict, params: dict, ctx) -> JobOutput:
    _one_thread()
    notes = _input(inputs)
    seed = _seed(params)
    eng = load_engine(ctx)
    ctx.progress(0.1, "varying")
    out, info = eng.vary(notes, params["similarity"], params["temperature"], params["top_p"], seed,
                         check=ctx.check_cancelled)
    return _output("music.variation", out, params, seed, eng, info)


SAMPLING = (
    Param("temperature", "float", 0.9, "randomness (0 = always the most likely token)", 0.0, 2.0),
    Param("top_p", "float", 0.95, "nucleus sampling: keep the most likely tokens up to this probability", 0.05, 1.0),
    Param("seed", "seed", None, "random seed; the same seed gives the same notes (empty = random)", 0, 2**31 - 1),
)
NOTES_IN = (InputSpec("notes", "notes", help="notes (NotesData) or a standard MIDI file (audio/midi)"),)


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(
            name="music.continue", summary="Continue a melody or chorale for the next N bars (muselink's own model).",
            run=run_continue, lane="interactive", available=unavailable, inputs=NOTES_IN, outputs=("notes", "midi"),
            params=(Param("bars", "int", 2, "bars to add after the input", 1, 32),
                    Param("after_tick", "int", 0, "start no earlier than this tick, e.g. the end of a DAW clip "
                          "that ends in a rest (0 = right after the last note)", 0, 2**31 - 1),
                    *SAMPLING)),
        Capability(
            name="music.generate", summary="Generate a melody (folk) or four-part chorale from nothing.",
            run=run_generate, lane="interactive", available=unavailable, inputs=(), outputs=("notes", "midi"),
            params=(Param("bars", "int", 8, "length in bars", 1, 64),
                    Param("key", "str", "C major", "key, e.g. 'C major', 'a minor', 'F#m'"),
                    Param("meter", "choice", "4/4", "time signature", choices=METERS),
                    Param("tempo", "float", 100.0, "beats per minute", 20.0, 300.0),
                    Param("style", "choice", "folk", "folk melody or four-part chorale", choices=("folk", "chorale")),
                    *SAMPLING)),
        Capability(
            name="music.infill", summary="Regenerate a span of bars given the music before and after it.",
            run=run_infill, lane="interactive", available=unavailable, inputs=NOTES_IN, outputs=("notes", "midi"),
            params=(Param("from_bar", "int", 2, "first bar to regenerate (1 = the first bar)", 1, 10000),
                    Param("to_bar", "int", 0, "last bar to regenerate, inclusive (0 = from_bar + bars - 1)", 0, 10000),
                    Param("bars", "int", 1, "span length when to_bar is 0", 1, 32),
                    *SAMPLING)),
        Capability(
            name="music.variation", summary="A new take of a phrase: same key, meter and rhythm, different notes.",
            run=run_variation, lane="interactive", available=unavailable, inputs=NOTES_IN, outputs=("notes", "midi"),
            params=(Param("similarity", "float", 0.5, "share of the notes kept as they are (0 = every pitch new, "
                          "1 = the input unchanged)", 0.0, 1.0),
                    *SAMPLING)),
    ]


@hookimpl
def muselink_add_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)


@hookimpl
def muselink_demo(client, out_dir):
    """``muselink demo``: continue 'Ode to Joy' for four bars; .mid files and a piano roll."""
    reason = unavailable()
    if reason is not None:
        print(f"  music.continue skipped: {reason}")
        return []
    from .demo import demo_step

    return demo_step(client, out_dir)
