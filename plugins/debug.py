"""``debug.echo``/``debug.work``: return the input image unchanged (transport tests, benchmarks, lanes and cancel);
``debug.crash``: crash the worker on purpose, to prove crash isolation and memory caps."""
from __future__ import annotations

import time

from muselink.core.api import Capability, InputSpec, JobOutput, Param, hookimpl


def echo(inputs: dict, params: dict, ctx) -> JobOutput:
    steps, delay = params["steps"], params["delay"]
    for step in range(steps):  # optional slow mode, so lanes and cancel can be exercised
        ctx.progress(step / steps, f"step {step + 1}/{steps}", step + 1, steps)
        time.sleep(delay)
    return JobOutput(payloads={"image": inputs["image"]})


def crash(inputs: dict, params: dict, ctx) -> JobOutput:
    mode = params["mode"]
    ctx.progress(0.0, f"about to crash: {mode}")
    if mode == "segfault":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif mode == "abort":
        import os

        os.abort()
    elif mode == "memory":  # grows 64 MiB at a time (touched, so resident) until the cap stops it
        held = []
        for step in range(params["megabytes"] // 64):
            held.append(bytearray(64 << 20))
            ctx.progress(step * 64 / params["megabytes"], f"holding {(step + 1) * 64} MiB")
    elif mode == "hang":  # a step that never checks for cancel
        time.sleep(params["seconds"])
    return JobOutput(payloads={})


CRASH_PARAMS = (Param("mode", "choice", "segfault", "how to fail", choices=("segfault", "abort", "memory", "hang")),
                Param("megabytes", "int", 1024, "memory mode: how much to allocate", 64, 1 << 20),
                Param("seconds", "float", 60.0, "hang mode: how long to ignore cancel", 0.0, 3600.0))

PARAMS = (Param("steps", "int", 0, "pretend work: number of steps", 0, 10000),
          Param("delay", "float", 0.0, "seconds per pretend step", 0.0, 60.0))


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(name="debug.echo", summary="Return the input image unchanged (transport tests, benchmarks).",
                   run=echo, lane="interactive", params=PARAMS, inputs=(InputSpec("image", "image"),)),
        Capability(name="debug.work", summary="Heavy-lane twin of debug.echo, for lane and cancel tests.",
                   run=echo, lane="heavy", params=PARAMS, inputs=(InputSpec("image", "image"),)),
        Capability(name="debug.crash", summary="Crash the heavy-lane worker on purpose (segfault, abort, memory, hang).",
                   run=crash, lane="heavy", params=CRASH_PARAMS, outputs=()),
    ]
