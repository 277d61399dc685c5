"""Token dataset: every cached piece tokenized once into one ``.npz`` (ids, offsets, split, style).

Training needs only numpy + torch from here on, so it can run where MidiTok/music21 are absent.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .data import load_pieces, music_cache_dir, prepare, split_of

log = logging.getLogger("muselink.music.dataset")
TOKENS_NAME = "tokens-v1.npz"
SPLITS = ("train", "validation", "test")


def build(pieces: list[dict] | None = None, out: Path | None = None, progress: bool = True) -> Path:
    """Tokenize pieces (default: the cached corpus) into ``out`` (default: the user cache)."""
    from .tokens import piece_tokens, vocab

    out = Path(out or music_cache_dir() / TOKENS_NAME)
    if pieces is None:
        if out.exists():
            return out
        pieces = load_pieces(prepare())
    voc = vocab()
    seqs, ids, splits, styles = [], [], [], []
    from tqdm import tqdm

    for piece in tqdm(pieces, desc="tokenizing", unit="piece", disable=not progress):
        seq = piece_tokens(piece, voc)
        if len(seq) < 16:
            continue
        seqs.append(np.asarray(seq, np.int16))
        ids.append(piece["id"])
        splits.append(SPLITS.index(split_of(piece["id"])))
        styles.append(piece["style"])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, ids=np.concatenate(seqs), offsets=offsets, split=np.asarray(splits, np.int8),
                        piece_ids=np.asarray(ids), styles=np.asarray(styles), vocab_size=len(voc),
                        bar_id=voc.id("Bar_None"), pad_id=voc.id("PAD_None"))
    log.info("tokenized %d pieces, %d tokens -> %s", len(seqs), offsets[-1], out)
    return out


class TokenData:
    """The ``.npz`` as per-piece sequences with their split."""

    def __init__(self, path: Path):
        z = np.load(path, allow_pickle=False)
        self.ids, self.offsets, self.split = z["ids"].astype(np.int64), z["offsets"], z["split"]
        self.piece_ids, self.styles = z["piece_ids"], z["styles"]
        self.vocab_size, self.bar_id, self.pad_id = int(z["vocab_size"]), int(z["bar_id"]), int(z["pad_id"])

    def __len__(self) -> int:
        return len(self.split)

    def seq(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i]:self.offsets[i + 1]]

    def indices(self, split: str) -> np.ndarray:
        return np.nonzero(self.split == SPLITS.index(split))[0]

    def windows(self, split: str, context: int) -> list[np.ndarray]:
        """Deterministic evaluation windows: each piece cut at bar lines into chunks of ≤ context tokens,
        every chunk keeping the piece's 2 conditioning tokens in front."""
        out = []
        for i in self.indices(split):
            seq = self.seq(i)
            prefix, body = seq[:2], seq[2:]
            bars = np.nonzero(body == self.bar_id)[0]
            start = 0
            while start < len(body):
                end = start + context - 2
                if end < len(body):
                    cut = bars[(bars > start) & (bars <= end)]
                    end = int(cut[-1]) if len(cut) else end
                out.append(np.concatenate([prefix, body[start:end]]))
                start = end
        return out

    def sample_batch(self, rng: np.random.Generator, batch: int, context: int, train_idx: np.ndarray,
                     weights: np.ndarray) -> np.ndarray:
        """``batch`` random windows (start at a bar line) from the train pieces, PAD-filled to context+1."""
        out = np.full((batch, context + 1), self.pad_id, np.int64)
        for row, i in enumerate(rng.choice(train_idx, size=batch, p=weights)):
            seq = self.seq(i)
            prefix, body = seq[:2], seq[2:]
            bars = np.nonzero(body == self.bar_id)[0]
            start = int(rng.choice(bars)) if len(bars) and len(body) > context - 1 else 0
            chunk = np.concatenate([prefix, body[start:start + context - 1]])
            out[row, :len(chunk)] = chunk
        return out


def split_counts(data: TokenData) -> dict:
    """Pieces per split, e.g. ``{"train": 900, "validation": 50, "test": 50}``."""
    return {s: int(len(data.indices(s))) for s in SPLITS}


def record_split(data: TokenData, path: Path) -> None:
    """Write the validation/test piece ids (train = every other cached piece) as JSON."""
    record = {"rule": "sha1(piece id) % 100: <5 test, <10 validation, else train (plugins/music/data.py split_of)",
              "counts": split_counts(data)}
    for s in ("validation", "test"):
        record[s] = sorted(str(data.piece_ids[i]) for i in data.indices(s))
    Path(path).write_text(json.dumps(record, indent=0) + "\n")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    print(build())
