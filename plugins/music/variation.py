"""``music.variation``: a new take of a phrase — same key, meter and rhythm, different notes.

The phrase is written as the REMI tokens the model was trained on, one ``Pitch`` token per note, and
fed through the model in order. ``round((1 - similarity) * n)`` of the notes, picked with the seed, get
a new pitch sampled from the model given everything before it (the variation so far): only pitches in
the phrase's key, within an octave of the old one, never the old pitch itself nor one already sounding
at that position. Every other token (bars, positions, durations, the kept pitches) is the phrase's own,
and the output keeps each note's exact start, length, velocity and channel: only pitches change. Of
several such takes, the most likely one that keeps the phrase's (detected) key wins.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from muselink.bridge.payloads import Note, NotesData

from .sampling import Grammar, sample_token
from .tokens import PITCH_RANGE, POSITIONS_PER_BEAT, Key, Vocab, detect_key

MAX_LEAP = 12  # a new pitch stays within an octave of the one it replaces
CANDIDATES = 6


@dataclass(frozen=True)
class Slot:
    """A token of the phrase; ``note`` is the index (into the input) of the note a ``Pitch`` token plays."""

    token: int
    note: int = -1


def phrase_tokens(notes: NotesData, shift: int, voc: Vocab) -> list[Slot]:
    """REMI tokens of ``notes`` (tick 0 = a bar line), transposed by ``shift``: for every bar up to the last
    note ``Bar TimeSig``, then per onset ``Position`` and per note ``Pitch Duration`` (pitches ascending at
    one onset), as MidiTok writes them. Notes outside the tokenizer's range are left out."""
    num, den = notes.time_signature
    unit = notes.ppq * 4 / den / POSITIONS_PER_BEAT
    bar_units = num * POSITIONS_PER_BEAT
    durations = sorted((units, i) for i, units in Grammar(voc, (num, den)).dur_units.items())
    onsets = sorted((round(n.start / unit), n.pitch + shift, i) for i, n in enumerate(notes.notes)
                    if PITCH_RANGE[0] <= n.pitch + shift < PITCH_RANGE[1])
    bar_token, meter_token = voc.id("Bar_None"), voc.id(f"TimeSig_{num}/{den}")
    out: list[Slot] = []
    bar, pos = -1, -1
    for q, pitch, i in onsets:
        while bar < q // bar_units:
            out += [Slot(bar_token), Slot(meter_token)]
            bar, pos = bar + 1, -1
        if q % bar_units != pos:
            pos = q % bar_units
            out.append(Slot(voc.id(f"Position_{pos}")))
        want = max(1, round(notes.notes[i].duration / unit))
        dur = min(durations, key=lambda d: (abs(d[0] - want), d[0]))[1]
        out += [Slot(voc.id(f"Pitch_{pitch}"), i), Slot(dur)]
    return out


class Runner:
    """Feeds tokens through the model with its key/value cache; past the context it keeps the two
    conditioning tokens and the most recent half context (as :func:`sampling.generate` does)."""

    def __init__(self, model, prompt: list[int]):
        self.model, self.ctx = model, model.cfg.context
        self.prefix, self.fed = prompt[:2], list(prompt)
        self.caches = model.new_cache(1)
        self.logits = model(torch.tensor([prompt]), self.caches)[0, -1]

    def feed(self, tokens: list[int]) -> None:
        if not tokens:
            return
        start = len(self.fed) if len(self.fed) <= self.ctx else None
        self.fed += tokens
        if start is None or start + len(tokens) > self.ctx:
            rows = self.prefix + self.fed[-(self.ctx // 2):]
            self.fed = list(rows)
            self.logits = self.model(torch.tensor([rows]), self.caches)[0, -1]
        else:
            self.logits = self.model(torch.tensor([tokens]), self.caches, start=start)[0, -1]


def _take(model, voc: Vocab, prompt: list[int], slots: list[Slot], change: set, reference: Key,
          temperature: float, top_p: float, gen: torch.Generator, check=None) -> tuple[dict, float]:
    """One candidate: {note index: new pitch (model's key)} and the model's log-probability of those pitches."""
    pitch_ids = [i for i, t in enumerate(voc.types) if t == "Pitch"]
    onset_of, kept_at, onset = [], {}, -1  # pitches kept at each onset: a new pitch must not double one
    for slot in slots:
        if voc.types[slot.token] in ("Position", "Bar"):
            onset += 1
        onset_of.append(onset)
        if slot.note >= 0 and slot.note not in change:
            kept_at.setdefault(onset, set()).add(int(voc.values[slot.token]))
    runner = Runner(model, prompt)
    new_pitch: dict[int, int] = {}
    logprob = 0.0
    pending: list[int] = []
    for slot, at in zip(slots, onset_of, strict=True):
        if slot.note not in change:
            pending.append(slot.token)
            continue
        runner.feed(pending)
        pending = []
        old = int(voc.values[slot.token])
        taken = kept_at.setdefault(at, set())
        mask = torch.zeros(len(voc), dtype=torch.bool)
        for i in pitch_ids:
            p = int(voc.values[i])
            mask[i] = reference.contains(p) and 0 < abs(p - old) <= MAX_LEAP and p not in taken
        logits = runner.logits.float()
        token = sample_token(logits, mask, temperature, top_p, gen) if mask.any() else slot.token
        logprob += float(torch.log_softmax(logits, -1)[token])
        taken.add(int(voc.values[token]))
        new_pitch[slot.note] = int(voc.values[token])
        pending.append(token)
        if check is not None:
            check()
    return new_pitch, logprob


@torch.inference_mode()
def vary(model, voc: Vocab, prompt: list[int], slots: list[Slot], notes: NotesData, key: Key, shift: int,
         similarity: float, temperature: float, top_p: float, seed: int, check=None) -> tuple[NotesData, dict]:
    """``notes`` with new pitches for ``round((1 - similarity) * n)`` of its ``n`` tokenized notes.

    Sampling every pitch anew can drift to another tonal centre inside the same scale (G major heard as
    E minor); so CANDIDATES takes are sampled and the most likely one whose detected key is still the
    input's wins (the most likely one overall when none is). Returns the variation and
    ``{"changed": [note indices], "candidates": n, "key_kept": bool}``."""
    played = [s.note for s in slots if s.note >= 0]
    change = set(random.Random(seed).sample(played, len(played) - round(similarity * len(played))))
    reference = Key(0 if key.mode == "major" else 9, key.mode)  # the model sees every phrase in C major / A minor
    gen = torch.Generator().manual_seed(int(seed))
    takes = []
    for _ in range(CANDIDATES if change else 1):
        new_pitch, logprob = _take(model, voc, prompt, slots, change, reference, temperature, top_p, gen, check)
        out = tuple(Note(n.start, n.duration, new_pitch[i] - shift if i in new_pitch else n.pitch, n.velocity, n.channel)
                    for i, n in enumerate(notes.notes))
        kept = detect_key([(n.start, n.duration, n.pitch) for n in out]) == key
        takes.append((kept, logprob, out))
    kept, _, out = max(takes, key=lambda t: (t[0], t[1]))
    changed = [i for i, (a, b) in enumerate(zip(out, notes.notes, strict=True)) if a.pitch != b.pitch]
    return (NotesData(out, notes.ppq, notes.bpm, notes.time_signature, key.name),
            {"changed": changed, "candidates": len(takes), "key_kept": kept})
