"""The zoo's shared blocks and custom layers (zoo/layers.py), against numpy references."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zoo.errors import ZooError
from zoo.layers import (
    ICNR,
    BilinearUpsampling,
    DepthToSpace,
    MaxUnpool2D,
    NearestResizeConv,
    NearestUpsampling2D,
    bilinear_kernel,
    bilinear_upsample,
    check_upsample,
    up_block,
)
from zoo.registry import UPSAMPLE_MODES


def _blocks(image: np.ndarray, scale: int) -> np.ndarray:
    """(B, H*s, W*s, C) -> (B, H, s, W, s, C): the s x s block of each low-res pixel."""
    b, h, w, c = image.shape
    return image.reshape(b, h // scale, scale, w // scale, scale, c)


# === ICNR sub-pixel block ===


@pytest.mark.parametrize("scale", [2, 3])
def test_icnr_subpixel_block_starts_as_nearest_upsampling_of_a_conv(scale):
    """up_block "subpixel" = UpSampling2D(nearest)(Conv2D with the base kernel), exactly."""
    filters, cin = 4, 3
    inputs = keras.Input((5, 6, cin))
    model = keras.Model(inputs, up_block(inputs, filters, scale=scale, mode="subpixel", name="up"))
    kernel, bias = model.get_layer("up_conv").get_weights()
    assert kernel.shape == (3, 3, cin, filters * scale**2)

    # ICNR tiles one base kernel: channel j of the conv reads base channel j % filters,
    # which is the channel depth-to-space puts at sub-pixel j // filters.
    base = kernel[..., :filters]
    np.testing.assert_array_equal(kernel, np.tile(base, (1, 1, 1, scale**2)))

    conv = keras.layers.Conv2D(filters, 3, padding="same")
    conv.build((None, None, None, cin))
    conv.set_weights([base, bias[:filters]])
    x = np.random.default_rng(0).normal(size=(2, 5, 6, cin)).astype("float32")
    expected = np.asarray(keras.layers.UpSampling2D(scale, interpolation="nearest")(conv(x)))
    out = np.asarray(model(x))
    assert out.shape == (2, 5 * scale, 6 * scale, filters)
    np.testing.assert_allclose(out, expected, atol=1e-6)

    # No checkerboard: every s x s block of every channel holds one value (up to the
    # float rounding of computing the scale**2 copies as separate conv outputs).
    blocks = _blocks(out, scale)
    np.testing.assert_allclose(
        blocks, np.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape), rtol=0, atol=1e-6
    )


def test_without_icnr_a_subpixel_conv_has_a_checkerboard():
    """The contrast: a plainly initialised sub-pixel conv varies inside each 2 x 2 block."""
    inputs = keras.Input((5, 6, 3))
    conv = keras.layers.Conv2D(16, 3, padding="same", kernel_initializer="glorot_uniform")
    model = keras.Model(inputs, DepthToSpace(2)(conv(inputs)))
    out = np.asarray(model(np.ones((1, 5, 6, 3), "float32")))
    assert np.ptp(_blocks(out, 2), axis=(2, 4)).min() > 0


def test_icnr_needs_a_multiple_of_scale_squared_channels():
    with pytest.raises(ValueError, match="multiple of 4"):
        ICNR(2)((3, 3, 2, 6))


# === Checkerboard-free transposed convolution ===


def test_nearest_resize_conv_starts_as_nearest_upsampling_then_a_conv():
    """Conv2DTranspose k4 s2 "same" = UpSampling2D(nearest) -> Conv2D 3x3 (base flipped)."""
    cin, filters = 3, 4
    kernel = NearestResizeConv(2, keras.initializers.RandomNormal(seed=3))((4, 4, filters, cin))
    base = np.asarray(keras.initializers.RandomNormal(seed=3)((3, 3, filters, cin)))
    transpose = keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)
    transpose.build((None, None, None, cin))
    transpose.kernel.assign(kernel)
    conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)
    conv.build((None, None, None, cin))
    conv.kernel.assign(base[::-1, ::-1].transpose(0, 1, 3, 2))
    x = np.random.default_rng(0).normal(size=(2, 5, 6, cin)).astype("float32")
    expected = np.asarray(conv(keras.layers.UpSampling2D(2)(x)))
    np.testing.assert_allclose(np.asarray(transpose(x)), expected, atol=1e-5)
    # every output phase sums the same taps: a constant map stays constant inside
    inside = np.asarray(transpose(np.ones((1, 6, 6, cin), "float32")))[0, 2:-2, 2:-2]
    assert np.ptp(inside, axis=(0, 1)).max() < 1e-5


def test_nearest_resize_conv_needs_a_kernel_at_least_the_scale():
    with pytest.raises(ValueError, match="smaller than 3"):
        NearestResizeConv(3)((2, 2, 1, 1))


# === Bilinear initialisation ===


def test_bilinear_kernel_values():
    np.testing.assert_allclose(bilinear_kernel(4)[0], np.array([1, 3, 3, 1]) / 16)
    np.testing.assert_allclose(bilinear_kernel(3)[1], [0.5, 1.0, 0.5])
    for size in (2, 3, 4, 5, 6, 8):
        kernel = bilinear_kernel(size)
        assert kernel.shape == (size, size)
        np.testing.assert_array_equal(kernel, kernel.T)
        np.testing.assert_array_equal(kernel, kernel[::-1, ::-1])


def test_bilinear_initializer_is_the_bilinear_kernel_per_channel():
    kernel = np.asarray(BilinearUpsampling()((4, 4, 3, 3)))
    assert kernel.shape == (4, 4, 3, 3)
    for out_channel in range(3):
        for in_channel in range(3):
            expected = bilinear_kernel(4) if out_channel == in_channel else np.zeros((4, 4))
            np.testing.assert_array_equal(kernel[:, :, out_channel, in_channel], expected)
    with pytest.raises(ValueError, match="as many output as input"):
        BilinearUpsampling()((4, 4, 2, 3))


def _ramp(size: int, slopes: tuple[float, float], offset: float) -> np.ndarray:
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return slopes[0] * rows + slopes[1] * cols + offset


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bilinear_transpose_upsamples_a_ramp_to_a_ramp(scale):
    """k = 2s, "same": a linear ramp becomes a linear ramp with slopes / s (interior)."""
    size, slopes = 8, ((0.7, -0.3), (-0.2, 0.5))
    x = np.stack([_ramp(size, slopes[c], 1.0 + c) for c in range(2)], axis=-1)[None]
    layer = keras.layers.Conv2DTranspose(
        2,
        2 * scale,
        strides=scale,
        padding="same",
        use_bias=False,
        kernel_initializer=BilinearUpsampling(),
    )
    out = np.asarray(layer(x.astype("float32")))[0]
    assert out.shape == (size * scale, size * scale, 2)
    interior = out[scale:-scale, scale:-scale]
    for c in range(2):
        np.testing.assert_allclose(
            np.diff(interior[..., c], axis=0), slopes[c][0] / scale, atol=1e-5
        )
        np.testing.assert_allclose(
            np.diff(interior[..., c], axis=1), slopes[c][1] / scale, atol=1e-5
        )


@pytest.mark.parametrize(("scale", "k"), [(2, 4), (4, 8), (3, 5)])
def test_bilinear_transpose_matches_bilinear_resizing_in_the_interior(scale, k):
    """Half-pixel-centre bilinear resizing (UpSampling2D "bilinear"), away from the border.

    Even strides with k = 2s; an odd stride needs k = 2s - 1 (FCN's size): with k = 2s
    "same" padding cannot centre the kernel and the result shifts by half an output pixel.
    """
    x = _ramp(8, (0.7, -0.3), 2.0)[None, :, :, None].astype("float32")
    layer = keras.layers.Conv2DTranspose(
        1, k, strides=scale, padding="same", use_bias=False, kernel_initializer=BilinearUpsampling()
    )
    out = np.asarray(layer(x))
    resized = np.asarray(keras.layers.UpSampling2D(scale, interpolation="bilinear")(x))
    border = 2 * scale
    np.testing.assert_allclose(
        out[:, border:-border, border:-border],
        resized[:, border:-border, border:-border],
        atol=1e-5,
    )


# === DepthToSpace ===


def _depth_to_space_reference(x: np.ndarray, scale: int) -> np.ndarray:
    b, h, w, c = x.shape
    channels = c // scale**2
    blocks = x.reshape(b, h, w, scale, scale, channels)  # channel = (dy * s + dx) * C + c
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * scale, w * scale, channels)


@pytest.mark.parametrize("scale", [2, 3])
def test_depth_to_space_matches_numpy(scale):
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 2 * scale**2)).astype("float32")
    np.testing.assert_array_equal(
        np.asarray(DepthToSpace(scale)(x)), _depth_to_space_reference(x, scale)
    )


def test_depth_to_space_output_shape_keeps_free_dims():
    layer = DepthToSpace(3)
    assert layer.compute_output_shape((None, None, 7, 18)) == (None, None, 21, 2)
    assert layer.compute_output_shape((4, 5, None, 9)) == (4, 15, None, 1)
    inputs = keras.Input((None, 5, 18))
    outputs = layer(inputs)
    assert tuple(outputs.shape) == (None, None, 15, 2)
    x = np.random.default_rng(1).normal(size=(1, 4, 5, 18)).astype("float32")
    out = keras.Model(inputs, outputs)(x)
    np.testing.assert_array_equal(np.asarray(out), _depth_to_space_reference(x, 3))


# === Nearest upsampling ===


@pytest.mark.parametrize("op", ["resize", "depth_to_space"])
@pytest.mark.parametrize("scale", [2, 3])
def test_nearest_upsampling_repeats_every_pixel_in_either_op(scale, op):
    image = np.random.default_rng(scale).normal(size=(2, 3, 5, 4)).astype("float32")
    out = np.asarray(NearestUpsampling2D(scale, op=op)(image))
    expected = np.repeat(np.repeat(image, scale, axis=1), scale, axis=2)
    np.testing.assert_array_equal(out, expected)


def test_nearest_upsampling_defaults_to_the_depth_to_space_form():
    assert NearestUpsampling2D(2).op == MaxUnpool2D(2).op == "depth_to_space"


def test_unknown_nearest_upsampling_op_is_an_error():
    with pytest.raises(ZooError, match="nearest-upsampling op"):
        NearestUpsampling2D(2, op="tile")
    with pytest.raises(ZooError, match="nearest-upsampling op"):
        MaxUnpool2D(2, op="tile")


# === MaxUnpool2D ===


def _unpool_reference(features: np.ndarray, before: np.ndarray, size: int) -> np.ndarray:
    """Put each feature at its window's argmax in ``before``; zeros elsewhere."""
    b, h, w, c = before.shape
    windows = before.reshape(b, h // size, size, w // size, size, c).transpose(0, 1, 3, 5, 2, 4)
    argmax = windows.reshape(*windows.shape[:4], size * size).argmax(axis=-1)
    out = np.zeros_like(before)
    for bi, i, j, ci in np.ndindex(*argmax.shape):
        dy, dx = divmod(argmax[bi, i, j, ci], size)
        out[bi, i * size + dy, j * size + dx, ci] = features[bi, i, j, ci]
    return out


@pytest.mark.parametrize("size", [2, 3])
def test_max_unpool_places_features_at_the_argmax(size):
    rng = np.random.default_rng(0)
    shape = (2, 4 * size, 3 * size, 3)
    before = rng.permutation(np.prod(shape)).reshape(shape).astype("float32")  # no ties
    after = np.asarray(keras.layers.MaxPooling2D(size)(before))
    features = rng.normal(size=after.shape).astype("float32") + 10.0  # never zero
    out = np.asarray(MaxUnpool2D(size)([features, before, after]))
    expected = _unpool_reference(features, before, size)
    np.testing.assert_array_equal(out, expected)
    assert np.count_nonzero(out) == features.size


def test_max_unpool_passes_a_tied_maximum_to_every_tied_position():
    """Documented behaviour: a window with a tied maximum gets the value at each tie."""
    before = np.zeros((1, 2, 2, 1), "float32")
    after = np.zeros((1, 1, 1, 1), "float32")
    out = np.asarray(MaxUnpool2D(2)([np.full((1, 1, 1, 1), 5.0, "float32"), before, after]))
    np.testing.assert_array_equal(out, np.full((1, 2, 2, 1), 5.0))


def test_soft_max_unpool_shares_the_value_by_distance_below_the_maximum():
    before = np.array([[0.5, 0.48], [0.45, 0.2]], "float32").reshape(1, 2, 2, 1)
    after = np.full((1, 1, 1, 1), 0.5, "float32")
    features = np.full((1, 1, 1, 1), 4.0, "float32")
    out = np.asarray(MaxUnpool2D(2, width=0.05)([features, before, after]))[0, :, :, 0]
    # 1 at the maximum, 1 - 0.02 / 0.05 and 1 - 0.05 / 0.05 below it, 0 further down
    np.testing.assert_allclose(out, [[4.0, 2.4], [0.0, 0.0]], atol=1e-5)
    with pytest.raises(ZooError, match="width"):
        MaxUnpool2D(2, width=-0.1)


def test_soft_max_unpool_is_continuous_where_the_hard_one_jumps():
    """A near-tie moved by 1e-6: the hard switch moves the whole value to the other
    position, the soft one moves it by at most 1e-6 / width of it."""
    after = np.full((1, 1, 1, 1), 1.0, "float32")
    features = np.full((1, 1, 1, 1), 3.0, "float32")
    first = np.array([1.0, 1.0 - 1e-6, 0.0, 0.0], "float32").reshape(1, 2, 2, 1)
    second = np.array([1.0 - 1e-6, 1.0, 0.0, 0.0], "float32").reshape(1, 2, 2, 1)

    def change(width: float) -> float:
        unpool = MaxUnpool2D(2, width=width)
        moved = np.asarray(unpool([features, first, after])) - unpool([features, second, after])
        return float(np.abs(moved).max())

    assert change(0.0) == 3.0
    gap = 1.0 - float(first[0, 0, 1, 0])  # 1e-6 as float32 holds it
    assert change(0.05) <= 3.0 * gap / 0.05 * 1.001


# === up_block ===


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("mode", UPSAMPLE_MODES)
def test_up_block_output_shape(mode, scale):
    inputs = keras.Input((None, None, 3))
    outputs = up_block(inputs, 5, scale=scale, mode=mode, name="up")
    model = keras.Model(inputs, outputs)
    out = model(np.zeros((1, 4, 7, 3), "float32"))
    assert tuple(out.shape) == (1, 4 * scale, 7 * scale, 5)
    static = up_block(keras.Input((4, 7, 3)), 5, scale=scale, mode=mode, name="up_static")
    assert tuple(static.shape) == (None, 4 * scale, 7 * scale, 5)
    has_transpose = any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in model.layers)
    assert has_transpose == (mode == "transpose")
    if mode == "transpose":
        layer = model.get_layer("up")
        assert layer.kernel_size == (2 * scale, 2 * scale)  # divisible by the stride
        assert layer.strides == (scale, scale) and layer.padding == "same"


def test_up_block_rejects_a_transpose_kernel_not_divisible_by_the_stride():
    inputs = keras.Input((4, 4, 3))
    with pytest.raises(ValueError, match="not divisible"):
        up_block(inputs, 5, scale=2, kernel_size=3, mode="transpose", name="up")
    out = up_block(inputs, 5, scale=3, kernel_size=9, mode="transpose", name="up9")
    assert tuple(out.shape) == (None, 12, 12, 5)


def test_unknown_upsample_mode_is_a_user_error():
    inputs = keras.Input((4, 4, 3))
    with pytest.raises(ZooError, match="deconv"):
        up_block(inputs, 5, mode="deconv", name="up")
    with pytest.raises(ZooError):
        check_upsample("bilinear")
    for mode in UPSAMPLE_MODES:
        check_upsample(mode)


# === Serialization ===

CUSTOM_OBJECTS = {
    "icnr": lambda: ICNR(3, "he_normal"),
    "icnr_seeded": lambda: ICNR(2, keras.initializers.GlorotUniform(seed=3)),
    "nearest_resize_conv": lambda: NearestResizeConv(2, keras.initializers.RandomNormal(seed=1)),
    "bilinear": BilinearUpsampling,
    "depth_to_space": lambda: DepthToSpace(3, name="d2s"),
    "max_unpool": lambda: MaxUnpool2D(3, name="unpool"),
    "max_unpool_resize": lambda: MaxUnpool2D(2, width=0.05, op="resize"),
    "nearest_resize": lambda: NearestUpsampling2D(3, op="resize"),
}


@pytest.mark.parametrize("make", CUSTOM_OBJECTS.values(), ids=CUSTOM_OBJECTS.keys())
def test_custom_objects_round_trip_through_their_config(make):
    obj = make()
    config = obj.get_config()
    assert type(obj).from_config(config).get_config() == config
    serialized = keras.saving.serialize_keras_object(obj)
    assert serialized["registered_name"] == f"zoo>{type(obj).__name__}"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(obj)
    assert restored.get_config() == config


def test_seeded_icnr_draws_the_same_kernel_after_a_round_trip():
    icnr = ICNR(2, keras.initializers.GlorotUniform(seed=3))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(icnr))
    np.testing.assert_array_equal(
        np.asarray(icnr((3, 3, 2, 8))), np.asarray(restored((3, 3, 2, 8)))
    )


def _subpixel_model() -> keras.Model:
    inputs = keras.Input((6, 6, 3))
    return keras.Model(inputs, up_block(inputs, 4, scale=2, mode="subpixel", name="up"))


def _bilinear_model() -> keras.Model:
    inputs = keras.Input((6, 6, 3))
    up = keras.layers.Conv2DTranspose(
        3, 4, strides=2, padding="same", kernel_initializer=BilinearUpsampling(), name="up"
    )
    return keras.Model(inputs, up(inputs))


def _depth_to_space_model() -> keras.Model:
    inputs = keras.Input((None, None, 12))
    return keras.Model(inputs, DepthToSpace(2, name="d2s")(inputs))


def _max_unpool_model() -> keras.Model:
    inputs = keras.Input((6, 6, 3))
    before = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    after = keras.layers.MaxPooling2D(2, name="pool")(before)
    features = keras.layers.Conv2D(4, 1, name="features")(after)
    return keras.Model(inputs, MaxUnpool2D(2, name="unpool")([features, before, after]))


MODELS = {
    "subpixel_icnr": (_subpixel_model, 3),
    "bilinear": (_bilinear_model, 3),
    "depth_to_space": (_depth_to_space_model, 12),
    "max_unpool": (_max_unpool_model, 3),
}


@pytest.mark.parametrize(("build", "channels"), MODELS.values(), ids=MODELS.keys())
def test_models_with_custom_layers_save_and_load(build, channels, tmp_path):
    model = build()
    x = np.random.default_rng(0).normal(size=(2, 6, 6, channels)).astype("float32")
    expected = np.asarray(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), expected)
    for original, loaded in zip(model.layers, reloaded.layers, strict=True):
        assert type(loaded) is type(original)
        assert loaded.get_config() == original.get_config()


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bilinear_upsample_is_frozen_exact_bilinear_resizing(scale):
    x = np.stack([_ramp(8, (0.7, -0.3), 2.0), _ramp(8, (-0.2, 0.5), 1.0)], axis=-1)
    inputs = keras.Input((8, 8, 2))
    model = keras.Model(inputs, bilinear_upsample(inputs, scale=scale, name="skip"))
    assert not model.trainable_weights
    out = np.asarray(model(x[None].astype("float32")))[0]
    centres = (np.arange(8 * scale) + 0.5) / scale - 0.5  # input coordinates of output pixels
    rows, cols = np.meshgrid(centres, centres, indexing="ij")
    for c, (slopes, offset) in enumerate((((0.7, -0.3), 2.0), ((-0.2, 0.5), 1.0))):
        expected = slopes[0] * rows + slopes[1] * cols + offset
        inner = slice(scale, -scale)
        np.testing.assert_allclose(out[inner, inner, c], expected[inner, inner], atol=1e-5)
