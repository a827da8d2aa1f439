"""Every registered model, built and checked by the shared harness."""

import keras
import numpy as np
import pytest

import zoo
from tests.harness import contains_layer, run_model_test, sample_inputs
from zoo.smoke import model_feed

# Generator and decoder families must offer all three learned up-blocks; others may.
UPSAMPLING_FAMILIES = ("dcgan", "cgan", "pix2pix", "fcn", "deconvnet", "unet", "fsrcnn")


@pytest.mark.parametrize("name", zoo.list_models())
def test_model(name, tmp_path):
    run_model_test(name, tmp_path)


@pytest.mark.parametrize("name", zoo.list_models("*_tiny"))
@pytest.mark.parametrize("mode", zoo.UPSAMPLE_MODES)
def test_upsample_modes_keep_the_contract(name, mode):
    info = zoo.info(name)
    try:
        model = zoo.get(name, upsample=mode)
    except zoo.ZooError as error:
        assert "upsample" in str(error)
        assert info.family not in UPSAMPLING_FAMILIES
        pytest.skip(f"{info.family} has a fixed up-path")
    feed = model_feed(info, sample_inputs(info))
    assert model(feed).shape == zoo.get(name)(feed).shape
    assert contains_layer(model, keras.layers.Conv2DTranspose) == (mode == "transpose")


def test_every_family_has_a_tiny_variant():
    families = {zoo.info(n).family for n in zoo.list_models()}
    tiny_families = {zoo.info(n).family for n in zoo.list_models("*_tiny")}
    assert families == tiny_families


def test_residual_fsrcnn_adds_a_frozen_bilinear_upsampling_of_its_input():
    plain = zoo.get("fsrcnn_tiny")
    residual = zoo.get("fsrcnn_tiny", residual=True)
    assert len(residual.trainable_weights) == len(plain.trainable_weights)
    for layer in plain.layers:
        residual.get_layer(layer.name).set_weights(layer.get_weights())
    lr = np.random.default_rng(0).uniform(size=(2, 12, 12, 1)).astype("float32")
    detail = np.asarray(residual(lr)) - np.asarray(plain(lr))
    skip = keras.Model(residual.input, residual.get_layer("bilinear_skip").output)
    np.testing.assert_allclose(detail, np.asarray(skip(lr)), atol=1e-5)
    assert detail.shape == (2, 24, 24, 1)


def test_relu_fsrcnn_fuses_its_activations_into_the_convolutions():
    """``activation="relu"`` keeps every kernel and drops only the PReLU slopes, and each
    ReLU rides on its convolution, so an int8 file needs no split (no int8 PRELU anywhere)."""
    prelu = zoo.get("fsrcnn_tiny")
    relu = zoo.get("fsrcnn_tiny", activation="relu")
    assert not contains_layer(relu, keras.layers.PReLU)
    slopes = sum(int(np.prod(w.shape)) for w in prelu.weights if w.path.endswith("alpha"))
    assert relu.count_params() == prelu.count_params() - slopes > 0
    convs = [la for la in relu.layers if type(la) is keras.layers.Conv2D]
    assert convs and all(la.activation is keras.activations.relu for la in convs)
    lr = np.random.default_rng(0).uniform(size=(1, 10, 10, 1)).astype("float32")
    assert relu(lr).shape == prelu(lr).shape == (1, 20, 20, 1)
    with pytest.raises(zoo.ZooError, match="activation"):
        zoo.get("fsrcnn_tiny", activation="gelu")


def test_relu_espcn_keeps_the_weights_and_its_int8_file_fuses_every_activation():
    """``activation="relu"`` swaps the paper's tanh; an int8 file then holds convolutions and
    the pixel shuffles only (the first layer's blocks too; an int8 TANH has a fixed 1/128
    output scale)."""
    from convert import flatbuffer

    tanh, relu = zoo.get("espcn_tiny"), zoo.get("espcn_tiny", activation="relu")
    assert [w.shape for w in relu.weights] == [w.shape for w in tanh.weights]
    relu.set_weights(tanh.get_weights())
    lr = np.random.default_rng(0).uniform(size=(1, 10, 10, 1)).astype("float32")
    assert relu(lr).shape == tanh(lr).shape == (1, 20, 20, 1)
    assert not np.allclose(relu(lr), tanh(lr))
    ops = {op.name for op in flatbuffer.read(to_int8(relu)).operators}
    assert ops == {"SPACE_TO_DEPTH", "CONV_2D", "DEPTH_TO_SPACE"}
    assert "TANH" in {op.name for op in flatbuffer.read(to_int8(tanh)).operators}
    with pytest.raises(zoo.ZooError, match="activation"):
        zoo.get("espcn_tiny", activation="gelu")


def to_int8(model) -> bytes:
    from convert.tflite import convert_model

    return convert_model(model, mode="int8", size=(12, 12), parity=False).flatbuffer


def test_fsrcnn_weight_counts_match_the_paper():
    def kernel_weights(model):
        return sum(int(np.prod(w.shape)) for w in model.weights if w.path.endswith("kernel"))

    assert kernel_weights(zoo.get("fsrcnn_x3")) == 12_464
    assert kernel_weights(zoo.get("fsrcnn_s_x3")) == 3_937
