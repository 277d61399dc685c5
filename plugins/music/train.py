"""Trainer: fixed seed, resumable, progress bar; writes the checkpoint and a training record.

Needs only numpy + torch (+ tqdm when present), reading the token ``.npz`` from :mod:`.dataset`,
so it also runs on a machine without music21/MidiTok (``python -m muselink.plugins.music.train``).
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TrainConfig:
    steps: int = 12000
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.1
    seed: int = 1234
    eval_every: int = 250
    save_every: int = 250
    threads: int = 2
    device: str = "cpu"
    max_minutes: float = 25.0


def evaluate_nll(model, windows: list, device: str, batch: int = 32, pad_id: int = 0) -> tuple[float, int]:
    """Mean negative log-likelihood (nats) per predicted token over windows; (nll, tokens)."""
    import torch
    import torch.nn.functional as F

    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            group = windows[i:i + batch]
            width = max(len(w) for w in group)
            x = torch.full((len(group), width), pad_id, dtype=torch.long)
            for r, w in enumerate(group):
                x[r, :len(w)] = torch.as_tensor(w)
            x = x.to(device)
            logits = model(x[:, :-1])
            target = x[:, 1:].clone()
            for r, w in enumerate(group):
                target[r, len(w) - 1:] = -100
            target[:, 0] = -100  # the mode token is given, not predicted (same for the n-gram)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1),
                                   ignore_index=-100, reduction="sum")
            total += float(loss)
            count += int((target != -100).sum())
    return total / max(count, 1), count


def train(data_path: Path, work_dir: Path, out: Path, cfg: TrainConfig, model_cfg=None, resume: bool = True,
          progress: bool = True, log=print) -> dict:
    """Train; ``work_dir/state.pt`` holds the resumable state; the best-validation model goes to ``out``."""
    import torch

    from .dataset import TokenData
    from .model import ModelConfig, MusicTransformer, save_checkpoint

    torch.set_num_threads(cfg.threads)
    work_dir.mkdir(parents=True, exist_ok=True)
    data = TokenData(data_path)
    model_cfg = model_cfg or ModelConfig(vocab_size=data.vocab_size)
    torch.manual_seed(cfg.seed)
    model = MusicTransformer(model_cfg).to(cfg.device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    state_path = work_dir / "state.pt"
    step, best, elapsed, history = 0, math.inf, 0.0, []
    if resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        step, best, elapsed, history = state["step"], state["best"], state["elapsed"], state["history"]
        log(f"resumed from {state_path} at step {step}")
    train_idx = data.indices("train")
    lengths = np.diff(data.offsets)[train_idx].astype(np.float64)
    weights = lengths / lengths.sum()
    val_windows = data.windows("validation", model_cfg.context)

    def lr_at(s):
        if s < cfg.warmup:
            return cfg.lr * (s + 1) / cfg.warmup
        frac = (s - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    def save_state():
        torch.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": step, "best": best,
                    "elapsed": elapsed, "history": history}, state_path)

    try:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="training music model", unit="step", disable=not progress)
    except ImportError:
        bar = None
    started = time.monotonic() - elapsed
    import torch.nn.functional as F

    model.train()
    while step < cfg.steps:
        if (time.monotonic() - started) / 60 > cfg.max_minutes:
            log(f"stopping at step {step}: the {cfg.max_minutes} min budget is spent")
            break
        rng = np.random.default_rng([cfg.seed, step])  # batch depends only on (seed, step): resumable
        batch = torch.as_tensor(data.sample_batch(rng, cfg.batch, model_cfg.context, train_idx, weights)).to(cfg.device)
        x, y = batch[:, :-1], batch[:, 1:].clone()
        y[y == data.pad_id] = -100
        y[:, 0] = -100
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if step % cfg.eval_every == 0 or step == cfg.steps:
            val, _ = evaluate_nll(model, val_windows, cfg.device, pad_id=data.pad_id)
            model.train()
            elapsed = time.monotonic() - started
            history.append({"step": step, "train_loss": round(loss.item(), 4), "val_nll": round(val, 4),
                            "minutes": round(elapsed / 60, 2)})
            log(f"step {step}: train {loss.item():.3f}  validation {val:.3f}")
            if val < best:
                best = val
                save_checkpoint(model.cpu(), out, {"training": {"step": step, "val_nll": val}})
                model.to(cfg.device)
        if step % cfg.save_every == 0:
            elapsed = time.monotonic() - started
            save_state()
    elapsed = time.monotonic() - started
    save_state()
    if bar is not None:
        bar.close()
    best_step = min(history, key=lambda h: h["val_nll"])["step"] if history else step
    record = {"steps": step, "best_step": best_step, "best_val_nll": round(best, 4), "minutes": round(elapsed / 60, 2),
              "device": cfg.device if cfg.device == "cpu" else f"{cfg.device} ({_gpu_name()})",
              "cpu": platform.processor() or platform.machine(), "threads": cfg.threads,
              "params": model.num_params(), "model": model_cfg.to_json(), "train": cfg.__dict__,
              "train_pieces": int(len(train_idx)), "train_tokens": int(lengths.sum()), "history": history}
    # the checkpoint carries its own training record
    blob = torch.load(out, map_location="cpu", weights_only=True)
    blob["training"] = record
    torch.save(blob, out)
    (work_dir / "training.json").write_text(json.dumps(record, indent=1))
    return record


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "?"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="train the muselink music model from a token .npz")
    p.add_argument("--data", required=True)
    p.add_argument("--work-dir", required=True)
    p.add_argument("--out", required=True)
    for name, value in TrainConfig().__dict__.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    p.add_argument("--fresh", action="store_true", help="ignore a saved state (default: resume)")
    p.add_argument("--dropout", type=float, default=0.15)
    p.add_argument("--d-model", type=int, default=None)
    p.add_argument("--n-layers", type=int, default=None)
    p.add_argument("--d-ff", type=int, default=None)
    args = p.parse_args(argv)
    cfg = TrainConfig(**{k: getattr(args, k) for k in TrainConfig().__dict__})
    from .dataset import TokenData
    from .model import ModelConfig

    arch = {k: getattr(args, k) for k in ("d_model", "n_layers", "d_ff") if getattr(args, k) is not None}
    model_cfg = ModelConfig(vocab_size=TokenData(Path(args.data)).vocab_size, dropout=args.dropout, **arch)
    record = train(Path(args.data), Path(args.work_dir), Path(args.out), cfg, model_cfg=model_cfg,
                   resume=not args.fresh)
    print(json.dumps({k: v for k, v in record.items() if k != "history"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
