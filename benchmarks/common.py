"""Helpers shared by the benchmarks: a daemon for the run, timing, and a results table."""
from __future__ import annotations

import contextlib
import os
import statistics
import time

from muselink.core.demo import free_endpoint, start_daemon, stop_daemon


@contextlib.contextmanager
def running_daemon_proc(*args: str, env: dict | None = None):
    """A daemon subprocess for the run: yields (endpoint, process)."""
    endpoint = free_endpoint()
    proc = start_daemon(endpoint, list(args), env=env)
    try:
        yield endpoint, proc
    finally:
        stop_daemon(proc)


@contextlib.contextmanager
def running_daemon(*args: str, env: dict | None = None):
    with running_daemon_proc(*args, env=env) as (endpoint, _):
        yield endpoint


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in bytes; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc): the daemon is a broker plus worker processes."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def daemon_rss_bytes(pid: int) -> int:
    """Resident memory of the whole daemon: its broker process and every worker under it."""
    return sum(rss_bytes(p) for p in process_tree(pid))


def timed(fn, repeat: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(times: list[float]) -> float:
    return statistics.median(times)


def percentile(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
