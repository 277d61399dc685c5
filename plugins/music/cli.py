"""``muselink train music`` and ``muselink eval music`` (added through ``muselink_add_commands``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _group(subparsers, name: str, help: str):
    """A shared ``muselink <name> <what>`` parser: several plugins may add their own ``<what>``."""
    parser = subparsers.choices.get(name)
    if parser is None:
        parser = subparsers.add_parser(name, help=help)
        parser._muselink_sub = parser.add_subparsers(dest=f"{name}_what", required=True)
    return parser._muselink_sub


def add_commands(subparsers) -> None:
    p = _group(subparsers, "train", "train a model muselink ships").add_parser(
        "music", help="train the music model on the music21 corpus (CPU by default, resumable)")
    p.add_argument("--out", default=str(HERE / "music.pt"), help="checkpoint to write (default: the shipped one)")
    p.add_argument("--work-dir", default=None, help="resumable state (default: <cache>/music/train)")
    p.add_argument("--steps", type=int, default=12000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dropout", type=float, default=0.15)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--max-minutes", type=float, default=25.0, help="stop (and save) after this wall-clock time")
    p.add_argument("--workers", type=int, default=1, help="processes for parsing the corpus (first run only)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    p.add_argument("--limit-files", type=int, default=None, help="parse only the first N corpus files (tests)")
    p.add_argument("--data", default=None, help="token .npz to train on (default: built from the corpus cache)")
    p.add_argument("--pieces", default=None, help="parsed corpus .jsonl.gz (default: the corpus cache)")
    p.set_defaults(func=cmd_train)

    p = _group(subparsers, "eval", "evaluate a model muselink ships").add_parser(
        "music", help="NLL vs a 4-gram baseline, in-key share, plagiarism; records them in the model card")
    p.add_argument("--checkpoint", default=str(HERE / "music.pt"))
    p.add_argument("--prompts", type=int, default=60, help="diatonic test prompts to continue")
    p.add_argument("--generations", type=int, default=20, help="8-bar generations for the copy check")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", default=None, help="token .npz (default: the corpus cache)")
    p.add_argument("--pieces", default=None, help="parsed corpus .jsonl.gz (default: the corpus cache)")
    p.set_defaults(func=cmd_eval)


def _data(args) -> tuple[Path, list]:
    from . import data, dataset

    limit = getattr(args, "limit_files", None)
    if args.pieces:
        pieces_path = Path(args.pieces)
    elif limit is None:
        pieces_path = data.prepare(workers=getattr(args, "workers", 1))
    else:
        pieces_path = data.prepare(data.music_cache_dir() / f"pieces-first{limit}.jsonl.gz", limit=limit)
    pieces = data.load_pieces(pieces_path)
    if args.data:
        return Path(args.data), pieces
    name = dataset.TOKENS_NAME if limit is None else f"tokens-first{limit}.npz"
    path = data.music_cache_dir() / name
    if not path.exists():
        dataset.build(pieces, path)
    return path, pieces


def cmd_train(args) -> int:
    from . import card, data, dataset
    from .train import TrainConfig, train

    tokens, _ = _data(args)
    out = Path(args.out)
    work = Path(args.work_dir) if args.work_dir else data.music_cache_dir() / "train"
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, device=args.device,
                      threads=args.threads, max_minutes=args.max_minutes,
                      eval_every=min(250, max(1, args.steps // 4)), save_every=min(250, max(1, args.steps // 4)))
    from .model import ModelConfig

    td = dataset.TokenData(tokens)
    model_cfg = ModelConfig(vocab_size=td.vocab_size, dropout=args.dropout)
    record = train(tokens, work, out, cfg, model_cfg=model_cfg, resume=not args.fresh,
                   log=lambda m: print(m, file=sys.stderr))
    dataset.record_split(td, out.with_name("split.json"))
    path = card.write(out, dataset.split_counts(td), card.sources(td))
    print(f"checkpoint {out} ({record['params']:,} parameters, {record['minutes']} min); model card {path}")
    print("next: muselink eval music  (records the metrics in the model card)")
    return 0


def cmd_eval(args) -> int:
    import torch

    from . import card, dataset, load_engine
    from .evaluate import run

    torch.set_num_threads(args.threads)
    args.limit_files = None
    tokens, pieces = _data(args)
    eng = load_engine(None, Path(args.checkpoint))
    results = run(eng, tokens, pieces, prompts=args.prompts, generations=args.generations,
                  log=lambda m: print(m, file=sys.stderr))
    ckpt = Path(args.checkpoint)
    card.metrics_path(ckpt).write_text(json.dumps(results, indent=1) + "\n")
    td = dataset.TokenData(tokens)
    card.write(ckpt, dataset.split_counts(td), card.sources(td))
    print(json.dumps(results, indent=1))
    return 0
