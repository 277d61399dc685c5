"""Structured fuzzing of a real daemon: ``python -m benchmarks fuzz [--messages 100000]``.

Sends hostile structured messages (``strategies.build_message`` driven by a seeded RNG; the suite
drives the same generator with Hypothesis) from one DEALER socket, pipelined,
with a ping every ``--batch`` messages to bound what is in flight and prove the daemon still
answers. Prints messages/s, replies by kind, the daemon's RSS before and after, and ``alive``.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time

import zmq

from benchmarks.common import daemon_rss_bytes, running_daemon_proc
from benchmarks.fuzz.strategies import CLIENT_COMMANDS, RandomPicker, build_message
from muselink.bridge import protocol as P


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=200, help="messages between liveness pings")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    replies: collections.Counter = collections.Counter()
    sent = 0
    with running_daemon_proc() as (endpoint, proc):
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(endpoint)
        rss_before = daemon_rss_bytes(proc.pid)

        def collect_until_pong(nonce: int) -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if not sock.poll(1000):
                    if proc.poll() is not None:
                        break
                    continue
                reply = P.decode(sock.recv_multipart(), P.DAEMON_MESSAGES)
                key = reply.code if isinstance(reply, P.Error) else reply.command
                if isinstance(reply, P.Pong) and reply.nonce == nonce:
                    return
                replies[key] += 1
            raise SystemExit(f"DEAD: no pong {nonce} after {sent} messages (daemon exit code {proc.poll()})")

        picker = RandomPicker(args.seed)
        started = time.perf_counter()
        while sent < args.messages:
            sock.send_multipart(build_message(picker, CLIENT_COMMANDS))
            sent += 1
            if sent % args.batch == 0:
                sock.send_multipart(P.encode(P.Ping(nonce=sent)))
                collect_until_pong(sent)
                if sent % 10_000 == 0:
                    print(f"  {sent} messages, {sent / (time.perf_counter() - started):.0f}/s", flush=True)
        sock.send_multipart(P.encode(P.Ping(nonce=0)))
        collect_until_pong(0)
        elapsed = time.perf_counter() - started
        rss_after = daemon_rss_bytes(proc.pid)
        alive = proc.poll() is None
        sock.close(linger=0)
    print(f"messages sent      {sent}")
    print(f"rate               {sent / elapsed:.0f} messages/s ({elapsed:.1f} s, generation included)")
    print(f"replies            {sum(replies.values())}: " + ", ".join(f"{k} {v}" for k, v in replies.most_common()))
    print(f"internal errors    {replies.get('internal', 0)}")
    print(f"daemon RSS         {rss_before / 2**20:.1f} MiB before, {rss_after / 2**20:.1f} MiB after "  # broker + workers
          f"({(rss_after / rss_before - 1) * 100:+.1f} %)")
    print("alive" if alive and not replies.get("internal") else "NOT ALIVE or internal errors")
    return 0 if alive and not replies.get("internal") else 1


if __name__ == "__main__":
    sys.exit(main())
