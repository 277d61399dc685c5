"""Benchmark texture synthesis (the VGG19 optimiser behind texture.synthesize / style.optimize).

    .venv/bin/python -m benchmarks.texture [--size 256] [--iterations 300] [--device cpu]

Prints, from one run on this machine:
1. seconds per iteration at 256² and 512² (Adam, one level; untiled and tiled);
2. time until the style loss at the full size is within 10 % of its value after 300 iterations,
   single-scale versus coarse-to-fine (64² → 128² → full, coarse levels first), and their ratio.
Every figure is measured here, side by side; nothing is hard-coded.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def exemplar(side: int) -> np.ndarray:
    from skimage import data

    from muselink.plugins.imaging import resize

    gravel = data.gravel()
    return resize(np.dstack([gravel] * 3), side, side)


def setup(device: str):
    import torch

    from muselink.plugins.vgg.network import VGG19Features
    from muselink.plugins.vgg.weights import load_state_dict

    torch.manual_seed(0)
    return VGG19Features(load_state_dict()).to(device)


def synthesize(net, ex: np.ndarray, sizes, iterations, tiling="none", on_step=lambda info: None):
    """The texture.synthesize optimisation (same targets, init and optimiser) on explicit levels."""
    import torch

    from muselink.plugins.vgg.optimize import Level, Weights, optimise
    from muselink.plugins.vgg.run import _grams, _scaled, texture_init

    device = net.device
    full_h = sizes[-1][0]
    init = texture_init(ex, *sizes[0], torch.Generator().manual_seed(1))
    grams = {}

    def make_level(index, h, w, count):
        if h not in grams:
            grams[h] = _grams(net, _scaled(ex, h / full_h), device)
        return Level(h, w, count, grams[h])

    return optimise(net, init.to(device), make_level, sizes, iterations, Weights(1.0, 0.0, 0.0),
                    tiling=tiling, on_step=on_step)


def seconds_per_iteration(net, side: int, tiling: str, steps: int) -> float:
    ex = exemplar(side)
    synthesize(net, ex, [(side, side)], [1], tiling)  # warm-up (allocations, Gram targets)
    start = time.perf_counter()
    synthesize(net, ex, [(side, side)], [steps], tiling)
    return (time.perf_counter() - start) / steps


def trace(net, side: int, sizes, iterations):
    """Run and record (seconds since start, style loss, full-size iteration) for every full-size iteration."""
    ex = exemplar(side)
    points = []
    start = time.perf_counter()

    def on_step(info):
        if info.level == info.levels - 1:
            points.append((time.perf_counter() - start, info.losses["style"], info.iteration - 1))

    _, final, _ = synthesize(net, ex, sizes, iterations, on_step=on_step)
    points.append((time.perf_counter() - start, final["style"], iterations[-1]))  # after the last step
    return points


def time_to(points, target: float) -> tuple[float, int] | tuple[None, None]:
    """(seconds, full-size iterations done) when the style loss first reaches ``target``."""
    return next(((t, k) for t, loss, k in points if loss <= target), (None, None))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.texture", description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256, help="side of the convergence comparison (default 256)")
    parser.add_argument("--iterations", type=int, default=300, help="full-size iterations (default 300)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    import torch

    net = setup(args.device)
    print(f"texture synthesis benchmark — torch {torch.__version__}, device {args.device}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores visible")
    print("\n1) seconds per iteration (Adam, one level, forward + backward through VGG19 to relu5_1)")
    for side, steps in ((256, 5), (512, 3)):
        plain = seconds_per_iteration(net, side, "none", steps)
        tiled = seconds_per_iteration(net, side, "both", steps)
        print(f"   {side}x{side}: {plain:.3f} s/it untiled, {tiled:.3f} s/it tiled (circular padding x{tiled / plain:.2f})")

    n, side = args.iterations, args.size
    coarse = [(side // 4, side // 4), (side // 2, side // 2)]
    coarse_its = [n // 3, n // 6]  # the coarse levels: cheap (1/16 and 1/4 of a full-size iteration)
    print(f"\n2) time to a style loss within 10 % of the {n}-iteration value at {side}x{side}")
    single = trace(net, side, [(side, side)], [n])
    multi = trace(net, side, coarse + [(side, side)], coarse_its + [n])
    s_final, m_final = single[-1][1], multi[-1][1]
    rows = [("single-scale", single, s_final), (f"multi-scale ({coarse[0][0]}²x{coarse_its[0]} → "
                                               f"{coarse[1][0]}²x{coarse_its[1]} → {side}²)", multi, m_final)]
    for name, points, final in rows:
        own, own_k = time_to(points, 1.1 * final)
        common, common_k = time_to(points, 1.1 * s_final)
        print(f"   {name}: loss after {n} full-size its {final:.4f} (total {points[-1][0]:.1f} s)\n"
              f"      within 10 % of its own: {own:.1f} s ({own_k} full-size its); of single-scale's: "
              + (f"{common:.1f} s ({common_k} full-size its)" if common is not None else "never"))
    t_single, k_single = time_to(single, 1.1 * s_final)
    t_multi, k_multi = time_to(multi, 1.1 * s_final)
    if t_multi is not None:
        coarse_equiv = coarse_its[0] / 16 + coarse_its[1] / 4
        print(f"   ratio single/multi to the same target (1.1 x single-scale's {n}-it loss): "
              f"{t_single / t_multi:.2f}x in seconds; in work: {k_single} vs {k_multi} + {coarse_equiv:.1f} "
              f"(coarse levels in full-size-iteration equivalents) = {k_single / (k_multi + coarse_equiv):.2f}x")
    else:
        print("   multi-scale never reached single-scale's target")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    sys.exit(main())
