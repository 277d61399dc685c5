"""Diffusion overhead: the same pipeline and parameters through the daemon (`image.generate`) vs a bare
diffusers call in one process. Reports load time, per-step time and the ratio (target <= 1.05x).

    python -m benchmarks.diffusion                       # your default model from `muselink models list`
    python -m benchmarks.diffusion --model NAME --size 512 --steps 20
    python -m benchmarks.diffusion --tiny                # random-weight test fixture: overhead only
    python -m benchmarks.diffusion --random-sd15         # random weights in SD 1.5's shapes (GPU): overhead only

``--tiny`` builds the tiny random-weight pipeline the tests use, ``--random-sd15`` one with SD 1.5's
layer shapes (their pictures are noise; they measure muselink's overhead, not a model). Both sides
load the same files with ``local_files_only=True``, use the same seed on a CPU generator, and must
produce the same pixels.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from muselink.bridge import protocol as P
from muselink.bridge.client import Client
from muselink.core.config import config_dir
from muselink.core.daemon import resolve_device
from muselink.plugins.diffusion import registry

from ..common import median, running_daemon, table


def random_model(workdir: Path, shape: str) -> Path:
    """Register a random-weight fixture pipeline (the tests' tiny one, or SD 1.5's shapes) in a temp config dir."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from diffusion_tiny import build_pipeline, build_sd15_shaped, save_folder

    name = {"tiny": "tiny-random", "sd15": "random-sd15-shaped"}[shape]
    folder = save_folder(build_pipeline() if shape == "tiny" else build_sd15_shaped(), workdir / name)
    registry.add(workdir / "config", name, str(folder))
    return workdir / "config"


class Bare:
    """The pipeline loaded and called with diffusers alone, as a script would."""

    def __init__(self, entry, device: str, params: dict):
        start = time.perf_counter()  # includes importing torch + diffusers when this process has not yet
        import diffusers
        import torch

        from muselink.plugins.diffusion.loading import _dtype_key

        self.torch, self.device, self.params = torch, device, params
        kwargs = {_dtype_key(): torch.float32 if device == "cpu" else torch.float16, "local_files_only": True}
        path = str(registry.local_path(entry))
        if entry.kind == "single_file":
            extra = {"config": entry.config} if entry.config else {}
            pipe = diffusers.StableDiffusionPipeline.from_single_file(path, **kwargs, **extra)
        else:
            pipe = diffusers.DiffusionPipeline.from_pretrained(path, **kwargs)
        self.pipe = pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.load = time.perf_counter() - start
        self.times: list[float] = []
        self.image = self.run()  # warm-up, as the daemon's first job

    def run(self) -> np.ndarray:
        p, torch = self.params, self.torch
        image = self.pipe(prompt=p["prompt"], num_inference_steps=p["steps"], guidance_scale=p["guidance"],
                          width=p["width"], height=p["height"], output_type="np",
                          generator=torch.Generator("cpu").manual_seed(p["seed"])).images[0]
        return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)

    def timed(self) -> None:
        sync = self.torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)
        sync()
        t = time.perf_counter()
        self.image = self.run()
        sync()
        self.times.append(time.perf_counter() - t)


class ViaDaemon:
    def __init__(self, client: Client, params: dict):
        self.client, self.params = client, {**params, "preview_every": 0}
        t = time.perf_counter()
        self.meta = client.run("image.generate", {}, self.params, timeout=3600).meta
        self.first_job = time.perf_counter() - t
        self.load = sum(client.status().plugins["models"].get("load_seconds", {}).values())
        self.times: list[float] = []
        self.steps: list[float] = []
        self.image = None

    def timed(self) -> None:
        stamps = []
        t = time.perf_counter()
        result = self.client.run("image.generate", {}, self.params, timeout=3600, on_event=lambda e: stamps.append(
            time.perf_counter()) if isinstance(e, P.Progress) and e.total else None)
        self.times.append(time.perf_counter() - t)
        if len(stamps) > 1:
            self.steps.append((stamps[-1] - stamps[0]) / (len(stamps) - 1))
        self.image = result.payloads["image"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="registered model name (default: the first in `muselink models list`)")
    parser.add_argument("--tiny", action="store_true", help="use the tiny random-weight test fixture (overhead only)")
    parser.add_argument("--random-sd15", action="store_true",
                        help="random weights in SD 1.5's shapes: real SD 1.5 speed without its weights (overhead only)")
    parser.add_argument("--size", type=int, default=0, help="width = height (default: the model's native size)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        shape = "tiny" if args.tiny else "sd15" if args.random_sd15 else None
        cfg = random_model(Path(tmp), shape) if shape else config_dir()
        try:
            entry = registry.find(cfg, args.model)
        except registry.ModelError as exc:
            sys.exit(f"benchmarks.diffusion: {exc} (or run with --tiny to measure overhead on the test fixture)")
        size = args.size or (32 if args.tiny else 512)  # the native size: both sides run the same size
        params = {"model": entry.name, "prompt": "a lighthouse on a cliff at dusk, oil painting", "steps": args.steps,
                  "guidance": 7.0, "seed": 1234, "width": size, "height": size}
        with running_daemon("--device", device, "--lanes", "interactive=1,heavy=1",
                            env={"MUSELINK_CONFIG_DIR": str(cfg)}) as endpoint, \
                Client(endpoint, name="bench", timeout=60) as client:
            client.hello()
            daemon = ViaDaemon(client, params)  # loads first, with the machine to itself
            bare = Bare(entry, device, params)
            for _ in range(args.repeat):  # interleaved, so load drift on the machine hits both alike
                bare.timed()
                daemon.timed()
    same = np.array_equal(bare.image, daemon.image)
    d, b = median(daemon.times), median(bare.times)
    daemon_step = median(daemon.steps) if daemon.steps else float("nan")
    print(f"{entry.name} ({entry.kind}{', random-weight fixture' if shape else ''}) on {device}, "
          f"{size}x{size}, {args.steps} steps, median of {args.repeat} warm runs; identical pixels: {same}")
    print(table([
        ["bare diffusers (in-process)", f"{bare.load:.2f}", f"{b * 1000 / args.steps:.1f}", f"{b:.3f}", "1.000"],
        ["muselink daemon (image.generate)", f"{daemon.load:.2f}",
         f"{daemon_step * 1000:.1f}", f"{d:.3f}", f"{d / b:.3f}"],
    ], ["path", "load s", "per step ms", "job s", "ratio"]))
    print(f"daemon: first job {daemon.first_job:.2f} s (its load includes importing torch + diffusers in the daemon, "
          f"once per daemon); generated at {daemon.meta['generated_size']}")
    print(f"target: ratio <= 1.05 -> {'met' if d / b <= 1.05 else 'NOT met'}")
    if not same:
        sys.exit("the daemon and bare diffusers disagree on the pixels: not the same pipeline/parameters")


if __name__ == "__main__":
    main()
