"""Every model in every TFLite mode: conversion time, file size and Keras-vs-TFLite parity.

Converts each selected model (default: every full, non-tiny model) with
``convert.tflite.convert_model`` in float32, float16, dynamic, int8 and int16x8, at its
export size, calibrating int8 on its own dataset. Weights are the initial ones unless a
model's run folder is given with ``--weights name=RUN``, so parity here measures the
conversion, not a trained model's quality. Writes JSON and Markdown under
``benchmarks/results/`` and prints the table.

    python benchmarks/conversion.py [--models 'fsrcnn*'] [--modes float32,int8] [--update]

``--update`` re-measures only the selected models and keeps every other model's rows
from the existing results file (in the same modes only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"


def convert_one(name: str, mode: str, weights: str | None) -> dict:
    from convert.delegates import check
    from convert.tflite import convert_model

    started = time.perf_counter()
    try:
        result = convert_model(name, mode=mode, weights=weights)
    except Exception as error:  # a failure is a row of the table, not the end of the run
        return {"model": name, "mode": mode, "error": str(error).splitlines()[0]}
    parity = result.parity
    report = check(result.flatbuffer, measure=False)
    return {
        "model": name,
        "mode": mode,
        "seconds": round(time.perf_counter() - started, 2),
        "size_bytes": result.size,
        "max_abs_error": parity.max_abs_error,
        "psnr": parity.psnr,
        "label_agreement": parity.label_agreement,
        "gpu": report.target("gpu").verdict(),
        "fully_integer": report.fully_integer,
        "ops": result.metadata["ops"],
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| model | mode | size (KB) | max abs error | PSNR (dB) | labels agree | GPU delegate "
        "| fully integer | convert (s) |",
        "|---|---|---:|---:|---:|---:|---|---|---:|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['model']} | {row['mode']} | fails: {row['error']} | | | | | | |")
            continue
        psnr = "" if row["psnr"] is None else f"{row['psnr']:.1f}"
        labels = "" if row["label_agreement"] is None else f"{100 * row['label_agreement']:.1f}%"
        lines.append(
            f"| {row['model']} | {row['mode']} | {row['size_bytes'] / 1024:,.1f} | "
            f"{row['max_abs_error']:.2g} | {psnr} | {labels} | {row['gpu']} | "
            f"{'yes' if row['fully_integer'] else 'no'} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    from benchmarks.results_files import replace_rows
    from convert.tflite import MODES
    from zoo import list_models
    from zoo.files import write_text_atomically

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", default="*", help="wildcards over registered names, comma-separated"
    )
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--weights", action="append", default=[], help="name=RUN_OR_FILE")
    parser.add_argument("--output", default="conversion", help="results file stem")
    parser.add_argument(
        "--update", action="store_true", help="keep the other models' rows from the results file"
    )
    args = parser.parse_args()

    path = RESULTS / f"{args.output}.json"
    previous = json.loads(path.read_text()) if args.update and path.is_file() else None
    measured_modes = list(dict.fromkeys(row["mode"] for row in previous or []))
    if previous is not None and args.modes.split(",") != measured_modes:
        raise SystemExit(f"--update: {path} holds modes {','.join(measured_modes)}, not these")
    weights = dict(item.split("=", 1) for item in args.weights)
    selected = [n for pattern in args.models.split(",") for n in list_models(pattern)]
    names = [n for n in dict.fromkeys(selected) if not n.endswith("_tiny")]
    rows = []
    for name in names:
        for mode in args.modes.split(","):
            row = convert_one(name, mode, weights.get(name))
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "ops"}), flush=True)
    if previous is not None:
        rows = replace_rows(previous, rows, key="model", order=list_models())
    table = markdown(rows)
    command = f"python benchmarks/conversion.py --models '{args.models}' --modes {args.modes}"
    if args.update:
        command = (
            f"python benchmarks/conversion.py --modes {args.modes}`; the rows of "
            f"{', '.join(names)} were last re-measured with `--models '{args.models}' --update"
        )
    header = (
        f"# TFLite conversion of every full model\n\nMachine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs. Command: `{command}`. Initial weights unless named: "
        "PSNR and max abs error measure the conversion itself; at initial weights a "
        "segmentation model's class probabilities are nearly uniform, so its label "
        "agreement says little until it is trained. GPU delegate and fully integer are "
        "`zoo check`'s verdicts on each file.\n\n"
    )
    RESULTS.mkdir(exist_ok=True)
    write_text_atomically(path, json.dumps(rows, indent=2) + "\n")
    write_text_atomically(RESULTS / f"{args.output}.md", header + table)
    print(table)


if __name__ == "__main__":
    main()
