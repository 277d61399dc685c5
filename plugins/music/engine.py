"""Continue, generate and infill on ``NotesData``: context → tokens → constrained sampling → notes.

Times stay in the input's ticks; bar 0 starts at tick 0. The input is transposed to C major / A minor
for the model (its key is the ``key`` field, or detected) and the new notes are transposed back.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from muselink.bridge.payloads import Note, NotesData

from .sampling import Grammar, generate, sequence_logprob, state_after
from .tokens import PITCH_RANGE, Key, detect_key, fit_range, parse_key

CONTEXT_BARS = 8  # bars of input the model sees before the new material
MAX_CONTEXT_TOKENS = 320
SUFFIX_BARS = 4  # bars after an infill span used to rank candidates
INFILL_CANDIDATES = 4


@dataclass
class Frame:
    """The input's timing: ticks per bar and per model unit, and the transposition to the reference key."""

    ppq: int
    ts: tuple
    key: Key
    shift: int

    @property
    def bar_ticks(self) -> float:
        return self.ts[0] * self.ppq * 4 / self.ts[1]

    @property
    def unit_ticks(self) -> float:  # a REMI position step: 1/4 of the meter's beat
        return self.ppq / self.ts[1]


def input_key(notes: NotesData, triples) -> Key:
    if notes.key:
        try:
            return parse_key(notes.key)
        except ValueError:
            pass
    return detect_key(triples)


def polyphonic(triples) -> bool:
    """True when more than a fifth of the notes overlap another (chorale texture)."""
    overlapping = 0
    ends = []
    for start, dur, _ in sorted(triples):
        ends = [e for e in ends if e > start]
        overlapping += bool(ends)
        ends.append(start + dur)
    return overlapping > len(triples) / 5


class Engine:
    def __init__(self, model, voc, model_hash: str):
        self.model, self.voc, self.model_hash = model, voc, model_hash

    # --- helpers -------------------------------------------------------------------------------
    def _encode_bars(self, triples, frame: Frame, first_bar: int) -> list[list[int]]:
        """REMI ids of notes (shifted to start at ``first_bar``, transposed), split into bar chunks."""
        origin = first_bar * frame.bar_ticks
        moved = []
        for s, d, p in triples:
            q = p + frame.shift
            if PITCH_RANGE[0] <= q < PITCH_RANGE[1]:
                moved.append([round(s - origin), d, q])
        ids = self.voc.encode_notes(moved, frame.ts, frame.ppq) if moved else []
        bar = self.voc.id("Bar_None")
        chunks, cur = [], None
        for tok in ids:
            if tok == bar:
                cur = [tok]
                chunks.append(cur)
            elif cur is not None:
                cur.append(tok)
        return chunks

    def _bar_chunk(self, frame: Frame) -> list[int]:
        return [self.voc.id("Bar_None"), self.voc.id(f"TimeSig_{frame.ts[0]}/{frame.ts[1]}")]

    def _fit(self, chunks: list[list[int]], limit: int) -> int:
        """How many leading bar chunks to drop so the rest fits ``limit`` tokens."""
        drop, total = 0, sum(len(c) for c in chunks)
        while total > limit and drop < len(chunks) - 1:
            total -= len(chunks[drop])
            drop += 1
        return drop

    def _to_notes(self, states, frame: Frame, base_bar: int, lo: float, hi: float, template) -> list[Note]:
        vel = int(sorted(n.velocity for n in template)[len(template) // 2]) if template else 80
        channel = Counter(n.channel for n in template).most_common(1)[0][0] if template else 0
        out = []
        for unit, dur, pitch in states.notes:
            start = round(base_bar * frame.bar_ticks + unit * frame.unit_ticks)
            length = min(round(dur * frame.unit_ticks), round(hi) - start)
            if start < lo or start >= hi or length <= 0:
                continue
            p = pitch - frame.shift
            if 0 <= p <= 127:
                out.append(Note(start, length, p, vel, channel))
        return sorted(set(out), key=lambda n: (n.start, n.pitch))

    def _read(self, notes: NotesData):
        """What continue and infill both derive from the input: its notes, key, style, frame, grammar."""
        triples = [(n.start, n.duration, n.pitch) for n in notes.notes]
        key = input_key(notes, triples)
        style = "chorale" if polyphonic(triples) else "folk"
        shift = fit_range([t[2] for t in triples], key.shift_to_reference())
        frame = Frame(notes.ppq, tuple(notes.time_signature), key, shift)
        return triples, key, style, frame, Grammar(self.voc, frame.ts)

    # --- capabilities --------------------------------------------------------------------------
    def continue_(self, notes: NotesData, bars: int, temperature: float, top_p: float, seed: int,
                  check=None, after_tick: int = 0) -> tuple[NotesData, dict]:
        """The next ``bars`` bars after the input's last note, or after ``after_tick`` when that is later
        (a DAW clip that ends in a rest continues after the clip, not after its last note)."""
        triples, key, style, frame, g = self._read(notes)
        end_tick = max(max(s + d for s, d, _ in triples), after_tick)
        first_bar = int(min(s for s, _, _ in triples) // frame.bar_ticks)
        open_bar = math.ceil(end_tick / frame.bar_ticks - 1e-9)  # first bar line at/after the input's end
        ctx_bar = max(first_bar, open_bar - CONTEXT_BARS)
        chunks = self._encode_bars([t for t in triples if t[0] >= ctx_bar * frame.bar_ticks], frame, ctx_bar)
        drop = self._fit(chunks, MAX_CONTEXT_TOKENS)
        base_bar = ctx_bar + drop
        body = [tok for c in chunks[drop:] for tok in c]
        prompt = self.voc.prefix(style, key.mode) + body
        min_unit = math.ceil((end_tick - base_bar * frame.bar_ticks) / frame.unit_ticks - 1e-9)
        end_bar = open_bar + bars - base_bar
        states, _ = generate(self.model, prompt, g, state_after(body, g), min_unit, end_bar,
                             temperature, top_p, seed, check=check)
        new = self._to_notes(states[0], frame, base_bar, end_tick, (open_bar + bars) * frame.bar_ticks, notes.notes)
        out = NotesData(notes=tuple(new), ppq=notes.ppq, bpm=notes.bpm, time_signature=frame.ts, key=key.name)
        return out, {"key": key.name, "style": style, "start_tick": int(end_tick),
                     "end_tick": round((open_bar + bars) * frame.bar_ticks), "context_bars": open_bar - base_bar}

    def generate_(self, key: Key, ts: tuple, bpm: float, style: str, bars: int, temperature: float,
                  top_p: float, seed: int, ppq: int = 480, check=None) -> tuple[NotesData, dict]:
        frame = Frame(ppq, ts, key, key.shift_to_reference())
        g = Grammar(self.voc, ts)
        prompt = self.voc.prefix(style, key.mode)
        states, _ = generate(self.model, prompt, g, state_after([], g), 0, bars, temperature, top_p, seed, check=check)
        new = self._to_notes(states[0], frame, 0, 0, bars * frame.bar_ticks, ())
        out = NotesData(notes=tuple(new), ppq=ppq, bpm=bpm, time_signature=ts, key=key.name)
        return out, {"key": key.name, "style": style, "end_tick": round(bars * frame.bar_ticks)}

    def vary(self, notes: NotesData, similarity: float, temperature: float, top_p: float, seed: int,
             check=None) -> tuple[NotesData, dict]:
        """The same notes (times, lengths, velocities) with new pitches for ``1 - similarity`` of them."""
        from .variation import phrase_tokens, vary

        _, key, style, frame, _ = self._read(notes)
        slots = phrase_tokens(notes, frame.shift, self.voc)
        out, how = vary(self.model, self.voc, self.voc.prefix(style, key.mode), slots, notes, key, frame.shift,
                        similarity, temperature, top_p, seed, check=check)
        end = max(n.start + n.duration for n in notes.notes)
        return out, {"key": key.name, "style": style, "changed": len(how["changed"]), "candidates": how["candidates"],
                     "key_kept": how["key_kept"], "start_tick": 0,
                     "end_tick": round(math.ceil(end / frame.bar_ticks - 1e-9) * frame.bar_ticks)}

    def infill(self, notes: NotesData, first: int, last: int, temperature: float, top_p: float, seed: int,
               check=None) -> tuple[NotesData, dict]:
        """Regenerate bars ``first``..``last`` (0-based, inclusive), given the bars around them."""
        triples, key, style, frame, g = self._read(notes)
        lo, hi = first * frame.bar_ticks, (last + 1) * frame.bar_ticks
        kept = [t for t in triples if not lo <= t[0] < hi]
        ctx_bar = max(0, first - CONTEXT_BARS)
        chunks = self._encode_bars([t for t in kept if ctx_bar * frame.bar_ticks <= t[0] < hi + SUFFIX_BARS * frame.bar_ticks],
                                   frame, ctx_bar)
        span_at = first - ctx_bar
        while len(chunks) < span_at:
            chunks.append(self._bar_chunk(frame))
        before, after = chunks[:span_at], chunks[last + 1 - ctx_bar:]
        drop = self._fit(before, MAX_CONTEXT_TOKENS)
        base_bar = ctx_bar + drop
        body = [tok for c in before[drop:] for tok in c]
        prompt = self.voc.prefix(style, key.mode) + body
        suffix = [tok for c in after for tok in c]
        n = INFILL_CANDIDATES if suffix else 1
        states, histories = generate(self.model, prompt, g, state_after(body, g), (first - base_bar) * g.bar_units,
                                     last + 1 - base_bar, temperature, top_p, seed, candidates=n, check=check)
        best = 0
        if n > 1:
            scores = sequence_logprob(self.model, [h + suffix for h in histories], [len(h) for h in histories])
            best = max(range(n), key=lambda i: scores[i])
        new = self._to_notes(states[best], frame, base_bar, lo, hi, notes.notes)
        out = NotesData(notes=tuple(new), ppq=notes.ppq, bpm=notes.bpm, time_signature=frame.ts, key=key.name)
        return out, {"key": key.name, "style": style, "start_tick": round(lo), "end_tick": round(hi),
                     "candidates": n, "chosen": best}
