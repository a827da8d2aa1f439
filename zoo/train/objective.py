"""The base of every training objective: its data, models, optimizers, step, samples, metrics.

An objective's ``train_step`` runs once per replica under ``strategy.run``: it scales every
per-example loss by the *global* batch (``tf.nn.compute_average_loss``), and the Keras 3
optimizer sums the gradients across replicas, so N replicas with N shards of a batch
make the same update as one device with the whole batch.

Data are prepared in numpy before any model is built, so bad data fails before training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zoo import data as zdata
from zoo.models import create
from zoo.registry import ModelInfo
from zoo.train.config import TrainConfig

Arrays = dict[str, np.ndarray]
VALIDATION_SAMPLES = 64
SAMPLE_COLUMNS = 8


class Objective:
    """Base: a single model trained on (input, target) pairs with one optimizer."""

    tasks: ClassVar[tuple[str, ...]] = ()
    patches: ClassVar[bool] = False  # train on random crops of whole images (photos, folders)
    limit: int | None = None  # load at most this many images per split (None: all)
    trains: Callable[[Any], bool] | None = None  # see use()

    def __init__(self, info: ModelInfo, config: TrainConfig) -> None:
        self.info = info
        self.config = config
        self.options = config.options
        self.global_batch = config.batch_size

    # --- data (numpy) ---

    def load_data(self) -> tuple[Arrays, Arrays]:
        """(train, validation) arrays keyed by the names ``train_step`` reads."""
        raise NotImplementedError

    # --- models (built inside strategy.scope()) ---

    def build(self) -> None:
        import keras

        self.model = create(self.info.name, **self.config.model_overrides)
        self.optimizer = keras.optimizers.Adam(
            self.config.learning_rate, beta_1=self.options.get("beta_1", 0.9)
        )
        self.optimizer.build(self.model.trainable_variables)

    def trackables(self) -> dict[str, Any]:
        """What a checkpoint holds besides the step and epoch counters."""
        return {"model": self.model, "optimizer": self.optimizer}

    def start_epoch(self, epoch: int) -> None:
        """Called before each epoch (0-based); schedules live here.

        Recipe option ``lr_schedule="cosine"`` decays the learning rate from the recipe's
        to 0 over the run's epochs, one step per epoch (so a resumed run follows the same
        curve).
        """
        if self.options.get("lr_schedule") == "cosine":
            progress = epoch / self.config.epochs
            rate = 0.5 * self.config.learning_rate * (1.0 + np.cos(np.pi * progress))
            for optimizer in self.optimizers():
                optimizer.learning_rate.assign(rate)

    def optimizers(self) -> list:
        """The optimizers the learning-rate schedule drives."""
        return [self.optimizer]

    # --- one step (per replica, traced) ---

    def train_step(self, batch: dict) -> dict:
        import tensorflow as tf

        inputs, target = self.pair(batch)
        with tf.GradientTape() as tape:
            prediction = self.model(inputs, training=True)
            loss = self.average(self.per_example_loss(target, prediction))
        self.apply(tape, loss, self.model, self.optimizer)
        return {"loss": loss}

    def pair(self, batch: dict) -> tuple:
        raise NotImplementedError

    def per_example_loss(self, target, prediction):
        import tensorflow as tf

        error = prediction - target
        pointwise = tf.abs(error) if self.info.recipe.loss == "l1" else tf.square(error)
        return tf.reduce_mean(pointwise, axis=list(range(1, len(pointwise.shape))))

    def average(self, per_example):
        import tensorflow as tf

        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)

    def use(self, model, optimizer, *, trains: Callable[[Any], bool] | None = None) -> None:
        """Train ``model`` with ``optimizer``, both made elsewhere, instead of :meth:`build`'s.

        ``convert.optimize`` fine-tunes a tf_keras twin this way (QAT, pruning, clustering);
        ``trains(variable)`` chooses which of the model's trainable variables move (default:
        all of them).
        """
        self.model, self.optimizer, self.trains = model, optimizer, trains

    def apply(self, tape, loss, model, optimizer) -> None:
        """One update of ``model``'s trainable variables (those ``trains`` chooses)."""
        variables = model.trainable_variables
        if model is self.model and self.trains is not None:
            variables = [variable for variable in variables if self.trains(variable)]
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None]
        )

    # --- host-side views ---

    def predict(self, inputs) -> np.ndarray:
        return np.asarray(self.model(inputs, training=False))

    def validate(self, validation: Arrays) -> dict[str, float]:
        """Quick metrics on the validation arrays, once per epoch."""
        return {}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        """Rows of images in [0, 1] for the epoch's sample grid."""
        raise NotImplementedError

    # --- helpers ---

    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the model's image: fixed by the model or the recipe's patch size."""
        spec = self.info.output if self.info.task.startswith("generate") else self.info.inputs[0]
        height, width, channels = spec.shape
        size = self.options.get("patch_size") or self.options.get("image_size") or 64
        channels = self.config.model_overrides.get("channels", channels)
        return (height or size, width or size, channels)

    def source(self, split: str) -> tuple[str, str]:
        """(source, split) to read for ``split``: ``validation_data`` replaces the test split,
        and then all of ``data`` is for training."""
        if self.config.validation_data:
            return (
                (self.config.validation_data, "all")
                if split == "test"
                else (self.config.data, "all")
            )
        return self.config.data, split

    def crops_whole_images(self, source: str) -> bool:
        """Whether a patch task cuts its patches from whole images of ``source``."""
        return self.patches and (source == "photos" or Path(source).expanduser().is_dir())

    def load_images(
        self, split: str, *, size: int | None = None, channels: int | None = None
    ) -> zdata.ImageSet:
        """The split at the model's image size; patch tasks crop photos and folders."""
        height, width, model_channels = self.image_shape()
        source, split = self.source(split)
        crops = {}
        if self.crops_whole_images(source):
            crops = {"crops_per_image": self.options.get("crops_per_image", 128)}
        return zdata.load(
            source,
            split=split,
            image_size=(size, size) if size else (height, width),
            channels=channels or model_channels,
            limit=self.limit,
            seed=self.config.seed,
            **crops,
        )


def first_samples(arrays: Arrays, count: int = SAMPLE_COLUMNS) -> Arrays:
    """The first ``count`` samples of each array (the columns of a sample grid)."""
    return {key: value[:count] for key, value in arrays.items()}
