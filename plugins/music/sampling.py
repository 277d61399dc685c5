"""Grammar-constrained sampling with a key/value cache.

The REMI grammar is enforced while sampling (Bar → TimeSig → Position → Pitch → Duration …, positions
rising within a bar, nothing before the earliest allowed time), so every sample decodes to valid notes
and stops exactly at the requested bar line. Pitch choice is left to the model (no key masking).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .tokens import POSITIONS_PER_BEAT, Vocab


def duration_units(value: str) -> int:
    beats, sub, res = (int(v) for v in value.split("."))
    return round((beats + sub / res) * POSITIONS_PER_BEAT)


class Grammar:
    """Token classes of a vocabulary as masks, for one meter."""

    def __init__(self, voc: Vocab, ts: tuple[int, int]):
        v = len(voc)
        self.voc = voc
        self.bar_units = ts[0] * POSITIONS_PER_BEAT
        name = f"TimeSig_{ts[0]}/{ts[1]}"
        if name not in voc.ids:
            raise ValueError(f"time signature {ts[0]}/{ts[1]} is not supported; supported: "
                             + ", ".join(f"{n}/{d}" for d, ns in sorted(_ts_table().items()) for n in ns))
        self.bar = voc.id("Bar_None")
        self.timesig = voc.id(name)
        types = voc.types
        self.pitch = torch.tensor([t == "Pitch" for t in types])
        self.dur = torch.tensor([t == "Duration" for t in types])
        self.pos_value = torch.tensor([int(voc.values[i]) if t == "Position" else -1 for i, t in enumerate(types)])
        self.dur_units = {i: duration_units(voc.values[i]) for i, t in enumerate(types) if t == "Duration"}
        self.only_bar = torch.zeros(v, dtype=torch.bool)
        self.only_bar[self.bar] = True
        self.only_ts = torch.zeros(v, dtype=torch.bool)
        self.only_ts[self.timesig] = True

    def positions(self, after: int, at_least: int) -> torch.Tensor:
        lo = max(after + 1, at_least)
        return (self.pos_value >= lo) & (self.pos_value < self.bar_units)


def _ts_table():
    from .tokens import TIME_SIGNATURES

    return TIME_SIGNATURES


@dataclass
class State:
    """Where a token stream stands: bar index (from the stream's first Bar), position, last type."""

    bar: int = -1
    pos: int = -1
    last: str = ""
    pitch: int | None = None
    notes: list = field(default_factory=list)  # [(start_unit, dur_units, pitch)] of generated notes
    done: bool = False

    def time(self, g: Grammar) -> int:
        return self.bar * g.bar_units + max(self.pos, 0)

    def feed(self, tok: int, g: Grammar, record: bool) -> None:
        kind = g.voc.types[tok]
        if kind == "Bar":
            self.bar, self.pos = self.bar + 1, -1
        elif kind == "Position":
            self.pos = int(g.voc.values[tok])
        elif kind == "Pitch":
            self.pitch = int(g.voc.values[tok])
        elif kind == "Duration" and record and self.pitch is not None:
            self.notes.append((self.time(g), g.dur_units[tok], self.pitch))
        self.last = kind


def allowed(state: State, g: Grammar, min_unit: int, end_bar: int) -> torch.Tensor:
    """Mask of tokens allowed next. A Bar that would open ``end_bar`` means the row is finished."""
    if state.last in ("Bar",):
        return g.only_ts
    if state.last == "Position":
        return g.pitch
    if state.last == "Pitch":
        return g.dur
    at_least = min_unit - state.bar * g.bar_units
    mask = g.positions(state.pos, at_least).clone()
    if state.last == "Duration" and state.time(g) >= min_unit:
        mask |= g.pitch
    mask |= g.only_bar
    return mask


def sample_token(logits: torch.Tensor, mask: torch.Tensor, temperature: float, top_p: float,
                 gen: torch.Generator) -> int:
    logits = logits.masked_fill(~mask, float("-inf"))
    if temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, 0) - sorted_p < top_p
        keep[0] = True
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


@torch.inference_mode()
def generate(model, prompt: list[int], g: Grammar, start_state: State, min_unit: int, end_bar: int,
             temperature: float, top_p: float, seed: int, candidates: int = 1, max_tokens: int = 2048,
             check=None) -> tuple[list[State], list[list[int]]]:
    """Sample ``candidates`` continuations of ``prompt`` (one batch) until each reaches ``end_bar``;
    returns their states (with the new notes) and full token rows (prompt + new tokens)."""
    gen = torch.Generator().manual_seed(int(seed))
    ctx = model.cfg.context
    prefix = prompt[:2]
    caches = model.new_cache(candidates)
    logits = model(torch.tensor([prompt] * candidates), caches)
    length = len(prompt)
    states = [State(start_state.bar, start_state.pos, start_state.last, start_state.pitch) for _ in range(candidates)]
    history = [list(prompt) for _ in range(candidates)]  # what each row generated
    fed = [list(prompt) for _ in range(candidates)]  # what the model saw (equal lengths)
    last_logits = logits[:, -1]
    for _ in range(max_tokens):
        nxt = []
        for r, st in enumerate(states):
            if st.done:
                nxt.append([g.bar])
                continue
            tok = sample_token(last_logits[r].float(), allowed(st, g, min_unit, end_bar), temperature, top_p, gen)
            if tok == g.bar and st.bar + 1 >= end_bar:
                st.done = True
                nxt.append([tok])
                continue
            st.feed(tok, g, record=True)
            step = [tok]
            if tok == g.bar and candidates == 1:  # the meter token after a bar line is forced: feed both at once
                st.feed(g.timesig, g, record=True)
                step.append(g.timesig)
            history[r].extend(step)
            nxt.append(step)
        if all(st.done for st in states):
            break
        if check is not None:
            check()
        for r, step in enumerate(nxt):
            fed[r].extend(step)
        width = len(nxt[0])
        if length + width > ctx:  # slide: rebuild the cache from the prefix and the recent half context
            rows = [prefix + f[-(ctx // 2):] for f in fed]
            logits = model(torch.tensor(rows), caches)
            length = len(rows[0])
        else:
            logits = model(torch.tensor(nxt), caches, start=length)
            length += width
        last_logits = logits[:, -1]
    return states, history


def state_after(tokens: list[int], g: Grammar) -> State:
    st = State()
    for tok in tokens:
        st.feed(tok, g, record=False)
    return st


@torch.inference_mode()
def sequence_logprob(model, rows: list[list[int]], score_from: list[int]) -> list[float]:
    """Sum of log-probabilities of ``row[score_from:]`` under the model, per row (teacher forcing)."""
    out = []
    ctx = model.cfg.context
    for row, start in zip(rows, score_from, strict=True):
        if len(row) > ctx:
            cut = len(row) - ctx
            row, start = row[:2] + row[cut + 2:], max(2, start - cut)
        x = torch.tensor([row])
        logits = model(x[:, :-1])
        logp = torch.log_softmax(logits[0].float(), -1)
        targets = x[0, 1:]
        picked = logp[torch.arange(len(targets)), targets]
        out.append(float(picked[start - 1:].sum()))
    return out
