"""Where an int8 file loses accuracy, tensor by tensor: TensorFlow's quantization debugger.

Converts MODEL to full-integer int8 the way the zoo does (``convert.tflite``: the model's
frozen ``serving_default`` function at batch 1 and its export size, builtin int8 ops,
per-channel weights, calibrated on ``--samples`` representative inputs of the model's own
data, seed 0; the debugger's files quantize their float I/O inside, which computes what the
zoo's int8 I/O does) and runs ``tf.lite.experimental.QuantizationDebugger`` on
``--debug-samples`` held-out inputs (seed 1, as the parity check draws them). For every
quantized tensor:

- the debugger's statistics of (quantized - float) where the float op reads the same
  quantized inputs, so each tensor's own error (its op's weights, arithmetic and output
  rounding), not the error accumulated from the input: ``num_elements``, ``stddev``,
  ``mean_error``, ``max_abs_error``, ``mean_squared_error``;
- its ``scale``, ``zero_point`` and representable range ``[lo, hi]``; the float values'
  ``float_std``, ``float_min``, ``float_max`` (means over samples) and the share of them
  outside the range (``clipped``);
- ``rmse_over_scale`` (TensorFlow's guide: about 1/sqrt(12) = 0.29 is plain rounding, much
  more means clipping or a poor range) and ``normalized_error`` = rmse / float_std, the
  noise-to-signal ratio the table is sorted by (``sqnr_db`` = -20 log10 of it).

Model level, on the same inputs: the output's MSE and PSNR (over the output's value range)
against the float file, for the debugger's file and for ``convert_model``'s own int8 file
against Keras (the two agree when the debugger quantizes as the zoo does). For each of the
``--denylist-top`` worst tensors: the output PSNR with that tensor kept float by selective
quantization (its producer and consumer ops denylisted, which also keeps their weights
float). A diagnostic only: the zoo ships fully integer files. With ``--eval-data`` (default
Set5 for super-resolution when it is beside the repository, else the model's ``zoo eval``
data; ``none`` skips it): the task metric of the Keras model and of the zoo's int8 file with
``zoo eval``'s protocol (``convert.quality``: converted at every image's size).

Writes ``benchmarks/results/int8_debug_<model>.json`` and ``.md`` (each atomically) and
prints the Markdown.

    python benchmarks/int8_debug.py fsrcnn_x3 [--weights default] [--eval-data DIR]
        [--samples 32] [--debug-samples 8] [--denylist-top 5]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SET5 = REPO.parent / "shared" / "data" / "sr" / "Set5"
CALIBRATION_SEED = 0  # convert.tflite's calibration draws
DEBUG_SEED = 1  # held-out inputs, as convert.tflite's parity check
INT8 = (-128, 127)


# === Model and data ===


def load(name: str, weights: str, seed: int):
    """The model as a ``zoo.weights_io.TrainedModel``; ``weights="none"``: the builder's
    initial weights (seeded), for models without shipped or trained weights."""
    from zoo import models
    from zoo.errors import ZooError
    from zoo.train.config import TrainConfig
    from zoo.weights_io import TrainedModel, load_run

    info = models.info(name)
    if weights != "none":
        try:
            return load_run(name, weights)
        except ZooError as error:
            if weights == "default" and "no shipped weights" in str(error):
                raise ZooError(f"{error}, or --weights none (initial weights)") from None
            raise
    import keras

    keras.utils.set_random_seed(seed)
    config = TrainConfig.from_recipe(info)
    return TrainedModel(models.create(name), info, config, Path("initial weights"))


def eval_source(run, value: str | None) -> str | None:
    """``--eval-data``: a folder or dataset name, ``none`` (skip), or the default."""
    from zoo.data import at_hand
    from zoo.errors import ZooError
    from zoo.evaluate import default_data

    if value == "none":
        return None
    if value is None:
        if run.info.task == "super_resolve" and SET5.is_dir():
            return str(SET5)
        return default_data(run)
    if not at_hand(value):
        raise ZooError(f"--eval-data {value} not found (a folder, a dataset name or none)")
    return value


def int8_converter(run, calibration: list[list[np.ndarray]]):
    """The TFLite converter ``convert.tflite`` builds for int8 at the export size
    (``converter_for``), with float I/O, as the debugger requires.

    The debug files keep float I/O (``fully_quantize=False``): their QUANTIZE and DEQUANTIZE
    ops compute what int8 I/O does (the same scales; Set5 PSNR identical to the last digit),
    and the debugger mishandles int8 I/O whose zero point is 0 (TensorFlow 2.21's
    ``_get_quant_params`` tests the zero-point array for truth, so it feeds and compares raw
    int8 values)."""
    from convert.converter import converter_for
    from convert.tflite import input_shapes

    shapes = input_shapes(run.info, None)
    return converter_for(run.model, run.info, shapes, "int8", calibration, float_io=True)


# === Debugger ===


def _output_metrics() -> dict[str, Any]:
    def mse(floats, quantized) -> float:
        return float(np.mean(np.square(floats[0] - quantized[0])))

    def max_abs(floats, quantized) -> float:
        return float(np.max(np.abs(floats[0] - quantized[0])))

    return {"output_mse": mse, "output_max_abs_error": max_abs}


def _range(scale: float, zero_point: int) -> tuple[float, float]:
    return (INT8[0] - zero_point) * scale, (INT8[1] - zero_point) * scale


def _direct_metrics() -> dict[str, Any]:
    """Per tensor, from (float values, quantized values, scale, zero point)."""

    def clipped(floats, quantized, scale, zero_point) -> float:
        low, high = _range(float(scale), int(zero_point))
        half = float(scale) / 2
        return float(np.mean((floats < low - half) | (floats > high + half)))

    return {
        "float_std": lambda f, q, s, z: float(np.std(f)),
        "float_min": lambda f, q, s, z: float(np.min(f)),
        "float_max": lambda f, q, s, z: float(np.max(f)),
        "clipped": clipped,
    }


def debug_model(run, calibration, debug_inputs):
    """(debugger that owns the converter, per-tensor rows, model-level statistics)."""
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions
    debugger = tf.lite.experimental.QuantizationDebugger

    def dataset():
        return iter(debug_inputs)

    # The first debugger calibrates and quantizes; the second reads its debug file with
    # every tensor kept, so the float values can be compared directly.
    owner = debugger(
        converter=int8_converter(run, calibration),
        debug_dataset=dataset,
        debug_options=options(model_debug_metrics=_output_metrics()),
    )
    reader = debugger(
        quant_debug_model_content=owner.quant_model,
        float_model_content=owner.float_model,
        debug_dataset=dataset,
        debug_options=options(
            model_debug_metrics=_output_metrics(), layer_direct_compare_metrics=_direct_metrics()
        ),
    )
    reader.run()
    dump = io.StringIO()
    reader.layer_statistics_dump(dump)
    rows = tensor_rows(list(csv.DictReader(io.StringIO(dump.getvalue()))), owner)
    return owner, rows, dict(reader.model_statistics)


def tensor_rows(records: list[dict[str, str]], owner) -> list[dict[str, Any]]:
    """The debugger's CSV rows as numbers plus the derived ratios, worst first."""
    from convert import flatbuffer

    debug_names = [t.name for t in flatbuffer.read(owner.quant_model).tensors[0]]
    calibrated = flatbuffer.read(owner.calibrated_model)
    outputs = {calibrated.tensors[0][i].name for op in calibrated.operators for i in op.outputs}
    model_outputs = {tensor.name for tensor in calibrated.output_tensors}
    rows = []
    for record in records:
        index = int(record["tensor_idx"])
        name = calibrated_name(debug_names[index], outputs)
        layer = "(model output)" if name in model_outputs else layer_of(name)
        row: dict[str, Any] = {"op": record["op_name"], "layer": layer}
        row["tensor"] = name
        row["tensor_index"] = index
        for key, value in record.items():
            if key not in ("op_name", "tensor_idx", "tensor_name"):
                row[key] = float(value)
        row["zero_point"] = int(row["zero_point"])
        row["num_elements"] = int(row["num_elements"])
        rmse = math.sqrt(row["mean_squared_error"])
        row["rmse"] = rmse
        row["range"] = list(_range(row["scale"], row["zero_point"]))
        row["rmse_over_scale"] = rmse / row["scale"] if row["scale"] > 0 else None
        std = row["float_std"]
        row["normalized_error"] = rmse / std if std > 0 else None
        row["sqnr_db"] = 20 * math.log10(std / rmse) if std > 0 and rmse > 0 else None
        rows.append(row)
    rows.sort(key=_worst_first)
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def _worst_first(row: dict[str, Any]) -> float:
    value = row["normalized_error"]
    return math.inf if value is None else -value


def calibrated_name(debug_name: str, names: set[str]) -> str:
    """The calibrated model's name of a debug-file tensor (the quantizer appends digits),
    the one the debugger's ``denylisted_nodes`` takes."""
    best = debug_name if debug_name in names else ""
    for name in names:
        rest = debug_name[len(name) :]
        if debug_name.startswith(name) and rest.isdigit() and len(name) > len(best):
            best = name
    return best or debug_name


def layer_of(tensor_name: str) -> str:
    """The Keras layer a converter tensor name points at (``fsrcnn_x3_1/map2_1/BiasAdd;...``
    -> ``map2``); the name itself when it names none (a signature output)."""
    first = tensor_name.split(";")[0]
    match = re.match(r"[^/]+/([^/]+?)(?:_\d+)?/", first)
    return match.group(1) if match else first


def keep_float(owner, rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """Output MSE with each of the ``top`` worst tensors kept float (its producer and
    consumers denylisted), one at a time."""
    import tensorflow as tf

    from convert import flatbuffer

    calibrated = flatbuffer.read(owner.calibrated_model)
    names = [t.name for t in calibrated.tensors[0]]
    results = []
    for row in rows[:top]:
        nodes = {row["tensor"]}
        for op in calibrated.operators:
            if row["tensor"] in (names[i] for i in op.inputs if i >= 0):
                nodes.update(names[i] for i in op.outputs)
        owner.options = tf.lite.experimental.QuantizationDebugOptions(
            model_debug_metrics=_output_metrics(),
            denylisted_nodes=sorted(nodes),
        )
        owner.run()
        results.append({"tensor": row["tensor"], "denylisted": sorted(nodes), **_stats(owner)})
    return results


def _stats(debugger) -> dict[str, float]:
    return {key: float(value) for key, value in debugger.model_statistics.items()}


# === Model-level figures ===


def psnr(mse: float, value_range: tuple[float, float]) -> float | None:
    """dB over the value range's width; None for an unbounded range or no error at all."""
    width = value_range[1] - value_range[0]
    if not math.isfinite(width) or mse <= 0:
        return None
    return 10 * math.log10(width**2 / mse)


def zoo_file_error(run, calibration, debug_inputs) -> dict[str, float]:
    """``convert_model``'s own int8 file at the export size against Keras on the inputs."""
    from convert.parity import Runner
    from convert.tflite import convert_model

    data = convert_model(
        run.model, mode="int8", info=run.info, representative=calibration, parity=False
    ).flatbuffer
    runner = Runner(data, [spec.name for spec in run.info.inputs])
    errors = []
    for sample in debug_inputs:
        feed = sample[0] if len(sample) == 1 else list(sample)
        expected = np.asarray(run.model(feed, training=False), np.float32)
        errors.append(float(np.mean(np.square(expected - runner(sample)))))
    return {"output_mse": float(np.mean(errors))}


def task_figures(run, calibration, source: str, limit: int | None) -> dict[str, Any]:
    """``zoo eval``'s metrics of Keras and of the zoo's int8 file (calibrated on the same
    samples), and the cost on the primary metric (> 0 a loss)."""
    from convert.quality import file_model, metric_cost, task_metrics
    from zoo.tasks import get_task

    keras_values = task_metrics(run.model, run, data=source, limit=limit)
    stand_in = file_model(run, "int8", samples=calibration)
    int8_values = task_metrics(stand_in, run, data=source, limit=limit)
    metric = get_task(run.info.task).metric
    cost = None
    if metric in keras_values and metric in int8_values:
        cost = metric_cost(run.info.task, keras_values[metric], int8_values[metric])
    return {
        "data": source,
        "limit": limit,
        "metric": metric,
        "keras": keras_values,
        "int8": int8_values,
        "cost": cost,
    }


# === Study ===


def study(args: argparse.Namespace) -> dict[str, Any]:
    from convert.representative import representative_inputs
    from zoo.errors import ZooError

    for flag, value in (("--samples", args.samples), ("--debug-samples", args.debug_samples)):
        if value < 1:
            raise ZooError(f"{flag} must be at least 1, got {value}")
    if args.denylist_top < 0 or args.top < 1:
        raise ZooError("--denylist-top must be 0 or more and --top at least 1")
    started = time.perf_counter()
    run = load(args.model, args.weights, args.seed)
    info = run.info
    source = eval_source(run, args.eval_data)
    calibration = representative_inputs(info, count=args.samples, seed=CALIBRATION_SEED)
    debug_inputs = representative_inputs(info, count=args.debug_samples, seed=DEBUG_SEED)
    try:
        owner, rows, model_stats = debug_model(run, calibration, debug_inputs)
    except (ValueError, RuntimeError) as error:  # the converter's and the debugger's errors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ZooError(f"{args.model}: the quantization debugger failed: {first}") from None
    value_range = tuple(info.output.value_range)
    output = {**model_stats, "psnr_vs_float": psnr(model_stats["output_mse"], value_range)}
    zoo_file = zoo_file_error(run, calibration, debug_inputs)
    zoo_file["psnr_vs_keras"] = psnr(zoo_file["output_mse"], value_range)
    kept = keep_float(owner, rows, args.denylist_top)
    by_tensor = {row["tensor"]: row for row in rows}
    for result in kept:
        result["psnr_vs_float"] = psnr(result["output_mse"], value_range)
        base, new = output["psnr_vs_float"], result["psnr_vs_float"]
        gain = new - base if base is not None and new is not None else None
        result["gain_db"] = gain
        by_tensor[result["tensor"]]["keep_float_gain_db"] = gain
    task = task_figures(run, calibration, source, args.limit) if source else None
    import tensorflow as tf

    return {
        "model": args.model,
        "weights": args.weights,
        "command": "python benchmarks/int8_debug.py " + shlex.join(args.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "tensorflow": tf.__version__,
        "export_size": list(info.export_size) if info.export_size else None,
        "calibration_samples": args.samples,
        "debug_samples": args.debug_samples,
        "output_value_range": list(value_range),
        "output": output,
        "zoo_file": zoo_file,
        "keep_float": kept,
        "task": task,
        "tensors": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }


# === Report ===


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-" if value is None else str(value)
    return f"{value:.{digits}g}"


def _db(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(result: dict[str, Any], top: int) -> str:
    lines = [
        f"# int8 error per tensor: {result['model']}",
        "",
        f"Machine: {result['machine']}, TensorFlow {result['tensorflow']}. Command: "
        f"`{result['command']}`. Weights: {result['weights']}.",
        "",
        "Full-integer int8 as the zoo converts it (per-channel weights; the debugger's files "
        "quantize and dequantize their I/O inside, which computes what int8 I/O does), calibrated "
        f"on {result['calibration_samples']} representative samples at the export size "
        f"{result['export_size']}; statistics from `tf.lite.experimental.QuantizationDebugger` "
        f"on {result['debug_samples']} held-out samples. Per tensor, the error is its own op's "
        "(the float op reads the same quantized inputs). rmse/scale: about 0.29 is plain "
        "rounding. normalized = rmse / std of the float tensor (sorted on it). Keep-float gain: "
        "output PSNR against the float file with the tensor's producer and consumers "
        "denylisted (selective quantization, a diagnostic only).",
        "",
    ]
    output, zoo_file, task = result["output"], result["zoo_file"], result["task"]
    lines.append(
        f"Output against float on the debug samples: PSNR {_db(output['psnr_vs_float'])} dB "
        f"(debugger's file), {_db(zoo_file['psnr_vs_keras'])} dB (`convert_model`'s int8 file "
        f"against Keras); max |err| {_number(output['output_max_abs_error'])}."
    )
    if task:
        metric = task["metric"]
        keras_value, int8_value = task["keras"].get(metric), task["int8"].get(metric)
        data = Path(task["data"])
        shown = "/".join(data.parts[-2:]) if data.is_absolute() else task["data"]
        lines.append(
            f"Task metric ({metric}, `zoo eval` protocol, {shown}): Keras "
            f"{_number(keras_value, 4)}, int8 {_number(int8_value, 4)}, cost "
            f"{_number(task['cost'])}."
        )
    lines += [
        "",
        "| # | op | layer | elements | rmse | rmse/scale | normalized | SQNR dB | scale "
        "| range | float std | clipped | keep-float gain dB |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in result["tensors"][:top]:
        low, high = row["range"]
        lines.append(
            f"| {row['rank']} | {row['op']} | {row['layer']} | {row['num_elements']:,} | "
            f"{_number(row['rmse'])} | {_number(row['rmse_over_scale'])} | "
            f"{_number(row['normalized_error'])} | {_db(row['sqnr_db'])} | "
            f"{_number(row['scale'])} | [{low:.3g}, {high:.3g}] | {_number(row['float_std'])} | "
            f"{100 * row['clipped']:.2f}% | {_db(row.get('keep_float_gain_db'))} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="registered model name")
    parser.add_argument(
        "--weights",
        default="default",
        help="default (shipped), a run folder or weights file, or none (initial weights)",
    )
    parser.add_argument(
        "--eval-data",
        help="task metric data: a folder or dataset name, or none (default: Set5 for "
        "super-resolution, else the model's zoo eval data)",
    )
    parser.add_argument("--limit", type=int, help="evaluate at most this many images")
    parser.add_argument("--samples", type=int, default=32, help="calibration samples")
    parser.add_argument("--debug-samples", type=int, default=8, help="held-out debug inputs")
    parser.add_argument(
        "--denylist-top", type=int, default=5, help="worst tensors to try in float (0: none)"
    )
    parser.add_argument("--top", type=int, default=12, help="tensors shown in the Markdown")
    parser.add_argument("--seed", type=int, default=0, help="seed of --weights none")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    from zoo.errors import ZooError
    from zoo.files import write_text_atomically

    try:
        if not args.out.is_dir():
            raise ZooError(f"--out: folder {args.out} does not exist")
        result = study(args)
    except ZooError as error:
        raise SystemExit(f"Error: {error}") from None
    text = markdown(result, args.top)
    stem = args.out / f"int8_debug_{args.model}"
    write_text_atomically(
        stem.with_suffix(".json"), json.dumps(result, indent=2, default=_json) + "\n"
    )
    write_text_atomically(stem.with_suffix(".md"), text)
    print(text)


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main()
