"""FSRCNN: fast super-resolution with a learned transposed-convolution upsampler.

Dong, Loy, Tang 2016, "Accelerating the Super-Resolution Convolutional Neural Network".
The network works on the low-resolution image and upsamples only at the end:
feature extraction 5x5 (d) -> shrink 1x1 (s) -> m mapping 3x3 (s) -> expand 1x1 (d)
-> a 9x9 transposed convolution with stride = scale. PReLU after every convolution.

Activation: every variant but ``fsrcnn_prelu_x3`` (the paper's x3) ships with ReLUs
(``activation="relu"``). fsrcnn_x2 trained with them from scratch by its recipe (60 epochs: 36.67 dB
on Set5 against 36.75 with PReLUs); fsrcnn_x3, fsrcnn_x4 and FSRCNN-s were fine-tuned from their
PReLU weights (``zoo train --init``). fsrcnn_x3 and FSRCNN-s keep their Set5 PSNR (or better;
fsrcnn_x3 then trained 30, 40 and 50 more epochs: 33.005 dB against the paper's 33.06, and 30 more
on 96-pixel patches, ``--option patch_size=96 --option crops_per_image=256``: 33.03, then 25 and 30
on 144-pixel patches: 33.06); fsrcnn_x4's ReLU weights are 0.13 dB below its PReLU weights in float
(30.56 dB against 30.69; the paper: 30.55; from scratch, 60 epochs: 30.49) and 0.32 dB above them in
int8 (30.21 against 29.89), in half the time. Trained alike (fsrcnn_x3's recipe, 12 epochs) the two
activations reach the same Set5 PSNR (32.41 and 32.42 dB), but an int8 file fuses each ReLU into its
convolution while XNNPACK, with no int8 PRELU, computes a PReLU as two ReLU convolutions:
fsrcnn_x3's int8 file takes 0.48x its float32 file's time with ReLUs against 0.86x with PReLUs, and
int8 costs it 0.29 dB of Set5 PSNR against 1.06 dB (``benchmarks/results/numerics.md``, nearest
rounding). Int8 files now compute a PReLU as ReLU convolutions read by the next layer
(:func:`convert.lowering.split_prelus`), which GPTQ and balancing serve as well as ReLUs:
fsrcnn_prelu_x3 loses 0.06 dB.

Residual: fsrcnn_x2 and fsrcnn_s_x2 ship with ``residual=True``. Trained from scratch by
the recipe for 30 epochs (``--set residual=true --epochs 30``) they beat the plain form in
float on Set5 (x2: 36.72 dB against 36.67 after 60 epochs; FSRCNN-s x2: 36.34 against 36.19)
and lose less in int8 (0.14 dB against 0.24; 0.16 against 0.20; 0.10 and 0.12 since the
int8 file rounds the sum once, :mod:`convert.skips`): the learned layers no longer carry the
image's brightness, only its detail. fsrcnn_x2 then trained 40 more epochs
from those weights (``--init fsrcnn_x2:RUN --lr 3e-4 --epochs 40``): 36.83 dB; then 30 on
64-pixel and 15 on 128-pixel patches: 36.86 dB; then 25 on 96-pixel patches from new crops
(``--seed 2``): 36.88 dB; then 35 more on 96-pixel patches from new crops at a higher rate
(``--lr 6e-4 --seed 5``): 36.95 dB (the paper: 36.94). Continuations at 1e-4 to 2e-4 had
stalled (+0.01 dB each); 3e-4 from the same weights gave 36.937 after 45 epochs.
``--set residual=false`` builds the paper's form.

Input: the Y channel (BT.601) in [0, 1], (B, H, W, 1), any H and W.
Output: the Y channel at (B, H * scale, W * scale, 1), nominally [0, 1], linear
(the paper's output is not clipped; clip when saving an image).

Kernel of the last layer: the paper's 9x9 is divisible by the stride only for x3.
The x2 and x4 variants use 10x10 and 12x12 (the nearest multiples of the stride), which
phone GPU delegates prefer and which keeps every output pixel on the same number of
kernel taps. Pass ``kernel_size=9`` for the paper's exact layer. ``residual=True`` (not in the
paper) adds a fixed bilinear upsampling of the input to the output, so the learned
layers carry only the detail: their int8 rounding error then scales with the detail's
range, not the image's. FSRCNN(56, 12, 4) x3
has the paper's 12,464 weights; FSRCNN-s(32, 5, 1) x3 its 3,937 (biases and PReLU
slopes come on top).
"""

from __future__ import annotations

import keras

from zoo.errors import ZooError
from zoo.layers import bilinear_upsample, up_block
from zoo.registry import register
from zoo.tasks.super_resolve import super_resolution

ACTIVATIONS = ("prelu", "relu")
PAPER = "Dong, Loy, Tang 2016, Accelerating the Super-Resolution CNN (arXiv:1608.00367)"


# === Functional Model ===


def fsrcnn(
    *,
    scale: int = 3,
    d: int = 56,
    s: int = 12,
    m: int = 4,
    kernel_size: int | None = None,
    channels: int = 1,
    upsample: str = "transpose",
    residual: bool = False,
    activation: str = "prelu",
    name: str = "fsrcnn",
) -> keras.Model:
    """FSRCNN(d, s, m): (B, H, W, channels) in [0, 1] -> (B, H*scale, W*scale, channels).

    ``residual``: the output is bilinear(input) + the network's output.
    ``activation``: ``"prelu"`` (the paper's) or ``"relu"``, which an int8 file fuses into
    its convolutions (XNNPACK has no int8 PRELU; see :func:`convert.lowering.prelu_pairs`).
    """
    if activation not in ACTIVATIONS:
        raise ZooError(f"activation={activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    kernel_size = kernel_size or last_kernel_size(scale)
    inputs = keras.Input((None, None, channels), name="lr")
    x = _conv_act(inputs, d, 5, activation, name="extract")
    x = _conv_act(x, s, 1, activation, name="shrink")
    for i in range(m):
        x = _conv_act(x, s, 3, activation, name=f"map{i + 1}")
    x = _conv_act(x, d, 1, activation, name="expand")
    outputs = up_block(
        x,
        channels,
        scale=scale,
        mode=upsample,
        kernel_size=kernel_size,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),
        name="deconv",
    )
    if residual:
        skip = bilinear_upsample(inputs, scale=scale, name="bilinear_skip")
        outputs = keras.layers.Add(name="add_detail")([outputs, skip])
    return keras.Model(inputs, outputs, name=name)


def _conv_act(x, filters: int, kernel_size: int, activation: str, *, name: str):
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        activation="relu" if activation == "relu" else None,
        kernel_initializer="he_normal",
        name=name,
    )(x)
    if activation == "prelu":
        x = keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)
    return x


def last_kernel_size(scale: int) -> int:
    """The smallest kernel >= the paper's 9 that the stride divides."""
    return -(-9 // scale) * scale


def _register(num_params: int, **arguments):
    # The paper's data recipe: T91 and copies of it shrunk by 0.9 ... 0.6, flips and
    # rotations. Patches are 48 high-resolution pixels (16 low-resolution at x3, 12 at
    # x4); x2 takes 32 (16 low-resolution), which trains at x3's cost per step. Most
    # output pixels of such a patch see its zero padding (FSRCNN sees about 15
    # low-resolution pixels across), which whole test images do not: continuing on larger
    # patches gains (fsrcnn_x3 from 33.005 dB: 33.03 on 96 pixels, 33.06 on 144; fsrcnn_x4
    # 30.56 -> 30.61 on 192; fsrcnn_x2 36.83 -> 36.86 on 64 then 128, 36.88 on 96).
    scale = arguments["scale"]
    contract = super_resolution(
        scale=scale,
        patch_size=32 if scale == 2 else 48,
        epochs=60,
        batch_size=32,
        crops_per_image=1024,
        rescales=[1.0, 0.9, 0.8, 0.7, 0.6],
    )
    return register(
        family="fsrcnn",
        family_builder=fsrcnn,
        arguments=arguments,
        num_params=num_params,
        paper=PAPER,
        **contract,
    )


# === Variants ===

FSRCNN_S = {"d": 32, "s": 5, "m": 1}  # the paper's real-time FSRCNN-s(32, 5, 1)


@_register(num_params=13_717, scale=2, activation="relu", residual=True)
def fsrcnn_x2(**overrides) -> keras.Model:
    """FSRCNN(56, 12, 4) x2, with ReLUs and the bilinear skip."""


@_register(num_params=12_637, scale=3, activation="relu")
def fsrcnn_x3(**overrides) -> keras.Model:
    """FSRCNN(56, 12, 4) x3, the paper's headline model, with ReLUs (int8 3.1x faster)."""


@_register(num_params=16_165, scale=4, activation="relu")
def fsrcnn_x4(**overrides) -> keras.Model:
    """FSRCNN(56, 12, 4) x4, with ReLUs."""


@_register(num_params=4_636, scale=2, **FSRCNN_S, activation="relu", residual=True)
def fsrcnn_s_x2(**overrides) -> keras.Model:
    """FSRCNN-s(32, 5, 1) x2, the paper's real-time variant, with the bilinear skip."""


@_register(num_params=4_012, scale=3, **FSRCNN_S, activation="relu")
def fsrcnn_s_x3(**overrides) -> keras.Model:
    """FSRCNN-s(32, 5, 1) x3."""


@_register(num_params=6_028, scale=4, **FSRCNN_S, activation="relu")
def fsrcnn_s_x4(**overrides) -> keras.Model:
    """FSRCNN-s(32, 5, 1) x4."""


@_register(num_params=12_809, scale=3)
def fsrcnn_prelu_x3(**overrides) -> keras.Model:
    """FSRCNN(56, 12, 4) x3 exactly as the paper has it: a PReLU after every convolution."""


@_register(num_params=1_257, scale=2, d=8, s=4, m=1)
def fsrcnn_tiny(**overrides) -> keras.Model:
    """FSRCNN(8, 4, 1) x2, for tests."""
