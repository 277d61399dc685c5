"""Sampling and word-level constrained decoding on top of :class:`model.Session`.

The guarantees (a syllable budget met exactly, a banned word never emitted, every user word kept) hold
by construction: the model proposes, the constraint disposes. A word is sampled token by token; its
end is an explicit outcome whose probability is the model's mass on every token that cannot continue
the word. A finished word that breaks a constraint is undone (the KV cache is rewound) and sampled
again with its first token banned at that position; after a few tries a fallback that cannot fail
(a one-token word that fits) is taken, so every loop ends.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .model import Session, TextModel

END = -1
WORD_TRIES = 8
MAX_WORD_TOKENS = 6


@dataclass
class Masks:
    """Token classes over the vocabulary (bool arrays)."""

    start_space: np.ndarray   # " word" — starts a new word after a space
    start_bare: np.ndarray    # "Word" — starts a word at the beginning of a line
    cont: np.ndarray          # "ing" — continues the current word (lowercase letters, apostrophes)
    text: np.ndarray          # anything printable (free writing)
    comma: int
    newline: int
    eos: tuple[int, ...]


_WORD = re.compile(rb"^[A-Za-z]+$")
_CONT = re.compile(rb"^[a-z']+$")


def masks(model: TextModel) -> Masks:
    cached = getattr(model, "_muselink_masks", None)
    if cached is not None:
        return cached
    pieces = model.vocab.pieces
    special = model.vocab.special
    n = len(pieces)
    start_space = np.zeros(n, dtype=bool)
    start_bare = np.zeros(n, dtype=bool)
    cont = np.zeros(n, dtype=bool)
    text = ~special.copy()
    for i, piece in enumerate(pieces):
        if special[i]:
            continue
        if piece.startswith(b" ") and _WORD.match(piece[1:]):
            start_space[i] = True
        if _WORD.match(piece):
            start_bare[i] = True
        if _CONT.match(piece):
            cont[i] = True
        try:
            decoded = piece.decode("utf-8")
        except UnicodeDecodeError:
            continue  # part of a multi-byte character: allowed in free text
        if any(ord(c) < 32 and c != "\n" for c in decoded):
            text[i] = False
    comma, newline = model.encode(",")[0], model.encode("\n")[0]
    found = Masks(start_space, start_bare, cont, text, comma, newline, model.vocab.eos)
    model._muselink_masks = found
    return found


class Sampler:
    """Temperature + nucleus sampling from a seeded generator, with a repetition penalty on used tokens."""

    def __init__(self, seed: int, temperature: float = 0.8, top_p: float = 0.95, repetition_penalty: float = 1.3):
        self.rng = np.random.default_rng(seed)
        self.temperature = temperature
        self.top_p = top_p
        self.penalty = repetition_penalty
        self.used: set[int] = set()

    def _probs(self, logits: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        z = logits.astype(np.float64, copy=True)
        if self.used and self.penalty != 1.0:  # CTRL's penalty: less likely to repeat itself
            idx = np.fromiter(self.used, dtype=np.int64)
            z[idx] = np.where(z[idx] > 0, z[idx] / self.penalty, z[idx] * self.penalty)
        if allowed is not None:
            z[~allowed] = -np.inf
        if self.temperature <= 0:
            p = np.zeros_like(z)
            p[int(np.argmax(z))] = 1.0
            return p
        z = z / self.temperature
        z -= np.max(z)
        p = np.exp(z)
        return p / p.sum()

    def _draw(self, p: np.ndarray) -> int:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, self.top_p)) + 1]
        q = p[keep] / p[keep].sum()
        return int(keep[self.rng.choice(len(keep), p=q)])

    def pick(self, logits: np.ndarray, allowed: np.ndarray | None = None) -> int:
        if allowed is not None and not allowed.any():
            raise RuntimeError("no token is allowed here")
        return self._draw(self._probs(logits, allowed))

    def pick_or_end(self, logits: np.ndarray, cont: np.ndarray) -> int:
        """A continuation token, or END with the model's whole mass on everything else."""
        p = self._probs(logits, None)
        lumped = np.append(np.where(cont, p, 0.0), p[~cont].sum())
        choice = self._draw(lumped / lumped.sum())
        return END if choice == len(p) else choice

    def pick_group(self, logits: np.ndarray, groups: list[np.ndarray]) -> int:
        """Index of a group of tokens, drawn with the model's total mass on each group."""
        p = self._probs(logits, None)
        mass = np.array([p[g].sum() if g.any() else 0.0 for g in groups])
        if mass.sum() <= 0:
            mass = np.array([1.0 if g.any() else 0.0 for g in groups])
        mass = mass / mass.sum()
        return int(self.rng.choice(len(groups), p=mass)) if self.temperature > 0 else int(np.argmax(mass))


class WordWriter:
    """Writes words one at a time into a session, each checked by ``accept(word) -> bool`` before it stays."""

    def __init__(self, model: TextModel, session: Session, sampler: Sampler, check: Callable[[], None]):
        self.model = model
        self.session = session
        self.sampler = sampler
        self.masks = masks(model)
        self.check = check
        self.rejected = 0
        self.fallbacks = 0

    def feed(self, ids: list[int]) -> None:
        self.check()  # cancel is honoured before every token
        self.session.feed(ids)

    def _sample(self, first: np.ndarray) -> list[int]:
        tokens = [self.sampler.pick(self.session.logits(), first)]
        self.feed(tokens)
        while len(tokens) < MAX_WORD_TOKENS:
            nxt = self.sampler.pick_or_end(self.session.logits(), self.masks.cont)
            if nxt == END:
                break
            tokens.append(nxt)
            self.feed([nxt])
        return tokens

    def word(self, accept: Callable[[str], bool], line_start: bool = False,
             fallback: np.ndarray | None = None) -> str:
        """Sample one word that ``accept`` takes; ``fallback`` (one-token words) is used after WORD_TRIES."""
        first = (self.masks.start_bare if line_start else self.masks.start_space).copy()
        mark = len(self.session.ids)
        for _ in range(WORD_TRIES):
            if not first.any():
                break
            tokens = self._sample(first)
            word = self.model.vocab.text(tokens).strip()
            if accept(word):
                self.sampler.used.update(tokens)
                return word
            self.rejected += 1
            self.session.rewind(mark)
            first[tokens[0]] = False
        if fallback is None:
            raise RuntimeError("no acceptable word found")
        allowed = fallback & first if (fallback & first).any() else fallback
        while True:  # one token, taken as a whole word; ``fallback`` only holds words that fit
            token = self.sampler.pick(self.session.logits(), allowed)
            word = self.model.vocab.text([token]).strip()
            if accept(word):
                self.fallbacks += 1
                self.feed([token])
                self.sampler.used.add(token)
                return word
            allowed = allowed.copy()
            allowed[token] = False
            if not allowed.any():
                raise RuntimeError("no acceptable fallback word")

    def one_token_words(self, keep: Callable[[str], bool], line_start: bool = False) -> np.ndarray:
        """Mask of single tokens that are whole words ``keep`` takes (fallbacks for :meth:`word`)."""
        base = self.masks.start_bare if line_start else self.masks.start_space
        out = np.zeros_like(base)
        for i in np.flatnonzero(base):
            out[i] = keep(self.model.vocab.pieces[i].decode().strip())
        return out
