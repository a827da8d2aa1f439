"""The delegate compatibility report (convert/delegates/) and `zoo check`, on hand-made files.

Every file is converted here from a tiny Keras model or tf.function, so each case is a real
converter output: the ones that must be flagged (dynamic batch, fused TRANSPOSE_CONV v4, a Flex
op, int16 activations, a float island in an int8 file) and the clean ones that must pass.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from convert import delegates, flatbuffer
from convert.flatbuffer import Operator, Tensor, TFLiteFile
from zoo.cli import main
from zoo.errors import ZooError

SHAPE = (1, 8, 8, 4)


def _convert(fn, *, mode="float32", batch=1, flex=False) -> bytes:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec((batch, *SHAPE[1:]), tf.float32)
    frozen = convert_variables_to_constants_v2(tf.function(fn).get_concrete_function(spec))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if flex:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode.startswith(("int8", "int16")):
        rng = np.random.default_rng(0)
        samples = [rng.random(SHAPE, dtype=np.float32) for _ in range(4)]
        converter.representative_dataset = lambda: ([s] for s in samples)
        if mode.startswith("int16"):
            ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            io_type = tf.int16
        else:
            ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            io_type = tf.int8
        if mode.endswith("_mixed"):  # let ops without an integer kernel stay float
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
        converter.target_spec.supported_ops = ops
        if not mode.endswith("_floatio"):
            converter.inference_input_type = io_type
            converter.inference_output_type = io_type
    return bytes(converter.convert())


def _clean_model(bias: float = 0.1):
    """Conv (fused ReLU) -> Conv2DTranspose k4 s2 (non-zero bias) -> tanh: every target's op."""
    import keras

    inputs = keras.Input(SHAPE[1:], batch_size=1)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    up = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same")
    x = keras.layers.Activation("tanh")(up(x))
    model = keras.Model(inputs, x)
    up.set_weights([up.get_weights()[0], np.full((4,), bias, np.float32)])
    return model


def _fused_model():
    """Conv2DTranspose -> BatchNormalization -> ReLU: the converter fuses it into v4."""
    import keras

    inputs = keras.Input(SHAPE[1:], batch_size=1)
    x = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.ReLU()(x))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    clean, fused = _clean_model(), _fused_model()
    conv = keras.layers.Conv2D(4, 3, padding="same")
    head = [keras.layers.Conv2D(4, 3, padding="same") for _ in range(3)]
    made = {
        "float32": _convert(clean),
        "float16": _convert(clean, mode="float16"),
        "int8": _convert(clean, mode="int8"),
        "int8_floatio": _convert(clean, mode="int8_floatio"),
        "int8_mixed": _convert(lambda x: tf.sin(clean(x)), mode="int8_mixed"),
        "int16": _convert(clean, mode="int16x8"),
        "dynamic_batch": _convert(clean, batch=None),
        "fused": _convert(fused),
        "flex": _convert(lambda x: tf.math.erf(conv(x)), flex=True),
        # one op the GPU lacks (REVERSE_V2) between one conv and two: two partitions
        "split": _convert(lambda x: head[2](head[1](tf.reverse(head[0](x), axis=[2])))),
    }
    folder = tmp_path_factory.mktemp("delegates")
    paths = {}
    for name, data in made.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(data)
    paths["truncated"] = folder / "truncated.tflite"
    paths["truncated"].write_bytes(made["float32"][:200])
    paths["garbage"] = folder / "garbage.tflite"
    paths["garbage"].write_bytes(b"definitely not a flatbuffer")
    return paths


def _report(files, name):
    return delegates.check(files[name])


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# === Clean files pass ===


def test_clean_float32_runs_whole_on_gpu_and_xnnpack(files):
    report = _report(files, "float32")
    assert report.precision == "float32" and not report.fully_integer
    assert report.op_versions == {"CONV_2D": 1, "TRANSPOSE_CONV": 3, "TANH": 1}
    assert report.strict_targets == ("gpu", "xnnpack")
    for name in ("gpu", "xnnpack", "nnapi", "qnn"):
        target = report.target(name)
        assert target.supported and not target.fallback, (name, target.fallback)
        assert (target.delegated, target.total, target.partitions) == (3, 3, 1)
    assert report.target("xnnpack").measured is True
    # 8-bit-only targets name the float tensors instead
    assert "float32" in report.target("edgetpu").fallback[0].reason
    report.require()  # no error


def test_clean_int8_is_fully_integer_and_runs_on_every_npu(files):
    report = _report(files, "int8")
    assert report.precision == "int8" and report.fully_integer and report.float_ops == []
    assert [t["dtype"] for t in report.inputs + report.outputs] == ["int8", "int8"]
    assert set(report.strict_targets) == {"xnnpack", "nnapi", "hexagon", "qnn", "edgetpu"}
    for name in delegates.TARGETS:
        assert report.target(name).supported, (name, report.target(name).fallback)
    report.require()


def test_float_io_conversions_are_allowed_at_the_edges(files):
    report = _report(files, "int8_floatio")
    names = [op["name"] for op in report.ops]
    assert names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE"
    assert report.fully_integer and report.precision == "int8"
    edgetpu = report.target("edgetpu")
    assert edgetpu.supported and edgetpu.partitions == 1
    assert [f.op for f in edgetpu.fallback] == ["QUANTIZE", "DEQUANTIZE"]
    assert all(f.boundary for f in edgetpu.fallback)
    report.require()


def test_float16_weights_are_taken_by_the_gpu(files):
    report = _report(files, "float16")
    assert report.precision == "float16" and not report.fully_integer
    assert report.op_versions["DEQUANTIZE"] == 3
    gpu = report.target("gpu")
    assert gpu.supported and gpu.delegated == gpu.total and gpu.partitions == 1


# === Files that must be flagged ===


def test_dynamic_batch_is_refused_by_static_delegates(files):
    report = _report(files, "dynamic_batch")
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= set(report.op_versions)
    assert report.inputs[0]["shape"] == [-1, 8, 8, 4] and report.dynamic_tensors
    assert any("TRANSPOSE_CONV" in item for item in report.runtime_sized)
    gpu = report.target("gpu")
    assert not gpu.supported and "dynamic-sized" in gpu.blocked
    assert gpu.delegated == 0 and gpu.partitions == 0
    assert "SHAPE is not in the GPU op set" in {f.reason for f in gpu.fallback}
    assert report.target("xnnpack").measured is False
    with pytest.raises(ZooError, match="gpu"):
        report.require()


def test_fused_transpose_conv_v4_falls_back_on_gpu_and_hexagon(files):
    report = _report(files, "fused")
    assert report.op_versions == {"TRANSPOSE_CONV": 4}
    assert report.ops[0]["fused_activation"] == "RELU"
    for name, limit in (("gpu", 3), ("hexagon", 3)):
        (fallback,) = report.target(name).fallback
        assert fallback.op == "TRANSPOSE_CONV" and fallback.reason == f"version 4 > {limit}"
    # NNAPI takes TRANSPOSE_CONV up to version 4, QNN legalizes fused activations
    assert report.target("nnapi").supported and report.target("qnn").supported
    assert report.target("xnnpack").supported


def test_flex_op_runs_nowhere(files):
    report = _report(files, "flex")
    assert report.flex_ops == ["FlexErf"] and report.custom_ops == ["FlexErf"]
    for name in delegates.TARGETS:
        reasons = {f.op: f.reason for f in report.target(name).fallback}
        assert reasons["FlexErf"] == "Flex (TensorFlow) op", name


def test_int8_file_with_a_float_island_is_not_fully_integer(files):
    report = _report(files, "int8_mixed")
    assert report.precision == "int8" and not report.fully_integer
    assert any("SIN" in op for op in report.float_ops)
    assert not report.target("edgetpu").supported


def test_int16_activations_only_suit_qnn(files):
    report = _report(files, "int16")
    assert report.precision == "int16x8" and report.fully_integer
    assert report.strict_targets == ("qnn",)
    assert report.target("qnn").supported
    for name in ("gpu", "nnapi", "hexagon", "edgetpu"):
        assert not report.target(name).supported, name
    assert "int16" in report.target("gpu").fallback[0].reason


# === Partitions ===


def test_an_unsupported_op_in_the_middle_splits_the_graph(files):
    report = _report(files, "split")
    gpu = report.target("gpu")
    assert gpu.partitions == 2 and gpu.delegated == 2  # the GPU keeps only the largest
    reasons = {f.op: f.reason for f in gpu.fallback}
    assert reasons["REVERSE_V2"] == "REVERSE_V2 is not in the GPU op set"
    assert "not among those delegated" in reasons["CONV_2D"]
    nnapi = report.target("nnapi")  # NNAPI keeps up to 3 partitions: REVERSE_V2 alone falls
    assert nnapi.partitions == 2 and [f.op for f in nnapi.fallback] == ["REVERSE_V2"]


def _tensor(index, dtype="float32", constant=False):
    return Tensor(index, f"t{index}", dtype, (1, 4, 4, 2), (1, 4, 4, 2), constant)


def _op(index, name, inputs, outputs):
    return Operator(index, 0, name, 1, False, tuple(inputs), tuple(outputs))


def test_partitions_follow_the_dependency_graph_not_the_op_order():
    # x -> RELU -> t1 -> TANH -> t3 ; x -> SHAPE (unsupported, independent) -> t2
    # In execution order SHAPE sits between RELU and TANH, but TFLite's partitioner
    # merges RELU and TANH: one partition.
    tensors = (_tensor(0), _tensor(1), _tensor(2, "int32"), _tensor(3))
    ops = (_op(0, "RELU", [0], [1]), _op(1, "SHAPE", [0], [2]), _op(2, "TANH", [1], [3]))
    parsed = TFLiteFile(10, ops, (tensors,), (0,), (2, 3), (), {})
    graph = delegates.Graph(parsed)
    assert delegates.partition(graph, {0, 2}) == [(True, [0, 2]), (False, [1])]
    # ... while an unsupported op on the path splits it: RELU | REVERSE_V2 | TANH
    tensors = tuple(_tensor(i) for i in range(4))
    ops = (_op(0, "RELU", [0], [1]), _op(1, "REVERSE_V2", [1], [2]), _op(2, "TANH", [2], [3]))
    parsed = TFLiteFile(10, ops, (tensors,), (0,), (3,), (), {})
    assert delegates.partition(delegates.Graph(parsed), {0, 2}) == [
        (True, [0]),
        (False, [1]),
        (True, [2]),
    ]
    gpu = delegates.check(parsed).target("gpu")  # a parsed file: rules only, nothing measured
    assert gpu.partitions == 2 and gpu.delegated == 1
    assert delegates.check(parsed).target("xnnpack").measured is None


# === Errors ===


def test_unreadable_files_raise_tflite_file_errors(files):
    for name in ("truncated", "garbage"):
        with pytest.raises(flatbuffer.TFLiteFileError):
            delegates.check(files[name])
    with pytest.raises(ZooError, match="unknown target"):
        _report(files, "float32").target("dsp")


# === The CLI ===


def test_cli_prints_the_report_with_its_rule_sources(files):
    result = invoke("check", files["fused"])
    assert result.exit_code == 0, result.output
    assert "TRANSPOSE_CONV v4" in result.output and "version 4 > 3" in result.output
    assert "gpu_compatibility.cc" in result.output and "LiteRT v2.2.0" in result.output
    assert "coral.ai" in result.output


def test_cli_json_parses(files):
    result = invoke("check", files["dynamic_batch"], "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["precision"] == "float32" and data["dynamic_tensors"]
    assert data["targets"]["gpu"]["supported"] is False
    assert data["targets"]["gpu"]["rules"].startswith("tflite/tools/versioning/gpu_compat")
    assert data["strict_targets"] == ["gpu", "xnnpack"]
    fallback = data["targets"]["gpu"]["fallback"]
    assert {"index", "op", "version", "reason"} <= set(fallback[0])


def test_cli_strict_exit_codes(files):
    for name in ("float32", "int8", "int8_floatio", "float16"):
        result = invoke("check", files[name], "--strict")
        assert result.exit_code == 0, (name, result.output)
    for name, target in (("fused", "gpu"), ("dynamic_batch", "gpu"), ("flex", "gpu")):
        result = invoke("check", files[name], "--strict")
        assert result.exit_code == 1, (name, result.output)
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("Error: ") and f"{target}:" in last, last
    # --target picks what --strict covers
    assert invoke("check", files["fused"], "--strict", "--target", "xnnpack").exit_code == 0
    result = invoke("check", files["int8"], "--strict", "--target", "gpu", "--target", "edgetpu")
    assert result.exit_code == 0, result.output


def test_cli_mode_on_a_file_is_refused_not_ignored(files):
    result = invoke("check", files["int8"], "--mode", "float16", "--no-accelerators")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: --mode float16 converts a MODEL;")
    assert "converted already" in line


def test_cli_unreadable_file_is_a_one_line_error(files, tmp_path):
    for path in (files["truncated"], files["garbage"], tmp_path / "missing.tflite"):
        result = invoke("check", path)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output


def test_cli_converts_a_registered_model_first():
    result = invoke("check", "dcgan_tiny", "--mode", "int8", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["source"] == "dcgan_tiny (int8)"
    assert data["precision"] == "int8" and data["fully_integer"] is True
    assert "TRANSPOSE_CONV" not in data["op_versions"]  # lowered by convert.tflite
    assert data["measured"]["runs"][0]["accelerator"] == "cpu"
    assert data["measured"]["runs"][0]["accepted"] is True
    result = invoke("check", "no_such_model")
    assert result.exit_code == 1 and result.output.startswith("Error: unknown model")


# === Fuzz: bit-flipped zoo files ===


def _table_and_weight_bytes(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Byte offsets outside and inside the file's buffers (the weights and metadata)."""
    from ai_edge_litert import schema_py_generated as schema

    raw = bytearray(data)
    model = schema.Model.GetRootAs(raw, 0)
    base = np.frombuffer(raw, np.uint8).__array_interface__["data"][0]
    in_buffers = np.zeros(len(raw), bool)
    for i in range(model.BuffersLength()):
        array = model.Buffers(i).DataAsNumpy()
        if isinstance(array, np.ndarray) and array.size:
            start = array.__array_interface__["data"][0] - base
            in_buffers[start : start + array.size] = True
    return np.flatnonzero(~in_buffers), np.flatnonzero(in_buffers)


def test_bit_flipped_files_get_a_report_or_one_line_never_a_traceback(tmp_path):
    from convert.tflite import convert_model

    data = convert_model(
        "fsrcnn_tiny", mode="int8", parity=False, representative_count=4
    ).flatbuffer
    tables, weights = _table_and_weight_bytes(data)
    assert len(tables) > 1000 and len(weights) > 1000
    rng = np.random.default_rng(0)
    outcomes = {"report": 0, "one line": 0}
    for flip in range(160):  # half in the flatbuffer's tables, half in its buffers
        position = rng.choice(tables if flip % 2 == 0 else weights)
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.integers(8))
        path = tmp_path / f"flip{flip}.tflite"
        path.write_bytes(bytes(flipped))
        result = CliRunner().invoke(main, ["check", str(path), "--no-accelerators"])
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert result.exit_code in (0, 1) and not crashed, (flip, position, result.output[-500:])
        if result.exit_code:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), (flip, result.output)
            outcomes["one line"] += 1
        else:
            outcomes["report"] += 1
    assert outcomes["report"] > 0 and outcomes["one line"] > 10, outcomes


@pytest.mark.slow
def test_bit_flipped_files_are_timed_or_one_line_never_a_traceback(tmp_path):
    """zoo bench runs each file in a worker process: a file that crashes it is one line."""
    from convert.tflite import convert_model

    data = convert_model("fsrcnn_tiny", mode="int8", parity=False, representative_count=4)
    tables, weights = _table_and_weight_bytes(data.flatbuffer)
    rng = np.random.default_rng(1)
    for flip in range(24):
        position = rng.choice(tables if flip % 2 == 0 else weights)
        flipped = bytearray(data.flatbuffer)
        flipped[position] ^= 1 << int(rng.integers(8))
        path = tmp_path / f"flip{flip}.tflite"
        path.write_bytes(bytes(flipped))
        result = CliRunner().invoke(main, ["bench", str(path), "--runs", "1", "--warmup", "0"])
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        assert result.exit_code in (0, 1) and not crashed, (flip, position, result.output[-500:])
        if result.exit_code:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), (flip, result.output)
