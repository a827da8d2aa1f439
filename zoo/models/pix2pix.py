"""pix2pix: image-to-image translation with a U-Net generator and a PatchGAN discriminator.

Isola, Zhu, Zhou, Efros 2017, "Image-to-Image Translation with Conditional Adversarial
Networks". Generator (the paper's U-Net, appendix 6.1): an encoder of k4 s2
convolutions -> BatchNormalization -> LeakyReLU(0.2) (no BatchNormalization on the
first) down to 1x1, so ``log2(image_size)`` levels with widths ``base_filters * 2**i``
capped at ``max_filters`` (the paper's C64-C128-C256-C512-C512-C512-C512-C512 at 256x256
is ``base_filters=64, max_filters=512``); a decoder
of k4 s2 up-blocks -> BatchNormalization -> Dropout(0.5) on the first three ->
ReLU, each concatenated with the encoder map of the same size; a last up-block to the
output channels and tanh. Discriminator: the 70x70 PatchGAN, C64-C128-C256-C512 then a
convolution to one logit per patch, on the source and target concatenated.

Generator input: ``source`` (B, S, S, in_channels) in [-1, 1] (S = image_size, a power
of 2; the depth of the U-Net is tied to it). Output: (B, S, S, channels) in [-1, 1].
Discriminator inputs: ``source`` and ``target`` (an image in [-1, 1], real or
generated); output: (B, P, P, 1) unbounded logits, one per overlapping 70x70 patch
(P = 30 at 256x256: the stride-1 layers pad by 1 as in the paper's code).

The registered variants keep the paper's layout at a quarter of its width
(``base_filters=16, max_filters=128``: 1/16 of the parameters and MACs, 3.4M instead of
54.4M at 256x256), so that their weights ship inside the package and run on phone
delegates; ``--set base_filters=64 --set max_filters=512`` trains the paper's size.

They train on ``shape_scenes``: colour-coded shape masks -> scenes rendered from the mask
alone (fixed colours, bevel, drop shadow). On ``shapes`` the object colours and textures
are random given the mask, so the L1 term pulls the output to the grey mean and the
discriminator wins within two epochs; with one right answer, L1 and PSNR measure the model.
pix2pix_256 keeps the paper's batch of 1 but takes 10 epochs of the 1000 scenes (10,000
steps; the paper's 200 epochs of 400 facades are 80,000): ``--epochs 200`` runs the
paper's schedule.

The shipped weights add two short stages to that recipe: ``zoo train --init`` from the
generator at a tenth of the rate (2e-5) for about 1,000 steps, twice; ``--init`` brings the
generator only, so each stage starts a new discriminator, and while it learns the L1 term
leads. PSNR on shape_scenes: pix2pix_64 27.89 -> 31.06 dB, pix2pix_128 32.62 -> 35.27,
pix2pix_256 31.82 -> 33.11. A longer stage gives less (pix2pix_64, 2,000 steps after the
second: 30.16; a third 1,000-step stage of pix2pix_256: 33.09): the discriminator catches
up. The int8 QAT fine-tune (1,000 steps, also with a new discriminator) no longer beats
the weights of pix2pix_64 and pix2pix_128; it beats pix2pix_256's by 1.5 dB (34.59), which
trains at batch 1: its BatchNormalization layers normalise each training image by its own
statistics but evaluate with the moving averages, and the QAT twin folds them. A third
stage with the averages fixed (``--option freeze_batch_norm=true``, 1,000 steps) reaches
35.23 dB in float, but its post-training int8 file loses 4.0 dB (against 0.17): not shipped.

Kept from the paper although it looks odd: BatchNormalization on the 1x1 bottleneck
(with batch 1 in training it normalises a single value; the authors' later code drops
it). The paper also keeps dropout and batch statistics at test time as its only noise
source: call the generator with ``training=True`` to get that; ``training=False`` (the
default and the exported graph) is deterministic.
"""

from __future__ import annotations

import math

import keras

from zoo.errors import ZooError
from zoo.layers import activation_layer
from zoo.models.dcgan import down_bn_lrelu, gan_init, up_bn_relu, up_to_image
from zoo.registry import Recipe, TensorSpec, register

PAPER = (
    "Isola, Zhu, Zhou, Efros 2017, Image-to-Image Translation with Conditional "
    "Adversarial Networks (arXiv:1611.07004)"
)
DROPOUT_BLOCKS = 3  # decoder blocks with dropout, nearest the bottleneck


# === Layers ===


def encoder_widths(image_size: int, base_filters: int, max_filters: int) -> list[int]:
    """Encoder widths, one per level down to 1x1: base * 2**i capped at max_filters."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ZooError(f"image_size={image_size}; expected a power of 2, at least 8")
    levels = int(math.log2(image_size))
    return [min(base_filters * 2**i, max_filters) for i in range(levels)]


# === Functional Model ===


def pix2pix_generator(
    *,
    image_size: int = 256,
    in_channels: int = 3,
    channels: int = 3,
    base_filters: int = 64,
    max_filters: int = 512,
    dropout: float = 0.5,
    upsample: str = "transpose",
    name: str = "pix2pix",
) -> keras.Model:
    """U-Net: (B, S, S, in_channels) in [-1, 1] -> (B, S, S, channels) in [-1, 1]."""
    source = keras.Input((image_size, image_size, in_channels), name="source")
    filters = encoder_widths(image_size, base_filters, max_filters)
    skips = []
    x = source
    for i, width in enumerate(filters):
        x = down_bn_lrelu(x, width, batch_norm=i > 0, name=f"down{i + 1}")
        skips.append(x)
    for j, level in enumerate(reversed(range(len(filters) - 1))):
        rate = dropout if j < DROPOUT_BLOCKS else 0.0
        x = up_bn_relu(x, filters[level], mode=upsample, dropout=rate, name=f"up{j + 1}")
        x = keras.layers.Concatenate(name=f"skip{j + 1}")([x, skips[level]])
    outputs = up_to_image(x, channels, mode=upsample, name=f"up{len(filters)}")
    return keras.Model(source, outputs, name=name)


def patchgan_discriminator(
    *,
    image_size: int = 256,
    in_channels: int = 3,
    channels: int = 3,
    base_filters: int = 64,
    max_filters: int = 512,
    strided_layers: int = 3,
    dropout: float | None = None,
    upsample: str | None = None,
    name: str = "pix2pix_discriminator",
) -> keras.Model:
    """[source (B, S, S, in_channels), target (B, S, S, channels)] -> (B, P, P, 1) logits.

    ``strided_layers`` k4 s2 convolutions, one k4 s1, then a k4 s1 to one logit per
    patch; 3 gives the paper's 70x70 receptive field. ``dropout`` and ``upsample`` are
    the generator's options, taken and ignored.
    """
    del dropout, upsample
    source = keras.Input((image_size, image_size, in_channels), name="source")
    target = keras.Input((image_size, image_size, channels), name="target")
    x = keras.layers.Concatenate(name="pair")([source, target])
    for i in range(strided_layers):
        width = min(base_filters * 2**i, max_filters)
        x = down_bn_lrelu(x, width, batch_norm=i > 0, name=f"down{i + 1}")
    width = min(base_filters * 2**strided_layers, max_filters)
    x = keras.layers.ZeroPadding2D(1, name="pad1")(x)
    x = keras.layers.Conv2D(width, 4, use_bias=False, kernel_initializer=gan_init(), name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = activation_layer("leaky_relu", name="conv_lrelu")(x)
    x = keras.layers.ZeroPadding2D(1, name="pad2")(x)
    logits = keras.layers.Conv2D(1, 4, kernel_initializer=gan_init(), name="logits")(x)
    return keras.Model([source, target], logits, name=name)


def _register(*, num_params: int, epochs: int, batch_size: int, **arguments):
    """Register a variant; its ``arguments`` configure its discriminator too."""
    image_size = arguments["image_size"]
    shape = (image_size, image_size, 3)
    return register(
        family="pix2pix",
        family_builder=pix2pix_generator,
        arguments=arguments,
        task="translate",
        inputs=[TensorSpec("source", shape, value_range=(-1.0, 1.0), description="shape mask")],
        output=TensorSpec("image", shape, value_range=(-1.0, 1.0)),
        num_params=num_params,
        paper=PAPER,
        dataset="shape_scenes",
        recipe=Recipe(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=2e-4,
            loss="pix2pix",
            options={"beta_1": 0.5, "l1_weight": 100.0, "image_size": image_size},
        ),
        discriminator=patchgan_discriminator,
    )


# === Variants ===

QUARTER_WIDTH = {"base_filters": 16, "max_filters": 128}


@_register(num_params=1_832_531, epochs=50, batch_size=16, image_size=64, **QUARTER_WIDTH)
def pix2pix_64(**overrides) -> keras.Model:
    """pix2pix U-Net 64x64 (6 levels to 1x1, 16..128 filters)."""


@_register(num_params=2_619_987, epochs=50, batch_size=4, image_size=128, **QUARTER_WIDTH)
def pix2pix_128(**overrides) -> keras.Model:
    """pix2pix U-Net 128x128 (7 levels to 1x1, 16..128 filters)."""


@_register(num_params=3_407_443, epochs=10, batch_size=1, image_size=256, **QUARTER_WIDTH)
def pix2pix_256(**overrides) -> keras.Model:
    """pix2pix U-Net 256x256, the paper's generator at a quarter width (8 levels to 1x1)."""


@_register(num_params=7_533, epochs=2, batch_size=4, image_size=32, base_filters=2, max_filters=8)
def pix2pix_tiny(**overrides) -> keras.Model:
    """pix2pix U-Net 32x32 with 2..8 filters, for tests."""
