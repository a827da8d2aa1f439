"""Decoder families (FCN, DeconvNet, U-Net, ESPCN): what the shared harness does not check."""

import keras
import numpy as np
import pytest

import zoo
from tests.harness import contains_layer
from zoo.layers import BilinearUpsampling, MaxUnpool2D


def _count(model: keras.Model, layer_type: type) -> int:
    return sum(isinstance(layer, layer_type) for layer in model.layers)


@pytest.mark.parametrize("stride", [2, 8, 32])
def test_fcn_transpose_kernels_start_as_bilinear_upsampling(stride):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1, 6, 6, 4)).astype("float32")
    up = keras.layers.Conv2DTranspose(
        4,
        2 * stride,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
    )
    out = np.asarray(up(x))
    size = 6 * stride
    reference = np.asarray(keras.ops.image.resize(x, (size, size), interpolation="bilinear"))
    assert out.shape == reference.shape
    # exact away from the border (the transposed conv pads with zeros, resize clamps)
    inner = (slice(None), slice(stride, -stride), slice(stride, -stride))
    np.testing.assert_allclose(out[inner], reference[inner], atol=1e-5)


def test_fcn_upsampling_layers_are_bilinear_initialised():
    model = zoo.get("fcn_tiny")
    transposes = [la for la in model.layers if isinstance(la, keras.layers.Conv2DTranspose)]
    assert len(transposes) == 3  # x2, x2, x8
    for layer in transposes:
        assert not layer.use_bias
        assert layer.kernel_size[0] == 2 * layer.strides[0]
        expected = np.asarray(BilinearUpsampling()(tuple(layer.kernel.shape)))
        np.testing.assert_array_equal(np.asarray(layer.kernel), expected)


def test_fcn8s_fuses_more_skips_than_fcn32s():
    counts = {
        name: _count(zoo.get(name, base_filters=2, max_filters=4, fc_filters=4), keras.layers.Add)
        for name in ("fcn32s", "fcn16s", "fcn8s")
    }
    assert counts == {"fcn32s": 0, "fcn16s": 1, "fcn8s": 2}


def test_fcn_fixed_final_upsampling_freezes_only_the_last_layer():
    model = zoo.get("fcn_tiny", fixed_final_upsampling=True)
    frozen = [la.name for la in model.layers if not la.trainable]
    assert frozen == ["upscore"]


def test_max_unpool_places_values_at_the_argmax_of_each_window():
    rng = np.random.default_rng(1)
    before = rng.permutation(2 * 8 * 6 * 3).reshape(2, 8, 6, 3).astype("float32")  # no ties
    after = np.asarray(keras.layers.MaxPooling2D(2)(before))
    features = rng.normal(size=after.shape).astype("float32")
    out = np.asarray(MaxUnpool2D(2)([features, before, after]))

    expected = np.zeros_like(before)
    for b, i, j, c in np.ndindex(*after.shape):
        window = before[b, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, c]
        di, dj = np.unravel_index(np.argmax(window), (2, 2))
        expected[b, 2 * i + di, 2 * j + dj, c] = features[b, i, j, c]
    np.testing.assert_array_equal(out, expected)
    assert np.count_nonzero(out) == features.size


def test_deconvnet_unpool_modes():
    switches = zoo.get("deconvnet_tiny")
    nearest = zoo.get("deconvnet_tiny", unpool="nearest")
    assert _count(switches, MaxUnpool2D) == 3
    assert not contains_layer(nearest, MaxUnpool2D)
    assert contains_layer(nearest, keras.layers.Conv2DTranspose)
    assert nearest.count_params() == switches.count_params()
    for mode in ("resize_conv", "subpixel"):
        model = zoo.get("deconvnet_tiny", upsample=mode)
        assert not contains_layer(model, MaxUnpool2D)


def test_deconvnet_rejects_an_unknown_unpool():
    with pytest.raises(zoo.ZooError, match="unpool"):
        zoo.get("deconvnet_tiny", unpool="bilinear")


@pytest.mark.parametrize("size", [(16, 16), (48, 32), (80, 112)])
def test_unet_keeps_any_size_divisible_by_16(size):
    model = zoo.get("unet", base_filters=2)
    x = np.random.default_rng(0).uniform(size=(1, *size, 3)).astype("float32")
    out = np.asarray(model(x, training=False))
    assert out.shape == (1, *size, 4)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)


def test_unet_up_convolutions_are_2x2_stride_2():
    model = zoo.get("unet_tiny")
    transposes = [la for la in model.layers if isinstance(la, keras.layers.Conv2DTranspose)]
    assert len(transposes) == 2
    assert all(la.kernel_size == (2, 2) and la.strides == (2, 2) for la in transposes)


def test_espcn_is_a_sub_pixel_baseline_of_fsrcnn_size():
    espcn, fsrcnn = zoo.get("espcn_x3"), zoo.get("fsrcnn_x3")
    assert zoo.info("espcn_x3").baseline
    assert not contains_layer(espcn, keras.layers.Conv2DTranspose)
    print(f"params: fsrcnn_x3 {fsrcnn.count_params()}, espcn_x3 {espcn.count_params()}")
    assert espcn.count_params() < 100_000 and fsrcnn.count_params() < 100_000


def test_fcn_rejects_an_unknown_output_stride():
    with pytest.raises(zoo.ZooError, match="output_stride"):
        zoo.get("fcn_tiny", output_stride=4)


def test_espcn_takes_no_upsample_option():
    with pytest.raises(zoo.ZooError):
        zoo.get("espcn_tiny", upsample="transpose")
