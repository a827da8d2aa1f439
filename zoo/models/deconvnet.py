"""DeconvNet: a mirrored encoder-decoder of unpooling and deconvolution layers.

Noh, Hong, Han 2015, "Learning Deconvolution Network for Semantic Segmentation".
The encoder is a VGG-like stack of conv + BN + ReLU stages, each ended by 2x2 max
pooling; "fc6"/"fc7" convolutions sit in the middle, and a "deconv-fc6" transposed
convolution starts the decoder. The decoder mirrors the encoder: each stage unpools
(puts every value back where its pooling window had its maximum, the "switches") and
then densifies the sparse map with stride-1 3x3 transposed convolutions ("deconvolution"
layers) + BN + ReLU. A 1x1 convolution gives the class scores.

Input: RGB in [0, 1], (B, H, W, 3), H and W divisible by ``2 ** stages`` (32 by
default). Output: softmax probabilities in [0, 1], (B, H, W, num_classes).

Unpooling (``unpool=``, used with ``upsample="transpose"``):

- ``"switches"`` (default, the paper's): :class:`zoo.layers.MaxUnpool2D`. A custom
  MaxUnpooling2D op or argmax indices are not in the builtin op set that phone GPU/NPU
  delegates accept (only the GPU delegate knows the custom op), so the zoo recomputes
  the switches from the pre-pool and post-pool tensors with builtin ops. Cost: the
  pre-pool activation of every stage stays alive until the decoder uses it (like a U-Net
  skip), and a few elementwise ops per stage. ``switch_width`` (0.05 in the registered
  variants) makes each switch soft: a position within that much of its window's maximum
  passes a share of the value that falls linearly to 0 (0 gives the paper's hard switch,
  an equality test, ``--set switch_width=0``). A hard switch is discontinuous: wherever
  two pooled values nearly tie, the last-bit differences between Keras, XNNPACK and a GPU
  move the value to another position, and the file's output leaves Keras's by a feature's
  whole size (0.2% of the range at 128x128 for weights trained hard, against 0.005% soft);
- ``"nearest"``: nearest-neighbour upsampling (NearestUpsampling2D), no switches: the cheapest,
  nothing kept alive, but the decoder loses the "where" the switches carry.

``upsample="resize_conv"`` or ``"subpixel"`` replaces each unpooling by the shared
learned up-block (scale 2), ignores ``unpool`` (no switches are computed), and the
stride-1 transposed convolutions become ordinary 3x3 convolutions (the same function
class: a stride-1 transposed convolution is a convolution with a flipped kernel), so
those models hold no Conv2DTranspose at all.

Deviations from the paper, all to fit a phone-sized model trained from scratch: two
convs per stage (VGG16 has 2-2-3-3-3), base 32 filters capped at 256 (VGG16: 64 to
512); fc6 is a 3x3 convolution to 512 channels (the paper: 7x7 "valid" to 4096 on a
7x7 map, i.e. 1x1), fc7 1x1 with 512, and deconv-fc6 a 3x3 stride-1 transposed
convolution (the paper: 7x7 back to 7x7). "Same" padding keeps any size divisible by
``2 ** stages`` instead of the paper's fixed 224x224.

Note for export: Conv2DTranspose -> BN -> ReLU is the paper's block; the converter folds
the BN and fuses the ReLU into TRANSPOSE_CONV (version 4, refused by the GPU delegate), so
the export path must fold the BN first (see the design notes).
"""

from __future__ import annotations

import keras

from zoo.errors import ZooError
from zoo.layers import MaxUnpool2D, NearestUpsampling2D, check_upsample, conv_bn_act, up_block
from zoo.registry import register
from zoo.tasks.segment import SEGMENTATION_CLASSES, segmentation

PAPER = "Noh, Hong, Han 2015, Learning Deconvolution Network for Semantic Segmentation"
UNPOOL_MODES = ("switches", "nearest")
# The registered variants' soft-switch width: the activations are BN + ReLU outputs (order
# 1). Weights trained with hard switches scored 0.8423 mIoU with it against 0.8426 hard and
# 0.807 at 0.2; trained on with it, 0.931.
SWITCH_WIDTH = 0.05


# === Layers ===


def deconv_bn_act(x, filters: int, *, kernel_size: int = 3, transpose: bool = True, name: str):
    """Stride-1 "deconvolution" (Conv2DTranspose, or Conv2D when not ``transpose``) + BN + ReLU."""
    if not transpose:
        return conv_bn_act(x, filters, kernel_size=kernel_size, name=name)
    x = keras.layers.Conv2DTranspose(
        filters, kernel_size, padding="same", use_bias=False, name=f"{name}_deconv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


# === Functional Model ===


def build_deconvnet(
    *,
    stages: int = 5,
    convs_per_stage: int = 2,
    base_filters: int = 32,
    max_filters: int = 256,
    fc_filters: int = 512,
    fc_kernel: int = 3,
    num_classes: int = SEGMENTATION_CLASSES,
    unpool: str = "switches",
    switch_width: float = 0.0,
    upsample: str = "transpose",
    name: str = "deconvnet",
) -> keras.Model:
    """DeconvNet: (B, H, W, 3) in [0, 1] -> (B, H, W, num_classes) softmax.

    H and W must be divisible by ``2 ** stages``. ``unpool`` ("switches" or "nearest")
    applies to ``upsample="transpose"``; the other modes upsample with the shared
    up-block instead (see the module docstring). ``switch_width`` > 0 makes the switches
    soft (:class:`zoo.layers.MaxUnpool2D`'s ``width``).
    """
    check_upsample(upsample)
    if unpool not in UNPOOL_MODES:
        raise ZooError(f"unpool={unpool!r}; expected one of {', '.join(UNPOOL_MODES)}")
    transpose = upsample == "transpose"
    filters = [min(base_filters * 2**i, max_filters) for i in range(stages)]

    inputs = keras.Input((None, None, 3), name="image")
    x = inputs
    pooled = []  # (before_pool, after_pool) per stage, for the switches
    for stage, stage_filters in enumerate(filters, start=1):
        for j in range(1, convs_per_stage + 1):
            x = conv_bn_act(x, stage_filters, name=f"conv{stage}_{j}")
        before = x
        x = keras.layers.MaxPooling2D(2, name=f"pool{stage}")(x)
        pooled.append((before, x))

    x = conv_bn_act(x, fc_filters, kernel_size=fc_kernel, name="fc6")
    x = conv_bn_act(x, fc_filters, kernel_size=1, name="fc7")
    x = deconv_bn_act(x, filters[-1], kernel_size=fc_kernel, transpose=transpose, name="fc6_t")

    for stage in range(stages, 0, -1):
        before, after = pooled[stage - 1]
        stage_filters = filters[stage - 1]
        if not transpose:
            x = up_block(x, stage_filters, scale=2, mode=upsample, name=f"up{stage}")
        elif unpool == "switches":
            x = MaxUnpool2D(2, width=switch_width, name=f"unpool{stage}")([x, before, after])
        else:
            x = NearestUpsampling2D(2, name=f"unpool{stage}")(x)
        # the last deconv of a stage hands the next (shallower) stage its channel count
        next_filters = filters[stage - 2] if stage > 1 else stage_filters
        for j in range(convs_per_stage, 0, -1):
            out = next_filters if j == 1 else stage_filters
            x = deconv_bn_act(x, out, transpose=transpose, name=f"deconv{stage}_{j}")

    x = keras.layers.Conv2D(num_classes, 1, name="score")(x)
    outputs = keras.layers.Activation("softmax", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def _register(num_params: int, **arguments):
    return register(
        family="deconvnet",
        family_builder=build_deconvnet,
        arguments=arguments,
        num_params=num_params,
        paper=PAPER,
        gpu_float32=True,  # measured on a real GPU: benchmarks/results/accelerators.md
        **segmentation(multiple=2 ** arguments["stages"]),
    )


# === Variants ===


@_register(num_params=7_347_812, stages=5, switch_width=SWITCH_WIDTH)
def deconvnet(**overrides) -> keras.Model:
    """DeconvNet, 5 stages of 32-256 filters, max-unpooling with recomputed soft switches."""


@_register(
    num_params=8_384,
    stages=3,
    convs_per_stage=1,
    base_filters=4,
    fc_filters=16,
    switch_width=SWITCH_WIDTH,
)
def deconvnet_tiny(**overrides) -> keras.Model:
    """DeconvNet, 3 stages of 4-16 filters, for tests."""
