"""``muselink eval music``: NLL vs a 4-gram baseline, in-key share of continuations, plagiarism check."""
from __future__ import annotations

import statistics
import time
from collections import defaultdict

from muselink.bridge.payloads import Note, NotesData

from .data import TPQ
from .tokens import Key


def in_key_share(notes, key: Key) -> float:
    return sum(key.contains(n.pitch) for n in notes) / len(notes) if notes else float("nan")


def symbols(triples) -> list[tuple]:
    """Transposition-invariant note symbols: (interval from the previous note, duration in 1/12 quarters)."""
    out, prev = [], None
    for _, dur, pitch in sorted(triples):
        out.append((0 if prev is None else pitch - prev, dur))
        prev = pitch
    return out[1:]  # the first note has no interval


class CopyIndex:
    """Longest run of notes a sequence shares verbatim (same intervals and durations) with any indexed piece."""

    K = 3  # index by runs of 3 symbols (4 notes)

    def __init__(self, pieces):
        self.seqs = [symbols(p["notes"]) for p in pieces]
        self.index = defaultdict(list)
        for i, seq in enumerate(self.seqs):
            for j in range(len(seq) - self.K + 1):
                self.index[tuple(seq[j:j + self.K])].append((i, j))
        self.short = [set(), set(), set()]
        for seq in self.seqs:
            for k in (1, 2):
                for j in range(len(seq) - k + 1):
                    self.short[k].add(tuple(seq[j:j + k]))

    def longest(self, triples) -> int:
        """Length in notes of the longest shared run (a run of k symbols is k + 1 notes)."""
        seq = symbols(triples)
        best = 0
        for k in (1, 2):
            if any(tuple(seq[j:j + k]) in self.short[k] for j in range(len(seq) - k + 1)):
                best = k
        for j in range(len(seq) - self.K + 1):
            for i, at in self.index.get(tuple(seq[j:j + self.K]), ())[:5000]:
                other, n = self.seqs[i], self.K
                while j + n < len(seq) and at + n < len(other) and seq[j + n] == other[at + n]:
                    n += 1
                best = max(best, n)
        return best + 1 if seq else 0


def diatonic_prompts(pieces, limit: int, bars: int = 4) -> list[tuple[dict, NotesData, list]]:
    """Held-out pieces whose first ``bars`` bars are all in the piece's key: (piece, prompt, true next 2 bars)."""
    from .tokens import vocab

    out = []
    for piece in pieces:
        key = Key(piece["key"][0], piece["key"][1])
        num, den = piece["ts"]
        if f"TimeSig_{num}/{den}" not in vocab().ids:
            continue
        bar = num * TPQ * 4 // den
        head = [n for n in piece["notes"] if n[0] < bars * bar]
        rest = [n for n in piece["notes"] if bars * bar <= n[0] < (bars + 2) * bar]
        if len(head) < 8 or not rest or not all(key.contains(p) for _, _, p in head):
            continue
        scale = 40  # 12 → 480 ppq
        notes = tuple(Note(s * scale, d * scale, p, 80) for s, d, p in head)
        out.append((piece, NotesData(notes=notes, ppq=TPQ * scale, bpm=100.0, time_signature=(num, den),
                                     key=key.name), rest))
        if len(out) >= limit:
            break
    return out


def run(eng, token_path, pieces, prompts: int = 60, generations: int = 20, seed: int = 0, log=print) -> dict:
    """All metrics in one run. ``pieces``: the cached corpus (for prompts and the copy index)."""
    import numpy as np
    import torch

    from .dataset import TokenData
    from .ngram import KneserNey
    from .train import evaluate_nll

    started = time.monotonic()
    data = TokenData(token_path)
    ctx = eng.model.cfg.context
    results = {"nll": {}}
    log("fitting the 4-gram baseline on the train split")
    lm = KneserNey(4, data.vocab_size).fit(data.seq(i) for i in data.indices("train"))
    for split in ("validation", "test"):
        windows = data.windows(split, ctx)
        model_nll, tokens = evaluate_nll(eng.model, windows, "cpu", pad_id=data.pad_id)
        base_nll, base_tokens = lm.nll(windows)
        assert tokens == base_tokens, (tokens, base_tokens)
        results["nll"][split] = {"tokens": tokens, "model": round(model_nll, 4), "ngram4": round(base_nll, 4),
                                 "reduction": round(1 - model_nll / base_nll, 4)}
        log(f"{split}: model {model_nll:.4f} nats/token, 4-gram {base_nll:.4f} ({tokens} tokens)")

    split_of = {str(p): s for p, s in zip(data.piece_ids, data.split, strict=True)}
    held = [p for p in pieces if split_of.get(p["id"], 0) == 2]  # test pieces
    train = [p for p in pieces if split_of.get(p["id"], -1) == 0]
    log(f"indexing {len(train)} training pieces for the copy check")
    copies = CopyIndex(train)
    shares, runs_cont, runs_real = [], [], []
    chosen = diatonic_prompts(held, prompts)
    log(f"continuing {len(chosen)} diatonic test prompts by 2 bars")
    for i, (piece, prompt, real) in enumerate(chosen):
        out, _ = eng.continue_(prompt, 2, 0.9, 0.95, seed + i)
        key = Key(piece["key"][0], piece["key"][1])
        if out.notes:
            shares.append(in_key_share(out.notes, key))
        anchor = max(prompt.notes, key=lambda n: (n.start, n.pitch))  # intervals start from the prompt's last note
        new = [(n.start // 40, n.duration // 40, n.pitch) for n in (anchor,) + out.notes]
        runs_cont.append(copies.longest(new))
        runs_real.append(copies.longest([(anchor.start // 40, anchor.duration // 40, anchor.pitch)] + [tuple(n) for n in real]))
    plain = []  # the same prompts sampled from the full distribution (temperature 1, no nucleus cut)
    for i, (piece, prompt, _) in enumerate(chosen):
        out, _ = eng.continue_(prompt, 2, 1.0, 1.0, seed + i)
        if out.notes:
            plain.append(in_key_share(out.notes, Key(piece["key"][0], piece["key"][1])))
    runs_gen = []
    for i in range(generations):
        style = ("folk", "chorale")[i % 2]
        key = Key(i % 12, ("major", "minor")[(i // 2) % 2])
        out, _ = eng.generate_(key, (4, 4) if i % 3 else (3, 4), 100.0, style, 8, 0.9, 0.95, seed + 1000 + i)
        runs_gen.append(copies.longest([(n.start // 40, n.duration // 40, n.pitch) for n in out.notes]))

    def dist(values):
        v = sorted(values)
        return {"n": len(v), "min": v[0], "median": statistics.median(v), "p90": v[int(0.9 * (len(v) - 1))],
                "max": v[-1]} if v else {}

    results["in_key"] = {"prompts": len(chosen), "generated_notes_share_mean": round(float(np.mean(shares)), 4),
                         "share_min": round(float(np.min(shares)), 4), "bars": 2, "temperature": 0.9, "top_p": 0.95,
                         "share_mean_temperature_1_top_p_1": round(float(np.mean(plain)), 4)}
    results["plagiarism"] = {
        "unit": "longest run of notes (same intervals and durations) shared with any training piece",
        "continuations_2_bars": dist(runs_cont), "real_test_continuations_2_bars": dist(runs_real),
        "generations_8_bars": dist(runs_gen)}
    results["seconds"] = round(time.monotonic() - started, 1)
    torch.set_num_threads(torch.get_num_threads())
    return results
