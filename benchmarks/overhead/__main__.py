"""Daemon overhead: `style.fast` on a 512x512 image through the daemon vs calling the plugin
in-process with the same warm model. Target: <= 5 % overhead.

    python -m benchmarks.overhead [--size 512] [--repeat 20]
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from muselink.bridge.client import Client
from muselink.bridge.payloads import ImageData
from muselink.core.capability import JobContext
from muselink.core.models import ModelCache
from muselink.core.registry import Registry

from ..common import median, running_daemon, table, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    from skimage import data

    pixels = np.asarray(Image.fromarray(data.astronaut()).convert("RGBA").resize((args.size, args.size)))
    image = ImageData.from_numpy(pixels)
    params = {"style": "mosaic"}
    cap = Registry(load_entry_points=False).get("style.fast")
    clean = cap.validate(params, {"image": image})
    ctx = JobContext(job_id="bench", models=ModelCache())

    def in_process():
        cap.run({"image": image}, clean, ctx)

    with running_daemon("--lanes", "interactive=1,heavy=1") as endpoint, Client(endpoint, name="bench", timeout=60) as client:
        client.hello()

        def via_daemon():
            client.run("style.fast", {"image": image}, params, timeout=60)

        # interleave the two so machine load drifts affect both alike
        t_local, t_daemon = [], []
        for _ in range(3):
            t_local += timed(in_process, args.repeat // 3 or 1)
            t_daemon += timed(via_daemon, args.repeat // 3 or 1)
    local, remote = median(t_local), median(t_daemon)
    print(f"style.fast {args.size}x{args.size}, median of {len(t_local)} runs each (target: overhead <= 5 %)")
    print(table([[f"{local * 1000:.1f}", f"{remote * 1000:.1f}", f"{(remote / local - 1) * 100:+.1f} %"]],
                ["in-process ms", "through daemon ms", "overhead"]))


if __name__ == "__main__":
    main()
