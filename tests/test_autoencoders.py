"""The autoencoder families beyond the shared harness: cae, dae, vae and deblur."""

import inspect

import keras
import numpy as np
import pytest

import zoo
from tests.harness import contains_layer
from zoo import data as zdata
from zoo.data.stream import Examples, first_batch
from zoo.models import cae as cae_module
from zoo.models import dae as dae_module
from zoo.models.vae import Sampling, decoder_of, encoder_of

AUTOENCODER_TINY = ("cae_tiny", "dae_tiny", "vae_tiny", "deblur_tiny")


def _uniform(shape, low=0.0, high=1.0, seed=0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype("float32")


# === VAE ===


@pytest.mark.parametrize("name", ["vae_tiny", "vae_digits"])
def test_vae_decoder_runs_alone(name, tmp_path):
    info = zoo.info(name)
    model = zoo.get(name)
    latent_dim = info.recipe.options["latent_dim"]
    decoder = decoder_of(model)
    assert decoder is model.get_layer("decoder")
    assert decoder.input_shape == (None, latent_dim)
    assert decoder.output_shape == (None, *info.output.shape)

    z = np.random.default_rng(0).normal(size=(3, latent_dim)).astype("float32")
    images = np.asarray(decoder(z))
    assert images.shape == (3, *info.output.shape)
    assert images.min() >= 0.0 and images.max() <= 1.0

    # the extracted decoder saves and reloads on its own (what an export needs)
    path = tmp_path / "decoder.keras"
    decoder.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path)(z), images, atol=1e-6)


def test_vae_inference_decodes_the_posterior_mean():
    model = zoo.get("vae_tiny")
    x = _uniform((2, *zoo.info("vae_tiny").inputs[0].shape))
    z_mean, _ = encoder_of(model)(x)
    expected = decoder_of(model)(z_mean)
    np.testing.assert_allclose(model(x, training=False), expected, atol=1e-6)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_sampling_is_deterministic_at_inference():
    layer = Sampling(seed=0)
    z_mean = _uniform((4, 8), -2.0, 2.0)
    z_log_var = np.zeros_like(z_mean)
    for training in (False, None):
        np.testing.assert_array_equal(layer([z_mean, z_log_var], training=training), z_mean)


def test_sampling_is_stochastic_in_training():
    layer = Sampling(seed=0)
    z_mean = _uniform((4, 8), -2.0, 2.0)
    first = np.asarray(layer([z_mean, np.zeros_like(z_mean)], training=True))
    second = np.asarray(layer([z_mean, np.zeros_like(z_mean)], training=True))
    assert not np.allclose(first, second)
    assert not np.allclose(first, z_mean)

    # unit variance: many samples average to z_mean, with unit spread
    many = np.repeat(z_mean[:1], 4000, axis=0)
    draws = np.asarray(layer([many, np.zeros_like(many)], training=True))
    np.testing.assert_allclose(draws.mean(axis=0, dtype="float64"), z_mean[0], atol=0.1)
    np.testing.assert_allclose(draws.std(axis=0), 1.0, atol=0.1)

    # a very negative log-variance collapses the samples onto z_mean
    tight = np.asarray(layer([many, np.full_like(many, -20.0)], training=True))
    assert not np.array_equal(tight, many)
    np.testing.assert_allclose(tight.mean(axis=0, dtype="float64"), z_mean[0], atol=1e-5)
    np.testing.assert_allclose(tight, many, atol=1e-3)


def test_sampling_serializes():
    layer = Sampling(seed=3, name="sampling")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, Sampling)
    assert clone.seed == 3 and clone.name == "sampling"


# === DAE reuses the CAE ===

# the cae configurations that dae variants are built from
EQUIVALENT_CAE = {
    "dae_tiny": dict(image_size=None, channels=3, filters=(4, 8)),
    "dae_photos": dict(image_size=None, channels=3, filters=(32, 64, 128)),
}


def _architecture(model: keras.Model) -> list[tuple[str, int]]:
    return [(type(layer).__name__, layer.count_params()) for layer in model.layers]


@pytest.mark.parametrize("name", sorted(EQUIVALENT_CAE))
def test_dae_is_the_cae_builder(name):
    """A DAE variant is the CAE builder with its arguments: its keywords are the CAE's."""
    variant = getattr(dae_module, name)
    assert inspect.signature(variant) == inspect.signature(cae_module.cae)
    assert {"input_name": "noisy", "output_name": "denoised"}.items() <= variant.arguments.items()
    dae = zoo.get(name)
    reference = cae_module.cae(**EQUIVALENT_CAE[name])
    assert _architecture(dae) == _architecture(reference)
    assert dae.count_params() == reference.count_params() == zoo.info(name).num_params


def test_dae_is_fully_convolutional():
    model = zoo.get("dae_tiny")
    for size in [(16, 16), (24, 40)]:
        x = _uniform((1, *size, 3))
        assert model(x).shape == x.shape


def test_cae_dense_code_needs_a_fixed_size():
    with pytest.raises(ValueError, match="image_size"):
        cae_module.cae(image_size=None, code_dim=8)
    with pytest.raises(ValueError, match="divisible"):
        cae_module.cae(image_size=20, filters=(4, 8, 16))


# === Deblur ===


@pytest.mark.parametrize("name", ["deblur_tiny", "rednet_tiny"])
def test_residual_restorers_with_zero_residual_are_the_clipped_input(name):
    model = zoo.get(name)
    residual = model.get_layer("residual")
    residual.set_weights([np.zeros_like(w) for w in residual.get_weights()])
    x = _uniform((2, 24, 40, 3), -0.5, 1.5)
    np.testing.assert_array_equal(model(x), np.clip(x, 0.0, 1.0))


@pytest.mark.parametrize("name", ["deblur_tiny", "rednet_tiny"])
def test_residual_restorers_are_fully_convolutional(name):
    model = zoo.get(name)
    for size in [(16, 16), (24, 40)]:
        x = _uniform((1, *size, 3))
        assert model(x).shape == x.shape


def test_rednet_adds_each_encoder_level_to_its_mirror_and_decodes_by_transposed_convolutions():
    """RED-Net's skips are sums (not concatenations) of same-width features, and every layer
    of its decoder is a transposed convolution."""
    model = zoo.get("rednet_tiny", filters=(4, 8, 16))
    skips = [
        layer
        for layer in model.layers
        if layer.name.startswith("skip") and "relu" not in layer.name
    ]
    assert [type(layer) for layer in skips] == [keras.layers.Add] * 2
    for skip in skips:
        first, second = (tensor.shape for tensor in skip.input)
        assert first == second
    decoder = [
        layer for layer in model.layers if layer.name.startswith(("decode", "up", "residual"))
    ]
    assert decoder and all(isinstance(layer, keras.layers.Conv2DTranspose) for layer in decoder)


def _deblur_objective(name: str = "deblur_tiny"):
    from zoo.tasks import objective_for
    from zoo.tasks.deblur import Deblur
    from zoo.train.config import TrainConfig

    info = zoo.info(name)
    objective = objective_for(info, TrainConfig.from_recipe(info))
    assert isinstance(objective, Deblur)
    return objective


def test_deblur_stack_kernels_keeps_each_kernel_at_the_centre():
    odd, even = np.arange(9, dtype="float32").reshape(3, 3), np.ones((2, 4), "float32")
    stack = zdata.stack_kernels([odd, even])
    assert stack.shape == (2, 5, 5) and stack.dtype == np.float32
    np.testing.assert_array_equal(stack[0, 1:4, 1:4], odd)
    np.testing.assert_array_equal(stack[1, 1:3, 0:4], even)  # origin (1, 2) -> centre (2, 2)
    assert stack.sum() == odd.sum() + even.sum()
    images = _uniform((2, 9, 10, 1))
    for kernel, padded in zip([odd, even], stack, strict=True):
        np.testing.assert_allclose(
            zdata.convolve(images, padded), zdata.convolve(images, kernel), atol=1e-4
        )
    # lopsided kernels: blur_tf flips them (true convolution) like convolve
    expected = np.concatenate([zdata.convolve(images[:1], even), zdata.convolve(images[1:], odd)])
    np.testing.assert_allclose(zdata.blur_tf(images, stack, [1, 0]), expected, atol=1e-4)


@pytest.mark.parametrize("shape", [(21, 32, 3), (20, 17, 1)])
def test_deblur_blur_tf_is_convolve_for_every_kernel_of_the_bank(shape):
    import tensorflow as tf

    kernels = _deblur_objective().kernels()
    assert len(kernels) == 15 and all(k.shape[0] % 2 for k in kernels)
    images = _uniform((len(kernels), *shape), seed=1)
    index = np.arange(len(kernels))[::-1].copy()  # image b blurred by kernel 14 - b
    expected = np.concatenate(
        [zdata.convolve(images[b : b + 1], kernels[i]) for b, i in enumerate(index)]
    )
    bank = zdata.stack_kernels(kernels)
    np.testing.assert_allclose(zdata.blur_tf(images, bank, index), expected, atol=1e-5)
    # traced with a free batch size, as in a training step
    traced = tf.function(
        lambda x, i: zdata.blur_tf(x, bank, i),
        input_signature=[
            tf.TensorSpec((None, None, None, shape[-1]), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ],
    )
    np.testing.assert_allclose(traced(images[:5], index[:5]), expected[:5], atol=1e-5)


def test_deblur_pairs_are_blurred_afresh_at_every_step():
    keras.utils.set_random_seed(0)
    objective = _deblur_objective()
    kernels = objective.kernels()
    sigma = objective.options["noise_sigma"] / 255.0
    images = _uniform((16, 32, 32, 3), 0.15, 0.85, seed=2)  # blurs stay clear of the clip
    examples = Examples.in_memory({"sharp": images})
    batch = first_batch(examples, 16, seed=0, degrade=objective.degrade)
    blurred, sharp = objective.pair(batch)
    assert sorted(sharp.mean(axis=(1, 2, 3))) == sorted(images.mean(axis=(1, 2, 3)))
    again = first_batch(examples, 16, seed=0, degrade=objective.degrade)["blurred"]
    np.testing.assert_array_equal(again, blurred)  # a function of the seed and position
    other = first_batch(examples, 16, seed=1, degrade=objective.degrade)
    order = [int(np.argmax((other["sharp"] == s).all(axis=(1, 2, 3)))) for s in sharp]
    assert blurred.shape == sharp.shape and blurred.dtype == np.float32
    assert blurred.min() >= 0.0 and blurred.max() <= 1.0
    # another seed: fresh noise, and mostly fresh kernels
    assert not np.allclose(blurred, other["blurred"][order], atol=sigma)
    candidates = np.stack([zdata.convolve(sharp, k) for k in kernels], axis=1)  # (B, N, ...)
    residuals = (blurred[:, None] - candidates).std(axis=(2, 3, 4))  # (B, N)
    chosen = residuals.argmin(axis=1)
    np.testing.assert_allclose(residuals.min(axis=1), sigma, rtol=0.1)  # only the noise is left
    assert (np.sort(residuals, axis=1)[:, 1] > 1.25 * sigma).all()  # and only one kernel fits
    assert len(set(chosen)) > 3  # drawn per image


def test_deblur_trains_on_sharp_crops_and_validates_on_fixed_pairs():
    objective = _deblur_objective()
    objective.limit = 2
    train, validation = objective.load_data()
    assert set(train) == {"sharp"} and train["sharp"].shape[1:] == (32, 32, 3)
    assert set(validation) == {"blurred", "sharp"}
    _, again = objective.load_data()
    np.testing.assert_array_equal(validation["blurred"], again["blurred"])  # seeded, fixed
    objective.options["patch_size"] = 8  # tf.pad cannot mirror 9 pixels of an 8-pixel side
    with pytest.raises(zoo.ZooError, match="patch_size"):
        objective.load_data()


def test_deblur_no_worse_weight_adds_only_the_excess_over_the_blurred_input():
    objective = _deblur_objective()
    sharp = _uniform((3, 16, 16, 3), 0.2, 0.8, seed=4)
    blurred = sharp + 0.05  # each crop's input is 0.05 off (L1)
    prediction = sharp + np.array([0.01, 0.05, 0.2], "float32")[:, None, None, None]
    batch = {"blurred": blurred, "sharp": sharp}
    plain = np.asarray(objective.training_loss(batch, sharp, prediction))
    np.testing.assert_allclose(plain, [0.01, 0.05, 0.2], rtol=1e-4)
    objective.options["no_worse_weight"] = 2.0
    weighted = np.asarray(objective.training_loss(batch, sharp, prediction))
    # better than the input: unchanged; worse by 0.15: 0.2 + 2 x 0.15
    np.testing.assert_allclose(weighted, [0.01, 0.05, 0.5], rtol=1e-4)


# === Non-blind deblurring ===


def test_kernel_input_is_the_kernel_centred_with_its_peak_at_one():
    from zoo.tasks.deblur import kernel_input

    kernel = zdata.blur_kernel("motion", length=5, angle=45)
    made = kernel_input(kernel, 19)
    assert made.shape == (19, 19, 1) and made.dtype == np.float32
    assert made.max() == 1.0 and made.min() == 0.0
    np.testing.assert_allclose(made[7:12, 7:12, 0] * kernel.max(), kernel, rtol=1e-6)
    np.testing.assert_allclose(made / made.sum(), np.pad(kernel, 7)[..., None], atol=1e-7)
    with pytest.raises(zoo.ZooError, match="wider than 19x19"):
        kernel_input(zdata.blur_kernel("gaussian", sigma=4.0), 19)
    with pytest.raises(zoo.ZooError, match="taps >= 0"):
        kernel_input(-kernel, 19)


def test_non_blind_deblur_starts_as_the_blind_one_and_then_reads_the_kernel():
    from zoo.tasks.deblur import kernel_input
    from zoo.weights_io import copy_matching_weights

    blind, nonblind = zoo.get("deblur_tiny"), zoo.get("deblur_nonblind_tiny")
    _, kept = copy_matching_weights(nonblind, blind)
    assert kept and all("kernel" in name for name in kept)  # only the kernel's own layers
    image = _uniform((1, 24, 40, 3), seed=3)
    sharp_kernel = kernel_input(zdata.blur_kernel("gaussian", sigma=1.0), 19)[None]
    long_kernel = kernel_input(zdata.blur_kernel("motion", length=15, angle=90), 19)[None]
    expected = np.asarray(blind(image))
    for kernel in (sharp_kernel, long_kernel):  # zero biases: the kernel changes nothing yet
        np.testing.assert_allclose(nonblind([image, kernel]), expected, atol=1e-6)
    for layer in nonblind.layers:
        if layer.name.endswith("_kernel_bias"):
            layer.set_weights([w + 0.5 for w in layer.get_weights()])
    first, second = nonblind([image, sharp_kernel]), nonblind([image, long_kernel])
    assert np.abs(np.asarray(first) - np.asarray(second)).max() > 1e-3


def test_global_context_lets_the_whole_image_steer_every_pixel():
    """With ``global_context`` a blind deblur's up-path reads a code averaged over the whole
    image: zero biases at first (the plain model's output, layer for layer), then a change
    far outside a pixel's receptive field moves that pixel, which the plain model cannot."""
    from zoo.weights_io import copy_matching_weights

    plain = zoo.get("deblur_tiny", global_context=False)
    context = zoo.get("deblur_tiny")
    _, kept = copy_matching_weights(context, plain)
    assert kept and all(name.startswith(("context", "fuse")) for name in kept)
    image = _uniform((1, 16, 96, 3), seed=4)
    np.testing.assert_allclose(context(image), plain(image), atol=1e-6)
    far = image.copy()
    far[:, :, 64:] = _uniform((1, 16, 32, 3), seed=5)  # columns 64+: beyond the left corner's reach
    corner = (slice(None), slice(0, 4), slice(0, 4))
    np.testing.assert_allclose(plain(far)[corner], plain(image)[corner], atol=1e-6)
    for layer in context.layers:
        if layer.name.endswith("_context_bias"):
            rng = np.random.default_rng(len(layer.name))
            layer.set_weights([rng.normal(0, 0.5, w.shape) for w in layer.get_weights()])
    moved = np.abs(np.asarray(context(far)[corner]) - np.asarray(context(image)[corner]))
    assert moved.max() > 1e-4


def test_non_blind_pairs_carry_the_kernel_that_blurred_them():
    from zoo.tasks.deblur import kernel_input

    keras.utils.set_random_seed(0)
    objective = _deblur_objective("deblur_nonblind_tiny")
    kernels = objective.kernels()
    images = _uniform((16, 32, 32, 3), 0.15, 0.85, seed=2)
    batch = first_batch(
        Examples.in_memory({"sharp": images}), 16, seed=0, degrade=objective.degrade
    )
    (blurred, kernel), sharp = objective.pair(batch)
    assert kernel.shape == (16, 19, 19, 1)
    candidates = np.stack([zdata.convolve(sharp, k) for k in kernels], axis=1)
    chosen = (blurred[:, None] - candidates).std(axis=(2, 3, 4)).argmin(axis=1)
    expected = np.stack([kernel_input(kernels[c], 19) for c in chosen])
    np.testing.assert_array_equal(kernel, expected)
    assert len(set(chosen)) > 3
    # validation pairs too: each image's kernel input is the one blurred_pairs drew for it
    objective.limit = 2
    _, validation = objective.load_data()
    assert set(validation) == {"blurred", "sharp", "kernel"}
    blurred, sharp, chosen = zdata.blurred_pairs(
        validation["sharp"],
        kernels,
        noise_sigma=objective.options["noise_sigma"],
        seed=objective.config.seed,
        return_kernels=True,
    )
    np.testing.assert_array_equal(validation["blurred"], blurred)
    np.testing.assert_array_equal(
        validation["kernel"], np.stack([kernel_input(kernels[c], 19) for c in chosen])
    )


def test_parse_kernel_reads_named_kernels_and_files(tmp_path):
    from zoo.tasks.deblur import parse_kernel

    np.testing.assert_array_equal(
        parse_kernel("gaussian:2"), zdata.blur_kernel("gaussian", sigma=2.0)
    )
    np.testing.assert_array_equal(
        parse_kernel("motion:9:30"), zdata.blur_kernel("motion", length=9, angle=30)
    )
    path = tmp_path / "k.npy"
    np.save(path, np.ones((3, 5)))
    np.testing.assert_allclose(parse_kernel(str(path)), np.full((3, 5), 1 / 15), rtol=1e-6)
    for bad in ("gaussian:wide", "box", str(tmp_path / "missing.npy")):
        with pytest.raises(zoo.ZooError, match="--kernel"):
            parse_kernel(bad)
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(zoo.ZooError, match="not a numpy array file"):
        parse_kernel(str(tmp_path / "bad.npy"))


# === Up-block modes ===


@pytest.mark.parametrize("name", AUTOENCODER_TINY)
@pytest.mark.parametrize("mode", zoo.UPSAMPLE_MODES)
def test_upsample_modes_keep_the_shape(name, mode):
    model = zoo.get(name, upsample=mode)
    shape = (1, *(d or 16 for d in zoo.info(name).inputs[0].shape))
    assert model(_uniform(shape)).shape == shape
    assert contains_layer(model, keras.layers.Conv2DTranspose) == (mode == "transpose")
