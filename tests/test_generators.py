"""GAN families (dcgan, cgan, pix2pix): discriminators and paper layouts.

The shared harness checks the generators; these tests check what it does not: each
discriminator takes its generator's output, the conditional generator uses its label,
and the paper's layer widths and receptive field.
"""

import keras
import numpy as np
import pytest

import zoo
from tests.harness import sample_inputs
from zoo.smoke import model_feed

GAN_TINY = ("dcgan_tiny", "cgan_tiny", "pix2pix_tiny")


def _discriminate(name: str) -> np.ndarray:
    """Logits of ``name``'s discriminator on its generator's output, batch 2."""
    generator = zoo.get(name)
    discriminator = zoo.get_discriminator(name)
    info = zoo.info(name)
    inputs = sample_inputs(info, batch=2)
    fake = np.asarray(generator(model_feed(info, inputs), training=False))
    family = zoo.info(name).family
    if family == "cgan":
        pair = [fake, inputs[1]]  # the image with its label
    elif family == "pix2pix":
        pair = [inputs[0], fake]  # the source with its translation
    else:
        pair = fake
    return np.asarray(discriminator(pair, training=False))


@pytest.mark.parametrize("name", GAN_TINY)
def test_discriminator_takes_the_generator_output(name):
    assert zoo.info(name).has_discriminator
    logits = _discriminate(name)
    expected = {"dcgan_tiny": (2, 1), "cgan_tiny": (2, 1), "pix2pix_tiny": (2, 2, 2, 1)}
    assert logits.shape == expected[name]
    assert np.isfinite(logits).all()


@pytest.mark.parametrize("name", GAN_TINY)
def test_discriminator_takes_the_generator_overrides(name):
    discriminator = zoo.get_discriminator(name, channels=3, upsample="subpixel")
    assert discriminator.name == f"{name}_discriminator"
    image_input = (
        discriminator.inputs[-1] if name.startswith("pix2pix") else discriminator.inputs[0]
    )
    assert image_input.shape[-1] == 3
    with pytest.raises(zoo.ZooError):
        zoo.get_discriminator(name, no_such_option=1)


def test_cgan_output_depends_on_the_label():
    model = zoo.get("cgan_tiny")
    z = np.random.default_rng(0).uniform(-1, 1, (1, 8)).astype("float32")
    one_hot = np.eye(10, dtype="float32")
    first = np.asarray(model([z, one_hot[:1]], training=False))
    second = np.asarray(model([z, one_hot[1:2]], training=False))
    assert np.abs(first - second).max() > 1e-6


def receptive_field(model: keras.Model) -> int:
    """Receptive field of one output pixel, from the convolutions' kernels and strides."""
    field = 1
    for layer in reversed(model.layers):
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(
            layer, keras.layers.Conv2DTranspose
        ):
            field = (field - 1) * layer.strides[0] + layer.kernel_size[0]
    return field


def test_pix2pix_256_discriminator_is_the_70x70_patchgan():
    discriminator = zoo.get_discriminator("pix2pix_256")
    assert receptive_field(discriminator) == 70
    assert tuple(discriminator.output.shape[1:]) == (30, 30, 1)


PIX2PIX_PAPER_WIDTH = {"base_filters": 64, "max_filters": 512}


def test_pix2pix_256_generator_has_the_paper_layout():
    model = zoo.get("pix2pix_256", **PIX2PIX_PAPER_WIDTH)
    assert model.count_params() == 54_425_923
    encoder = [model.get_layer(f"down{i}").filters for i in range(1, 9)]
    assert encoder == [64, 128, 256, 512, 512, 512, 512, 512]
    assert tuple(model.get_layer("down8").output.shape[1:]) == (1, 1, 512)
    # decoder CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 counts the skip channels
    decoder = [model.get_layer(f"skip{j}").output.shape[-1] for j in range(1, 8)]
    assert decoder == [1024, 1024, 1024, 1024, 512, 256, 128]
    dropouts = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == ["up1_dropout", "up2_dropout", "up3_dropout"]


def test_pix2pix_variants_keep_the_layout_at_a_quarter_width():
    paper = zoo.get("pix2pix_64", **PIX2PIX_PAPER_WIDTH)
    model = zoo.get("pix2pix_64")
    assert [layer.name for layer in model.layers] == [layer.name for layer in paper.layers]
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name != "up6":
            assert layer.filters * 4 == paper.get_layer(layer.name).filters, layer.name
    discriminator = zoo.get_discriminator("pix2pix_64")
    assert [discriminator.get_layer(f"down{i}").filters for i in (1, 2, 3)] == [16, 32, 64]


def test_dcgan_64_has_the_paper_widths():
    model = zoo.get("dcgan_64", base_filters=1024)
    assert model.count_params() == 12_662_275
    assert tuple(model.get_layer("project_reshape").output.shape[1:]) == (4, 4, 1024)
    shapes = [tuple(model.get_layer(f"up{i}").output.shape[1:]) for i in range(1, 5)]
    assert shapes == [(8, 8, 512), (16, 16, 256), (32, 32, 128), (64, 64, 3)]
    shipped = zoo.get("dcgan_64")
    shapes = [tuple(shipped.get_layer(f"up{i}").output.shape[1:]) for i in range(1, 5)]
    assert shapes == [(8, 8, 128), (16, 16, 64), (32, 32, 32), (64, 64, 3)]


def _phase_sums(model: keras.Model) -> list[np.ndarray]:
    """Per transposed conv: (4, out, in) sums of the taps each of the 2x2 output phases uses."""
    sums = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = np.asarray(layer.kernel)
            sums.append(np.stack([kernel[y::2, x::2].sum((0, 1)) for y in (0, 1) for x in (0, 1)]))
    return sums


def test_dcgan_64_starts_checkerboard_free_and_dcgan_32_as_the_paper():
    for phases in _phase_sums(zoo.get("dcgan_64")):
        np.testing.assert_allclose(phases, np.broadcast_to(phases[:1], phases.shape), atol=1e-6)
    paper = _phase_sums(zoo.get("dcgan_32"))
    assert len(paper) == 3
    assert all(np.abs(phases - phases[:1]).max() > 1e-3 for phases in paper)
