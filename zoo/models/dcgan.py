"""DCGAN: a deep convolutional GAN whose generator is a stack of transposed convolutions.

Radford, Metz, Chintala 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks". Generator: the latent ``z`` is
projected by one matrix multiplication and reshaped to a 4x4 map, then each block
doubles the resolution and halves the width (a k4 s2 transposed convolution ->
BatchNormalization -> ReLU); the last block maps to the image channels and ends in
tanh. Discriminator: the mirror image, strided k4 s2 convolutions -> BatchNormalization
-> LeakyReLU(0.2), no BatchNormalization on the first layer, no pooling, and one logit.
All weights start from N(0, 0.02), as in the paper; with ``checkerboard_free=True`` the
generator's transposed convolutions start as a nearest resize followed by an N(0, 0.02)
convolution (:class:`zoo.layers.NearestResizeConv`), so that they start without a
checkerboard.

Generator input: ``z`` (B, latent_dim), uniform in [-1, 1].
Generator output: (B, image_size, image_size, channels) in [-1, 1] (tanh).
Discriminator input: an image (B, image_size, image_size, channels) in [-1, 1];
output: (B, 1), one unbounded logit (the sigmoid lives in the loss).

``base_filters`` is the width of the projected 4x4 map, the widest layer. The paper's
Figure 1 widths are ``base_filters=1024``: 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128
-> 64x64x3 (12.7M parameters). dcgan_64 keeps that layout at a quarter of the width
(``base_filters=256``, 1.1M parameters, 1/16 of the MACs), so that its weights ship
inside the package and it runs at phone rates; ``--set base_filters=1024`` trains the
paper's size. dcgan_64 starts checkerboard-free and its recipe adds instance noise
(below). The discriminator's last 4x4 map is flattened into a Dense logit (the paper:
"flattened and then fed into a single sigmoid output").

Why dcgan_64 departs from the paper's start: on the embedded data (1,000 flat-coloured
scenes) its discriminator wins within 30 steps by reading the checkerboard that four
randomly initialised k4 s2 transposed convolutions stamp on every sample. The pattern
does not depend on ``z`` and survives BatchNormalization (it is not a per-channel mean),
so the generator collapses onto it (per-pixel spread across samples 0.02, against 0.14
for the data, after 200 steps). A checkerboard-free start plus instance noise on both of
the discriminator's inputs (Sønderby et al. 2016, arXiv:1610.04490: N(0, 0.2) decaying
linearly towards 0 over the run) keeps the spread at 0.24 after 200 steps. Alone, the
checkerboard-free start still collapses (0.03) and the noise recovers more slowly (0.12).

The building blocks (:func:`project`, :func:`up_bn_relu`, :func:`down_bn_lrelu`,
:func:`generator_stack`, :func:`discriminator_stack`) are public: the cgan and pix2pix
families reuse them.
"""

from __future__ import annotations

import math

import keras

from zoo.errors import ZooError
from zoo.layers import NearestResizeConv, activation_layer, up_block
from zoo.registry import Recipe, TensorSpec, register

PAPER = (
    "Radford, Metz, Chintala 2015, Unsupervised Representation Learning with Deep "
    "Convolutional Generative Adversarial Networks (arXiv:1511.06434)"
)
START_SIZE = 4  # spatial size of the projected latent


# === Layers ===


def gan_init() -> keras.initializers.Initializer:
    """The paper's N(0, 0.02); a fresh instance per layer (a shared one repeats its draws)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def up_init(mode: str, checkerboard_free: bool) -> keras.initializers.Initializer:
    """An up-block's kernel initializer: N(0, 0.02), or a nearest resize of it (transpose)."""
    if checkerboard_free and mode == "transpose":
        return NearestResizeConv(2, gan_init())
    return gan_init()


def project(x, filters: int, *, size: int = START_SIZE, name: str):
    """(B, D) -> (B, size, size, filters): Dense without bias -> reshape -> BN -> ReLU."""
    x = keras.layers.Dense(
        size * size * filters, use_bias=False, kernel_initializer=gan_init(), name=name
    )(x)
    x = keras.layers.Reshape((size, size, filters), name=f"{name}_reshape")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return activation_layer("relu", name=f"{name}_relu")(x)


def up_bn_relu(
    x,
    filters: int,
    *,
    mode: str,
    dropout: float = 0.0,
    checkerboard_free: bool = False,
    name: str,
):
    """(B, H, W, C) -> (B, 2H, 2W, filters): up_block (k4 s2) -> BN -> [Dropout] -> ReLU."""
    x = up_block(
        x,
        filters,
        scale=2,
        mode=mode,
        kernel_size=4,
        use_bias=False,
        kernel_initializer=up_init(mode, checkerboard_free),
        name=name,
    )
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return activation_layer("relu", name=f"{name}_relu")(x)


def down_bn_lrelu(x, filters: int, *, batch_norm: bool = True, name: str):
    """(B, H, W, C) -> (B, H/2, W/2, filters): Conv2D k4 s2 -> [BN] -> LeakyReLU(0.2)."""
    x = keras.layers.Conv2D(
        filters,
        4,
        strides=2,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=gan_init(),
        name=name,
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return activation_layer("leaky_relu", name=f"{name}_lrelu")(x)


def widths(image_size: int, base_filters: int) -> list[int]:
    """Widths from the 4x4 map to the last hidden map: base, base/2, ... (one per size)."""
    if image_size < 2 * START_SIZE or image_size & (image_size - 1):
        raise ZooError(f"image_size={image_size}; expected a power of 2, at least 8")
    blocks = int(math.log2(image_size // START_SIZE))
    if base_filters < 2 ** (blocks - 1):
        raise ZooError(f"base_filters={base_filters} cannot halve {blocks - 1} times")
    return [base_filters // 2**i for i in range(blocks)]


def generator_stack(
    x,
    *,
    image_size: int,
    channels: int,
    base_filters: int,
    upsample: str = "transpose",
    checkerboard_free: bool = False,
):
    """(B, 4, 4, base_filters) -> (B, image_size, image_size, channels) in [-1, 1]."""
    hidden = widths(image_size, base_filters)
    for i, filters in enumerate(hidden[1:]):
        x = up_bn_relu(
            x, filters, mode=upsample, checkerboard_free=checkerboard_free, name=f"up{i + 1}"
        )
    return up_to_image(
        x, channels, mode=upsample, checkerboard_free=checkerboard_free, name=f"up{len(hidden)}"
    )


def up_to_image(x, channels: int, *, mode: str, checkerboard_free: bool = False, name: str):
    """The last block: (B, H, W, C) -> (B, 2H, 2W, channels) in [-1, 1], up_block then tanh."""
    x = up_block(
        x,
        channels,
        scale=2,
        mode=mode,
        kernel_size=4,
        kernel_initializer=up_init(mode, checkerboard_free),
        name=name,
    )
    return activation_layer("tanh", name="tanh")(x)


def discriminator_stack(x, *, image_size: int, base_filters: int):
    """(B, image_size, image_size, C) -> (B, 1) logit: strided convs down to 4x4, Dense."""
    for i, filters in enumerate(reversed(widths(image_size, base_filters))):
        x = down_bn_lrelu(x, filters, batch_norm=i > 0, name=f"down{i + 1}")
    x = keras.layers.Flatten(name="flatten")(x)
    return keras.layers.Dense(1, kernel_initializer=gan_init(), name="logit")(x)


# === Functional Model ===


def dcgan_generator(
    *,
    image_size: int = 64,
    channels: int = 3,
    latent_dim: int = 100,
    base_filters: int = 1024,
    upsample: str = "transpose",
    checkerboard_free: bool = False,
    name: str = "dcgan",
) -> keras.Model:
    """z (B, latent_dim) in [-1, 1] -> (B, image_size, image_size, channels) in [-1, 1]."""
    z = keras.Input((latent_dim,), name="z")
    x = project(z, base_filters, name="project")
    outputs = generator_stack(
        x,
        image_size=image_size,
        channels=channels,
        base_filters=base_filters,
        upsample=upsample,
        checkerboard_free=checkerboard_free,
    )
    return keras.Model(z, outputs, name=name)


def dcgan_discriminator(
    *,
    image_size: int = 64,
    channels: int = 3,
    base_filters: int = 1024,
    latent_dim: int | None = None,
    upsample: str | None = None,
    checkerboard_free: bool | None = None,
    name: str = "dcgan_discriminator",
) -> keras.Model:
    """(B, image_size, image_size, channels) in [-1, 1] -> (B, 1) logit.

    ``latent_dim``, ``upsample`` and ``checkerboard_free`` are the generator's options,
    taken and ignored so that one set of overrides builds both networks.
    """
    del latent_dim, upsample, checkerboard_free
    image = keras.Input((image_size, image_size, channels), name="image")
    logit = discriminator_stack(image, image_size=image_size, base_filters=base_filters)
    return keras.Model(image, logit, name=name)


def latent_spec(latent_dim: int) -> TensorSpec:
    """The generator's ``z`` input: uniform noise in [-1, 1], as in the paper."""
    return TensorSpec("z", (latent_dim,), value_range=(-1.0, 1.0), description="uniform noise")


def _register(
    *,
    num_params: int,
    dataset: str,
    epochs: int,
    batch_size: int,
    instance_noise: float = 0.0,
    **arguments,
):
    """Register a variant; its ``arguments`` configure its discriminator too."""
    image_size, channels = arguments["image_size"], arguments["channels"]
    latent_dim = arguments.get("latent_dim", 100)
    return register(
        family="dcgan",
        family_builder=dcgan_generator,
        arguments=arguments,
        task="generate",
        inputs=[latent_spec(latent_dim)],
        output=TensorSpec("image", (image_size, image_size, channels), value_range=(-1.0, 1.0)),
        num_params=num_params,
        paper=PAPER,
        dataset=dataset,
        recipe=Recipe(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=2e-4,
            loss="gan_nonsaturating",
            options={
                "beta_1": 0.5,
                "latent_dim": latent_dim,
                "image_size": image_size,
                **({"instance_noise": instance_noise} if instance_noise else {}),
            },
        ),
        discriminator=dcgan_discriminator,
    )


# === Variants ===


@_register(
    num_params=1_067_777,
    dataset="digits",
    epochs=100,
    batch_size=64,
    image_size=32,
    channels=1,
    base_filters=256,
)
def dcgan_32(**overrides) -> keras.Model:
    """DCGAN 32x32 grayscale (4x4x256 -> 32x32x1), for the digits."""


@_register(
    num_params=1_101_187,
    dataset="shape_scenes",
    epochs=150,
    batch_size=64,
    instance_noise=0.2,
    image_size=64,
    channels=3,
    base_filters=256,
    checkerboard_free=True,
)
def dcgan_64(**overrides) -> keras.Model:
    """DCGAN 64x64 RGB, the paper's generator at a quarter width (4x4x256 -> 64x64x3)."""


@_register(
    num_params=4_321,
    dataset="digits",
    epochs=2,
    batch_size=64,
    instance_noise=0.1,
    image_size=16,
    channels=1,
    latent_dim=8,
    base_filters=16,
    checkerboard_free=True,
)
def dcgan_tiny(**overrides) -> keras.Model:
    """DCGAN 16x16 grayscale with 16 filters and dcgan_64's start and noise, for tests."""
