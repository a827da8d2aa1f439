"""The lowering of Conv2DTranspose to CONV_2D + DEPTH_TO_SPACE, proven on the written bytes."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

import zoo
from convert import flatbuffer
from convert.lowering import (
    LoweredConv2DTranspose,
    axis_plan,
    lower_transpose_convs,
    phases_save_work,
    split_prelus,
    with_nearest_op,
)
from convert.parity import Runner
from convert.tflite import convert_model
from zoo.layers import MaxUnpool2D, NearestUpsampling2D, all_layers

CASES = [
    pytest.param(k, s, padding, n, id=f"k{k}-s{s}-{padding}-{n}")
    for (k, s), padding, n in itertools.product(
        [(1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (9, 3), (10, 2), (12, 4), (3, 1), (7, 3)],
        ("same", "valid"),
        (5, 8),
    )
]


def _transpose_model(k: int, s: int, padding: str, n: int, activation=None) -> keras.Model:
    inputs = keras.Input((n, n + 1, 3), batch_size=1)
    layer = keras.layers.Conv2DTranspose(2, k, strides=s, padding=padding, activation=activation)
    model = keras.Model(inputs, layer(inputs))
    rng = np.random.default_rng(k * 100 + s)
    layer.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


@pytest.mark.parametrize("per_phase", [False, True], ids=["shared", "per-phase"])
@pytest.mark.parametrize(("k", "s", "padding", "n"), CASES)
def test_lowered_layer_equals_conv2d_transpose(k, s, padding, n, per_phase):
    model = _transpose_model(k, s, padding, n)
    lowered, count, notes = lower_transpose_convs(model, per_phase=per_phase)
    assert count == 1 and not notes
    assert not any(isinstance(la, keras.layers.Conv2DTranspose) for la in lowered.layers)
    (layer,) = [la for la in lowered.layers if isinstance(la, LoweredConv2DTranspose)]
    assert layer.per_phase == (per_phase and phases_save_work(layer.plans))
    x = np.random.default_rng(0).uniform(-1, 1, (1, n, n + 1, 3)).astype(np.float32)
    expected, actual = np.asarray(model(x)), np.asarray(lowered(x))
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_phases_take_only_their_own_taps():
    """k4 s2 "same" (the zoo's up-blocks): each phase needs 2 of the shared kernel's 3 rows,
    so per-phase convolutions do 16 taps' work instead of 36; FSRCNN's k9 s3 wastes none."""
    plan = axis_plan(4, 2, "same")
    assert [plan.phase_span(r) for r in range(2)] == [(0, 1), (1, 2)]
    assert plan.phase_taps() == 4 and phases_save_work((plan, plan))
    plan = axis_plan(9, 3, "same")
    assert plan.phase_taps() == 9 and not phases_save_work((plan, plan))
    plan = axis_plan(64, 32, "same")  # FCN-32s: zero taps, but 1,024 phases
    assert plan.phase_taps() == 64 < 3 * 32 and not phases_save_work((plan, plan))


def test_cpu_lowering_gives_float_files_one_convolution_per_phase():
    """`--lowering cpu` (XNNPACK): a float file of a k4 s2 model convolves each phase on its
    own window (no zero taps: a smaller file), exactly; its int8 file keeps one convolution."""
    keras.utils.set_random_seed(0)
    shared = convert_model("dae_tiny", mode="float32", lowering="auto")
    split = convert_model("dae_tiny", mode="float32", lowering="cpu")
    assert split.parity.max_abs_error <= 1e-5
    assert "CONCATENATION" in _ops(split.flatbuffer) and "TRANSPOSE_CONV" not in _ops(
        split.flatbuffer
    )
    assert "CONCATENATION" not in _ops(shared.flatbuffer)
    assert _weights(split.flatbuffer) < 0.7 * _weights(shared.flatbuffer)  # encoder included
    int8 = convert_model("dae_tiny", mode="int8", lowering="cpu")
    assert "CONCATENATION" not in _ops(int8.flatbuffer)


def test_tap_ranges_of_the_zoos_layers():
    """k = 2s "same" (the zoo's up-blocks) and FSRCNN's k9 s3 need a 3x3 "same" convolution;
    FSRCNN x2's k10 s2 a 5x5 one; no PAD op for any of them."""
    for kernel, stride, taps in ((4, 2, 3), (9, 3, 3), (10, 2, 5), (12, 4, 3), (64, 32, 3)):
        plan = axis_plan(kernel, stride, "same")
        assert plan.taps == taps and plan.same_split(), (kernel, stride)


def test_batch_norm_after_the_transposed_convolution_is_folded():
    inputs = keras.Input((6, 6, 3), batch_size=1)
    x = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    model.set_weights(
        [rng.uniform(0.5, 2, w.shape).astype(np.float32) for w in model.get_weights()]
    )
    lowered, count, _ = lower_transpose_convs(model)
    assert count == 1
    assert not any(isinstance(la, keras.layers.BatchNormalization) for la in lowered.layers)
    x = rng.uniform(-1, 1, (1, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(lowered(x)), np.asarray(model(x)), atol=1e-5)


def test_unlowerable_layers_stay_with_a_note():
    inputs = keras.Input((6, 6, 3), batch_size=1)
    layer = keras.layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=1, output_padding=1)
    model = keras.Model(inputs, layer(inputs))
    lowered, count, notes = lower_transpose_convs(model)
    assert count == 0 and lowered is model
    assert notes and "output_padding" in notes[0]


def _ops(data: bytes) -> dict[str, int]:
    return flatbuffer.read(data).op_versions


def _weights(data: bytes) -> int:
    """How many constant values the file's graph holds."""
    return sum(int(np.prod(t.shape)) for t in flatbuffer.read(data).tensors[0] if t.constant)


@pytest.mark.parametrize("mode", ["float32", "float16", "int8"])
def test_lowered_file_keeps_the_rules_and_matches_keras(mode):
    """fsrcnn_tiny's last layer is a k9 s3 transposed convolution: lowered on the bytes,
    batch 1, builtin ops only, float32 parity <= 1e-5, int8 still fully integer."""
    name = "fsrcnn_tiny"
    result = convert_model(name, mode=mode)
    ops = _ops(result.flatbuffer)
    assert "TRANSPOSE_CONV" not in ops and "DEPTH_TO_SPACE" in ops
    assert result.metadata["lowered"] == 1 and result.metadata["lowering"] == "auto"
    plain = convert_model(name, mode=mode, lowering="none")
    assert "TRANSPOSE_CONV" in _ops(plain.flatbuffer) and plain.metadata["lowered"] == 0
    if mode == "float32":
        assert result.parity.max_abs_error <= 1e-5
    if mode == "int8":
        parsed = flatbuffer.read(result.flatbuffer)
        activations = {t.dtype for t in parsed.tensors[0] if not t.constant}
        assert activations <= {"int8", "int32"}, activations
        # The convolution before DEPTH_TO_SPACE has one weight scale per phase and channel.
        to_space = next(op for op in parsed.operators if op.name == "DEPTH_TO_SPACE")
        phases = parsed.tensor(to_space.inputs[0])
        conv = next(op for op in parsed.operators if phases.index in op.outputs)
        assert conv.name == "CONV_2D"
        assert len(parsed.tensor(conv.inputs[1]).scales) == phases.shape[-1] > 1


@pytest.mark.parametrize("name", ["dcgan_tiny", "pix2pix_tiny", "deconvnet_tiny", "vae_tiny"])
def test_lowered_models_match_keras_on_the_bytes(name):
    """Nested models (the VAE's decoder), BN after the transposed convolution (DCGAN,
    pix2pix, DeconvNet's stride-1 deconvolutions) and multi-input graphs all lower.

    Seeded: DeconvNet's unpooling switch is an equality test, so rare initial weights put two
    pooled values within float32 rounding of each other and the switch can land elsewhere."""
    keras.utils.set_random_seed(0)
    result = convert_model(name, mode="float32")
    assert "TRANSPOSE_CONV" not in _ops(result.flatbuffer)
    assert result.metadata["lowered"] >= 1
    assert result.parity.max_abs_error <= 1e-5


@pytest.mark.parametrize("unpool", ["nearest", "switches"])
def test_nearest_upsampling_takes_each_targets_form(unpool):
    """XNNPACK has no RESIZE_NEAREST_NEIGHBOR (DeconvNet's float32 file was not fully
    accelerated on the CPU) and the Edge TPU compiler no DEPTH_TO_SPACE: a lowered file
    upsamples by CONCATENATION + DEPTH_TO_SPACE, which XNNPACK takes whole, and
    ``lowering="none"`` by RESIZE_NEAREST_NEIGHBOR; both compute Keras' values."""
    keras.utils.set_random_seed(0)
    model = zoo.get("deconvnet_tiny", unpool=unpool)
    resized, changed = with_nearest_op(model, "resize")
    assert changed == 3 and with_nearest_op(resized, "resize") == (resized, 0)
    layers = [la for la in all_layers(resized) if isinstance(la, NearestUpsampling2D | MaxUnpool2D)]
    assert len(layers) == 3 and {la.op for la in layers} == {"resize"}
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(resized(x)), np.asarray(model(x)))

    result = convert_model(
        resized, mode="float32", info=zoo.info("deconvnet_tiny"), accelerators=True
    )
    ops = _ops(result.flatbuffer)
    assert "RESIZE_NEAREST_NEIGHBOR" not in ops and "CONCATENATION" in ops
    assert any("3 nearest upsampling layer(s) as CONCATENATION" in note for note in result.notes)
    assert result.parity.max_abs_error <= 1e-5
    (cpu,) = [run for run in result.accelerators.runs if run.accelerator == "cpu"]
    assert cpu.fully_accelerated and cpu.agrees
    plain = convert_model(model, mode="float32", lowering="none")
    assert "RESIZE_NEAREST_NEIGHBOR" in _ops(plain.flatbuffer)
    assert "DEPTH_TO_SPACE" not in _ops(plain.flatbuffer)
    assert plain.parity.max_abs_error <= 1e-5


def test_lowered_layer_round_trips_through_keras_saving(tmp_path):
    model = _transpose_model(4, 2, "same", 5)
    lowered, _, _ = lower_transpose_convs(model)
    path = tmp_path / "lowered.keras"
    lowered.save(path)
    loaded = keras.saving.load_model(path)
    assert any(isinstance(la, LoweredConv2DTranspose) for la in loaded.layers)
    x = np.ones((1, 5, 6, 3), np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(lowered(x)), atol=1e-6)


def test_unknown_lowering_is_an_error():
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="unknown lowering"):
        convert_model("fsrcnn_tiny", lowering="fast")


def test_runner_reads_lowered_int8_file():
    info = zoo.info("fsrcnn_tiny")
    result = convert_model("fsrcnn_tiny", mode="int8", parity=False)
    runner = Runner(result.flatbuffer, [spec.name for spec in info.inputs])
    shape = tuple(runner.input_details[info.inputs[0].name]["shape"])
    out = runner([np.full(shape, 0.5, np.float32)])
    assert np.isfinite(out).all()


@pytest.mark.parametrize("width", [0.0, 0.05])
def test_switch_unpooling_keeps_float32_weights_in_a_float16_file(width):
    """float16 weights move the pooling windows' maxima (DeconvNet's switches, hard or soft),
    so its float16 file keeps float32 weights and says so. Seeded: initial weights can put
    two pooled values of the hard switch within float32 rounding of each other."""
    keras.utils.set_random_seed(0)
    result = convert_model(zoo.get("deconvnet_tiny", switch_width=width), mode="float16")
    parsed = flatbuffer.read(result.flatbuffer)
    assert not any(t.dtype == "float16" for t in parsed.tensors[0])
    assert result.metadata["weights_dtype"] == "float32" and result.metadata["mode"] == "float16"
    assert any("switches" in note for note in result.notes)
    assert result.parity.max_abs_error <= 1e-5
    other = convert_model("fcn_tiny", mode="float16", parity=False)
    assert any(t.dtype == "float16" for t in flatbuffer.read(other.flatbuffer).tensors[0])


def test_int8_files_split_prelu_into_relu_convolutions():
    """relu(z) - sign(a) * relu(-|a| z) from ReLU convolutions: each PReLU's convolution
    writes both halves and the next convolution reads them, the same function. The int8
    file has no PRELU (XNNPACK has no int8 kernel for it) and runs whole on XNNPACK; a
    float file keeps PRELU."""
    from convert.delegates import check

    model = zoo.get("fsrcnn_tiny")
    copy, split, folded = split_prelus(model)
    assert (split, folded) == (4, 4)
    assert not any(isinstance(la, keras.layers.PReLU) for la in copy.layers)
    assert copy.get_layer("extract_split").filters == 2 * model.get_layer("extract").filters
    assert copy.get_layer("deconv_split").kernel.shape[-1] == 2 * model.get_layer("expand").filters
    x = np.random.default_rng(0).uniform(0, 1, (1, 12, 10, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-5)
    result = convert_model(model, mode="int8", info=zoo.info("fsrcnn_tiny"))
    assert "PRELU" not in _ops(result.flatbuffer)
    assert any("split 4 PRELU" in note for note in result.notes)
    report = check(result.flatbuffer)
    assert report.target("xnnpack").supported and report.target("xnnpack").measured
    assert report.fully_integer
    float_file = convert_model("fsrcnn_tiny", mode="float32", parity=False)
    assert "PRELU" in _ops(float_file.flatbuffer)  # XNNPACK's float PRELU is kept


def test_a_prelu_read_by_no_convolution_is_combined_back():
    """A PReLU that no convolution reads (here the model's output) gets a 1x1 convolution
    from the two halves back to its C channels; slopes of any sign, zero too."""
    inputs = keras.Input((None, None, 2))
    conv = keras.layers.Conv2D(3, 3, padding="same")
    prelu = keras.layers.PReLU(shared_axes=[1, 2])
    model = keras.Model(inputs, prelu(conv(inputs)))
    rng = np.random.default_rng(1)
    conv.set_weights([rng.normal(size=w.shape) for w in conv.get_weights()])
    prelu.set_weights([np.array([[[-0.5, 0.0, 0.3]]], np.float32)])
    copy, split, folded = split_prelus(model)
    assert (split, folded) == (1, 0)
    assert [la.name for la in copy.layers if la.name.endswith("_combine")] == [
        f"{prelu.name}_combine"
    ]
    x = rng.normal(size=(1, 6, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(copy(x)), np.asarray(model(x)), atol=1e-5)
    assert split_prelus(zoo.get("espcn_tiny"))[1:] == (0, 0)  # no PReLU: nothing to split


def test_lowering_leaves_the_callers_model_as_it_was():
    """The copy has layers of its own: the caller's layers gain no graph nodes, so a second
    conversion (or cross-layer equalization after a conversion) reads the same model."""
    model = zoo.get("dcgan_tiny")
    nodes = {layer.name: len(layer._inbound_nodes) for layer in model.layers}
    _, count, _ = lower_transpose_convs(model)
    second, again, _ = lower_transpose_convs(model)
    assert count == again >= 1
    assert {layer.name: len(layer._inbound_nodes) for layer in model.layers} == nodes
    z = np.random.default_rng(0).normal(size=(1, *model.input_shape[1:])).astype(np.float32)
    np.testing.assert_allclose(np.asarray(second(z)), np.asarray(model(z)), atol=1e-5)
