"""Deblur: learned deconvolution of known blur kernels.

This family solves *true* deconvolution: it undoes a blur (a convolution of the image
with a kernel), which a transposed convolution does not (that is only the blur's
matrix transpose). Following Xu, Ren, Liu, Jia 2014 ("Deep Convolutional Neural Network
for Image Deconvolution") the inverse is learned from pairs (blurred, sharp) made with
the kernels the recipe names; the network is a small U-Net-like encoder-decoder
(Ronneberger et al. 2015) whose up-path uses ``Conv2DTranspose`` k4 s2 blocks and
concatenated skip connections, and it predicts a residual (Zhang et al. 2017, DnCNN):

    sharp = clip(blurred + residual(blurred), 0, 1)

The clip is ``keras.layers.ReLU(max_value=1.0)`` after the Add (no Lambda layer):
ReLU gives the lower bound 0 and ``max_value`` the upper bound 1. With a zero residual
the model is exactly the identity on [0, 1] images.

Input ``blurred``: (B, H, W, channels) in [0, 1], any H and W divisible by
``2**(len(filters) - 1)`` (8 by default). Output ``sharp``: the same shape, in [0, 1].
Fully convolutional; exported at ``export_size``.

Recipe options (read by ``zoo train``'s degradation): ``kernels`` (kinds drawn per
sample), ``gaussian_sigma`` and ``motion_length`` (ranges of the kernel parameters, in
pixels), ``noise_sigma`` (Gaussian noise added after the blur, in 0-255 units like the
DAE's), ``patch_size``. Compare with the classical algorithms (Wiener,
Richardson-Lucy) on the same kernels.

Deviation: Xu et al. build their network from separable inverse-kernel convolutions
for one kernel at a time; ``deblur`` is a generic residual encoder-decoder trained over
a family of kernels (non-blind in data, blind in use: the kernel is not an input).
``deblur_nonblind`` takes the kernel as a second input, as Wiener and Richardson-Lucy do:
a code made from it by convolutions biases the channels of every level (the kernel map
of Zhang, Zuo, Zhang 2018, SRMD, added after each level's convolution), so one network
holds the inverses of a whole family of kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.layers import activation_layer, check_upsample, conv_bn_act, up_block
from zoo.registry import Recipe, TensorSpec, register
from zoo.tasks.deblur import BLUR_RECIPE, RECIPE_KERNEL_SIZE

PAPER = (
    "Xu, Ren, Liu, Jia 2014, Deep Convolutional Neural Network for Image Deconvolution "
    "(NeurIPS); U-Net skips: Ronneberger et al. 2015"
)
EXPORT_SIZE = (256, 256)  # input size of exported files


# === Functional Model ===


def deblur_net(
    *,
    channels: int = 3,
    filters: Sequence[int] = (16, 32, 64, 128),
    upsample: str = "transpose",
    kernel_size: int | None = None,
    code_width: int = 64,
    global_context: bool = False,
    name: str = "deblur",
) -> keras.Model:
    """Residual U-Net: blurred (B, H, W, channels) in [0, 1] -> sharp, same shape, in [0, 1].

    Level ``i`` runs at 1 / 2**i of the input size with ``filters[i]`` channels: two
    3x3 convolutions per level, a stride-2 convolution down, an up-block -> ReLU ->
    concatenation with the skip -> 3x3 convolution up.

    ``kernel_size=K`` makes it non-blind: a second input ``kernel`` (B, K, K, 1), the blur
    kernel centred and scaled so its largest tap is 1 (:func:`zoo.tasks.deblur.kernel_input`),
    becomes a code (two convolutions to ``code_width`` channels at 1x1) from which each level's last
    convolution, down and up, gets a bias per channel before its ReLU (as if the code were
    extra input channels, SRMD-style). The biases start at zero, so a non-blind model starts
    as a blind one without ``global_context``, layer for layer (``zoo train --init``).

    ``global_context=True`` (blind) conditions the up-path the same way on a code made from
    the whole image: the bottleneck's features averaged over every position, then a 1x1
    convolution to ``code_width`` channels. The code sees all of a photo where each output
    pixel's own receptive field sees about 100 pixels of it, so how strongly the image as a
    whole is blurred can steer every pixel's restoration. Its biases start at zero too, so
    ``--init`` from weights trained without it starts from that model's output (the shipped
    ``deblur`` was fine-tuned this way; its manifest records the commands).
    """
    check_upsample(upsample)
    inputs = keras.Input((None, None, channels), name="blurred")
    code = None
    model_inputs = [inputs]
    if kernel_size is not None:
        kernel = keras.Input((kernel_size, kernel_size, 1), name="kernel")
        model_inputs.append(kernel)
        # A KxK "valid" convolution of the KxK kernel is a dense layer whose output is
        # already (B, 1, 1, code_width): no reshape, every op a convolution.
        code = keras.layers.Conv2D(code_width, kernel_size, activation="relu", name="kernel_code1")(
            kernel
        )
        code = keras.layers.Conv2D(code_width, 1, activation="relu", name="kernel_code2")(code)

    source = "kernel"  # what the code is made from: names its bias layers

    def conditioned(x, width: int, *, name: str, strides: int = 1):
        if code is None:
            return conv_bn_act(x, width, strides=strides, batch_norm=False, name=name)
        x = conv_bn_act(x, width, strides=strides, activation="linear", batch_norm=False, name=name)
        bias = keras.layers.Conv2D(
            width, 1, kernel_initializer="zeros", name=f"{name}_{source}_bias"
        )(code)
        # The (B, 1, 1, width) bias comes first: LiteRT's GPU accelerator computes an int8
        # ADD wrong when its second operand is the broadcast one.
        x = keras.layers.Add(name=f"{name}_conditioned")([bias, x])
        return activation_layer("relu", name=f"{name}_relu")(x)

    x = conv_bn_act(inputs, filters[0], batch_norm=False, name="level0a")
    x = conditioned(x, filters[0], name="level0b")
    skips = []
    for level, width in enumerate(filters[1:], start=1):
        skips.append(x)
        x = conv_bn_act(x, width, strides=2, batch_norm=False, name=f"down{level}")
        x = conditioned(x, width, name=f"level{level}")
    if global_context and code is None:
        source = "context"
        code = keras.layers.GlobalAveragePooling2D(keepdims=True, name="context_pool")(x)
        code = keras.layers.Conv2D(code_width, 1, activation="relu", name="context_code")(code)
    for level in reversed(range(len(skips))):
        x = up_block(x, filters[level], mode=upsample, name=f"up{level}")
        x = activation_layer("relu", name=f"up{level}_relu")(x)
        x = keras.layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conditioned(x, filters[level], name=f"fuse{level}")
    residual = keras.layers.Conv2D(channels, 3, padding="same", name="residual")(x)
    x = keras.layers.Add(name="add_residual")([inputs, residual])
    outputs = keras.layers.ReLU(max_value=1.0, name="sharp")(x)  # clip to [0, 1]
    return keras.Model(model_inputs if len(model_inputs) > 1 else inputs, outputs, name=name)


def _register(*, num_params: int, epochs: int, patch_size: int, **arguments):
    shape = (None, None, arguments["channels"])
    inputs = [TensorSpec("blurred", shape, description="blurred noisy image in [0, 1]")]
    if "kernel_size" in arguments:
        size = arguments["kernel_size"]
        description = "blur kernel, centred, largest tap scaled to 1 (kernel_input)"
        inputs.append(TensorSpec("kernel", (size, size, 1), description=description))
    return register(
        family="deblur",
        family_builder=deblur_net,
        arguments=arguments,
        task="deblur",
        inputs=inputs,
        output=TensorSpec("sharp", shape, description="deblurred image, clipped to [0, 1]"),
        num_params=num_params,
        paper=PAPER,
        dataset="photos",
        recipe=Recipe(
            epochs=epochs,
            batch_size=16,
            learning_rate=5e-4,
            loss="l1",
            options={**BLUR_RECIPE, "patch_size": patch_size, "lr_schedule": "cosine"},
        ),
        export_size=EXPORT_SIZE,
    )


# === Variants ===


@_register(num_params=578_515, epochs=30, patch_size=64, channels=3, global_context=True)
def deblur(**overrides) -> keras.Model:
    """RGB residual U-Net, 4 levels (16, 32, 64, 128), its up-path steered by the whole image."""


@_register(num_params=613_187, epochs=30, patch_size=64, channels=3, kernel_size=RECIPE_KERNEL_SIZE)
def deblur_nonblind(**overrides) -> keras.Model:
    """Non-blind ``deblur``: the blur kernel (19x19) is a second input that biases every level."""


@_register(
    num_params=5_171,
    epochs=1,
    patch_size=32,
    channels=3,
    filters=(4, 8),
    kernel_size=RECIPE_KERNEL_SIZE,
    code_width=8,
)
def deblur_nonblind_tiny(**overrides) -> keras.Model:
    """Non-blind, 2 levels (4, 8), a code of 8, for tests."""


@_register(
    num_params=2_895, epochs=1, patch_size=32, channels=3, filters=(4, 8), global_context=True
)
def deblur_tiny(**overrides) -> keras.Model:
    """RGB, 2 levels (4, 8), with the whole-image context, for tests."""
