"""8-bit against 16-bit activations: what int8 costs a super-resolution model, and what
int16x8 (int16 activations, int8 weights) gets back.

For each model (default: every shipped super-resolution model), on Set5 with ``zoo eval``'s
protocol: the task metric of the Keras float model, of its int8 file and of its int16x8 file
(both post-training, calibrated as ``zoo convert`` does), the size of each file at the export
size, and which delegates run the int16x8 file (``zoo check``). Costs are Keras minus file.

Writes ``benchmarks/results/activation_bits.json`` and ``.md`` (rows of models not named now
are kept) and prints the Markdown.

    python benchmarks/activation_bits.py [MODEL ...] [--weights default] [--data PATH]
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
MODES = ("int8", "int16x8")
INT16_TARGETS = ("gpu", "nnapi", "qnn", "xnnpack")  # zoo check's verdict on the int16x8 file


def measure(name: str, *, weights: str, data: str, limit: int | None) -> dict[str, Any]:
    """One model's row: metric per precision, cost per mode, file sizes, int16x8 delegates."""
    from convert import check
    from convert.quality import metric_cost, precision_metrics
    from convert.tflite import convert_model
    from zoo.tasks import get_task
    from zoo.weights_io import load_run

    run = load_run(name, weights)
    metric = get_task(run.info.task).metric
    values = precision_metrics(run, modes=MODES, data=data, limit=limit)
    files = {
        mode: convert_model(run.model, mode=mode, info=run.info, parity=False).flatbuffer
        for mode in MODES
    }
    report = check(files["int16x8"])
    keras_value = values["keras"][metric]
    return {
        "metric": metric,
        "data": data,
        "weights": weights,
        "values": {key: round(value[metric], 4) for key, value in values.items()},
        "cost": {
            mode: round(metric_cost(run.info.task, keras_value, values[mode][metric]), 4)
            for mode in MODES
        },
        "file_bytes": {mode: len(flatbuffer) for mode, flatbuffer in files.items()},
        "int16x8_delegates": {target: report.target(target).verdict() for target in INT16_TARGETS},
    }


def markdown(table: dict[str, dict], host: str) -> str:
    lines = [
        "# 8-bit against 16-bit activations",
        "",
        f"Machine: {host}. Command: `python benchmarks/activation_bits.py`. Post-training "
        "quantization of the shipped weights, calibrated as `zoo convert` does; metric with "
        "`zoo eval`'s protocol; cost = Keras minus file (positive: a loss).",
        "",
        "| model | metric (data) | Keras | int8 | int16x8 | cost int8 / int16x8 "
        "| size int8 → int16x8 | int16x8 delegates |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in sorted(table.items()):
        values, cost, size = row["values"], row["cost"], row["file_bytes"]
        delegates = ", ".join(f"{t}: {v}" for t, v in row["int16x8_delegates"].items())
        lines.append(
            f"| {name} | {row['metric']} ({Path(row['data']).name}) | {values['keras']:.4g} "
            f"| {values['int8']:.4g} | {values['int16x8']:.4g} "
            f"| {cost['int8']:+.3g} / {cost['int16x8']:+.3g} "
            f"| {size['int8']:,} → {size['int16x8']:,} B | {delegates} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="Models (default: shipped super-resolution).")
    parser.add_argument("--weights", default="default", help="default, a run folder or a file.")
    parser.add_argument("--data", type=Path, default=SET5, help="Evaluation images (Set5).")
    parser.add_argument("--limit", type=int, help="At most this many evaluation images.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for the results.")
    args = parser.parse_args(argv)

    from benchmarks.results_files import write_model_table
    from zoo import models, pretrained
    from zoo.errors import ZooError

    names = args.models or [
        n for n in pretrained.shipped() if models.info(n).task == "super_resolve"
    ]
    if not args.data.is_dir():
        raise SystemExit(f"Error: no evaluation folder {args.data}")
    measured = {}
    try:
        for name in names:
            print(f"{name} ...", flush=True)
            measured[name] = measure(
                name, weights=args.weights, data=str(args.data), limit=args.limit
            )
    except ZooError as error:
        raise SystemExit(f"Error: {error}") from None
    print(write_model_table(args.out / "activation_bits.json", measured, markdown))


if __name__ == "__main__":
    main()
