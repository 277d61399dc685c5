"""Which runtime runs Real-ESRGAN fastest here: the shipped ncnn files in pip ``ncnn`` (CPU) or muselink's
torch port loading the same weights (CPU, and CUDA/MPS when present). Also the image tools' per-job
times at 512² that decide their lanes.

    .venv/bin/python -m benchmarks upscale [--size 96] [--repeat 3] [--threads N] [--models fast,art,photo]

Prints seconds per output megapixel for every model on every runtime, side by side, measured now on a crop of
scikit-image's astronaut (each network call on one ``size``² tile, after a warm-up call, the runtimes
interleaved), the largest difference between the runtimes' outputs (they must agree), and the wall time of
each tool at 512².
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
        nets = {"ncnn cpu": NcnnNet(model, threads=args.threads)}
        nets.update({f"torch {d}": TorchNet(model, d) for d in devices})
        reference = nets["ncnn cpu"](tile)
        diff = max(float(np.abs(net(tile) - reference).max()) for name, net in nets.items() if name != "ncnn cpu")
        times: dict[str, list[float]] = {name: [] for name in nets}
        for _ in range(args.repeat):  # interleaved, so load drifts on a shared machine hit every runtime alike
            for name, net in nets.items():
                times[name] += timed(lambda net=net, name=name: sync(net(tile), name), 1, warmup=0)
        per_mpx = {name: median(t) / out_mpx for name, t in times.items()}
        rows.append([f"{model} ({MODELS[model].file})", *(f"{per_mpx[n]:.2f}" for n in nets),
                     f"{per_mpx['torch cpu'] / per_mpx['ncnn cpu']:.2f}x", f"{diff:.1e}"])
    print(table(rows, header))
    print(f"({args.size}² input tiles, {args.threads} threads, median of {args.repeat} after one warm-up call)")
    if not args.skip_tools:
        tool_times(args.threads)


def sync(result, name: str):
    if name == "torch cuda":
        import torch

        torch.cuda.synchronize()
    return result


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
    jobs = [("image.upscale", {"model": "fast", "scale": 2}), ("image.cutout", {"model": "portrait"}),
            ("image.cutout", {"model": "general"}), ("image.lineart", {})]  # art/photo: see the s/Mpx above
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
