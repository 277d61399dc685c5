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

    def forward(self, x, cache=None, start: int = 0):
        """``cache``: None (training) or this layer's preallocated (2, B, H, context, D) tensor; the new keys and
        values are written at ``start`` and attention covers everything cached before them."""
        b, t, c = x.shape
        h = F.layer_norm(x, (c,), self.ln1.weight, self.ln1.bias)
        q, k, v = F.linear(h, self.qkv.weight, self.qkv.bias).view(b, t, 3, self.n_heads, c // self.n_heads) \
            .permute(2, 0, 3, 1, 4)
        if cache is None:
            a = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, dropout_p=self.p_drop if self.training else 0.0)
        else:
            cache[0, :, :, start:start + t] = k
            cache[1, :, :, start:start + t] = v
            k, v = cache[0, :, :, :start + t], cache[1, :, :, :start + t]
            if t == 1:
                a = F.scaled_dot_product_attention(q, k, v)
            elif start == 0:
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # several new tokens after cached ones: causal among the new, all cached visible
                mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
                a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        a = F.linear(a.transpose(1, 2).reshape(b, t, c), self.proj.weight, self.proj.bias)
        x = x + (self.drop(a) if self.training else a)
        ff1, ff2 = self.ff[0], self.ff[2]
        h = F.linear(F.gelu(F.linear(F.layer_norm(x, (c,), self.ln2.weight, self.ln2.bias), ff1.weight, ff1.bias)),
                     ff2.weight, ff2.bias)
        return x + (self.drop(h) if self.training else h)


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
        """``idx`` (B, T) → logits (B, T, V). ``caches`` from :meth:`new_cache` (filled in place) or None;
        ``start``: the position of ``idx[:, 0]``."""
        t = idx.shape[1]
        if start + t > self.cfg.context:
            raise ValueError(f"sequence of {start + t} tokens exceeds the model context {self.cfg.context}")
        x = F.embedding(idx, self.tok.weight) + self.pos.weight[start:start + t][None]
        for i, block in enumerate(self.blocks):
            x = block(x, None if caches is None else caches[i], start)
        x = F.layer_norm(x, (x.shape[-1],), self.ln.weight, self.ln.bias)
        return F.linear(x, self.tok.weight)

    def new_cache(self, batch: int) -> list:
        """Preallocated key/value memory for ``batch`` rows, one (2, B, H, context, D) tensor per layer."""
        c = self.cfg
        w = self.tok.weight
        return [torch.zeros(2, batch, c.n_heads, c.context, c.d_model // c.n_heads, dtype=w.dtype, device=w.device)
                for _ in range(c.n_layers)]


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
