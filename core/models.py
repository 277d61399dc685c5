"""The model cache shared by every capability: lazy loads, kept warm, LRU eviction under a budget."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from typing import Any
from collections.abc import Callable

log = logging.getLogger("muselink.models")


def estimate_size(obj: Any) -> int:
    """Bytes held by a model: torch parameters/buffers, numpy arrays, or ``obj.nbytes``."""
    components = getattr(obj, "components", None)
    if isinstance(components, dict):  # a diffusers pipeline
        return sum(estimate_size(c) for c in components.values() if c is not None)
    if hasattr(obj, "parameters") and hasattr(obj, "buffers"):
        return sum(t.numel() * t.element_size() for t in list(obj.parameters()) + list(obj.buffers()))
    if hasattr(obj, "nbytes"):
        return int(obj.nbytes)
    if isinstance(obj, (list, tuple)):
        return sum(estimate_size(o) for o in obj)
    if isinstance(obj, dict):
        return sum(estimate_size(o) for o in obj.values())
    return 0


def default_budget() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


class ModelCache:
    """``get(key, loader)`` returns a loaded model, loading it once; least recently used models
    are evicted when the total estimated size exceeds ``budget_bytes``."""

    def __init__(self, budget_bytes: int = 0):
        self.budget = budget_bytes or default_budget()
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.loads: Counter = Counter()
        self.load_seconds: dict[str, float] = {}

    def get(self, key: str, loader: Callable[[], Any], size: int | None = None) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one loader per key; other keys load concurrently
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key][0]
            start = time.perf_counter()
            model = loader()
            nbytes = estimate_size(model) if size is None else size
            self.load_seconds[key] = time.perf_counter() - start
            with self._lock:
                self.loads[key] += 1
                self._items[key] = (model, nbytes)
                self._evict(keep=key)
            log.info("loaded model %s (%.1f MB) in %.2f s", key, nbytes / 1e6, self.load_seconds[key])
            return model

    def _evict(self, keep: str) -> None:
        total = sum(n for _, n in self._items.values())
        for key in list(self._items):
            if total <= self.budget:
                break
            if key == keep:
                continue
            _, nbytes = self._items.pop(key)
            total -= nbytes
            log.info("evicted model %s (%.1f MB) to stay under %.1f MB", key, nbytes / 1e6, self.budget / 1e6)

    def evict(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def stats(self) -> dict:
        with self._lock:
            return {"budget_bytes": self.budget, "loaded": {k: n for k, (_, n) in self._items.items()},
                    "loads": dict(self.loads), "load_seconds": {k: round(v, 3) for k, v in self.load_seconds.items()}}
