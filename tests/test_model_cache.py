"""The shared model cache: loads once, keeps warm, evicts least recently used under a budget."""
import threading

from muselink.core.models import ModelCache


class Blob:
    def __init__(self, nbytes):
        self.nbytes = nbytes


def test_second_get_never_reloads():
    """The loader runs once per key; later gets return the same object."""
    cache = ModelCache(budget_bytes=1000)
    first = cache.get("m", lambda: Blob(10))
    assert cache.get("m", lambda: Blob(10)) is first
    assert cache.loads["m"] == 1


def test_least_recently_used_model_is_evicted_over_budget():
    """Loading past the budget evicts the least recently used model, not the one just used."""
    cache = ModelCache(budget_bytes=250)
    cache.get("a", lambda: Blob(100))
    cache.get("b", lambda: Blob(100))
    cache.get("a", lambda: Blob(100))  # a is now most recent
    cache.get("c", lambda: Blob(100))
    assert set(cache.stats()["loaded"]) == {"a", "c"}


def test_concurrent_gets_load_once():
    """Two threads asking for the same model at once share one load."""
    cache, started = ModelCache(budget_bytes=1 << 20), threading.Event()

    def slow():
        started.wait(1)
        return Blob(1)

    threads = [threading.Thread(target=cache.get, args=("m", slow)) for _ in range(4)]
    for t in threads:
        t.start()
    started.set()
    for t in threads:
        t.join()
    assert cache.loads["m"] == 1
