"""Adversarial objectives: DCGAN, class-conditional GAN and pix2pix.

All three use the non-saturating GAN loss on logits (Goodfellow et al. 2014):
discriminator ``softplus(-D(real)) + softplus(D(fake))``, generator ``softplus(-D(fake))``.
pix2pix adds ``l1_weight`` x L1 to the target (Isola et al. 2017). Images live in [-1, 1].

Recipe option ``instance_noise=S`` adds N(0, s) to every image the discriminator sees,
real and fake, with s falling linearly per epoch from S towards 0 (S / epochs in the
last epoch; Sønderby et al. 2016, arXiv:1610.04490): early on the discriminator cannot
win on details the generator has not learned yet, and by the end it sees nearly clean
images.
"""

from __future__ import annotations

import numpy as np

from zoo import data as zdata
from zoo.errors import ZooError
from zoo.models import create, get_discriminator
from zoo.train.objective import SAMPLE_COLUMNS, Arrays, Objective, first_samples


def _to_unit(images: np.ndarray) -> np.ndarray:
    return (np.asarray(images) + 1.0) / 2.0


class Adversarial(Objective):
    """DCGAN: latent z uniform in [-1, 1] -> image; one optimizer per network."""

    tasks = ("generate",)
    draws_latents = True  # the generator's first input is a latent z
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
        self.generator = create(self.info.name, **overrides)
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
        if self.draws_latents:
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
                _per_example(tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits))
            )
            adversarial = self.average(_per_example(tf.nn.softplus(-fake_logits)))
            g_loss = adversarial + self.extra_generator_loss(fake, batch)
        self.apply(d_tape, d_loss, self.discriminator, self.d_optimizer)
        self.apply(g_tape, g_loss, self.generator, self.g_optimizer)
        return {"d_loss": d_loss, "g_loss": g_loss}

    def fixed_latents(self, count: int):
        rng = np.random.default_rng(self.config.seed)
        return rng.uniform(-1.0, 1.0, (count, self.latent_dim)).astype(np.float32)

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        images = _to_unit(self.predict(self.fixed_latents(SAMPLE_COLUMNS * SAMPLE_COLUMNS)))
        return [list(images[i : i + SAMPLE_COLUMNS]) for i in range(0, len(images), SAMPLE_COLUMNS)]


def _per_example(values):
    import tensorflow as tf

    return tf.reduce_mean(tf.reshape(values, (tf.shape(values)[0], -1)), axis=1)


class Conditional(Adversarial):
    """cGAN: both networks see the one-hot class; samples show one row per class."""

    tasks = ("generate_conditional",)

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        if images.labels is None:
            raise ZooError(f"dataset {self.config.data} has no labels; {self.info.name} needs them")
        classes = self.config.model_overrides.get("num_classes", self.info.inputs[1].shape[0])
        if images.num_classes != classes:
            raise ZooError(
                f"dataset {self.config.data} has {images.num_classes} classes but "
                f"{self.info.name} takes {classes}; pass --set num_classes={images.num_classes}"
            )
        return {"image": images.images * 2.0 - 1.0, "label": images.one_hot()}

    def generator_inputs(self, z, batch: dict):
        return [z, batch["label"]]

    def discriminator_inputs(self, images, batch: dict):
        return [images, batch["label"]]

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        classes = self.generator.inputs[1].shape[-1]
        z = np.tile(self.fixed_latents(SAMPLE_COLUMNS), (classes, 1))
        labels = np.repeat(np.eye(classes, dtype=np.float32), SAMPLE_COLUMNS, axis=0)
        images = _to_unit(self.predict([z, labels]))
        return [list(images[i : i + SAMPLE_COLUMNS]) for i in range(0, len(images), SAMPLE_COLUMNS)]


class Translate(Adversarial):
    """pix2pix: conditional PatchGAN on (source, target) plus ``l1_weight`` x L1."""

    tasks = ("translate",)
    draws_latents = False  # the generator's input is the source image

    def arrays(self, split: str) -> Arrays:
        arrays = Objective.arrays(self, split)
        if split == "test":
            arrays = first_samples(arrays, SAMPLE_COLUMNS)
        return arrays

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        if images.masks is None:
            raise ZooError(
                f"dataset {self.config.data} has no masks to translate from; "
                f"{self.info.name} trains on 'shape_scenes', 'shapes' or an images/ + masks/ folder"
            )
        source, target = zdata.translation_pairs(images)
        return {"source": source * 2.0 - 1.0, "target": target * 2.0 - 1.0}

    def real(self, batch: dict):
        return batch["target"]

    def generator_inputs(self, z, batch: dict):
        return batch["source"]

    def discriminator_inputs(self, images, batch: dict):
        return [batch["source"], images]

    def extra_generator_loss(self, fake, batch: dict):
        import tensorflow as tf

        l1 = _per_example(tf.abs(fake - batch["target"]))
        return self.options.get("l1_weight", 100.0) * self.average(l1)

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        fake = self.predict(first["source"])
        return [list(_to_unit(images)) for images in (first["source"], fake, first["target"])]


OBJECTIVES = (Adversarial, Conditional, Translate)
