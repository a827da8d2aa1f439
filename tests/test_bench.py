"""`zoo bench` and convert.bench on tiny models: sane fields, settings honoured, errors, files.

No timing is asserted: speed lives in benchmarks/, not in tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from benchmarks import results_files
from convert import bench as bench_module
from convert import flatbuffer
from convert.bench import bench
from zoo.cli import main

MODEL = "cgan_tiny"  # two inputs (latent and one-hot label): int8 inputs are quantized


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """cgan_tiny as float32 and int8 .tflite files."""
    import zoo
    from convert.tflite import to_tflite

    folder = tmp_path_factory.mktemp("bench")
    model = zoo.get(MODEL)
    paths = {}
    for mode in ("float32", "int8"):
        paths[mode] = folder / f"{MODEL}_{mode}.tflite"
        paths[mode].write_bytes(to_tflite(model, mode=mode, parity=False))
    return paths


def check_row(row) -> None:
    assert 0 < row.min_ms <= row.median_ms <= row.p90_ms
    assert row.runs >= 1 and row.warmup >= 0


def test_files_rows_are_sane_and_threads_honoured(files):
    report = bench([str(files["float32"]), str(files["int8"])], threads="1,2", runs=5, warmup=1)
    rows = report.results
    assert [(r.mode, r.threads) for r in rows] == [
        ("float32", 1),
        ("float32", 2),
        ("int8", 1),
        ("int8", 2),
    ]
    for row in rows:
        check_row(row)
        path = files[row.mode]
        assert row.size_bytes == path.stat().st_size
        assert row.peak_mib > 0
        assert row.model == MODEL  # from the zoo metadata in the file
        # XNNPACK is LiteRT's default CPU delegate; its pool adds threads - 1 OS threads.
        assert row.delegate == "XNNPACK" and row.delegate_partitions >= 1
        assert row.threads_added == row.threads - 1
    f32, i8 = rows[0], rows[2]
    assert f32.speedup == 1.0 and f32.size_ratio == 1.0
    assert i8.size_ratio == pytest.approx(i8.size_bytes / f32.size_bytes)
    assert i8.speedup == pytest.approx(f32.median_ms / i8.median_ms)
    headers, table = report.rows()
    assert len(table) == 4 and all(len(line) == len(headers) for line in table)


def test_a_file_without_zoo_metadata_is_labelled_by_its_tensors(tmp_path):
    import tensorflow as tf

    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(4)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    path = tmp_path / "plain.tflite"
    path.write_bytes(converter.convert())
    (row,) = bench([str(path)], runs=2, warmup=0).results
    assert row.mode == "float16" and row.model is None
    assert row.speedup is None, "no float32 row to compare with: not its own baseline"


def test_without_xnnpack_no_delegate_runs(files):
    (row,) = bench([str(files["int8"])], runs=2, warmup=0, xnnpack=False).results
    check_row(row)
    assert row.delegate == "none" and row.delegate_partitions == 0


def test_worker_imports_no_tensorflow_and_quantizes_int8_inputs(files):
    request = {
        "path": str(files["int8"]),
        "threads": 1,
        "runs": 2,
        "warmup": 1,
        "seed": 0,
        "xnnpack": True,
        "ranges": [[-1.0, 1.0], [0.0, 1.0]],
    }
    answer, log = bench_module._run_worker(request, files["int8"])
    assert answer["tensorflow_imported"] is False
    assert answer["outputs_finite"] and answer["peak_kib"] > 0
    assert "XNNPACK" in log
    parsed = flatbuffer.read(files["int8"])
    assert [t.dtype for t in parsed.input_tensors] == ["int8", "int8"]


def test_model_name_compares_keras_and_modes_in_one_run():
    report = bench([MODEL], modes="keras,float32,int8", runs=3, warmup=1)
    rows = report.results
    assert [r.mode for r in rows] == ["keras", "float32", "int8"]
    keras_row, f32, i8 = rows
    for row in rows:
        check_row(row)
    assert keras_row.threads is None and keras_row.size_bytes is None
    assert keras_row.peak_mib is None and keras_row.delegate == "tensorflow"
    assert f32.threads == i8.threads == 1
    assert f32.size_bytes > 0 and i8.size_bytes < f32.size_bytes
    assert i8.peak_mib > 0 and i8.size_ratio == pytest.approx(i8.size_bytes / f32.size_bytes)


def test_weights_pass_through(tmp_path):
    import zoo

    weights = tmp_path / "model.weights.h5"
    zoo.get(MODEL).save_weights(weights)
    report = bench([MODEL], weights=str(weights), modes="float32", runs=2, warmup=0)
    assert report.settings["weights"] == str(weights)
    assert [r.mode for r in report.results] == ["float32"]


def test_cli_json_parses(files):
    result = invoke("bench", files["float32"], "--threads", "2,1", "--runs", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["threads"] for r in data["results"]] == [2, 1]
    assert data["settings"]["runs"] == 3 and data["settings"]["threads"] == [2, 1]
    assert all(r["median_ms"] <= r["p90_ms"] for r in data["results"])
    assert "VmHWM" in data["memory"]


def test_cli_table_and_plot_is_a_png(files, tmp_path):
    out = tmp_path / "latency.png"
    result = invoke("bench", files["float32"], files["int8"], "--runs", "3", "--plot", out)
    assert result.exit_code == 0, result.output
    for word in ("median ms", "p90 ms", "peak MiB", "XNNPACK", "float32", "int8"):
        assert word in result.output
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        image.verify()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latency.png"]  # no partial file


def _with_unknown_custom_op(data: bytes) -> bytes:
    """``data`` with its first operator turned into a custom op no interpreter knows."""
    import flatbuffers

    schema = flatbuffer._schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    model.operatorCodes[0].builtinCode = schema.BuiltinOperator.CUSTOM
    model.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    model.operatorCodes[0].customCode = "ZooNoSuchOp"
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_user_errors_are_one_line(files, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(files["float32"].read_bytes()[:2000])
    custom = tmp_path / "custom.tflite"
    custom.write_bytes(_with_unknown_custom_op(files["float32"].read_bytes()))
    good = files["float32"]
    cases = [
        ([tmp_path / "missing.tflite"], "no such file"),
        ([junk], "not a TFLite flatbuffer"),
        ([truncated], "corrupt or truncated"),
        ([custom], "does not run in the LiteRT interpreter"),
        (["fsrcnn_x33"], "unknown model"),
        ([good, "--threads", "0"], "--threads"),
        ([good, "--threads", "two"], "--threads"),
        ([good, "--runs", "0"], "--runs"),
        ([good, "--weights", good], "--weights"),
        ([MODEL, "--modes", "float33"], "unknown mode"),
        ([good, "--plot", tmp_path / "no" / "such" / "folder.png"], "does not exist"),
    ]
    for args, message in cases:
        extra = [] if "--runs" in args else ["--runs", "1"]
        result = invoke("bench", *args, *extra)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (args, result.output)
        assert message in lines[0], (args, lines[0])


def test_replace_rows_renews_only_the_measured_models_in_registry_order():
    existing = [
        {"model": "b", "mode": "float32", "ms": 1.0},
        {"model": "a", "mode": "float32", "ms": 2.0},
        {"model": "a", "mode": "int8", "ms": 3.0},
    ]
    fresh = [{"model": "a", "mode": "float32", "ms": 5.0}, {"model": "c", "mode": "int8"}]
    rows = results_files.replace_rows(existing, fresh, key="model", order=["a", "b"])
    assert rows == [
        {"model": "a", "mode": "float32", "ms": 5.0},
        {"model": "b", "mode": "float32", "ms": 1.0},
        {"model": "c", "mode": "int8"},
    ]


def test_latency_benchmark_update_keeps_other_models_and_refuses_other_settings(
    run_benchmark, tmp_path
):
    args = ["--threads", "1", "--runs", "1", "--warmup", "0", "--out", str(tmp_path)]
    settings = {"threads": [1], "runs": 1, "warmup": 0, "seed": 0, "xnnpack": True}
    settings["weights"] = "random initial weights (keras seed 0)"
    earlier = {"target": "fsrcnn_tiny", "model": None, "mode": "float32", "threads": 1}
    earlier |= {"runs": 1, "warmup": 0, "median_ms": 0.5, "p90_ms": 0.5, "mean_ms": 0.5}
    earlier |= {"min_ms": 0.5, "size_bytes": 9000, "peak_mib": 1.0, "delegate": "XNNPACK"}
    results = tmp_path / "tflite_latency.json"
    results.write_text(json.dumps({"settings": settings, "results": [earlier], "failures": {}}))

    fresh = run_benchmark("tflite_latency", *args, "--models", "cae_tiny", "--update")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    data = json.loads(results.read_text())
    assert data["updated"] == ["cae_tiny"]
    assert [row["target"] for row in data["results"]] == ["cae_tiny"] * 5 + ["fsrcnn_tiny"]
    assert data["results"][-1]["median_ms"] == 0.5  # kept as measured
    assert "| fsrcnn_tiny |" in (tmp_path / "tflite_latency.md").read_text()

    other = run_benchmark("tflite_latency", *args[:2], "--runs", "2", *args[4:], "--update")
    assert other.returncode != 0 and "--update" in other.stderr.strip().splitlines()[-1]
    assert json.loads(results.read_text()) == data


def test_conversion_update_refuses_other_modes_and_writes_nothing(run_benchmark):
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    stem = "conversion_update_test"
    path = results / f"{stem}.json"
    rows = [{"model": "fsrcnn_x3", "mode": "float32"}, {"model": "fsrcnn_x3", "mode": "int8"}]
    path.write_text(json.dumps(rows))
    try:
        args = ["--models", "fsrcnn_x3", "--modes", "int8", "--output", stem, "--update"]
        refused = run_benchmark("conversion", *args)
        assert refused.returncode != 0
        assert "--update" in refused.stderr.strip().splitlines()[-1]
        assert json.loads(path.read_text()) == rows
        assert not (results / f"{stem}.md").exists()
    finally:
        path.unlink()
