"""ESPCN: the efficient sub-pixel convolutional network (the zoo's sub-pixel baseline).

Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network". Like FSRCNN it works on the low-resolution
image and upsamples only at the end, but with no transposed convolution: conv 5x5 (64)
+ tanh -> conv 3x3 (32) + tanh -> conv 3x3 to ``scale**2 * channels`` -> periodic
shuffling (depth-to-space, TFLite DEPTH_TO_SPACE) by ``scale``. It is the baseline the
transposed-convolution super-resolvers are compared against (a sub-pixel convolution
with kernel k equals a transposed convolution with kernel k * scale, stride ``scale``).

Input: the Y channel (BT.601) in [0, 1], (B, H, W, 1), any H and W.
Output: the Y channel at (B, H * scale, W * scale, 1), nominally [0, 1], linear
(clip when saving an image).

Follows the paper's layers exactly (no ICNR initialisation, which came later); the
training recipe uses Adam instead of the paper's SGD with a 0.01 -> 0.0001 schedule.
The shipped variants swap the tanh activations for ReLUs, which int8 quantizes far better
(see :func:`espcn`) and which train as well (Set5, 20 more epochs from the tanh weights:
x2 36.28 against 36.25 dB, x3 32.37 against 32.26, x4 30.17 against 30.06);
``--set activation=tanh`` builds the paper's form.
"""

from __future__ import annotations

import keras

from zoo.errors import ZooError
from zoo.layers import DepthToSpace
from zoo.registry import register
from zoo.tasks.super_resolve import super_resolution

ACTIVATIONS = ("tanh", "relu")
PAPER = "Shi et al. 2016, Real-Time Single Image and Video Super-Resolution (arXiv:1609.05158)"


# === Functional Model ===


def espcn(
    *,
    scale: int = 3,
    n1: int = 64,
    n2: int = 32,
    channels: int = 1,
    activation: str = "tanh",
    name: str = "espcn",
) -> keras.Model:
    """ESPCN: (B, H, W, channels) in [0, 1] -> (B, H*scale, W*scale, channels), linear.

    ``activation``: ``"tanh"`` (the paper's) or ``"relu"``: an int8 TANH has a fixed output
    scale of 1/128 over [-1, 1], which the hidden values rarely fill, while an int8 file
    fuses a ReLU into its convolution and quantizes the range the values take.
    """
    if activation not in ACTIVATIONS:
        raise ZooError(f"activation={activation!r}; expected one of {', '.join(ACTIVATIONS)}")
    inputs = keras.Input((None, None, channels), name="lr")
    x = keras.layers.Conv2D(n1, 5, padding="same", name="conv1")(inputs)
    x = keras.layers.Activation(activation, name=f"conv1_{activation}")(x)
    x = keras.layers.Conv2D(n2, 3, padding="same", name="conv2")(x)
    x = keras.layers.Activation(activation, name=f"conv2_{activation}")(x)
    x = keras.layers.Conv2D(channels * scale * scale, 3, padding="same", name="conv3")(x)
    outputs = DepthToSpace(scale, name="pixel_shuffle")(x)
    return keras.Model(inputs, outputs, name=name)


def _register(num_params: int, **arguments):
    # the paper trains on 17r x 17r high-resolution sub-images
    contract = super_resolution(scale=arguments["scale"], patch_size=17 * arguments["scale"])
    return register(
        family="espcn",
        family_builder=espcn,
        arguments=arguments,
        num_params=num_params,
        paper=PAPER,
        baseline=True,
        **contract,
    )


# === Variants ===


@_register(num_params=21_284, scale=2, activation="relu")
def espcn_x2(**overrides) -> keras.Model:
    """ESPCN x2 (5x5 64, 3x3 32, sub-pixel), with ReLUs (int8 costs 0.09 dB, tanh 1.98)."""


@_register(num_params=22_729, scale=3, activation="relu")
def espcn_x3(**overrides) -> keras.Model:
    """ESPCN x3, the paper's headline model, with ReLUs (int8 costs 0.03 dB, tanh 1.34)."""


@_register(num_params=24_752, scale=4, activation="relu")
def espcn_x4(**overrides) -> keras.Model:
    """ESPCN x4, with ReLUs (int8 costs 0.02 dB, tanh 0.71)."""


@_register(num_params=648, scale=2, n1=8, n2=4)
def espcn_tiny(**overrides) -> keras.Model:
    """ESPCN x2 with 8 and 4 filters, for tests."""
