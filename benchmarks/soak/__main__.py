"""Soak: ``python -m benchmarks soak [--clients 8 --jobs 1000]``.

Each client thread runs its share of mixed jobs against one daemon, a few in flight at a time:
``debug.echo``, ``style.fast`` on small images, ``music.continue``, jobs it cancels, and jobs with
bad parameters. Every job must end exactly once with the outcome its kind expects; the daemon's
RSS is read after warm-up (the first tenth of the jobs, models loaded) and at the end.
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
import threading
import time

import numpy as np

from benchmarks.common import daemon_rss_bytes, running_daemon_proc
from muselink.bridge import protocol as P
from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData, Note, NotesData

IMAGE = ImageData.from_numpy(np.random.default_rng(0).integers(0, 255, (48, 64, 4), dtype=np.uint8))
MELODY = NotesData(notes=tuple(Note(i * 480, 480, 60 + (i * 2) % 12) for i in range(8)), ppq=480, bpm=100.0, key="C major")
KINDS = {  # name: (weight, capability, payloads, params, expected terminal)
    "echo": (40, "debug.echo", {"image": IMAGE}, {}, "result"),
    "style": (20, "style.fast", {"image": IMAGE}, {"style": "mosaic", "size": 64}, "result"),
    "music": (20, "music.continue", {"notes": MELODY}, {"bars": 1, "seed": 1}, "result"),
    "cancel": (12, "debug.work", {"image": IMAGE}, {"steps": 40, "delay": 0.01}, "cancelled"),
    "bad": (8, "style.fast", {"image": IMAGE}, {"strength": 7}, "error:bad_parameter"),
}


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outcomes: collections.Counter = collections.Counter()
        self.unexpected: list[str] = []
        self.stray = 0  # replies after a job's terminal one, or for jobs never submitted
        self.done = 0


def outcome(reply: P.Message) -> str:
    return f"error:{reply.code}" if isinstance(reply, P.Error) else reply.command


def run_client(index: int, endpoint: str, jobs: int, tally: Tally, window: int) -> None:
    rng = random.Random(index)
    names = list(KINDS)
    weights = [KINDS[n][0] for n in names]
    with Client(endpoint, name=f"soak{index}", timeout=30) as client:
        client.hello()
        pending: dict[str, tuple[str, object]] = {}
        submitted = 0
        while submitted < jobs or pending:
            while submitted < jobs and len(pending) < window:
                kind = rng.choices(names, weights)[0]
                _, cap, payloads, params, _ = KINDS[kind]
                handle = client.submit(cap, payloads, params)
                pending[handle.id] = (kind, handle)
                submitted += 1
                if kind == "cancel":
                    client.poll(rng.random() * 0.05)
                    client.cancel(handle.id)
            client.poll(0.05)
            for job_id, (kind, handle) in list(pending.items()):
                if handle.terminal is None:
                    continue
                del pending[job_id]
                got, want = outcome(handle.terminal), KINDS[kind][4]
                with tally.lock:
                    tally.outcomes[f"{kind}->{got}"] += 1
                    tally.done += 1
                    ok = got == want or (kind == "cancel" and got == "result")  # it may finish first
                    if not ok:
                        tally.unexpected.append(f"{kind}: {handle.terminal}")
        client.poll(0.5)  # a duplicate terminal reply would arrive now
        with tally.lock:
            tally.stray += client.stray_replies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per client")
    parser.add_argument("--window", type=int, default=4, help="jobs in flight per client")
    args = parser.parse_args()
    total = args.clients * args.jobs
    tally = Tally()
    with running_daemon_proc() as (endpoint, proc):
        threads = [threading.Thread(target=run_client, args=(i, endpoint, args.jobs, tally, args.window), daemon=True)
                   for i in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        rss_warm = 0
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
            if not rss_warm and tally.done >= total // 10:
                rss_warm = daemon_rss_bytes(proc.pid)
                print(f"  warm-up done at {tally.done} jobs: daemon RSS {rss_warm / 2**20:.1f} MiB", flush=True)
        elapsed = time.perf_counter() - started
        rss_end = daemon_rss_bytes(proc.pid)
        alive = proc.poll() is None
    growth = (rss_end / rss_warm - 1) * 100 if rss_warm else float("nan")
    print(f"jobs               {tally.done}/{total} ended in {elapsed:.1f} s ({tally.done / elapsed:.0f} jobs/s)")
    print("outcomes           " + ", ".join(f"{k} {v}" for k, v in sorted(tally.outcomes.items())))
    print(f"unexpected         {len(tally.unexpected)}" + "".join(f"\n  {u}" for u in tally.unexpected[:10]))
    print(f"stray replies      {tally.stray} (a job answered after its terminal reply, or one never submitted)")
    print(f"daemon RSS         {rss_warm / 2**20:.1f} MiB after warm-up, {rss_end / 2**20:.1f} MiB at the end ({growth:+.1f} %)")
    ok = alive and tally.done == total and not tally.unexpected and not tally.stray and growth < 10
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
