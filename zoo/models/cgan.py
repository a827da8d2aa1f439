"""cGAN: a class-conditional DCGAN.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets": both networks see the
class ``y`` beside their usual input. The paper's networks are MLPs; here the
generator and discriminator are DCGAN's (Radford et al. 2015, see
:mod:`zoo.models.dcgan`, whose blocks this file reuses).

Generator: ``z`` and the one-hot ``label`` are concatenated and projected together to
the 4x4 map (one matrix multiplication on [z, y] is the sum of the paper's separate
maps of z and y), then DCGAN's k4 s2 transposed-convolution stack -> tanh.
Discriminator: the label is projected by a Dense layer to one image-sized feature map
and concatenated to the image as an extra channel, then DCGAN's strided-convolution
stack to one logit.

Generator inputs: ``z`` (B, latent_dim) uniform in [-1, 1]; ``label`` (B, num_classes)
one-hot in [0, 1] (a Dense on a one-hot vector rather than an Embedding: phone
delegates handle FULLY_CONNECTED better than GATHER).
Generator output: (B, image_size, image_size, channels) in [-1, 1] (tanh).
Discriminator inputs: ``image`` (B, image_size, image_size, channels) in [-1, 1] and
``label``; output: (B, 1), one unbounded logit.
"""

from __future__ import annotations

import keras

from zoo.models.dcgan import (
    discriminator_stack,
    gan_init,
    generator_stack,
    latent_spec,
    project,
)
from zoo.registry import Recipe, TensorSpec, register

PAPER = "Mirza & Osindero 2014, Conditional Generative Adversarial Nets (arXiv:1411.1784)"


# === Layers ===


def label_map(label, image_size: int, *, name: str):
    """One-hot (B, num_classes) -> a learned (B, image_size, image_size, 1) map."""
    x = keras.layers.Dense(image_size * image_size, kernel_initializer=gan_init(), name=name)(label)
    return keras.layers.Reshape((image_size, image_size, 1), name=f"{name}_reshape")(x)


# === Functional Model ===


def cgan_generator(
    *,
    image_size: int = 32,
    channels: int = 1,
    num_classes: int = 10,
    latent_dim: int = 100,
    base_filters: int = 256,
    upsample: str = "transpose",
    name: str = "cgan",
) -> keras.Model:
    """[z (B, latent_dim) in [-1, 1], label (B, num_classes) one-hot] -> (B, S, S, C) in [-1, 1]."""
    z = keras.Input((latent_dim,), name="z")
    label = keras.Input((num_classes,), name="label")
    x = keras.layers.Concatenate(name="z_label")([z, label])
    x = project(x, base_filters, name="project")
    outputs = generator_stack(
        x, image_size=image_size, channels=channels, base_filters=base_filters, upsample=upsample
    )
    return keras.Model([z, label], outputs, name=name)


def cgan_discriminator(
    *,
    image_size: int = 32,
    channels: int = 1,
    num_classes: int = 10,
    base_filters: int = 256,
    latent_dim: int | None = None,
    upsample: str | None = None,
    name: str = "cgan_discriminator",
) -> keras.Model:
    """[image (B, S, S, C) in [-1, 1], label (B, num_classes) one-hot] -> (B, 1) logit.

    ``latent_dim`` and ``upsample`` are the generator's options, taken and ignored.
    """
    del latent_dim, upsample
    image = keras.Input((image_size, image_size, channels), name="image")
    label = keras.Input((num_classes,), name="label")
    x = keras.layers.Concatenate(name="image_label")(
        [image, label_map(label, image_size, name="label_map")]
    )
    logit = discriminator_stack(x, image_size=image_size, base_filters=base_filters)
    return keras.Model([image, label], logit, name=name)


def _register(*, num_params: int, epochs: int, batch_size: int, **arguments):
    """Register a variant; its ``arguments`` configure its discriminator too."""
    image_size, channels = arguments["image_size"], arguments["channels"]
    latent_dim = arguments.get("latent_dim", 100)
    num_classes = arguments["num_classes"]
    return register(
        family="cgan",
        family_builder=cgan_generator,
        arguments=arguments,
        task="generate_conditional",
        inputs=[
            latent_spec(latent_dim),
            TensorSpec("label", (num_classes,), description="one-hot class"),
        ],
        output=TensorSpec("image", (image_size, image_size, channels), value_range=(-1.0, 1.0)),
        num_params=num_params,
        paper=PAPER,
        dataset="digits",
        recipe=Recipe(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=2e-4,
            loss="cgan_nonsaturating",
            options={
                "beta_1": 0.5,
                "latent_dim": latent_dim,
                "image_size": image_size,
                "num_classes": num_classes,
            },
        ),
        discriminator=cgan_discriminator,
    )


# === Variants ===


@_register(
    num_params=1_108_737,
    epochs=100,
    batch_size=64,
    image_size=32,
    channels=1,
    num_classes=10,
    base_filters=256,
)
def cgan_32(**overrides) -> keras.Model:
    """Class-conditional DCGAN 32x32 grayscale, 10 classes (digits)."""


@_register(
    num_params=6_881,
    epochs=2,
    batch_size=64,
    image_size=16,
    channels=1,
    num_classes=10,
    latent_dim=8,
    base_filters=16,
)
def cgan_tiny(**overrides) -> keras.Model:
    """Class-conditional DCGAN 16x16 grayscale with 16 filters, for tests."""
