"""Daemon start-up and idle footprint: ``python -m benchmarks startup [--repeat 3]``.

Time from launching ``muselink serve`` to its first ``hello`` answer and to the first job's result
(``debug.echo``: a worker must be up), and the resident memory of the whole daemon (the broker and
every worker process) after it has sat idle for ``--idle`` seconds.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import median, rss_bytes, table
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.core.demo import free_endpoint


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
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


def one(idle: float) -> dict:
    endpoint = free_endpoint()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "muselink.core.cli", "--log-level", "warning", "serve", "--endpoint", endpoint])
    try:
        with Client(endpoint, name="probe", timeout=0.5) as client:
            while True:
                try:
                    client.hello(timeout=0.5)
                    break
                except ConnectionError:
                    time.sleep(0.02)
            hello = time.perf_counter() - started
            client.timeout = 120
            client.run("debug.echo", {"image": ImageData.from_numpy(np.zeros((8, 8, 3), np.uint8))}, timeout=120)
            first_job = time.perf_counter() - started
            time.sleep(idle)
            pids = tree(proc.pid)
            rss = sum(rss_bytes(p) for p in pids)
        return {"hello_s": hello, "first_job_s": first_job, "rss_mib": rss / 2**20, "processes": len(pids)}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle", type=float, default=5.0)
    args = parser.parse_args()
    runs = [one(args.idle) for _ in range(args.repeat)]
    rows = [[key, f"{median([r[key] for r in runs]):.2f}", " ".join(f"{r[key]:.2f}" for r in runs)]
            for key in ("hello_s", "first_job_s", "rss_mib", "processes")]
    print("muselink serve: start-up and idle footprint (whole process tree)")
    print(table(rows, ["figure", "median", "runs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
