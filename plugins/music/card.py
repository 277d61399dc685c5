"""The model card (``MODEL_CARD.md`` beside the checkpoint): data, licence notes, tokenizer, size, metrics."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

LICENCE = """\
The training data is the corpus that ships with the `music21` package (BSD-3-Clause code). The
encodings carry their own terms, and **some are for non-commercial use only**:

- Bach chorales (`bach/`, MusicXML): public-domain music; encodings from the music21 project
  (Michael Scott Cuthbert et al.), distributed with music21.
- Essen Folksong Collection (`essenFolksong/`, ABC): compiled by Helmut Schaffrath (ed. Ewa Dahlig-Turek);
  the Essen data is free for **research and non-commercial use**; commercial use needs permission.
- O'Neill's *Music of Ireland* 1850 (`oneills1850/`, ABC): public-domain tunes; ABC transcriptions
  distributed with music21 for non-commercial/educational use.

The model weights are derived from these encodings: treat them — and music generated with them —
as suitable for personal, educational and research use; check the sources' terms before
commercial use. See music21's `corpus` documentation and each file's header for the details."""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def card_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_name("MODEL_CARD.md")


def metrics_path(checkpoint: Path) -> Path:
    return Path(checkpoint).with_name("metrics.json")


def hash_in_card(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("- sha256:"):
            return line.split("`")[1]
    return None


def sources(data) -> list[str]:
    """Per corpus folder: pieces and files the token data came from (``data``: a TokenData)."""
    from collections import defaultdict

    files, pieces = defaultdict(set), defaultdict(int)
    for pid in data.piece_ids:
        folder, name = str(pid).split("#")[0].split("/", 1)
        files[folder].add(name)
        pieces[folder] += 1
    out = []
    for folder in sorted(files):
        names = sorted(files[folder])
        listed = ", ".join(n.rsplit(".", 1)[0] for n in names) if len(names) <= 20 else f"{len(names)} files"
        out.append(f"`{folder}`: {pieces[folder]} pieces from {listed}")
    return out


def write(checkpoint: Path, split_counts: dict | None = None, source_lines: list[str] | None = None) -> Path:
    import torch

    checkpoint = Path(checkpoint)
    blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
    tr = blob.get("training", {})
    metrics = json.loads(metrics_path(checkpoint).read_text()) if metrics_path(checkpoint).exists() else None
    size_mb = checkpoint.stat().st_size / 1e6
    m = tr.get("model", blob["config"])
    lines = [
        "# muselink music model — model card", "",
        "A small decoder-only Transformer that muselink trains itself on the music21 corpus; it powers",
        "`music.continue`, `music.generate`, `music.infill` and `music.variation` (see docs/music.md).", "",
        "## Checkpoint",
        f"- file: `{checkpoint.name}` ({size_mb:.1f} MB, float16 weights)",
        f"- sha256: `{sha256(checkpoint)}`",
        f"- parameters: {tr.get('params', 'n/a'):,}" if isinstance(tr.get("params"), int) else "- parameters: n/a",
        f"- architecture: {m['n_layers']} layers, d_model {m['d_model']}, {m['n_heads']} heads, feed-forward {m['d_ff']}, "
        f"context {m['context']} tokens, learned positions, tied embeddings, dropout {m['dropout']}",
        "",
        "## Data",
        "- music21 corpus: Bach chorales (`bach/bwv*`, style `chorale`), Essen folk songs and O'Neill's 1850 "
        "collection (style `folk`); pieces with a meter change or fewer than 8 notes are skipped.",
        "- every piece is transposed to C major / A minor (its key from the encoding, else music21's analysis); "
        "the model sees `Style_*` and `Mode_*` tokens first.",
        "- split by piece, fixed: sha1(piece id) % 100 → < 5 test, < 10 validation, else train; the validation and "
        "test ids are recorded in `split.json`.",
    ]
    if source_lines:
        lines.append("- pieces used: " + "; ".join(source_lines))
    if split_counts:
        lines.append(f"- split: {split_counts}")
    if tr.get("train_tokens"):
        lines.append(f"- training tokens: {tr['train_tokens']:,} in {tr.get('train_pieces')} pieces")
    lines += ["", "## Tokenizer",
              "MidiTok REMI (`Bar`, `TimeSig`, `Position`, `Pitch`, `Duration`; no velocity), 4 positions per beat "
              "for beats 0–4 and 2 per beat up to 8 beats, pitches 24–100, plus 4 muselink tokens (2 styles, "
              f"2 modes): {m['vocab_size']} ids.", "",
              "## Training"]
    if tr:
        t = tr["train"]
        lines += [f"- trainer `plugins/music/train.py` (what `muselink train music` runs): {tr['steps']} steps × batch {t['batch']} "
                  f"windows of ≤ {m['context']} tokens, "
                  f"AdamW lr {t['lr']} (warm-up {t['warmup']}, cosine to 10 %), weight decay {t['weight_decay']}, seed {t['seed']}",
                  f"- time: {tr['minutes']} min on {tr['device']}"
                  + (f" ({tr['threads']} threads)" if tr["device"] == "cpu" else "") + "; best validation NLL "
                  f"{tr['best_val_nll']} nats/token; the checkpoint kept is the best-validation one"
                  + (f" (step {min(tr['history'], key=lambda h: h['val_nll'])['step']})" if tr.get("history") else "")]
        if tr["device"] != "cpu":
            lines.append("- trained on a GPU; on a small CPU the same recipe is far slower (docs/music.md has the "
                         "measured figure), and `--max-minutes` then stops it early with a weaker model")
    lines += ["", "## Evaluation (`muselink eval music`)"]
    if metrics:
        lines += ["| split | tokens | model NLL (nats/token) | 4-gram KN NLL | reduction |", "|---|---|---|---|---|"]
        for split, r in metrics["nll"].items():
            lines.append(f"| {split} | {r['tokens']:,} | {r['model']:.4f} | {r['ngram4']:.4f} | {r['reduction'] * 100:.1f} % |")
        k = metrics["in_key"]
        lines += ["", f"- in-key share of continuations of diatonic input: **{k['generated_notes_share_mean'] * 100:.1f} %** "
                  f"(mean over {k['prompts']} held-out test prompts of 4 bars, {k['bars']} bars continued, temperature "
                  f"{k['temperature']}, top_p {k['top_p']}; worst prompt {k['share_min'] * 100:.0f} %; "
                  f"sampling the full distribution (temperature 1, top_p 1): "
                  f"{k.get('share_mean_temperature_1_top_p_1', float('nan')) * 100:.1f} %). In key = the major scale, or for "
                  "minor the natural minor scale plus the raised 6th and 7th; sampling never masks pitches by key"]
        p = metrics["plagiarism"]
        lines += [f"- plagiarism check — {p['unit']}:"]
        for name in ("continuations_2_bars", "generations_8_bars", "real_test_continuations_2_bars"):
            d = p[name]
            if d:
                lines.append(f"  - {name.replace('_', ' ')}: median {d['median']}, 90th percentile {d['p90']}, "
                             f"max {d['max']} notes (n = {d['n']})")
        lines.append(f"- evaluation run took {metrics['seconds']} s")
    else:
        lines.append("Not evaluated yet: run `muselink eval music`.")
    lines += ["", "## Licence notes", LICENCE, ""]
    path = card_path(checkpoint)
    path.write_text("\n".join(lines))
    return path
