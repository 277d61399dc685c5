"""Baseline: an interpolated Kneser–Ney n-gram model over the same token ids (pure Python)."""
from __future__ import annotations

import math
from collections import Counter, defaultdict


class KneserNey:
    """Interpolated Kneser–Ney of order ``n`` with one absolute discount per order, over ``vocab_size`` ids."""

    def __init__(self, n: int, vocab_size: int, discount: float = 0.75):
        self.n, self.V, self.D = n, vocab_size, discount
        self.counts = [Counter() for _ in range(n + 1)]  # counts[k][(h..., w)] for k-grams (k = len)
        self.ctx_total = [Counter() for _ in range(n + 1)]  # sum over w of counts[k][(h, w)]
        self.ctx_types = [Counter() for _ in range(n + 1)]  # number of distinct w after h

    def fit(self, sequences) -> KneserNey:
        top = Counter()
        for seq in sequences:
            seq = [int(t) for t in seq]
            for i in range(len(seq)):
                for k in range(1, self.n + 1):
                    if i - k + 1 < 0:
                        break
                    if k == self.n or i - k + 1 == 0:
                        top[tuple(seq[i - k + 1:i + 1])] += 1
        # highest order (and sequence-initial lower orders) use raw counts; lower orders continuation counts
        cont = defaultdict(set)
        for gram, c in top.items():
            self.counts[len(gram)][gram] += c
            if len(gram) == self.n:
                for k in range(2, self.n + 1):
                    cont[gram[-k + 1:]].add(gram[-k])
        for gram, left in cont.items():
            self.counts[len(gram)][gram] += len(left)
        for k in range(1, self.n + 1):
            for gram, c in self.counts[k].items():
                self.ctx_total[k][gram[:-1]] += c
                self.ctx_types[k][gram[:-1]] += 1
        return self

    def prob(self, history: tuple, w: int) -> float:
        p = 1.0 / self.V
        for k in range(1, self.n + 1):
            if k - 1 > len(history):
                break
            h = tuple(history[len(history) - k + 1:]) if k > 1 else ()
            total = self.ctx_total[k].get(h, 0)
            if not total:
                break
            c = self.counts[k].get(h + (w,), 0)
            p = max(c - self.D, 0) / total + self.D * self.ctx_types[k][h] / total * p
        return p

    def nll(self, windows, skip_first: int = 1) -> tuple[float, int]:
        """Mean negative log-likelihood (nats/token) of each window's tokens after the first ``skip_first + 1``."""
        total, count = 0.0, 0
        for seq in windows:
            seq = [int(t) for t in seq]
            for i in range(1 + skip_first, len(seq)):
                total -= math.log(self.prob(tuple(seq[max(0, i - self.n + 1):i]), seq[i]))
                count += 1
        return total / max(count, 1), count
