"""VAE: a variational autoencoder with a transposed-convolution decoder.

Kingma & Welling 2013, "Auto-Encoding Variational Bayes". The encoder maps an image
to the mean and log-variance of a diagonal Gaussian q(z | x); a :class:`Sampling`
layer draws ``z = z_mean + exp(z_log_var / 2) * eps`` (the reparameterisation trick);
the decoder maps ``z`` back to Bernoulli means of the pixels.

The model is three functional models, so the generative half exports on its own:

- ``encoder`` (a nested model): image (B, H, W, C) in [0, 1] -> [z_mean, z_log_var],
  each (B, latent_dim); strided 4x4 convolutions -> Flatten -> two Dense heads;
- ``decoder`` (a nested model): ``z`` (B, latent_dim), prior N(0, I) -> image
  (B, H, W, C) in [0, 1]; Dense -> ReLU -> Reshape -> ``Conv2DTranspose`` k4 s2
  blocks -> sigmoid;
- the full model: ``image`` -> encoder -> Sampling -> decoder -> ``reconstruction``.

Sampling draws noise only when called with ``training=True``; at inference it returns
``z_mean``, so the full model is deterministic (and exports as such). Get the parts
with :func:`encoder_of` / :func:`decoder_of` (``model.get_layer("decoder")``).

The ELBO (recipe loss ``"elbo"``) needs ``z_mean`` and ``z_log_var``: the training
objective calls ``encoder_of(model)``, samples with the model's ``sampling`` layer and
decodes with ``decoder_of(model)``. Recipe options: ``latent_dim``,
``kl_warmup_epochs`` (the KL weight ramps linearly from 0 to 1 over those epochs, as
Bowman et al. 2016 do against posterior collapse; 0 is the paper's plain ELBO) and
``likelihood`` ("bernoulli": the paper's binary cross-entropy reconstruction term).

Deviation from the paper: convolutional encoder and decoder instead of one-hidden-layer
MLPs, at 32x32 instead of MNIST's 28x28 (so the size halves cleanly three times).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from zoo.layers import check_upsample
from zoo.models.cae import conv_encoder, dense_to_map, transpose_decoder
from zoo.registry import Recipe, TensorSpec, register
from zoo.tasks.objective import Arrays
from zoo.tasks.reconstruct import Reconstruct

PAPER = "Kingma & Welling 2013, Auto-Encoding Variational Bayes (arXiv:1312.6114)"


# === Layers ===


@keras.saving.register_keras_serializable(package="zoo")
class Sampling(keras.layers.Layer):
    """Reparameterisation: [z_mean, z_log_var] (B, D) each -> z (B, D).

    ``training`` truthy: ``z_mean + exp(z_log_var / 2) * eps`` with ``eps ~ N(0, I)``
    drawn from the layer's own seed generator. Otherwise: ``z_mean`` (deterministic).
    """

    def __init__(self, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs
        if not training:
            return z_mean
        eps = keras.random.normal(
            keras.ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator
        )
        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


# === Functional Model ===


def vae(
    *,
    image_size: int = 32,
    channels: int = 1,
    filters: Sequence[int] = (32, 64, 128),
    kernel_size: int = 4,
    batch_norm: bool = False,
    latent_dim: int = 16,
    upsample: str = "transpose",
    seed: int | None = None,
    name: str = "vae",
) -> keras.Model:
    """VAE: (B, S, S, channels) in [0, 1] -> reconstruction (B, S, S, channels) in [0, 1].

    ``S = image_size`` must be divisible by ``2**len(filters)``. ``seed`` seeds the
    Sampling layer's noise (used only in training).
    """
    check_upsample(upsample)
    depth = len(filters)
    if image_size % 2**depth:
        raise ValueError(f"image_size {image_size} is not divisible by 2**{depth}")
    side = image_size // 2**depth

    image = keras.Input((image_size, image_size, channels), name="image")
    x = conv_encoder(image, filters, kernel_size=kernel_size, batch_norm=batch_norm)
    x = keras.layers.Flatten(name="flatten")(x)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(image, [z_mean, z_log_var], name="encoder")

    z = keras.Input((latent_dim,), name="z")
    x = dense_to_map(z, (side, side, filters[-1]))
    x = transpose_decoder(x, filters[-2::-1], channels, upsample=upsample)
    decoder = keras.Model(z, x, name="decoder")

    inputs = keras.Input((image_size, image_size, channels), name="image")
    z_mean, z_log_var = encoder(inputs)
    z = Sampling(seed=seed, name="sampling")([z_mean, z_log_var])
    return keras.Model(inputs, decoder(z), name=name)


def encoder_of(model: keras.Model) -> keras.Model:
    """The nested encoder: image (B, H, W, C) in [0, 1] -> [z_mean, z_log_var]."""
    return model.get_layer("encoder")


def decoder_of(model: keras.Model) -> keras.Model:
    """The nested decoder, exportable alone: z (B, latent_dim) -> image in [0, 1]."""
    return model.get_layer("decoder")


def elbo_terms(model: keras.Model, images, *, training: bool = False):
    """Per-image (reconstruction NLL, KL) in nats for a batch of images in [0, 1].

    Bernoulli likelihood summed over pixels, one posterior sample, analytic KL to N(0, I).
    The ELBO is ``-(reconstruction + kl)``; training minimises ``reconstruction + w * kl``.
    """
    z_mean, z_log_var = encoder_of(model)(images, training=training)
    z = model.get_layer("sampling")([z_mean, z_log_var], training=True)
    return _terms(images, decoder_of(model)(z, training=training), z_mean, z_log_var)


def _terms(images, decoded, z_mean, z_log_var):
    """(reconstruction NLL, KL) per image from the decoded probabilities and the posterior."""
    p = keras.ops.clip(decoded, 1e-6, 1.0 - 1e-6)
    nll = -(images * keras.ops.log(p) + (1.0 - images) * keras.ops.log(1.0 - p))
    reconstruction = keras.ops.sum(nll, axis=[1, 2, 3])
    kl = -0.5 * keras.ops.sum(1.0 + z_log_var - z_mean**2 - keras.ops.exp(z_log_var), axis=-1)
    return reconstruction, kl


def elbo(model: keras.Model, images: np.ndarray, *, batch: int = 256) -> dict[str, float]:
    """The ELBO in nats per image (one posterior sample), with its two terms, for images
    (N, H, W, C) in [0, 1]: the same terms the training objective minimises."""
    reconstruction, kl = [], []
    for start in range(0, len(images), batch):
        r, k = elbo_terms(model, images[start : start + batch], training=False)
        reconstruction.append(np.asarray(r))
        kl.append(np.asarray(k))
    nll = float(np.mean(np.concatenate(reconstruction)))
    divergence = float(np.mean(np.concatenate(kl)))
    return {"elbo": -(nll + divergence), "reconstruction_nll": nll, "kl": divergence}


# === Objective ===


class Variational(Reconstruct):
    """The negative ELBO (Bernoulli likelihood) with a linear KL warm-up.

    A model given to :meth:`use` (a flat twin that ``convert.optimize`` fine-tunes) has no
    nested encoder and decoder: its posterior is read from the inputs of its ``sampling``
    layer, its decoded sample is its own output in training mode, and the KL term has its
    full weight (the fine-tune continues a trained model, past the warm-up). The pixel loss
    alone would let the twin drop the posterior's noise and gain reconstruction PSNR the
    VAE's objective does not ask for.
    """

    posterior = None  # a twin's image -> [z_mean, z_log_var]

    def use(self, model, optimizer, *, trains=None) -> None:
        super().use(model, optimizer, trains=trains)
        self.kl_weight = 1.0
        (sampling,) = [layer for layer in model.layers if layer.name.endswith("sampling")]
        self.posterior = type(model)(model.inputs, sampling.input)

    def build(self) -> None:
        super().build()
        self.kl_weight = keras.Variable(0.0, trainable=False, name="kl_weight")

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        warmup = self.options.get("kl_warmup_epochs", 0)
        self.kl_weight.assign(min(1.0, (epoch + 1) / warmup) if warmup else 1.0)

    def train_step(self, batch: dict) -> dict:
        import tensorflow as tf

        images = batch["image"]
        with tf.GradientTape() as tape:
            if self.posterior is None:
                reconstruction, kl = elbo_terms(self.model, images, training=True)
            else:
                z_mean, z_log_var = self.posterior(images, training=True)
                decoded = self.model(images, training=True)
                reconstruction, kl = _terms(images, decoded, z_mean, z_log_var)
            loss = self.average(reconstruction + self.kl_weight * kl)
        self.apply(tape, loss, self.model, self.optimizer)
        return {
            "loss": loss,
            "reconstruction": self.average(reconstruction),
            "kl": self.average(kl),
        }

    def validate(self, validation: Arrays) -> dict[str, float]:
        reconstruction, kl = elbo_terms(self.model, validation["image"], training=False)
        value = -float(np.mean(np.asarray(reconstruction) + np.asarray(kl)))
        return {"elbo": value, **super().validate(validation)}

    @classmethod
    def test_metrics(cls, model, images: np.ndarray) -> dict[str, float]:
        """The ELBO and its terms (:func:`elbo`) of a Keras VAE; none for a file, whose
        graph ends at the decoded posterior mean."""
        return elbo(model, images) if isinstance(model, keras.Model) else {}


def _register(
    *,
    num_params: int,
    dataset: str,
    epochs: int,
    kl_warmup_epochs: int,
    lr_schedule: str | None = None,
    **arguments,
):
    image_size = arguments["image_size"]
    shape = (image_size, image_size, arguments["channels"])
    return register(
        family="vae",
        family_builder=vae,
        arguments=arguments,
        objective=Variational,
        task="reconstruct",
        inputs=[TensorSpec("image", shape, description="image in [0, 1]")],
        output=TensorSpec("reconstruction", shape, description="decoded z_mean at inference"),
        num_params=num_params,
        paper=PAPER,
        dataset=dataset,
        recipe=Recipe(
            epochs=epochs,
            batch_size=128,
            learning_rate=1e-3,
            loss="elbo",
            options={
                "image_size": image_size,
                "latent_dim": arguments["latent_dim"],
                "kl_warmup_epochs": kl_warmup_epochs,
                "likelihood": "bernoulli",
                **({"lr_schedule": lr_schedule} if lr_schedule else {}),
            },
        ),
    )


# === Variants ===


@_register(
    num_params=429_409,
    dataset="digits",
    epochs=300,  # 11 steps an epoch on 1,437 digits: 3,300 steps to converge
    kl_warmup_epochs=10,
    lr_schedule="cosine",
    image_size=32,
    channels=1,
    filters=(32, 64, 128),
    latent_dim=16,
)
def vae_digits(**overrides) -> keras.Model:
    """32x32 gray digits, a 16-dimensional latent, conv (32, 64, 128) encoder/decoder."""


@_register(
    num_params=2_069,
    dataset="digits",
    epochs=1,
    kl_warmup_epochs=0,
    image_size=16,
    channels=1,
    filters=(4, 8),
    latent_dim=2,
)
def vae_tiny(**overrides) -> keras.Model:
    """16x16 gray, filters (4, 8), a 2-dimensional latent, for tests."""
