"""A small decoder-only Transformer (GPT-style, pre-norm) with a key/value cache for fast sampling."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ModelConfig:
    vocab_size: int = 232
    context: int = 512
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.15

    def to_json(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)
        self.p_drop = cfg.dropout

    def forward(self, x, cache=None):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            pk, pv = cache
            if pk is not None:
                k = torch.cat([pk, k], dim=2)
                v = torch.cat([pv, v], dim=2)
        # causal within the new tokens; all cached tokens are visible
        causal = cache is None or cache[0] is None
        if causal or t == 1:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=causal and t > 1,
                                               dropout_p=self.p_drop if self.training else 0.0)
        else:
            past = k.shape[2] - t
            mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(past)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, c)))
        x = x + self.drop(self.ff(self.ln2(x)))
        return x, (k, v)


class MusicTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # tied
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("ff.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx, caches=None, start: int = 0):
        """``idx`` (B, T) → logits (B, T, V) and the new per-layer caches. ``start``: position of idx[:, 0]."""
        t = idx.shape[1]
        if start + t > self.cfg.context:
            raise ValueError(f"sequence of {start + t} tokens exceeds the model context {self.cfg.context}")
        pos = torch.arange(start, start + t, device=idx.device)
        x = self.tok(idx) + self.pos(pos)[None]
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if caches is None else caches[i])
            new.append(kv)
        return self.head(self.ln(x)), new

    def empty_cache(self):
        return [(None, None)] * self.cfg.n_layers


def save_checkpoint(model: MusicTransformer, path, extra: dict) -> None:
    """Weights as float16 (half the size) plus config and metadata, in a plain torch file."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()
             if k != "head.weight"}
    torch.save({"config": model.cfg.to_json(), "state": state, **extra}, path)


def load_checkpoint(path, device: str = "cpu") -> tuple[MusicTransformer, dict]:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = MusicTransformer(ModelConfig(**blob["config"]))
    state = {k: v.float() for k, v in blob["state"].items()}
    state["head.weight"] = state["tok.weight"]
    model.load_state_dict(state)
    model.eval()
    return model.to(device), blob
