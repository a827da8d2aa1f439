"""Train the digit classifier that ships with the zoo (maintainers).

    python tools/train_classifier.py --out zoo/weights/digit_classifier.weights.h5

Trains :func:`zoo.classifier.build_classifier` on the embedded ``digits`` train split, saves
the weights atomically and writes the manifest beside them (sha256, this command, the test
accuracy and the Frechet-distance floor) that :func:`zoo.classifier.load_classifier` checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo import data as zdata
from zoo.classifier import IMAGE_SIZE, WEIGHTS, build_classifier, features, predict_labels
from zoo.files import sha256_of, write_atomically, write_text_atomically
from zoo.metrics import frechet_distance

if TYPE_CHECKING:
    import keras


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
    """``python tools/train_classifier.py --out FILE``: train, save, write the manifest."""
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
    command = "python tools/train_classifier.py --out " + str(args.out)
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
