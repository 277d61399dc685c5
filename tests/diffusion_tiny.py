"""A tiny random-weight Stable Diffusion pipeline, built from config as diffusers' own tests do.

TEST FIXTURE ONLY: its pictures are noise. It exists so the diffusion capabilities can be driven
end to end offline (no weights can be downloaded here). Never ship it or offer it as a default.
The tokenizer is the real CLIP BPE vocabulary that open-clip-torch ships.
"""
from __future__ import annotations

from pathlib import Path

SIZE = 32  # native pixel size: latent sample_size 8 x vae scale 4


def clip_tokenizer():
    """A real 49,408-token CLIPTokenizer from open-clip's ``bpe_simple_vocab_16e6.txt.gz``."""
    from muselink.plugins.text.clip import clip_tokenizer as real

    return real()


def build_pipeline():
    """A StableDiffusionPipeline with ~1 M random (seeded) parameters."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=SIZE // 4, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16, norm_num_groups=4, attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=(8, 8, 16), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                        norm_num_groups=4, sample_size=SIZE)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, hidden_size=16, intermediate_size=32, layer_norm_eps=1e-05,
        num_attention_heads=2, num_hidden_layers=2, pad_token_id=1, vocab_size=len(tokenizer),
        max_position_embeddings=77, projection_dim=16))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def build_sd15_shaped():
    """Random weights in Stable Diffusion 1.5's shapes (860 M UNet, CLIP-L text encoder, full VAE).

    For benchmarks only: it runs at the speed of a real SD 1.5 without needing its weights; its
    pictures are noise. Never a model to offer anyone.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                        sample_size=512)
    tokenizer = clip_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        vocab_size=len(tokenizer), max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def save_folder(pipe, folder: Path) -> Path:
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


# ---- diffusers → original (LDM) key names, so the pipeline can be saved as one .safetensors file -------
def _unet_to_ldm(key: str, layers: int, n_blocks: int) -> str:
    simple = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
              "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for new, old in simple.items():
        if key.startswith(new + "."):
            return old + key[len(new):]
    resnet = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
              "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
    parts = key.split(".")

    def res(rest):
        return ".".join([resnet.get(rest[0], rest[0])] + rest[1:])

    if parts[0] == "down_blocks":
        i = int(parts[1])
        if parts[2] == "downsamplers":
            return f"input_blocks.{(layers + 1) * (i + 1)}.0.op." + ".".join(parts[5:])
        j = int(parts[3])
        idx = (layers + 1) * i + j + 1
        if parts[2] == "resnets":
            return f"input_blocks.{idx}.0." + res(parts[4:])
        return f"input_blocks.{idx}.1." + ".".join(parts[4:])
    if parts[0] == "mid_block":
        j = int(parts[2])
        if parts[1] == "resnets":
            return f"middle_block.{2 * j}." + res(parts[3:])
        return "middle_block.1." + ".".join(parts[3:])
    if parts[0] == "up_blocks":
        i = int(parts[1])
        if parts[2] == "upsamplers":
            has_attn = i in getattr(_unet_to_ldm, "attn_up", set())  # the upsampler follows the attention
            return f"output_blocks.{(layers + 1) * i + layers}.{1 + has_attn}.conv." + ".".join(parts[5:])
        j = int(parts[3])
        idx = (layers + 1) * i + j
        if parts[2] == "resnets":
            return f"output_blocks.{idx}.0." + res(parts[4:])
        return f"output_blocks.{idx}.1." + ".".join(parts[4:])
    raise KeyError(key)


def _vae_to_ldm(key: str) -> str:
    parts = key.split(".")
    head = parts[0]  # encoder | decoder | quant_conv | post_quant_conv
    if head in ("quant_conv", "post_quant_conv"):
        return "first_stage_model." + key
    rest = parts[1:]
    out = [head]
    if rest[0] == "down_blocks":
        i = rest[1]
        if rest[2] == "downsamplers":
            out += ["down", i, "downsample", "conv"] + rest[5:]
        else:
            out += ["down", i, "block", rest[3]] + _vae_res(rest[4:])
    elif rest[0] == "up_blocks":
        n = _vae_to_ldm.n_blocks
        i = str(n - 1 - int(rest[1]))
        if rest[2] == "upsamplers":
            out += ["up", i, "upsample", "conv"] + rest[5:]
        else:
            out += ["up", i, "block", rest[3]] + _vae_res(rest[4:])
    elif rest[0] == "mid_block":
        if rest[1] == "resnets":
            out += ["mid", f"block_{int(rest[2]) + 1}"] + _vae_res(rest[3:])
        else:
            attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
            name = attn[rest[3]]
            tail = rest[5:] if rest[3] == "to_out" else rest[4:]
            out += ["mid", "attn_1", name] + tail
    else:
        out += [{"conv_norm_out": "norm_out"}.get(rest[0], rest[0])] + rest[1:]
    return "first_stage_model." + ".".join(out)


def _vae_res(rest):
    return [{"conv_shortcut": "nin_shortcut"}.get(rest[0], rest[0])] + rest[1:]


def save_single_file(pipe, path: Path) -> Path:
    """Write ``pipe`` as one original-layout checkpoint (``model.diffusion_model.*``, ``first_stage_model.*``,
    ``cond_stage_model.transformer.*``) that ``from_single_file`` converts back."""
    from safetensors.torch import save_file

    unet_cfg = pipe.unet.config
    layers, n = unet_cfg.layers_per_block, len(unet_cfg.block_out_channels)
    _unet_to_ldm.attn_up = {i for i, t in enumerate(unet_cfg.up_block_types) if "CrossAttn" in t}
    _vae_to_ldm.n_blocks = len(pipe.vae.config.block_out_channels)
    state = {}
    for k, v in pipe.unet.state_dict().items():
        state["model.diffusion_model." + _unet_to_ldm(k, layers, n)] = v
    for k, v in pipe.vae.state_dict().items():
        if ".attentions." in k and k.endswith("weight") and v.ndim == 2:
            v = v[:, :, None, None]  # LDM's VAE attention uses 1x1 convs
        state[_vae_to_ldm(k)] = v
    te = pipe.text_encoder.state_dict()
    for k, v in te.items():
        k = k if k.startswith("text_model.") else "text_model." + k
        state["cond_stage_model.transformer." + k] = v
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
