"""Music latency under a heavy job: a 1-bar ``music.continue`` of a 4-bar melody through the daemon.

Each run starts a fresh daemon and measures, side by side:
  1. idle: p50/p99 over ``--repeat`` requests;
  2. the heavy job alone (``texture.synthesize``, or ``debug.work``): its wall time, model load included;
  3. both: the heavy job is submitted, and from the moment it is *accepted* (its model load included)
     music requests run back to back until it ends: their p50/p99, and the heavy job's own time.
Targets: p99 while heavy <= 1.5x the idle p99 in every run; idle p99 < 50 ms.

    python -m benchmarks.music [--runs 5] [--repeat 200] [--heavy texture.synthesize] [--iterations 100]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.bridge import protocol as P
from muselink.plugins.music.demo import sample_melody

from ..common import median, percentile, running_daemon, table


def start_heavy(client: Client, name: str, caps: dict, iterations: int = 0):
    """Submit a heavy-lane job; returns (name, handle) once it is accepted (or, with ``iterations``=0,
    a long one once it is really running; the caller cancels it)."""
    if name == "texture.synthesize" and caps.get(name, {}).get("available"):
        from skimage import data

        image = ImageData.from_numpy(np.ascontiguousarray(data.brick()[:128, :128, None].repeat(3, axis=2)))
        known = {p["name"] for p in caps[name]["params"]}
        most = next((p.get("max") for p in caps[name]["params"] if p["name"] == "iterations"), None) or 2000
        wanted = {"iterations": int(iterations or most), "width": 256, "height": 256, "exemplar_size": 128}
        handle = client.submit(name, {"image": image}, {k: v for k, v in wanted.items() if k in known})
    else:
        name = "debug.work"
        handle = client.submit(name, {"image": ImageData.from_numpy(np.zeros((8, 8, 3), np.uint8))},
                               {"steps": iterations or 10000, "delay": 0.05})
    deadline = time.monotonic() + 120
    if iterations:
        while not any(isinstance(e, P.Accepted) for e in handle.events) and time.monotonic() < deadline:
            client.poll(0.01)
        return name, handle
    while time.monotonic() < deadline:  # wait until it is really running
        for event in client.drain():
            if isinstance(event, P.Progress) and event.job == handle.id:
                return name, handle
            if isinstance(event, (P.Error, P.Result)) and event.job == handle.id:
                raise RuntimeError(f"heavy job {name} ended early: {event}")
        time.sleep(0.05)
    return name, handle


def measure(client: Client, repeat: int, until=None, warmup: int = 3) -> list[float]:
    """Latencies of ``repeat`` requests (after ``warmup``), or of requests until ``until()`` is true."""
    melody = sample_melody()
    times = []
    for i in range(10**9):
        if (until is None and i >= repeat + warmup) or (until is not None and until()):
            break
        start = time.perf_counter()
        result = client.run("music.continue", {"notes": melody}, {"bars": 1, "seed": i}, timeout=30)
        elapsed = time.perf_counter() - start
        assert result.payloads["notes"].notes is not None
        if i >= warmup:  # warm-up: model load, first allocations
            times.append(elapsed)
    return times


def one_run(args, index: int) -> dict:
    with running_daemon() as endpoint, Client(endpoint, name="bench-music", timeout=60) as client:
        caps = {c["name"]: c for c in client.hello().capabilities}
        idle = measure(client, args.repeat)
        with Client(endpoint, name="bench-heavy", timeout=60) as other:
            other.hello()
            started = time.perf_counter()
            heavy, handle = start_heavy(other, args.heavy, caps, args.iterations)
            while not handle.done:
                other.poll(0.1)
            alone = time.perf_counter() - started
            assert isinstance(handle.terminal, P.Result), handle.terminal
            started = time.perf_counter()
            heavy, handle = start_heavy(other, args.heavy, caps, args.iterations)
            busy = measure(client, 0, until=lambda: (other.drain(), handle.done)[1], warmup=0)
            while not handle.done:
                other.poll(0.1)
            shared = time.perf_counter() - started
    run = {"idle_p50_ms": median(idle) * 1000, "idle_p99_ms": percentile(idle, 99) * 1000,
           "busy_p50_ms": median(busy) * 1000, "busy_p99_ms": percentile(busy, 99) * 1000, "busy_n": len(busy),
           "heavy_alone_s": alone, "heavy_shared_s": shared, "heavy": heavy}
    run["ratio"] = run["busy_p99_ms"] / run["idle_p99_ms"]
    print(f"  run {index + 1}: idle p99 {run['idle_p99_ms']:.1f} ms, busy p99 {run['busy_p99_ms']:.1f} ms "
          f"({run['ratio']:.2f}x), {heavy} {alone:.1f} s alone, {shared:.1f} s shared", flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200, help="idle requests per run")
    parser.add_argument("--heavy", default="texture.synthesize", help="texture.synthesize (real CPU load) or debug.work")
    parser.add_argument("--iterations", type=int, default=100, help="the heavy job's iterations (steps for debug.work)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    runs = [one_run(args, i) for i in range(args.runs)]
    rows = [[i + 1, f"{r['idle_p50_ms']:.1f}", f"{r['idle_p99_ms']:.1f}", f"{r['busy_p50_ms']:.1f}", f"{r['busy_p99_ms']:.1f}",
             r["busy_n"], f"{r['ratio']:.2f}", "yes" if r["ratio"] <= 1.5 else "NO",
             f"{r['heavy_alone_s']:.1f}", f"{r['heavy_shared_s']:.1f}", f"{(r['heavy_shared_s'] / r['heavy_alone_s'] - 1) * 100:+.0f} %"]
            for i, r in enumerate(runs)]
    print(f"music.continue (1 bar after a 4-bar melody) while {runs[0]['heavy']} runs, from its acceptance (model load included)")
    print(table(rows, ["run", "idle p50", "idle p99", "busy p50", "busy p99", "n busy", "p99 ratio", "<= 1.5x",
                       "heavy alone s", "heavy shared s", "heavy slower"]))
    print(f"all runs within 1.5x: {'yes' if all(r['ratio'] <= 1.5 for r in runs) else 'NO'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(runs, fh, indent=1)


if __name__ == "__main__":
    main()
