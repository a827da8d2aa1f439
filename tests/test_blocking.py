"""A one-channel convolution computed on 2x2 blocks of its input in int8 files
(convert.blocking)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from convert import flatbuffer
from convert.blocking import (
    BlockedConv2D,
    block_convolutions,
    block_kernel,
    block_radius,
    blockable,
)
from convert.delegates import check
from convert.tflite import convert_model


def _conv_model(kernel: int, channels: int, seed: int = 0, **options) -> keras.Model:
    inputs = keras.Input((None, None, channels))
    conv = keras.layers.Conv2D(6, kernel, padding="same", activation="relu", **options)
    model = keras.Model(inputs, conv(inputs))
    rng = np.random.default_rng(seed)
    conv.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in conv.get_weights()])
    return model


@pytest.mark.parametrize(("kernel", "channels"), [(3, 1), (5, 1), (5, 2), (9, 3)])
def test_block_form_computes_the_convolution(kernel, channels):
    """SPACE_TO_DEPTH + the block kernel + DEPTH_TO_SPACE: the same sums at every phase,
    borders included, for any odd kernel."""
    model = _conv_model(kernel, channels)
    conv = model.layers[-1]
    blocked = BlockedConv2D(6, 2 * block_radius(kernel) + 1, activation="relu")
    blocked.build((None, None, None, channels))
    weights = block_kernel(np.asarray(conv.kernel, np.float64))
    blocked.set_weights([weights.astype(np.float32), np.tile(np.asarray(conv.bias), 4)])
    x = np.random.default_rng(1).normal(size=(1, 10, 14, channels)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(blocked(x)), np.asarray(model(x)), atol=1e-5)


def test_only_short_stride_one_products_on_even_sizes_are_blocked():
    """Blocked: a "same" stride-1 5x5 over one channel (25-tap products) on an even size.
    Kept: an odd size, a stride, 3x3 (4x the work in blocks), and 5x5 over 3 channels (75
    taps: long enough already)."""
    assert blockable(_conv_model(5, 1).layers[-1], (12, 16, 1))
    assert not blockable(_conv_model(5, 1).layers[-1], (13, 16, 1))
    assert not blockable(_conv_model(5, 1, strides=2).layers[-1], (12, 16, 1))
    assert not blockable(_conv_model(3, 1).layers[-1], (12, 16, 1))
    assert not blockable(_conv_model(5, 3).layers[-1], (12, 16, 3))
    model = _conv_model(5, 1)
    copy, count = block_convolutions(model, [(12, 16, 1)])
    assert count == 1 and isinstance(copy.layers[-1], BlockedConv2D)
    x = np.random.default_rng(2).normal(size=(1, 12, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-5)
    assert block_convolutions(model, [(13, 16, 1)]) == (model, 0)


def test_int8_super_resolution_file_reads_its_input_through_space_to_depth():
    """fsrcnn_tiny's int8 file: its 5x5 one-channel layer runs on blocks, the file keeps
    the rules (fully integer, whole on XNNPACK, measured), the input stays on the 8-bit
    image's levels, and it still matches Keras. An odd size keeps the plain convolution."""
    result = convert_model("fsrcnn_tiny", mode="int8", size=(16, 16))
    parsed = flatbuffer.read(result.flatbuffer)
    assert "SPACE_TO_DEPTH" in parsed.op_versions
    assert any("2x2 blocks" in note for note in result.notes)
    report = check(result.flatbuffer)
    assert report.fully_integer
    assert report.target("xnnpack").supported and report.target("xnnpack").measured
    scale, zero_point = parsed.input_tensors[0].quantization
    assert zero_point == -128 and scale == pytest.approx(1 / 255)
    assert result.parity.psnr >= 35.0, result.parity.summary()
    odd = convert_model("fsrcnn_tiny", mode="int8", size=(15, 16), parity=False)
    assert "SPACE_TO_DEPTH" not in flatbuffer.read(odd.flatbuffer).op_versions
    float_file = convert_model("fsrcnn_tiny", mode="float32", size=(16, 16), parity=False)
    assert "SPACE_TO_DEPTH" not in flatbuffer.read(float_file.flatbuffer).op_versions
