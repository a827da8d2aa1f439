"""A small digit classifier: the feature space of the zoo's Frechet distance, and a judge.

Generators are scored the way FID scores them (Heusel et al. 2017), with a network suited
to the zoo's data instead of Inception: a small CNN trained on the embedded ``digits``
(scikit-learn's handwritten digits, 32x32 gray in [0, 1]). Its penultimate layer
(``features``: 64 ReLU units after three conv + max-pool stages) is the feature space of
:func:`zoo.metrics.frechet_distance`, and its class prediction checks that a conditional
generator draws the digit it was asked for.

The weights ship inside the package (``zoo/weights/digit_classifier.weights.h5``); the
manifest beside them (``digit_classifier.json``) records their sha256, the command that
made them, and their measured test accuracy and Frechet-distance floor. The hash is
checked on every load: a changed file is a ZooError, never a silent different metric.

Rebuild (a minute on a CPU; the trainer is a maintainer's script, outside the package)::

    python tools/train_classifier.py --out zoo/weights/digit_classifier.weights.h5

Input ``image``: (B, 32, 32, 1) in [0, 1]. Outputs: ``features`` (B, 64) >= 0 and
``probs`` (B, 10) softmax. :func:`features` and :func:`predict_labels` take any
(N, H, W, 1 | 3) batch in [0, 1] and bring it to 32x32 gray first (bilinear, BT.601 luma).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo.errors import ZooError
from zoo.files import sha256_of

if TYPE_CHECKING:
    import keras

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS = WEIGHTS_DIR / "digit_classifier.weights.h5"
MANIFEST = WEIGHTS_DIR / "digit_classifier.json"
IMAGE_SIZE = (32, 32)
NUM_CLASSES = 10
FEATURE_DIM = 64
BATCH = 256
REBUILD = "python tools/train_classifier.py --out zoo/weights/digit_classifier.weights.h5"


# === Functional Model ===


def build_classifier(*, filters: tuple[int, ...] = (32, 32, 32), features: int = FEATURE_DIM):
    """The CNN: 3x3 convolutions, each followed by 2x2 max pooling (32 -> 4), flatten,
    ``features`` ReLU units (the embedding), dropout, a 10-way softmax."""
    import keras

    inputs = keras.Input((*IMAGE_SIZE, 1), name="image")
    x = inputs
    for i, width in enumerate(filters):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    embedding = keras.layers.Dense(features, activation="relu", name="features")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(embedding)
    probs = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probs")(x)
    return keras.Model(inputs, [embedding, probs], name="digit_classifier")


# === Loading (hash-checked) ===


def manifest() -> dict:
    """The shipped manifest: sha256, command, accuracy, Frechet-distance floor, versions."""
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as error:
        raise ZooError(f"cannot read the digit classifier's manifest {MANIFEST}: {error}") from None


def load_classifier(weights: str | Path | None = None) -> keras.Model:
    """The digit classifier with ``weights`` (default: the shipped file), hash-checked.

    The file's sha256 must equal the manifest's, whatever its path: a changed, truncated or
    foreign file is a one-line ZooError.
    """
    if weights is None:
        return _shipped()
    return _load(Path(weights))


@lru_cache(maxsize=1)
def _shipped() -> keras.Model:
    return _load(WEIGHTS)


def _load(path: Path) -> keras.Model:
    if not path.is_file():
        raise ZooError(f"digit classifier weights {path} not found; rebuild with `{REBUILD}`")
    expected = manifest().get("sha256")
    actual = sha256_of(path)
    if actual != expected:
        raise ZooError(
            f"digit classifier weights {path} fail the hash check (sha256 {actual[:12]}..., "
            f"manifest {str(expected)[:12]}...): the file was changed; rebuild with `{REBUILD}`"
        )
    model = build_classifier()
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as error:
        raise ZooError(f"cannot load digit classifier weights {path}: {error}") from None
    return model


# === Features and predictions ===


def prepare(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 1 | 3) in [0, 1] -> (N, 32, 32, 1) gray in [0, 1] (bilinear, BT.601 luma)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ZooError(f"the digit classifier takes (N, H, W, 1|3) images, got {images.shape}")
    images = zdata.to_channels(images, 1)
    if images.shape[1:3] != IMAGE_SIZE:
        images = zdata.resize(images, IMAGE_SIZE, "bilinear")
    return np.clip(images, 0.0, 1.0)


def _outputs(images: np.ndarray, model: keras.Model | None) -> tuple[np.ndarray, np.ndarray]:
    model = model if model is not None else load_classifier()
    batch = prepare(images)
    features, probs = [], []
    for start in range(0, len(batch), BATCH):
        f, p = model(batch[start : start + BATCH], training=False)
        features.append(np.asarray(f))
        probs.append(np.asarray(p))
    if not features:
        return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, NUM_CLASSES), np.float32)
    return np.concatenate(features), np.concatenate(probs)


def features(images: np.ndarray, *, model: keras.Model | None = None) -> np.ndarray:
    """Penultimate-layer activations (N, 64) of images (N, H, W, 1 | 3) in [0, 1]."""
    return _outputs(images, model)[0]


def predict_labels(images: np.ndarray, *, model: keras.Model | None = None) -> np.ndarray:
    """Predicted digit (N,) int of images (N, H, W, 1 | 3) in [0, 1]."""
    return _outputs(images, model)[1].argmax(-1)
