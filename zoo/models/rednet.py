"""RED-Net: a residual encoder-decoder of convolutions and transposed convolutions with
symmetric skip connections, for image restoration (here: denoising).

Mao, Shen, Yang 2016, "Image Restoration Using Very Deep Convolutional Encoder-Decoder
Networks with Symmetric Skip Connections". Convolutions extract features and suppress the
corruption; transposed convolutions ("deconvolutions") recover the detail; every level's
encoder feature is added to its mirror in the decoder (then ReLU), which carries detail
past the bottleneck and shortens the gradient's path. The input is added to the last
layer's output, so the network predicts the corruption's negative (DnCNN's residual):

    clean = clip(noisy + residual(noisy), 0, 1)

Input ``noisy``: (B, H, W, channels) in [0, 1], any H and W divisible by
``2**(len(filters) - 1)``. Output ``denoised``: the same shape, in [0, 1] (the clip is
``ReLU(max_value=1)``, no Lambda layer). Fully convolutional; exported at ``export_size``.

Level ``i`` runs at 1 / 2**i of the input size with ``filters[i]`` channels: the encoder has
a stride-2 3x3 convolution into each level and a 3x3 convolution in it; the decoder a 3x3
stride-1 transposed convolution in each level and a k4 s2 up-block out of it (with
``upsample="resize_conv"`` or ``"subpixel"`` the stride-1 layers are plain convolutions too).

Deviation from the paper: RED30 keeps the full resolution through 30 layers of 64
channels (about 1.1M multiply-adds per pixel); these variants halve the size at each level
(the paper's strided variant) so that they train on a CPU and run on a phone at
about 3% of that cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.layers import activation_layer, check_upsample, up_block
from zoo.registry import Recipe, TensorSpec, register

PAPER = (
    "Mao, Shen, Yang 2016, Image Restoration Using Very Deep Convolutional Encoder-Decoder "
    "Networks with Symmetric Skip Connections (NeurIPS; arXiv:1603.09056)"
)
EXPORT_SIZE = (256, 256)  # input size of exported files


# === Functional Model ===


def rednet(
    *,
    channels: int = 3,
    filters: Sequence[int] = (16, 32, 64, 128),
    upsample: str = "transpose",
    name: str = "rednet",
) -> keras.Model:
    """RED-Net: noisy (B, H, W, channels) in [0, 1] -> denoised, same shape, in [0, 1]."""
    check_upsample(upsample)
    inputs = keras.Input((None, None, channels), name="noisy")
    x = _conv(inputs, filters[0], name="encode0")
    skips = []
    for level, width in enumerate(filters[1:], start=1):
        skips.append(x)
        x = _conv(x, width, strides=2, name=f"down{level}")
        x = _conv(x, width, name=f"encode{level}")
    for level in reversed(range(len(skips))):
        x = _deconv(x, filters[level + 1], upsample, name=f"decode{level + 1}")
        x = up_block(x, filters[level], mode=upsample, name=f"up{level}")
        x = keras.layers.Add(name=f"skip{level}")([x, skips[level]])
        x = activation_layer("relu", name=f"skip{level}_relu")(x)
    residual = _deconv(x, channels, upsample, activation=None, name="residual")
    x = keras.layers.Add(name="add_residual")([inputs, residual])
    outputs = keras.layers.ReLU(max_value=1.0, name="denoised")(x)  # clip to [0, 1]
    return keras.Model(inputs, outputs, name=name)


def _conv(x, filters: int, *, strides: int = 1, name: str):
    return keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", activation="relu", name=name
    )(x)


def _deconv(x, filters: int, upsample: str, *, activation: str | None = "relu", name: str):
    """A 3x3 stride-1 decoder layer: a transposed convolution, or with another ``upsample``
    mode (a network without transposed convolutions) the convolution it equals."""
    layer = keras.layers.Conv2DTranspose if upsample == "transpose" else keras.layers.Conv2D
    return layer(filters, 3, padding="same", activation=activation, name=name)(x)


def _register(*, num_params: int, epochs: int, patch_size: int, **arguments):
    shape = (None, None, arguments["channels"])
    return register(
        family="rednet",
        family_builder=rednet,
        arguments=arguments,
        task="denoise",
        inputs=[TensorSpec("noisy", shape, description="noisy image in [0, 1]")],
        output=TensorSpec("denoised", shape, description="denoised image, clipped to [0, 1]"),
        num_params=num_params,
        paper=PAPER,
        dataset="photos",
        recipe=Recipe(
            epochs=epochs,
            batch_size=16,
            learning_rate=1e-3,
            loss="mse",
            options={"noise_sigma": 25.0, "patch_size": patch_size, "lr_schedule": "cosine"},
        ),
        export_size=EXPORT_SIZE,
    )


# === Variants ===


@_register(num_params=657_539, epochs=100, patch_size=64, channels=3)
def rednet_photos(**overrides) -> keras.Model:
    """RGB photo denoiser (sigma 25 of 255), 4 levels (16, 32, 64, 128)."""


@_register(num_params=2_203, epochs=1, patch_size=32, channels=3, filters=(4, 8))
def rednet_tiny(**overrides) -> keras.Model:
    """RGB, 2 levels (4, 8), for tests."""
