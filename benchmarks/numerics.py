"""Quality per precision of every shipped model: the table users came for.

For each model with shipped weights (``zoo.get(name, weights="default")``), on its evaluation
data (Set5 for super-resolution when ``--sr-data`` exists, otherwise the data its manifest was
measured on), with ``zoo eval``'s protocol:

- the task metric of the Keras float model, and of its TFLite files in float16, dynamic range
  and int8 post-training quantization, and of the int8 file after quantization-aware training
  (``--qat-steps`` fine-tuning steps with the model's own objective; T91 for super-resolution
  when ``--sr-train`` exists): ``convert.study.quantization_study``, which converts a fully
  convolutional model at each evaluation image's size;
- the size of each file at the export size, host latency of float32 and int8 in the same run
  (``convert.bench.bench_model``: LiteRT with XNNPACK, 1 thread, median), and the delegate
  report of the float16 file (GPU) and the int8 file (NNAPI, XNNPACK; fully integer or not);
- the float16 file measured on LiteRT's GPU accelerator (``convert.runtime.measure``, 4
  inputs from the model's data): accepted, every op taken, largest error against Keras as a
  share of the output range, and the device it ran on. ``--accelerators-only`` refreshes just
  this entry of rows measured earlier.

Writes ``benchmarks/results/numerics.json`` (models measured earlier and not named now are
kept, even those written while this run measured) and ``numerics.md``, and prints the Markdown.

    python benchmarks/numerics.py [MODEL ...] [--qat-steps 2000] [--sr-data PATH] [--runs 20]
        [--accelerators-only]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SET5 = ROOT.parent / "shared" / "data" / "sr" / "Set5"
T91 = ROOT.parent / "shared" / "data" / "sr" / "T91"
METRIC_MODES = ("float16", "dynamic", "int8")


def evaluation_data(name: str, sr_data: Path) -> str:
    from zoo import models, pretrained

    if models.info(name).task == "super_resolve" and sr_data.is_dir():
        return str(sr_data)
    data = pretrained.manifest(name)["evaluation"]["data"]
    return data if "/" not in data else models.info(name).dataset


def measure(
    name: str, *, qat_steps: int, sr_data: Path, sr_train: Path, runs: int, limit: int | None
) -> dict:
    """Every figure of one model's row (see the module docstring)."""
    import keras

    from convert import check
    from convert.bench import bench_model
    from convert.study import quantization_study
    from convert.tflite import convert_model
    from zoo import models, pretrained
    from zoo.weights_io import load_run

    keras.utils.set_random_seed(0)
    info = models.info(name)
    data = evaluation_data(name, sr_data)
    fine_tune = str(sr_train) if info.task == "super_resolve" and sr_train.is_dir() else None
    study = quantization_study(
        name, "default", data=data, limit=limit, qat_steps=qat_steps, qat_data=fine_tune
    )
    run = load_run(name, "default")
    delegates = {}
    for mode, targets in (("float16", ("gpu",)), ("int8", ("nnapi", "xnnpack"))):
        report = check(convert_model(run.model, mode=mode, info=info, parity=False).flatbuffer)
        delegates[mode] = {t: report.target(t).verdict() for t in targets}
    delegates["int8"]["fully_integer"] = report.fully_integer
    gpu = gpu_parity(name)
    latency = {
        row.mode: round(row.median_ms, 3)
        for row in bench_model(name, weights="default", modes=("float32", "int8"), runs=runs)
    }
    return {
        "task": info.task,
        "weights_sha256": [file["sha256"] for file in pretrained.manifest(name)["files"]],
        "data": data if "/" not in data else "/".join(Path(data).parts[-2:]),
        "limit": limit,
        "metric": study["metric"],
        "higher_is_better": study["higher_is_better"],
        "metrics": {mode: _rounded(values) for mode, values in study["metrics"].items()},
        "qat_steps": qat_steps,
        "qat_data": study["qat"]["data"] if study["qat"] else None,
        "file_bytes": study["bytes"],
        "latency_ms": latency,
        "int8_speedup": round(latency["float32"] / latency["int8"], 2),
        "delegates": delegates,
        "gpu_measured": gpu,
        "seconds": study["seconds"],
    }


def gpu_parity(name: str) -> dict[str, Any]:
    """The float16 file of ``name``'s shipped weights on LiteRT's GPU accelerator."""
    from convert.tflite import convert_model

    conversion = convert_model(name, mode="float16", weights="default", accelerators=True)
    (run,) = [r for r in conversion.accelerators.runs if r.accelerator == "gpu"]
    return {
        "device": run.device,
        "available": run.available,
        "accepted": run.accepted,
        "fully_accelerated": run.fully_accelerated,
        "relative_error": run.relative_error,
        "agrees": run.agrees,
        "verdict": run.verdict(),
    }


def gpu_cell(row: dict) -> str:
    """The measured GPU verdict in a few words (``—`` for rows measured before it existed)."""
    gpu = row.get("gpu_measured")
    if not gpu:
        return "—"
    if not gpu["available"] or not gpu["accepted"]:
        return gpu["verdict"]
    state = "right" if gpu["agrees"] else "WRONG"
    return f"{state}, {100 * gpu['relative_error']:.2g}% max err"


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


def int8_cost(row: dict) -> dict[str, float]:
    """Keras float minus int8 (PTQ and QAT) on the primary metric, signed so that a
    positive cost is a loss whichever way the metric points; no QAT entry without QAT."""
    metric, sign = row["metric"], 1.0 if row["higher_is_better"] else -1.0
    keras_value = row["metrics"]["keras"][metric]
    return {
        mode: round(sign * (keras_value - row["metrics"][mode][metric]), 4)
        for mode in ("int8", "int8_qat")
        if mode in row["metrics"]
    }


def _figure(value: float | None, form: str) -> str:
    return "—" if value is None else format(value, form)


def markdown(table: dict[str, dict], machine: str) -> str:
    lines = [
        "# Quality per precision of the shipped weights",
        "",
        f"Machine: {machine}. `python benchmarks/numerics.py`; latency: LiteRT + XNNPACK, "
        "1 thread, median, float32 and int8 in the same run. Metric: the task's primary "
        "metric with `zoo eval`'s protocol on the data named; int8 cost = Keras float minus "
        "int8 (positive: a loss).",
        "",
        "| model | metric (data) | Keras | float16 | dynamic | int8 PTQ | int8 QAT "
        "| int8 cost PTQ / QAT | size f32 → int8 | latency f32 → int8 | GPU rules (f16) "
        "| GPU measured (f16) | NNAPI (int8) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, row in sorted(table.items()):
        metric = row["metric"]
        modes = ("keras", *METRIC_MODES, "int8_qat")
        values = [row["metrics"].get(m, {}).get(metric) for m in modes]
        cost = int8_cost(row)
        lines.append(
            f"| {name} | {metric} ({row['data']}) | "
            + " | ".join(_figure(v, ".4g") for v in values)
            + f" | {cost['int8']:+.3g} / {_figure(cost.get('int8_qat'), '+.3g')}"
            + f" | {_kb(row['file_bytes']['float32'])} → {_kb(row['file_bytes']['int8'])}"
            + f" | {row['latency_ms']['float32']:.3g} → {row['latency_ms']['int8']:.3g} ms"
            + f" | {row['delegates']['float16']['gpu']} | {gpu_cell(row)}"
            + f" | {row['delegates']['int8']['nnapi']} |"
        )
    return "\n".join(lines) + "\n"


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB" if size < 2**20 else f"{size / 2**20:.2f} MB"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="Shipped models (default: all of them).")
    parser.add_argument("--qat-steps", type=int, default=1000)
    parser.add_argument("--sr-data", type=Path, default=SET5, help="Set5 folder.")
    parser.add_argument(
        "--sr-train", type=Path, default=T91, help="T91 folder (super-resolution QAT data)."
    )
    parser.add_argument("--runs", type=int, default=20, help="Timed runs per file.")
    parser.add_argument("--limit", type=int, help="At most this many evaluation images.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for the results.")
    parser.add_argument(
        "--accelerators-only",
        action="store_true",
        help="Only re-measure the GPU entry of rows already in the results.",
    )
    args = parser.parse_args(argv)

    from benchmarks.results_files import write_model_table
    from zoo import pretrained
    from zoo.errors import ZooError

    names = args.models or pretrained.shipped()
    try:
        for name in names:
            pretrained.manifest(name)  # a model without shipped weights fails before any work
    except ZooError as error:
        raise SystemExit(f"Error: {error}") from None
    measured: dict[str, Any] = {}
    if args.accelerators_only:
        import json

        path = args.out / "numerics.json"
        table = json.loads(path.read_text())["models"] if path.is_file() else {}
        for name in names:
            if name in table:
                measured[name] = {**table[name], "gpu_measured": gpu_parity(name)}
                print(f"{name}: GPU {gpu_cell(measured[name])}", flush=True)
        print(write_model_table(path, measured, markdown))
        return
    for name in names:
        print(f"{name} ...", flush=True)
        try:
            measured[name] = measure(
                name,
                qat_steps=args.qat_steps,
                sr_data=args.sr_data,
                sr_train=args.sr_train,
                runs=args.runs,
                limit=args.limit,
            )
        except ZooError as error:
            raise SystemExit(f"Error: {name}: {error}") from None
        print(f"{name}: int8 cost {int8_cost(measured[name])}", flush=True)
    print(write_model_table(args.out / "numerics.json", measured, markdown))


if __name__ == "__main__":
    main()
