"""CAE: a convolutional autoencoder with a transposed-convolution decoder.

The classic encoder-decoder (as in Masci et al. 2011, "Stacked Convolutional
Auto-Encoders"): strided 4x4 convolutions halve the image ``len(filters)`` times
down to a small code, and as many stride-2 up-blocks (``Conv2DTranspose`` k4 s2 by
default) bring it back to the image. The decoder is the encoder's mirror: a
transposed convolution maps a convolution's output space back to its input space.

Input ``image``: (B, H, W, channels) in [0, 1].
Output ``reconstruction``: (B, H, W, channels) in [0, 1] (sigmoid).

The code (bottleneck) is one of:

- ``code_dim``: a Dense code of ``code_dim`` numbers (needs a fixed ``image_size``);
- ``code_channels``: a spatial code, a linear 1x1 convolution to ``code_channels`` maps
  at (H / 2**depth, W / 2**depth);
- neither: the last encoder feature map is the code.

With a spatial code or none, the network has no Dense layer and no skip connection,
so ``image_size=None`` builds it fully convolutional: it then runs at any H and W
divisible by ``2**len(filters)`` (the denoising autoencoder, :mod:`zoo.models.dae`,
uses it so). The builder's pieces (:func:`conv_encoder`, :func:`dense_to_map`,
:func:`transpose_decoder`) are reused by the DAE and the VAE.

Deviations: Masci et al. downsample with max-pooling and tie the decoder's weights to
the encoder's; here strided convolutions go down and untied transposed convolutions
(k4 s2, kernel divisible by the stride) come up, the form phone delegates run well.
``batch_norm=True`` puts BatchNormalization in the encoder only; the decoder's
up-blocks are followed by a plain ReLU, because Conv2DTranspose -> BN -> ReLU converts
to a fused TRANSPOSE_CONV v4 that phone GPU delegates refuse (DESIGN.md 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.layers import activation_layer, check_upsample, conv_bn_act, up_block
from zoo.registry import Recipe, TensorSpec, register

PAPER = (
    "Masci, Meier, Ciresan, Schmidhuber 2011, Stacked Convolutional Auto-Encoders "
    "for Hierarchical Feature Extraction (ICANN)"
)


# === Layers ===


def conv_encoder(
    x,
    filters: Sequence[int],
    *,
    kernel_size: int = 4,
    batch_norm: bool = False,
    name: str = "down",
):
    """Strided convolutions: (B, H, W, C) -> (B, H / 2**n, W / 2**n, filters[-1]).

    One Conv2D (stride 2, "same") -> optional BN -> ReLU per entry of ``filters``.
    """
    for i, width in enumerate(filters):
        x = conv_bn_act(
            x,
            width,
            kernel_size=kernel_size,
            strides=2,
            batch_norm=batch_norm,
            name=f"{name}{i + 1}",
        )
    return x


def dense_to_map(x, shape: tuple[int, int, int], *, name: str = "expand"):
    """A vector (B, D) -> feature map (B, *shape): Dense -> ReLU -> Reshape."""
    height, width, depth = shape
    x = keras.layers.Dense(height * width * depth, name=name)(x)
    x = activation_layer("relu", name=f"{name}_relu")(x)
    return keras.layers.Reshape(shape, name=f"{name}_reshape")(x)


def transpose_decoder(
    x,
    filters: Sequence[int],
    channels: int,
    *,
    upsample: str = "transpose",
    output_name: str = "reconstruction",
    name: str = "up",
):
    """Stride-2 up-blocks: (B, h, w, C) -> (B, h * 2**n, w * 2**n, channels) in [0, 1].

    ``n = len(filters) + 1``: one up-block -> ReLU per entry of ``filters``, then a
    last up-block to ``channels`` and a separate sigmoid layer named ``output_name``.
    """
    for i, width in enumerate(filters):
        x = up_block(x, width, mode=upsample, name=f"{name}{i + 1}")
        x = activation_layer("relu", name=f"{name}{i + 1}_relu")(x)
    x = up_block(x, channels, mode=upsample, name=f"{name}_out")
    return activation_layer("sigmoid", name=output_name)(x)


# === Functional Model ===


def cae(
    *,
    image_size: int | None = 32,
    channels: int = 1,
    filters: Sequence[int] = (32, 64, 128),
    kernel_size: int = 4,
    batch_norm: bool = False,
    code_channels: int | None = None,
    code_dim: int | None = None,
    upsample: str = "transpose",
    input_name: str = "image",
    output_name: str = "reconstruction",
    name: str = "cae",
) -> keras.Model:
    """Conv autoencoder: (B, H, W, channels) in [0, 1] -> same shape in [0, 1].

    ``image_size=None`` gives a fully convolutional model (H and W divisible by
    ``2**len(filters)``); ``code_dim`` (a Dense code) needs a fixed ``image_size``.
    """
    check_upsample(upsample)
    depth = len(filters)
    if code_dim is not None and code_channels is not None:
        raise ValueError("give code_dim (Dense code) or code_channels (spatial code), not both")
    if image_size is None and code_dim is not None:
        raise ValueError("a Dense code (code_dim) needs a fixed image_size")
    if image_size is not None and image_size % 2**depth:
        raise ValueError(f"image_size {image_size} is not divisible by 2**{depth}")

    inputs = keras.Input((image_size, image_size, channels), name=input_name)
    x = conv_encoder(inputs, filters, kernel_size=kernel_size, batch_norm=batch_norm)
    if code_dim is not None:
        side = image_size // 2**depth
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(code_dim, name="code")(x)
        x = dense_to_map(x, (side, side, filters[-1]))
    elif code_channels is not None:
        x = keras.layers.Conv2D(code_channels, 1, name="code")(x)
    outputs = transpose_decoder(
        x, filters[-2::-1], channels, upsample=upsample, output_name=output_name
    )
    return keras.Model(inputs, outputs, name=name)


def _register(
    *,
    num_params: int,
    dataset: str,
    epochs: int,
    batch_size: int,
    lr_schedule: str | None = None,
    **arguments,
):
    image_size = arguments["image_size"]
    shape = (image_size, image_size, arguments["channels"])
    options = {"image_size": image_size, **({"lr_schedule": lr_schedule} if lr_schedule else {})}
    return register(
        family="cae",
        family_builder=cae,
        arguments=arguments,
        task="reconstruct",
        inputs=[TensorSpec("image", shape, description="image in [0, 1]")],
        output=TensorSpec("reconstruction", shape, description="reconstructed image"),
        num_params=num_params,
        paper=PAPER,
        dataset=dataset,
        recipe=Recipe(
            epochs=epochs, batch_size=batch_size, learning_rate=1e-3, loss="mse", options=options
        ),
    )


# === Variants ===


@_register(
    num_params=396_625,
    dataset="digits",
    # 1,437 training digits: 11 steps an epoch, so 300 epochs (3,300 steps, the learning
    # rate decayed to zero) for the model to converge
    epochs=300,
    batch_size=128,
    lr_schedule="cosine",
    image_size=32,
    channels=1,
    filters=(32, 64, 128),
    code_dim=16,
)
def cae_digits(**overrides) -> keras.Model:
    """32x32 gray digits through a 16-number Dense code (the VAE's latent size)."""


@_register(
    num_params=218_451,
    dataset="photos",
    # 50 epochs (800 steps) stopped with the loss still falling: 26.57 dB on the photos,
    # and its own 1,000-step QAT fine-tune beat it by 0.81. The shipped weights had 400
    # epochs more, then 600 at a learning rate of 3e-4 (31.24 dB; the manifest's command).
    epochs=1050,
    batch_size=32,
    image_size=64,
    channels=3,
    filters=(32, 64, 128),
    code_channels=16,
)
def cae_photos(**overrides) -> keras.Model:
    """64x64 RGB photo crops through an 8x8x16 spatial code (12x fewer numbers)."""


@_register(
    num_params=949,
    dataset="digits",
    epochs=1,
    batch_size=32,
    image_size=16,
    channels=1,
    filters=(4, 8),
    code_channels=4,
)
def cae_tiny(**overrides) -> keras.Model:
    """16x16 gray, filters (4, 8), a 4x4x4 spatial code, for tests."""
