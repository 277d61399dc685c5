"""``muselink eval text``: what the text capabilities really produce, measured over many seeds.

Lyrics (two public-domain melodies, 50 seeds): share of melody notes that carry exactly one lyric event
holding exactly one pyphen syllable (target 100 %), distinct-2, word and line repetition, words undone or
taken from the fallback. Expansion (10 prompts x 5 seeds): share of user words kept (100 %), added words
and CLIP token length distributions, ban-list hits (0), determinism. Results go to ``metrics.json``.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from muselink.bridge.payloads import Note, NotesData

HERE = Path(__file__).resolve().parent
METRICS = HERE / "metrics.json"
PROMPTS = ("a castle at dawn", "portrait of an old fisherman", "a red fox in the snow", "city street at night",
           "a bowl of fruit on a table", "mountain lake", "a robot reading a book", "sunflowers",
           "an astronaut riding a horse", "cozy library interior")


def _tune(pitches_durs: list[tuple[int, float]], bpm: float = 100.0, meter: tuple = (4, 4)) -> NotesData:
    """Notes from (pitch, beats) pairs; pitch 0 is a rest."""
    ppq, t, notes = 480, 0, []
    for pitch, beats in pitches_durs:
        ticks = round(beats * ppq)
        if pitch:
            notes.append(Note(t, ticks - 24, pitch, 90, 0))
        t += ticks
    return NotesData(tuple(notes), ppq, bpm, meter, "C major")


def melodies() -> dict[str, NotesData]:
    """Two public-domain tunes (Twinkle Twinkle Little Star; Beethoven's Ode to Joy), 8 bars each."""
    c, d, e, f, g, a = 60, 62, 64, 65, 67, 69
    twinkle = [(c, 1), (c, 1), (g, 1), (g, 1), (a, 1), (a, 1), (g, 1.5), (0, .5), (f, 1), (f, 1), (e, 1), (e, 1),
               (d, 1), (d, 1), (c, 1.5), (0, .5), (g, 1), (g, 1), (f, 1), (f, 1), (e, 1), (e, 1), (d, 1.5), (0, .5),
               (g, 1), (g, 1), (f, 1), (f, 1), (e, 1), (e, 1), (d, 1.5), (0, .5)]
    joy = [(e, 1), (e, 1), (f, 1), (g, 1), (g, 1), (f, 1), (e, 1), (d, 1), (c, 1), (c, 1), (d, 1), (e, 1),
           (e, 1.5), (d, .5), (d, 1.5), (0, .5), (e, 1), (e, 1), (f, 1), (g, 1), (g, 1), (f, 1), (e, 1), (d, 1),
           (c, 1), (c, 1), (d, 1), (e, 1), (d, 1.5), (c, .5), (c, 1.5), (0, .5)]
    return {"twinkle": _tune(twinkle), "ode_to_joy": _tune(joy)}


def distinct_2(words: list[str]) -> float:
    pairs = list(zip(words, words[1:], strict=False))
    return len(set(pairs)) / len(pairs) if pairs else 1.0


def check_lyrics(notes: NotesData, midi: bytes) -> tuple[int, int]:
    """(melody notes that carry exactly one syllable, melody notes), read back from the MIDI file.

    A note counts when it has exactly one lyric event and the word its event belongs to (events
    ending in "-" continue into the next note) has, by pyphen, exactly as many syllables as notes.
    """
    from muselink.core.api import lyrics_of

    from .lyrics import melody
    from .syllables import Syllables

    syl = Syllables()
    events: dict[int, list[str]] = {}
    for tick, text in lyrics_of(midi):
        events.setdefault(tick, []).append(text)
    tune = melody(notes)
    good, word = 0, []  # word: the notes' events of the word being read
    for n in tune:
        texts = events.get(n.start, [])
        if len(texts) != 1:
            word = []
            continue
        word.append(texts[0])
        if not texts[0].endswith("-"):
            whole = "".join(t.rstrip("-") for t in word)
            good += len(word) if syl.count(whole) == len(word) else 0
            word = []
    on_notes = {n.start for n in tune}
    stray = sum(len(v) for tick, v in events.items() if tick not in on_notes)
    return max(0, good - stray), len(tune)


def eval_lyrics(model, seeds: int = 50) -> dict:
    from muselink.core.api import midi_from_notes

    from .lyrics import write

    tunes = list(melodies().items())
    good = total = 0
    d2, word_rep, line_rep, rejected, fallback, seconds, all_words = [], [], [], [], [], [], []
    for seed in range(seeds):
        name, notes = tunes[seed % len(tunes)]
        start = time.perf_counter()
        lyr = write(model, notes, "", seed, 0.8, 0.95, 10, lambda: None, lambda f, t: None)
        seconds.append(time.perf_counter() - start)
        g, n = check_lyrics(notes, midi_from_notes(notes, lyrics=lyr.events()))
        good, total = good + g, total + n
        words = [w.lower() for line in lyr.lines for w in line]
        all_words.extend(words)
        d2.append(distinct_2(words))
        word_rep.append(1 - len(set(words)) / len(words))
        lines = [" ".join(line).lower() for line in lyr.lines]
        line_rep.append(1 - len(set(lines)) / len(lines))
        rejected.append(lyr.rejected)
        fallback.append(lyr.fallbacks / len(words))
    return {"seeds": seeds, "notes": total, "one_syllable_per_note": good / total,
            "distinct_2_mean": statistics.mean(d2), "distinct_2_min": min(d2),
            "distinct_2_all_seeds": distinct_2(all_words),
            "word_repetition_mean": statistics.mean(word_rep), "line_repetition_mean": statistics.mean(line_rep),
            "rejected_words_per_song": statistics.mean(rejected), "fallback_word_share": statistics.mean(fallback),
            "seconds_per_song_median": statistics.median(seconds), "sample_seed0": _sample(model, tunes[0][1])}


def _sample(model, notes) -> str:
    from .lyrics import write

    return write(model, notes, "", 0, 0.8, 0.95, 10, lambda: None, lambda f, t: None).text


def eval_expand(model, seeds: int = 5) -> dict:
    from .clip import count_tokens
    from .expand import ban_list, expand, words_of

    ban = ban_list()
    kept, added, tokens, hits, stops, seconds, samples = [], [], [], 0, {}, [], {}
    for prompt in PROMPTS:
        for seed in range(seeds):
            start = time.perf_counter()
            out = expand(model, prompt, seed, 0.7, 0.9, 12, ban, lambda: None, lambda f, t: None)
            seconds.append(time.perf_counter() - start)
            result_words = [w.lower() for w in words_of(out.prompt)]
            user = [w.lower() for w in words_of(prompt)]
            kept.append(sum(w in result_words for w in user) / len(user))
            kept[-1] = kept[-1] if out.prompt.startswith(prompt) else 0.0
            added.append(len(out.added_words))
            tokens.append(count_tokens(out.prompt))
            hits += sum(w.lower() in ban for w in out.added_words)
            stops[out.stop] = stops.get(out.stop, 0) + 1
            if seed == 0:
                samples[prompt] = out.prompt
    again = expand(model, PROMPTS[0], 0, 0.7, 0.9, 12, ban, lambda: None, lambda f, t: None).prompt
    return {"prompts": len(PROMPTS), "seeds": seeds, "user_words_kept": statistics.mean(kept),
            "added_words": _dist(added), "clip_tokens": _dist(tokens), "clip_tokens_max": max(tokens),
            "ban_list_hits": hits, "stop_reasons": stops, "deterministic": again == samples[PROMPTS[0]],
            "seconds_median": statistics.median(seconds), "samples": samples}


def _dist(values: list) -> dict:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"min": min(values), "p25": q[0], "median": q[1], "p75": q[2], "max": max(values),
            "mean": round(statistics.mean(values), 2)}


def add_commands(subparsers) -> None:
    from muselink.plugins.music.cli import _group

    p = _group(subparsers, "eval", "evaluate a model muselink ships").add_parser(
        "text", help="lyrics syllable fit, distinct-2 and repetition; prompt expansion: kept words, lengths")
    p.add_argument("--lyrics-seeds", type=int, default=50)
    p.add_argument("--expand-seeds", type=int, default=5, help="seeds per prompt (10 prompts)")
    p.add_argument("--out", default=str(METRICS), help="where to write the figures (JSON)")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    from .model import MODEL_NAME, load

    model = load()
    result = {"model": MODEL_NAME, "lyrics": eval_lyrics(model, args.lyrics_seeds),
              "expand": eval_expand(model, args.expand_seeds)}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0
