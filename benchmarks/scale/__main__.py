"""Scale-out: throughput of CPU-bound heavy jobs with 1 vs 2 heavy workers, local processes and Ray actors.

    python -m benchmarks scale [--jobs 8] [--size 64] [--iterations 40] [--executors local,ray] [--workers 1,2]

Each configuration starts its own daemon (``--lanes heavy=N --executor E``), waits until every heavy
worker has started, warms each (one job each, model load included), then submits ``--jobs`` ``texture.synthesize`` jobs at once and
times them all. Expect close to N x on N free cores (≥ 1.6x for 2 workers on 2 cores).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.common import running_daemon, table
from muselink.bridge import protocol as P
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData


def throughput(executor: str, workers: int, args) -> float:
    from skimage import data

    exemplar = ImageData.from_numpy(np.ascontiguousarray(data.brick()[:64, :64, None].repeat(3, axis=2)))
    params = {"width": args.size, "height": args.size, "iterations": args.iterations, "exemplar_size": 64}
    with running_daemon("--executor", executor, "--lanes", f"heavy={workers}") as endpoint, \
            Client(endpoint, name="bench-scale", timeout=120) as client:
        client.hello()
        deadline = time.monotonic() + 300  # every heavy worker started (a Ray actor takes a while), so each warms once
        while sum(w["lane"] == "heavy" and w["state"] == "idle" for w in client.status().workers) < workers:
            assert time.monotonic() < deadline, "heavy workers did not start"
            time.sleep(0.2)
        warm = [client.submit("texture.synthesize", {"image": exemplar}, params) for _ in range(workers)]
        for handle in warm:
            assert isinstance(client.wait(handle, 600), P.Result), handle.terminal
        started = time.perf_counter()
        handles = [client.submit("texture.synthesize", {"image": exemplar}, params) for _ in range(args.jobs)]
        for handle in handles:
            assert isinstance(client.wait(handle, 1200), P.Result), handle.terminal
        return args.jobs / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--executors", default="local,ray")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    rows = []
    for executor in args.executors.split(","):
        rates = {n: throughput(executor, n, args) for n in counts}
        for n in counts:
            rows.append([executor, n, f"{rates[n] * 60:.1f}", f"{rates[n] / rates[counts[0]]:.2f}x"])
        print(f"  {executor} done", flush=True)
    print(f"texture.synthesize {args.size}² x {args.iterations} iterations, {args.jobs} jobs at once")
    print(table(rows, ["executor", "heavy workers", "jobs/min", f"vs {counts[0]} worker"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
