"""Daemon start-up and idle footprint: ``python -m benchmarks startup [--repeat 3]``.

Time from launching ``muselink serve`` to its first ``hello`` answer and to the first job's result
(``debug.echo``: a worker must be up), and the resident memory of the whole daemon (the broker and
every worker process) after it has sat idle for ``--idle`` seconds.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import daemon_rss_bytes, median, process_tree, table
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.core.demo import free_endpoint


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
            pids = process_tree(proc.pid)
            rss = daemon_rss_bytes(proc.pid)
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
