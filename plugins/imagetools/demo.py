"""``muselink demo`` step: the image tools on scikit-image's astronaut, through the daemon."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from muselink.bridge.payloads import ImageData
from muselink.core.api import save_payload

JOBS = (  # (capability, params, file name per output)
    ("image.cutout", {"model": "portrait"}, {"image": "astronaut-cutout.png", "mask": "astronaut-cutout-mask.png"}),
    ("image.lineart", {"thickness": 2}, {"image": "astronaut-lineart.png"}),
    ("image.upscale", {"scale": 4, "model": "fast"}, {"image": "astronaut-face-x4.png"}),
)


def demo_step(client, out_dir: Path) -> list[Path]:
    from skimage import data

    out_dir = Path(out_dir)
    photo = data.astronaut()
    face = np.ascontiguousarray(photo[40:168, 170:298])  # 128x128 → 512x512
    available = {c["name"]: c for c in client.status().capabilities}
    written = [save_payload(ImageData.from_numpy(face), out_dir / "astronaut-face.png")]
    for name, params, names in JOBS:
        cap = available.get(name)
        if cap is None or not cap["available"]:
            print(f"  {name:26s}skipped: {cap['unavailable_reason'] if cap else 'not offered'}")
            continue
        source = face if name == "image.upscale" else photo
        result = client.run(name, {"image": ImageData.from_numpy(source)}, params, timeout=600)
        for output, file in names.items():
            written.append(save_payload(result.payloads[output], out_dir / file, result.meta))
        print(f"  {name:26s}{result.meta['seconds']:.2f} s -> {written[-1]}")
    return written
