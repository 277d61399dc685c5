"""``debug.echo``: returns its input image unchanged. For transport tests and benchmarks."""
from __future__ import annotations

import time

from muselink.core.api import Capability, InputSpec, JobOutput, Param, hookimpl


def echo(inputs: dict, params: dict, ctx) -> JobOutput:
    steps, delay = params["steps"], params["delay"]
    for step in range(steps):  # optional slow mode, so lanes and cancel can be exercised
        ctx.progress(step / steps, f"step {step + 1}/{steps}", step + 1, steps)
        time.sleep(delay)
    return JobOutput(payloads={"image": inputs["image"]})


PARAMS = (Param("steps", "int", 0, "pretend work: number of steps", 0, 10000),
          Param("delay", "float", 0.0, "seconds per pretend step", 0.0, 60.0))


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(name="debug.echo", summary="Return the input image unchanged (transport tests, benchmarks).",
                   run=echo, lane="interactive", params=PARAMS, inputs=(InputSpec("image", "image"),)),
        Capability(name="debug.work", summary="Heavy-lane twin of debug.echo, for lane and cancel tests.",
                   run=echo, lane="heavy", params=PARAMS, inputs=(InputSpec("image", "image"),)),
    ]
