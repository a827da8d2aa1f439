"""U-Net: a contracting path, an expanding path of up-convolutions, and skip concatenations.

Ronneberger, Fischer, Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation". Each encoder level is a double 3x3 convolution then 2x2 max pooling
(the filters double per level); a bottleneck double convolution; each decoder level is a
2x2 "up-convolution" (a stride-2 transposed convolution with kernel 2, which halves the
channels), a concatenation with the encoder features of the same resolution, and a
double convolution; a 1x1 convolution gives the class scores.

Input: RGB in [0, 1], (B, H, W, 3), H and W divisible by ``2 ** depth`` (16 by default).
Output: softmax probabilities in [0, 1], (B, H, W, num_classes), the same H and W.

``upsample=`` swaps the up-convolution for the shared resize-conv or sub-pixel
up-block (same filters, scale 2); the transpose mode uses kernel 2, as in the paper
(divisible by the stride 2, so no checkerboard overlap).

Deviations from the paper: "same" padding instead of "valid" convolutions, so the
output keeps the input size and the skips need no cropping (the paper's 572x572 input
gives a 388x388 map and is tiled with overlap); BatchNormalization after every
convolution (``batch_norm=False`` for the paper's plain conv + ReLU); base 32 filters
(the paper: 64, i.e. 64 to 1024); no dropout at the end of the contracting path.
"""

from __future__ import annotations

import keras

from zoo.layers import check_upsample, conv_bn_act, up_block
from zoo.registry import register
from zoo.tasks.segment import SEGMENTATION_CLASSES, segmentation

PAPER = "Ronneberger, Fischer, Brox 2015, U-Net (arXiv:1505.04597)"


# === Layers ===


def double_conv(x, filters: int, *, batch_norm: bool = True, name: str):
    """Two 3x3 conv (+ BN) + ReLU, "same" padding: (B, H, W, C) -> (B, H, W, filters)."""
    x = conv_bn_act(x, filters, batch_norm=batch_norm, name=f"{name}_1")
    return conv_bn_act(x, filters, batch_norm=batch_norm, name=f"{name}_2")


# === Functional Model ===


def build_unet(
    *,
    depth: int = 4,
    base_filters: int = 32,
    num_classes: int = SEGMENTATION_CLASSES,
    batch_norm: bool = True,
    upsample: str = "transpose",
    name: str = "unet",
) -> keras.Model:
    """U-Net: (B, H, W, 3) in [0, 1] -> (B, H, W, num_classes) softmax.

    ``depth`` is the number of poolings; H and W must be divisible by ``2 ** depth``.
    """
    check_upsample(upsample)
    inputs = keras.Input((None, None, 3), name="image")
    x = inputs
    skips = []
    for level in range(depth):
        x = double_conv(x, base_filters * 2**level, batch_norm=batch_norm, name=f"down{level + 1}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{level + 1}")(x)

    x = double_conv(x, base_filters * 2**depth, batch_norm=batch_norm, name="bottleneck")

    for level in range(depth - 1, -1, -1):
        filters = base_filters * 2**level
        x = up_block(x, filters, scale=2, mode=upsample, kernel_size=2, name=f"up{level + 1}")
        x = keras.layers.Concatenate(name=f"concat{level + 1}")([skips[level], x])
        x = double_conv(x, filters, batch_norm=batch_norm, name=f"dec{level + 1}")

    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    outputs = keras.layers.Activation("softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def _register(num_params: int, **arguments):
    return register(
        family="unet",
        family_builder=build_unet,
        arguments=arguments,
        num_params=num_params,
        paper=PAPER,
        gpu_float32=True,  # measured on a real GPU: benchmarks/results/accelerators.md
        **segmentation(multiple=2 ** arguments["depth"]),
    )


# === Variants ===


@_register(num_params=7_769_028, depth=4)
def unet(**overrides) -> keras.Model:
    """U-Net, depth 4, 32 to 512 filters (the paper: 64 to 1024)."""


@_register(num_params=7_724, depth=2, base_filters=4)
def unet_tiny(**overrides) -> keras.Model:
    """U-Net, depth 2, 4 to 16 filters, for tests."""
