"""Generation: a latent z (and, conditional, a one-hot class) in, an image out.

Training (:class:`Adversarial`, shared by every adversarial task): the non-saturating GAN
loss on logits (Goodfellow et al. 2014): discriminator ``softplus(-D(real)) +
softplus(D(fake))``, generator ``softplus(-D(fake))``. Images live in [-1, 1]. Recipe
option ``instance_noise=S`` adds N(0, s) to every image the discriminator sees, real and
fake, with s falling linearly per epoch from S towards 0 (S / epochs in the last epoch;
Sønderby et al. 2016, arXiv:1610.04490): early on the discriminator cannot win on details
the generator has not learned yet, and by the end it sees nearly clean images.

``zoo eval``: the Frechet distance between generated samples and the real test images in
the feature space of the shipped digit classifier (:mod:`zoo.classifier`), beside the floor
``frechet_distance_train_vs_test`` (real train vs real test images: what a perfect generator
reaches). As many samples are generated as there are train images, so the two distances
have the same sample sizes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import classifier, metrics
from zoo import data as zdata
from zoo.errors import ZooError
from zoo.inference import run_batches, to_unit
from zoo.registry import get_discriminator
from zoo.tasks.base import Task, image_shape
from zoo.tasks.objective import SAMPLE_COLUMNS, Arrays, Objective

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel


def signed_to_unit(images: np.ndarray) -> np.ndarray:
    """Images in [-1, 1] (the adversarial objectives') mapped to [0, 1]."""
    return (np.asarray(images) + 1.0) / 2.0


class Adversarial(Objective):
    """DCGAN: latent z uniform in [-1, 1] -> image; one optimizer per network."""

    # Set by build() from the recipe. Fine-tuning a trained generator (convert.optimize's
    # QAT) attaches the networks itself and continues where the schedule ends: no noise.
    instance_noise: float = 0.0

    def arrays(self, split: str) -> Arrays:
        return super().arrays(split) if split == "train" else {}

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        return {"image": images.images * 2.0 - 1.0}

    def build(self) -> None:
        import keras

        overrides = self.config.model_overrides
        self.generator = self.create_model()
        self.discriminator = get_discriminator(self.info.name, **overrides)
        self.model = self.generator
        beta_1 = self.options.get("beta_1", 0.5)
        self.g_optimizer = keras.optimizers.Adam(self.config.learning_rate, beta_1=beta_1)
        self.d_optimizer = keras.optimizers.Adam(self.config.learning_rate, beta_1=beta_1)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        value = self.options.get("instance_noise", 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ZooError(f"instance_noise must be a number >= 0, got {value!r}")
        self.instance_noise = float(value)
        self.noise_std = keras.Variable(0.0, trainable=False, name="instance_noise")

    def use(self, model, optimizer, *, trains=None) -> None:
        """The generator and its optimizer made elsewhere; attach ``discriminator`` and
        ``d_optimizer`` too before training."""
        super().use(model, optimizer, trains=trains)
        self.generator, self.g_optimizer = model, optimizer

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        self.noise_std.assign(self.instance_noise * (1.0 - epoch / self.config.epochs))

    def noisy(self, images, noise):
        """``images`` plus ``noise_std`` x ``noise`` (N(0, 1) draws of the pipeline)."""
        return images + self.noise_std * noise if noise is not None else images

    def degrade(self, example: dict, seed) -> dict:
        """The example's random draws, made in the pipeline so a resumed run repeats them:
        the latent ``z`` (uniform in [-1, 1]) and, with ``instance_noise``, N(0, 1) noise
        for the real and the fake image."""
        import tensorflow as tf

        latent, real, fake = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        draws = {}
        if self.info.generates:  # pix2pix's generator takes the source image instead
            size = self.config.model_overrides.get("latent_dim", self.info.inputs[0].shape[-1])
            draws["z"] = tf.random.stateless_uniform((size,), latent, -1.0, 1.0)
        if self.instance_noise:
            shape = tf.shape(self.real(example))
            draws["noise_real"] = tf.random.stateless_normal(shape, real)
            draws["noise_fake"] = tf.random.stateless_normal(shape, fake)
        return {**example, **draws}

    def optimizers(self) -> list:
        return [self.g_optimizer, self.d_optimizer]

    def trackables(self) -> dict:
        return {
            "model": self.generator,
            "discriminator": self.discriminator,
            "optimizer": self.g_optimizer,
            "d_optimizer": self.d_optimizer,
        }

    @property
    def latent_dim(self) -> int:
        return self.generator.inputs[0].shape[-1]

    def generator_inputs(self, z, batch: dict):
        return z

    def discriminator_inputs(self, images, batch: dict):
        return images

    def real(self, batch: dict):
        return batch["image"]

    def extra_generator_loss(self, fake, batch: dict):
        return 0.0

    def train_step(self, batch: dict) -> dict:
        import tensorflow as tf

        real = self.real(batch)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(self.generator_inputs(batch.get("z"), batch), training=True)
            noisy_real = self.noisy(real, batch.get("noise_real"))
            noisy_fake = self.noisy(fake, batch.get("noise_fake"))
            real_logits = self.discriminator(
                self.discriminator_inputs(noisy_real, batch), training=True
            )
            fake_logits = self.discriminator(
                self.discriminator_inputs(noisy_fake, batch), training=True
            )
            d_loss = self.average(
                per_example_mean(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
            )
            adversarial = self.average(per_example_mean(tf.nn.softplus(-fake_logits)))
            g_loss = adversarial + self.extra_generator_loss(fake, batch)
        self.apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
        self.apply(g_tape, g_loss, self.generator, self.g_optimizer)
        return {"d_loss": d_loss, "g_loss": g_loss}

    def fixed_latents(self, count: int):
        rng = np.random.default_rng(self.config.seed)
        return rng.uniform(-1.0, 1.0, (count, self.latent_dim)).astype(np.float32)

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        images = signed_to_unit(self.predict(self.fixed_latents(SAMPLE_COLUMNS * SAMPLE_COLUMNS)))
        return image_rows(images)


def per_example_mean(values):
    """The mean of each example's values: (N, ...) -> (N,)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.reshape(values, (tf.shape(values)[0], -1)), axis=1)


# === zoo eval and zoo sample ===


def latents(info: ModelInfo, model: keras.Model, count: int, seed: int) -> np.ndarray:
    """``count`` latent vectors drawn uniformly from the declared range of input ``z``."""
    low, high = info.inputs[0].value_range
    dim = int(model.inputs[0].shape[-1])
    return np.random.default_rng(seed).uniform(low, high, (count, dim)).astype(np.float32)


def generate(
    model: keras.Model,
    info: ModelInfo,
    count: int,
    *,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` generated images (N, H, W, C) in [0, 1]; a conditional model (a second,
    one-hot input) draws ``labels`` (N,), by default the classes in turn."""
    z = latents(info, model, count, seed)
    if len(model.inputs) > 1:
        classes = int(model.inputs[1].shape[-1])
        if labels is None:
            labels = np.arange(count) % classes
        one_hot = np.eye(classes, dtype=np.float32)[np.asarray(labels)]
        return to_unit(run_batches(model, [z, one_hot]), info.output_range)
    return to_unit(run_batches(model, z), info.output_range)


def evaluate(
    run: TrainedModel, source: str, limit: int | None, seed: int, *, labels_of=None
) -> tuple[int, dict[str, float], dict[str, Any]]:
    """Frechet distances of generated and of real train images to the real test images.

    ``labels_of(train)``: the classes to generate, for a conditional model.
    """
    height, width, channels = image_shape(run)
    load = {"image_size": (height, width), "channels": channels, "seed": seed}
    test = zdata.load(source, split="test", limit=limit, **load)
    train = zdata.load(source, split="train", **load)
    labels = labels_of(train) if labels_of else None
    fake = generate(run.model, run.info, len(train), seed=seed, labels=labels)
    model = classifier.load_classifier()
    test_features = classifier.features(test.images, model=model)
    values = {
        "frechet_distance": metrics.frechet_distance(
            classifier.features(fake, model=model), test_features
        ),
        "frechet_distance_train_vs_test": metrics.frechet_distance(
            classifier.features(train.images, model=model), test_features
        ),
    }
    details: dict[str, Any] = {
        "features": "digit classifier, penultimate layer (64)",
        "generated": len(fake),
        "train_images": len(train),
    }
    return len(test), values, details


def image_rows(images: np.ndarray, columns: int = SAMPLE_COLUMNS) -> list[list[np.ndarray]]:
    """Images in rows of ``columns``."""
    return [list(images[i : i + columns]) for i in range(0, len(images), columns)]


TASK = Task(
    name="generate",
    metric="frechet_distance",
    higher_is_better=False,
    objective=Adversarial,
    evaluate=evaluate,
)
