"""FCN: fully convolutional networks with learned in-network upsampling.

Long, Shelhamer, Darrell 2015, "Fully Convolutional Networks for Semantic Segmentation".
A classification backbone becomes a dense predictor: its fully connected layers turn
into convolutions ("fc6", "fc7"), a 1x1 "score" layer gives one map per class at
stride 32, and transposed convolutions ("deconvolution" in the paper) upsample the
scores back to the input size. The skip architecture fuses finer scores:

- FCN-32s: score_fr -> x32 up;
- FCN-16s: score_fr -> x2 up, + score(pool4) -> x16 up;
- FCN-8s: score_fr -> x2 up, + score(pool4) -> x2 up, + score(pool3) -> x8 up.

In ``upsample="transpose"`` mode every up layer is a Conv2DTranspose with kernel
``2 * stride`` and no bias, initialised to exact bilinear interpolation
(:class:`zoo.layers.BilinearUpsampling`), then learned, as in the paper; pass
``fixed_final_upsampling=True`` to freeze the last one at bilinear (the paper's
reference nets did). The pool4/pool3 score layers start at zero, so a fused net starts
with the coarser net's predictions. ``resize_conv`` and ``subpixel`` use the shared
up-blocks with their own initialisation.

Input: RGB in [0, 1], (B, H, W, 3), H and W divisible by 32 (the fusion adds maps of
stride 32, 16 and 8, which must line up). Output: softmax probabilities in [0, 1],
(B, H, W, num_classes).

Deviations from the paper: the backbone is a small VGG-like net trained from scratch
(5 stages of two 3x3 conv + BN + ReLU, then 2x2 max pooling; base 32 filters instead of
VGG16's 64 and its 2-2-3-3-3 convs), with BatchNormalization; the inputs are padded
"same" (the paper pads the first conv by 100 and crops); fc6 is a 3x3 convolution with
512 filters instead of 7x7 with 4096 (at a 128x128 export size the stride-32 map is 4x4,
so a 3x3 window already covers most of it); fc7 is 1x1 with 512. The x32 transposed
convolution of FCN-32s (kernel 64) is large but is the paper's.
"""

from __future__ import annotations

import keras

from zoo.errors import ZooError
from zoo.layers import BilinearUpsampling, check_upsample, conv_bn_act, up_block
from zoo.registry import register
from zoo.tasks.segment import SEGMENTATION_CLASSES, segmentation

PAPER = "Long, Shelhamer, Darrell 2015, Fully Convolutional Networks for Semantic Segmentation"
STAGES = 5  # five 2x2 poolings: the coarsest scores have stride 32


# === Layers ===


def _upsample_scores(x, num_classes: int, *, scale: int, mode: str, name: str):
    """Upsample a score map by ``scale``; "transpose" starts as exact bilinear."""
    if mode == "transpose":
        return up_block(
            x,
            num_classes,
            scale=scale,
            mode=mode,
            kernel_size=2 * scale,
            use_bias=False,
            kernel_initializer=BilinearUpsampling(),
            name=name,
        )
    return up_block(x, num_classes, scale=scale, mode=mode, name=name)


def _score(x, num_classes: int, *, zero: bool, name: str):
    """1x1 class-score convolution (zero-initialised for the skip scores)."""
    return keras.layers.Conv2D(
        num_classes,
        1,
        kernel_initializer="zeros" if zero else "glorot_uniform",
        name=name,
    )(x)


# === Functional Model ===


def fcn(
    *,
    output_stride: int = 8,
    num_classes: int = SEGMENTATION_CLASSES,
    base_filters: int = 32,
    max_filters: int = 256,
    fc_filters: int = 512,
    fc_kernel: int = 3,
    dropout: float = 0.5,
    upsample: str = "transpose",
    fixed_final_upsampling: bool = False,
    name: str = "fcn",
) -> keras.Model:
    """FCN-{output_stride}s: (B, H, W, 3) in [0, 1] -> (B, H, W, num_classes) softmax.

    ``output_stride`` is 32, 16 or 8: the finest stride whose scores are fused before
    the last upsampling. H and W must be divisible by 32.
    """
    check_upsample(upsample)
    if output_stride not in (32, 16, 8):
        raise ZooError(f"output_stride={output_stride}; expected 32, 16 or 8")
    filters = [min(base_filters * 2**i, max_filters) for i in range(STAGES)]

    inputs = keras.Input((None, None, 3), name="image")
    x = inputs
    pools = {}
    for stage, stage_filters in enumerate(filters, start=1):
        for j in (1, 2):
            x = conv_bn_act(x, stage_filters, name=f"conv{stage}_{j}")
        x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        pools[stage] = x

    x = conv_bn_act(x, fc_filters, kernel_size=fc_kernel, name="fc6")
    x = keras.layers.Dropout(dropout, name="drop6")(x)
    x = conv_bn_act(x, fc_filters, kernel_size=1, name="fc7")
    x = keras.layers.Dropout(dropout, name="drop7")(x)
    x = _score(x, num_classes, zero=False, name="score_fr")

    stride = 32
    for stage in (4, 3):  # pool4 has stride 16, pool3 stride 8
        if stride == output_stride:
            break
        x = _upsample_scores(x, num_classes, scale=2, mode=upsample, name=f"upscore{stride}_2")
        skip = _score(pools[stage], num_classes, zero=True, name=f"score_pool{stage}")
        x = keras.layers.Add(name=f"fuse_pool{stage}")([x, skip])
        stride //= 2

    x = _upsample_scores(x, num_classes, scale=stride, mode=upsample, name="upscore")
    outputs = keras.layers.Activation("softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name=name)
    if fixed_final_upsampling and upsample == "transpose":
        model.get_layer("upscore").trainable = False
    return model


def _register(num_params: int, **arguments):
    return register(
        family="fcn",
        family_builder=fcn,
        arguments=arguments,
        num_params=num_params,
        paper=PAPER,
        **segmentation(multiple=2**STAGES),
    )


# === Variants ===


@_register(num_params=3_870_308, output_stride=32)
def fcn32s(**overrides) -> keras.Model:
    """FCN-32s: stride-32 scores, one x32 bilinear-initialised transposed convolution."""


@_register(num_params=3_822_440, output_stride=16)
def fcn16s(**overrides) -> keras.Model:
    """FCN-16s: x2 up, + pool4 scores, x16 up."""


@_register(num_params=3_810_924, output_stride=8)
def fcn8s(**overrides) -> keras.Model:
    """FCN-8s: x2 up, + pool4 scores, x2 up, + pool3 scores, x8 up (the paper's best)."""


@_register(num_params=11_144, output_stride=8, base_filters=4, max_filters=8, fc_filters=16)
def fcn_tiny(**overrides) -> keras.Model:
    """FCN-8s with 4 to 8 filters, for tests."""
