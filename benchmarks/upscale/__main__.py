"""Which runtime runs Real-ESRGAN fastest here: the shipped ncnn files in pip ``ncnn`` (CPU) or muselink's
torch port loading the same weights (CPU, and CUDA/MPS when present). Also the image tools' per-job
times at 512² that decide their lanes.

    .venv/bin/python -m benchmarks upscale [--size 96] [--repeat 3] [--threads N] [--models fast,art,photo]

Prints seconds per output megapixel for every model on every runtime, side by side, measured now on a crop of
scikit-image's astronaut (each network call on one ``size``² tile, after a warm-up call), the largest
difference between the runtimes' outputs (they must agree), and the wall time of each tool at 512².
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from ..common import median, table, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=96, help="input tile side (output is 4x)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--models", default="fast,art,photo")
    parser.add_argument("--skip-tools", action="store_true", help="only the runtime comparison")
    args = parser.parse_args()
    import torch
    from skimage import data

    from muselink.plugins.imagetools.upscale import MODELS, NETWORK_SCALE, NcnnNet, TorchNet

    torch.set_num_threads(args.threads)
    photo = data.astronaut()
    tile = photo[100:100 + args.size, 150:150 + args.size].transpose(2, 0, 1).astype(np.float32) / 255.0
    out_mpx = (args.size * NETWORK_SCALE) ** 2 / 1e6
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) \
        + (["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else [])
    header = ["model", "ncnn cpu s/Mpx"] + [f"torch {d} s/Mpx" for d in devices] + ["torch cpu / ncnn", "max |diff|"]
    rows = []
    for model in args.models.split(","):
        ncnn_net = NcnnNet(model, threads=args.threads)
        reference = ncnn_net(tile)
        cells = [f"{model} ({MODELS[model].file})",
                 f"{median(timed(lambda net=ncnn_net: net(tile), args.repeat)) / out_mpx:.2f}"]
        diff = 0.0
        cpu_time = 0.0
        for device in devices:
            net = TorchNet(model, device)

            def call(net=net, device=device):
                net(tile)
                if device == "cuda":
                    torch.cuda.synchronize()

            seconds = median(timed(call, args.repeat)) / out_mpx
            cpu_time = cpu_time or seconds
            cells.append(f"{seconds:.2f}")
            diff = max(diff, float(np.abs(net(tile) - reference).max()))
        cells += [f"{cpu_time / float(cells[1]):.2f}x", f"{diff:.1e}"]
        rows.append(cells)
    print(table(rows, header))
    print(f"({args.size}² input tiles, {args.threads} threads, median of {args.repeat} after one warm-up call)")
    if not args.skip_tools:
        tool_times(args.threads)


def tool_times(threads: int) -> None:
    """Wall time of each image tool on a 512² photo, in-process with warm models (decides their lanes)."""
    from skimage import data

    from muselink.bridge.payloads import ImageData
    from muselink.core.capability import JobContext
    from muselink.core.models import ModelCache
    from muselink.core.registry import Registry
    from muselink.plugins.imaging import resize

    image = ImageData.from_numpy(resize(data.astronaut(), 512, 512))
    registry = Registry(load_entry_points=False)
    ctx = JobContext(job_id="bench", models=ModelCache())
    jobs = [("image.upscale", {"model": "fast", "scale": 2}), ("image.upscale", {"model": "art", "scale": 2}),
            ("image.cutout", {"model": "portrait"}), ("image.cutout", {"model": "general"}), ("image.lineart", {})]
    rows = []
    for name, params in jobs:
        cap = registry.get(name)
        clean = cap.validate(params, {"image": image})
        start = time.perf_counter()
        cap.run({"image": image}, clean, ctx)  # first job: includes loading the model
        first = time.perf_counter() - start
        warm = median(timed(lambda cap=cap, clean=clean: cap.run({"image": image}, clean, ctx), 2, warmup=0))
        rows.append([name, " ".join(f"{k}={v}" for k, v in params.items()), f"{first:.2f}", f"{warm:.2f}"])
    print(f"\nimage tools on a 512x512 photo, in-process, {threads} threads")
    print(table(rows, ["capability", "params", "first job s (with load)", "warm job s"]))


if __name__ == "__main__":
    main()
