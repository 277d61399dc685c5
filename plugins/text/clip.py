"""The real CLIP BPE tokenizer (49,408 tokens) from the vocabulary open-clip-torch ships.

Used to count prompt tokens against CLIP's 77-token window (75 for text plus start and end), and by
the tiny diffusion test pipelines. open-clip is only located, never imported (it imports torchvision).
"""
from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

CLIP_MAX_TEXT_TOKENS = 75  # 77 minus <|startoftext|> and <|endoftext|>


def vocab_path() -> Path | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"
    return path if path.is_file() else None


def clip_tokenizer():
    """A fresh transformers ``CLIPTokenizer`` over open-clip's vocabulary."""
    from transformers import CLIPTokenizer

    bpe = vocab_path()
    if bpe is None:
        raise RuntimeError("open-clip-torch is not installed (pip install --no-deps open-clip-torch)")
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={tok: i for i, tok in enumerate(vocab)}, merges=merges, pad_token="<|endoftext|>",
                         model_max_length=77)


@lru_cache(maxsize=1)
def shared_tokenizer():
    return clip_tokenizer()


def count_tokens(text: str) -> int:
    """CLIP tokens of ``text`` without the start/end tokens (the budget is CLIP_MAX_TEXT_TOKENS)."""
    return len(shared_tokenizer()(text, add_special_tokens=False)["input_ids"])


def bytes_to_unicode() -> dict:
    """GPT-2/CLIP's reversible byte → printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))
