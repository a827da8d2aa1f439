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

Rebuild (a minute on a CPU)::

    python -m zoo.classifier --out zoo/weights/digit_classifier.weights.h5

Input ``image``: (B, 32, 32, 1) in [0, 1]. Outputs: ``features`` (B, 64) >= 0 and
``probs`` (B, 10) softmax. :func:`features` and :func:`predict_labels` take any
(N, H, W, 1 | 3) batch in [0, 1] and bring it to 32x32 gray first (bilinear, BT.601 luma).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo.errors import ZooError
from zoo.files import sha256_of, write_atomically, write_text_atomically

if TYPE_CHECKING:
    import keras

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS = WEIGHTS_DIR / "digit_classifier.weights.h5"
MANIFEST = WEIGHTS_DIR / "digit_classifier.json"
IMAGE_SIZE = (32, 32)
NUM_CLASSES = 10
FEATURE_DIM = 64
BATCH = 256
REBUILD = "python -m zoo.classifier --out zoo/weights/digit_classifier.weights.h5"


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


# === Training (the script that made the shipped file) ===


def train_classifier(
    *, epochs: int = 20, batch_size: int = 32, learning_rate: float = 2e-3, seed: int = 0
) -> tuple[keras.Model, dict]:
    """Train on the digits train split (random shifts up to 2 pixels, Adam with a cosine
    learning-rate decay to 0); returns (model, report).

    The report holds the test accuracy and the Frechet distances train-vs-test (the floor
    a perfect generator reaches) and uniform-noise-vs-test.
    """
    import keras
    import tensorflow as tf

    from zoo.metrics import frechet_distance

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    train = zdata.load("digits", split="train")
    test = zdata.load("digits", split="test")
    model = build_classifier()
    # augmentation lives only in this training wrapper, not in the shipped model
    shift = 2 / IMAGE_SIZE[0]
    image = keras.Input((*IMAGE_SIZE, 1))
    moved = keras.layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed)(image)
    trainable = keras.Model(image, model(moved)[1])
    steps = epochs * -(-len(train) // batch_size)
    trainable.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        ),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    trainable.fit(
        train.images,
        train.labels,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        validation_data=(test.images, test.labels),
        verbose=2,
    )
    train_features = features(train.images, model=model)
    test_features = features(test.images, model=model)
    noise = np.random.default_rng(seed).uniform(0.0, 1.0, train.images.shape).astype(np.float32)
    accuracy = float(np.mean(predict_labels(test.images, model=model) == test.labels))
    report = {
        "test_accuracy": round(accuracy, 4),
        "frechet_distance_train_vs_test": round(frechet_distance(train_features, test_features), 4),
        "frechet_distance_noise_vs_test": round(
            frechet_distance(features(noise, model=model), test_features), 4
        ),
        "train_samples": len(train),
        "test_samples": len(test),
    }
    return model, report


def main(argv: list[str] | None = None) -> None:
    """``python -m zoo.classifier --out FILE``: train, save, and write the manifest beside it."""
    import keras
    import tensorflow as tf

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="weights file (.weights.h5)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not str(args.out).endswith(".weights.h5"):
        parser.error("--out must end in .weights.h5")
    started = time.perf_counter()
    model, report = train_classifier(epochs=args.epochs, seed=args.seed)
    write_atomically(args.out, model.save_weights)
    command = "python -m zoo.classifier --out " + str(args.out)
    if args.epochs != 20 or args.seed != 0:
        command += f" --epochs {args.epochs} --seed {args.seed}"
    record = {
        "file": args.out.name,
        "sha256": sha256_of(args.out),
        "bytes": args.out.stat().st_size,
        "command": command,
        "data": "digits (zoo.data.load('digits')): 1438 train / 359 test, 32x32 gray in [0, 1]",
        **report,
        "seconds": round(time.perf_counter() - started, 1),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    manifest_path = args.out.with_name(args.out.name.removesuffix(".weights.h5") + ".json")
    write_text_atomically(manifest_path, json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
