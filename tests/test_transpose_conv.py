"""What a transposed convolution is, checked against Keras.

1. It is multiplication by the transpose of the convolution matrix, ``C.T``.
2. It is the gradient of that convolution with respect to its input.
3. It is not an inverse: only a true deconvolution (here a least-squares solve) undoes
   a convolution.
4. Output sizes follow Dumoulin & Visin 2016's arithmetic.
5. Checkerboard artifacts (Odena, Dumoulin, Olah 2016): output pixels receive an uneven
   number of kernel taps unless the kernel size is divisible by the stride.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.arithmetic import (
    conv_matrix,
    conv_output_size,
    same_padding,
    transposed_output_padding,
    transposed_output_size,
)

CHANNELS = ((1, 1), (2, 3), (3, 2))
SIZES = (5, 6, 7, 8)


def _cases() -> list:
    """Strides x paddings x kernels; channels and sizes rotate so each appears often.

    The input is (n, n + stride): both axes need the same kind of output padding
    (Keras takes one ``output_padding`` tuple that is either all None or all ints).
    """
    cases = []
    for i, (stride, padding, kernel) in enumerate(
        itertools.product((1, 2, 3), ("valid", "same"), (1, 2, 3, 4, 5))
    ):
        cin, cout = CHANNELS[i % len(CHANNELS)]
        size = SIZES[i % len(SIZES)]
        cases.append(
            pytest.param(
                stride,
                padding,
                kernel,
                cin,
                cout,
                (size, size + stride),
                id=f"s{stride}-{padding}-k{kernel}-{cin}to{cout}-{size}x{size + stride}",
            )
        )
    return cases


CASES = _cases()


def _conv(kernel: np.ndarray, stride: int, padding: str) -> keras.layers.Conv2D:
    kh, kw, _, cout = kernel.shape
    layer = keras.layers.Conv2D(cout, (kh, kw), strides=stride, padding=padding, use_bias=False)
    layer.build((None, None, None, kernel.shape[2]))
    layer.set_weights([kernel])
    return layer


def _transpose(
    kernel: np.ndarray, stride: int, padding: str, size: tuple[int, int]
) -> keras.layers.Conv2DTranspose:
    """Conv2DTranspose with the forward conv's kernel, sized back to ``size``."""
    kh, kw, cin, cout = kernel.shape
    pads = [
        transposed_output_padding(n, k, stride, padding)
        for n, k in zip(size, (kh, kw), strict=True)
    ]
    if all(p is None for p in pads):
        output_padding = None
    else:
        assert None not in pads, "test case not expressible with one output_padding tuple"
        output_padding = tuple(pads)
    layer = keras.layers.Conv2DTranspose(
        cin,
        (kh, kw),
        strides=stride,
        padding=padding,
        output_padding=output_padding,
        use_bias=False,
    )
    layer.build((None, None, None, cout))
    layer.set_weights([kernel])  # (kh, kw, filters=cin, inputs=cout): the same array
    return layer


def _setup(stride, padding, k, cin, cout, size, seed=0):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(k, k, cin, cout)).astype("float32")
    x = rng.normal(size=(1, *size, cin)).astype("float32")
    out_size = tuple(conv_output_size(n, k, stride, padding) for n in size)
    y = rng.normal(size=(1, *out_size, cout)).astype("float32")
    return kernel, x, y, out_size


# === 1. The transposed convolution is C.T ===


@pytest.mark.parametrize(("stride", "padding", "k", "cin", "cout", "size"), CASES)
def test_transposed_convolution_is_the_transposed_conv_matrix(stride, padding, k, cin, cout, size):
    kernel, x, y, out_size = _setup(stride, padding, k, cin, cout, size)
    C = conv_matrix(kernel.astype("float64"), size, stride, padding)
    assert C.shape == (np.prod(out_size) * cout, np.prod(size) * cin)

    conv_out = np.asarray(_conv(kernel, stride, padding)(x))
    assert conv_out.shape == (1, *out_size, cout)
    np.testing.assert_allclose(C @ x.reshape(-1), conv_out.reshape(-1), atol=1e-4)

    transposed = np.asarray(_transpose(kernel, stride, padding, size)(y))
    assert transposed.shape == x.shape, "transpose did not map back to the input space"
    np.testing.assert_allclose(C.T @ y.reshape(-1), transposed.reshape(-1), atol=1e-4)


def test_explicit_padding_is_a_cropped_valid_transpose():
    """Zero padding p in the convolution = cropping p from the valid transpose's output."""
    stride, k, p, size = 2, 3, 1, (6, 7)
    kernel, x, _, _ = _setup(stride, "valid", k, 2, 3, size)
    C = conv_matrix(kernel.astype("float64"), size, stride, p)
    out_size = tuple(conv_output_size(n, k, stride, p) for n in size)
    y = np.random.default_rng(1).normal(size=(1, *out_size, 3)).astype("float32")

    conv = keras.Sequential([keras.layers.ZeroPadding2D(p), _conv(kernel, stride, "valid")])
    np.testing.assert_allclose(C @ x.reshape(-1), np.asarray(conv(x)).reshape(-1), atol=1e-4)

    padded = tuple(n + 2 * p for n in size)
    full = _transpose(kernel, stride, "valid", padded)(y)
    cropped = np.asarray(keras.layers.Cropping2D(p)(full))
    assert cropped.shape == x.shape
    np.testing.assert_allclose(C.T @ y.reshape(-1), cropped.reshape(-1), atol=1e-4)


@pytest.mark.parametrize(
    ("size", "k", "stride", "pads"),
    [(5, 3, 2, (1, 1)), (6, 3, 2, (0, 1)), (6, 4, 2, (1, 1)), (7, 4, 3, (1, 2)), (5, 1, 2, (0, 0))],
)
def test_same_padding_is_tensorflows_asymmetric_convention(size, k, stride, pads):
    """pad_total = max((out - 1) * s + k - i, 0), the smaller half before."""
    assert same_padding(size, k, stride) == pads
    kernel, x, _, _ = _setup(stride, "same", k, 2, 3, (size, size))
    explicit = keras.Sequential(
        [keras.layers.ZeroPadding2D((pads, pads)), _conv(kernel, stride, "valid")]
    )
    np.testing.assert_allclose(_conv(kernel, stride, "same")(x), explicit(x), atol=1e-5)


# === 2. The transposed convolution is the gradient of the convolution ===


@pytest.mark.parametrize(("stride", "padding", "k", "cin", "cout", "size"), CASES)
def test_transposed_convolution_is_the_input_gradient(stride, padding, k, cin, cout, size):
    kernel, x, y, _ = _setup(stride, padding, k, cin, cout, size, seed=1)
    conv = _conv(kernel, stride, padding)
    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        loss = tf.reduce_sum(conv(x_t) * y)  # d loss / d x = C.T @ y
    gradient = tape.gradient(loss, x_t).numpy()

    transposed = np.asarray(_transpose(kernel, stride, padding, size)(y))
    np.testing.assert_allclose(gradient, transposed, atol=1e-4)
    C = conv_matrix(kernel.astype("float64"), size, stride, padding)
    np.testing.assert_allclose(gradient.reshape(-1), C.T @ y.reshape(-1), atol=1e-4)


# === 3. It is not an inverse ===


def _binomial_blur(channels: int = 1) -> np.ndarray:
    taps = np.array([1.0, 2.0, 1.0]) / 4
    return np.outer(taps, taps)[:, :, None, None] * np.eye(channels)


def test_transpose_of_a_strided_conv_is_not_its_inverse():
    kernel, x, _, _ = _setup(2, "same", 3, 1, 1, (8, 8))
    C = conv_matrix(kernel.astype("float64"), (8, 8), 2, "same")
    assert C.shape == (16, 64)
    gram = C.T @ C
    assert np.linalg.matrix_rank(gram) <= 16 < 64  # a 4x downsampling loses 3/4 of x
    assert not np.allclose(gram, np.eye(64), atol=0.1)

    y = _conv(kernel, 2, "same")(x)
    back = np.asarray(_transpose(kernel, 2, "same", (8, 8))(y))
    assert back.shape == x.shape
    assert np.linalg.norm(back - x) > 0.5 * np.linalg.norm(x)


def test_transpose_does_not_undo_a_blur_but_least_squares_does():
    """A full-rank blur: C.T @ (C x) is another blur; lstsq / pinv give x back."""
    size = (7, 6)
    kernel = _binomial_blur()
    C = conv_matrix(kernel, size, 1, "same")
    assert C.shape == (42, 42)
    assert np.linalg.matrix_rank(C) == 42  # full column rank: the blur is invertible

    x = np.random.default_rng(2).uniform(size=(1, *size, 1))
    blurred = C @ x.reshape(-1)
    np.testing.assert_allclose(
        np.asarray(_conv(kernel.astype("float32"), 1, "same")(x.astype("float32"))).reshape(-1),
        blurred,
        atol=1e-5,
    )

    transposed = C.T @ blurred
    assert np.abs(transposed - x.reshape(-1)).max() > 0.1
    assert not np.allclose(C.T @ C, np.eye(42), atol=0.1)
    layer_back = _transpose(kernel.astype("float32"), 1, "same", size)(
        blurred.reshape(1, *size, 1).astype("float32")
    )
    np.testing.assert_allclose(np.asarray(layer_back).reshape(-1), transposed, atol=1e-5)

    recovered, *_ = np.linalg.lstsq(C, blurred, rcond=None)
    np.testing.assert_allclose(recovered, x.reshape(-1), atol=1e-8)
    np.testing.assert_allclose(np.linalg.pinv(C) @ blurred, x.reshape(-1), atol=1e-8)


def test_a_strided_conv_with_enough_channels_is_undone_by_least_squares_only():
    """k2 s2, 1 -> 4 channels: C is square and invertible, yet C.T is not C^-1."""
    rng = np.random.default_rng(3)
    kernel = rng.normal(size=(2, 2, 1, 4))
    size = (6, 6)
    C = conv_matrix(kernel, size, 2, "valid")
    assert C.shape == (36, 36)
    assert np.linalg.matrix_rank(C) == 36
    x = rng.normal(size=36)
    y = C @ x
    assert np.abs(C.T @ y - x).max() > 0.1
    recovered, *_ = np.linalg.lstsq(C, y, rcond=None)
    np.testing.assert_allclose(recovered, x, atol=1e-8)


def test_transpose_is_the_inverse_exactly_when_the_conv_matrix_is_orthogonal():
    """Space-to-depth (a one-hot k2 s2 kernel) permutes pixels: C.T @ C = I."""
    kernel = np.eye(4).reshape(2, 2, 1, 4)
    C = conv_matrix(kernel, (6, 6), 2, "valid")
    np.testing.assert_array_equal(C.T @ C, np.eye(36))


# === 4. Output-size arithmetic (Dumoulin & Visin 2016) ===


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_output_size_matches_keras(padding):
    for size, k, stride in itertools.product(range(1, 10), range(1, 6), (1, 2, 3)):
        if padding == "valid" and k > size:
            with pytest.raises(ValueError):
                conv_output_size(size, k, stride, padding)
            continue
        expected = conv_output_size(size, k, stride, padding)
        if padding == "same":
            assert expected == -(-size // stride)
        else:
            assert expected == (size - k) // stride + 1
        layer = keras.layers.Conv2D(1, k, strides=stride, padding=padding)
        shape = layer(np.zeros((1, size, size, 1), "float32")).shape
        assert shape == (1, expected, expected, 1), (size, k, stride)
        assert conv_matrix(np.ones((k, k, 1, 1)), (size, size), stride, padding).shape == (
            expected * expected,
            size * size,
        )


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_transposed_output_size_matches_keras(padding):
    for size, k, stride in itertools.product((1, 2, 3, 5, 6), range(1, 6), (1, 2, 3)):
        for output_padding in (None, *range(stride)):
            expected = transposed_output_size(size, k, stride, padding, output_padding)
            if output_padding is not None:
                p = 0 if padding == "valid" else k // 2
                assert expected == stride * (size - 1) + k - 2 * p + output_padding
            elif padding == "same":
                assert expected == size * stride
            layer = keras.layers.Conv2DTranspose(
                1, k, strides=stride, padding=padding, output_padding=output_padding
            )
            y = np.zeros((1, size, size, 1), "float32")
            if conv_output_size(expected, k, stride, padding) != size:
                # "same", even k, output_padding 0: Keras asks for a size whose own
                # convolution is one pixel short. TensorFlow's reference kernel refuses it
                # (InvalidArgumentError); its oneDNN kernel, used on some x86 CPUs, aborts
                # or, where Keras asks for size 0, returns that empty map.
                assert (padding, k % 2, output_padding) == ("same", 0, 0)
                try:
                    out = layer(y)
                except (tf.errors.InvalidArgumentError, tf.errors.AbortedError):
                    continue
                assert expected == 0 and out.shape == (1, 0, 0, 1), (size, k, stride)
                continue
            assert layer(y).shape == (1, expected, expected, 1), (size, k, stride, output_padding)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_transpose_of_conv_returns_to_the_input_size(padding):
    """Without output_padding only when (i + 2p - k) % s == 0 ("same": i % s == 0)."""
    for size, k, stride in itertools.product(range(3, 9), range(1, 4), (1, 2, 3)):
        out = conv_output_size(size, k, stride, padding)
        default = transposed_output_size(out, k, stride, padding)
        if padding == "valid":
            exact = (size - k) % stride == 0
            assert (transposed_output_size(out, k, stride, padding, 0) == size) == exact
        else:
            exact = size % stride == 0
        if padding == "same" or k >= stride:
            assert (default == size) == exact, (size, k, stride)
        output_padding = transposed_output_padding(size, k, stride, padding)
        layer = keras.layers.Conv2DTranspose(
            1, k, strides=stride, padding=padding, output_padding=output_padding
        )
        assert layer(np.zeros((1, out, out, 1), "float32")).shape == (1, size, size, 1)


# Dumoulin & Visin's figures 2.1-2.7: (input i, kernel k, stride s, padding p, output o).
DV_FIGURES = {
    "2.1 no padding, unit strides": (4, 3, 1, 0, 2),
    "2.2 arbitrary padding, unit strides": (5, 4, 1, 2, 6),
    "2.3 half padding, unit strides": (5, 3, 1, 1, 5),
    "2.4 full padding, unit strides": (5, 3, 1, 2, 7),
    "2.5 no padding, strides": (5, 3, 2, 0, 2),
    "2.6 padding, strides": (5, 3, 2, 1, 3),
    "2.7 padding, strides (odd)": (6, 3, 2, 1, 3),
}


@pytest.mark.parametrize(("i", "k", "s", "p", "o"), DV_FIGURES.values(), ids=DV_FIGURES.keys())
def test_dumoulin_visin_figures(i, k, s, p, o):
    assert conv_output_size(i, k, s, p) == o
    C = conv_matrix(np.ones((k, k, 1, 1)), (i, i), s, p)
    assert C.shape == (o * o, i * i)  # C.T maps o x o back to i x i

    # The transposed convolution's own formula, o' = s (i' - 1) + a + k - 2p.
    a = transposed_output_padding(i, k, s, p)
    assert a == (i + 2 * p - k) % s
    assert transposed_output_size(o, k, s, p, a) == i
    assert (transposed_output_size(o, k, s, p) == i) == (a == 0)  # only 2.7 needs a = 1

    # Keras: explicit padding = zero padding + valid conv; the transpose crops it again.
    x = np.zeros((1, i, i, 1), "float32")
    conv = keras.Sequential([keras.layers.ZeroPadding2D(p), keras.layers.Conv2D(1, k, strides=s)])
    assert conv(x).shape == (1, o, o, 1)
    full = keras.layers.Conv2DTranspose(1, k, strides=s, output_padding=a or None)
    back = keras.layers.Cropping2D(p)(full(np.zeros((1, o, o, 1), "float32")))
    assert back.shape == (1, i, i, 1)


# === 5. Checkerboard artifacts: uneven overlap when k % s != 0 ===


@pytest.mark.parametrize(
    ("k", "s", "even"), [(3, 2, False), (4, 2, True), (9, 3, True), (9, 2, False), (6, 3, True)]
)
def test_checkerboard_comes_from_uneven_overlap(k, s, even):
    """All-ones kernel and input: each output pixel counts the kernel taps it receives."""
    size = 16
    layer = keras.layers.Conv2DTranspose(
        1, k, strides=s, padding="same", use_bias=False, kernel_initializer="ones"
    )
    taps = np.asarray(layer(np.ones((1, size, size, 1), "float32")))[0, :, :, 0]
    assert taps.shape == (size * s, size * s)
    interior = taps[k:-k, k:-k]
    assert interior.size > 0
    assert (interior.min() == interior.max()) == even
    if even:
        assert interior[0, 0] == (k // s) ** 2
    else:  # a stride-periodic pattern: the checkerboard
        np.testing.assert_array_equal(interior[s:], interior[:-s])
        np.testing.assert_array_equal(interior[:, s:], interior[:, :-s])

    # The same count from the matrix: column sums of the conv matrix of the upsampled size.
    C = conv_matrix(np.ones((k, k, 1, 1)), (size * s, size * s), s, "same")
    np.testing.assert_array_equal(C.sum(axis=0).reshape(size * s, size * s), taps)
