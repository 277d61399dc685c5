"""Music latency: a 1-bar ``music.continue`` of a 4-bar melody through the daemon, p50/p99 over N
requests, first with the daemon idle, then while an image job keeps the heavy lane busy.
Target: p99 < 50 ms.

    python -m benchmarks.music [--repeat 200] [--heavy debug.work,texture.synthesize]

``debug.work`` is a pretend heavy job (sleeps: shows the lanes do not queue the music job behind it);
``texture.synthesize`` is a real CPU-bound image job (shows CPU contention on a small machine).
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


def start_heavy(client: Client, name: str, caps: dict):
    """Submit a long heavy-lane job; returns its handle (cancelled by the caller)."""
    if name == "texture.synthesize" and caps.get(name, {}).get("available"):
        from skimage import data

        image = ImageData.from_numpy(np.ascontiguousarray(data.brick()[:128, :128, None].repeat(3, axis=2)))
        known = {p["name"] for p in caps[name]["params"]}
        most = next((p.get("max") for p in caps[name]["params"] if p["name"] == "iterations"), None) or 2000
        wanted = {"iterations": int(most), "width": 256, "height": 256, "exemplar_size": 128}
        handle = client.submit(name, {"image": image}, {k: v for k, v in wanted.items() if k in known})
    else:
        name = "debug.work"
        handle = client.submit(name, {"image": ImageData.from_numpy(np.zeros((8, 8, 3), np.uint8))},
                               {"steps": 10000, "delay": 0.05})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it is really running
        for event in client.drain():
            if isinstance(event, P.Progress) and event.job == handle.id:
                return name, handle
            if isinstance(event, (P.Error, P.Result)) and event.job == handle.id:
                raise RuntimeError(f"heavy job {name} ended early: {event}")
        time.sleep(0.05)
    return name, handle


def measure(client: Client, repeat: int) -> list[float]:
    melody = sample_melody()
    times = []
    for i in range(repeat + 3):
        start = time.perf_counter()
        result = client.run("music.continue", {"notes": melody}, {"bars": 1, "seed": i}, timeout=30)
        elapsed = time.perf_counter() - start
        assert result.payloads["notes"].notes is not None
        if i >= 3:  # warm-up: model load, first allocations
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--heavy", default="debug.work,texture.synthesize",
                        help="heavy-lane jobs to run meanwhile, one condition each (comma-separated)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    rows, figures = [], {}
    with running_daemon() as endpoint, Client(endpoint, name="bench-music", timeout=30) as client:
        caps = {c["name"]: c for c in client.hello().capabilities}
        conditions = [("idle", measure(client, args.repeat))]
        for wanted in filter(None, args.heavy.split(",")):
            with Client(endpoint, name="bench-heavy", timeout=30) as other:
                other.hello()
                heavy, handle = start_heavy(other, wanted.strip(), caps)
                try:
                    conditions.append((f"heavy lane busy ({heavy})", measure(client, args.repeat)))
                finally:
                    handle.request_cancel()
                    other.drain()
                    time.sleep(1.0)
                    other.drain()
        for label, times in conditions:
            p50, p99 = median(times) * 1000, percentile(times, 99) * 1000
            figures[label] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "n": len(times)}
            rows.append([label, len(times), f"{p50:.1f}", f"{p99:.1f}", "yes" if p99 < 50 else "NO"])
    print("music.continue, 1 bar after a 4-bar melody, through the daemon")
    print(table(rows, ["condition", "requests", "p50 ms", "p99 ms", "p99 < 50 ms"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)


if __name__ == "__main__":
    main()
