"""CPU latency, file size and peak memory of every full model: Keras against its TFLite files.

For each registered model that is not a ``*_tiny`` test variant, builds it (random initial
weights, seed 0), times the Keras model, converts it to float32, float16, dynamic and int8
with ``convert.tflite.to_tflite`` and times each file in the LiteRT interpreter (XNNPACK,
LiteRT's default CPU delegate) at each thread count: everything through
``convert.bench.bench_model``, whose docstring says exactly how each number is measured.
Ratios against float32 come from the same run. Writes JSON and Markdown under
``benchmarks/results/`` and prints the Markdown.

    python benchmarks/tflite_latency.py [--threads 1,2] [--runs 10] [--warmup 2] [--models a,b]
        [--out DIR] [--update]

``--update`` re-measures only ``--models`` and keeps every other model's rows from the
existing results (same settings only: ratios are never taken across runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("keras", "float32", "float16", "dynamic", "int8")


def full_models() -> list[str]:
    import zoo

    return [name for name in zoo.list_models() if not zoo.info(name).tiny]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--models", help="Comma-separated names (default: every full model).")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for the results.")
    parser.add_argument(
        "--update", action="store_true", help="Keep the other models' rows from the results."
    )
    args = parser.parse_args()

    import zoo
    from benchmarks.results_files import replace_rows
    from convert.bench import (
        BenchReport,
        Latency,
        bench_model,
        machine,
        parse_threads,
        with_ratios,
    )
    from zoo.errors import ZooError
    from zoo.files import write_text_atomically

    threads = parse_threads(args.threads)
    names = args.models.split(",") if args.models else full_models()
    settings = {
        "threads": list(threads),
        "runs": args.runs,
        "warmup": args.warmup,
        "seed": 0,
        "xnnpack": True,
        "weights": "random initial weights (keras seed 0)",
    }
    path = args.out / "tflite_latency.json"
    previous = json.loads(path.read_text()) if args.update and path.is_file() else None
    if previous is not None and previous["settings"] != settings:
        raise SystemExit(f"--update: {path} was measured with {previous['settings']}, not these")

    import keras

    results, failures = [], {}
    started = time.perf_counter()
    for name in names:
        keras.utils.set_random_seed(0)
        failed: dict[str, str] = {}
        try:
            rows = bench_model(
                name,
                modes=MODES,
                threads=threads,
                runs=args.runs,
                warmup=args.warmup,
                failures=failed,
            )
        except ZooError as error:
            rows, failed = [], {"all": str(error)}
        results += with_ratios(rows)
        if failed:
            failures[name] = failed
        for row in with_ratios(rows):
            speed = "" if row.speedup is None else f" ({row.speedup:.2f}x float32)"
            print(f"{name} {row.mode} t={row.threads}: {row.median_ms:.4g} ms{speed}", flush=True)
        for mode, message in failed.items():
            print(f"{name} {mode}: FAILED {message}", flush=True)

    seconds = round(time.perf_counter() - started, 1)
    if previous is not None:
        fresh = [asdict(row) for row in results]
        kept = replace_rows(previous["results"], fresh, key="target", order=zoo.list_models())
        results = [Latency(**row) for row in kept]
        failures = {
            **{k: v for k, v in previous.get("failures", {}).items() if k not in names},
            **failures,
        }
    report = BenchReport(
        results=results,
        settings=settings,
        machine=machine(),
        memory=(
            "peak MiB: peak resident memory added by loading the file, creating the interpreter "
            "and its XNNPACK delegate, allocating tensors and running, measured in a fresh process "
            "per file and thread count that imports only numpy and ai_edge_litert (Linux VmHWM "
            "after the runs minus VmRSS before loading)"
        ),
    )
    data = {**report.to_dict(), "failures": failures}
    data["seconds"] = seconds
    if previous is not None:
        data["updated"] = names
    markdown = to_markdown(report, failures)
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
    write_text_atomically(args.out / "tflite_latency.md", markdown)
    print(markdown)


def to_markdown(report, failures: dict[str, dict[str, str]]) -> str:
    """A float32-vs-int8 summary per model, then every row."""
    settings = report.settings
    threads = settings["threads"]
    by_key = {(r.target, r.mode, r.threads): r for r in report.results}
    names = list(dict.fromkeys(r.target for r in report.results))
    lines = [
        f"TFLite latency on {report.machine}: LiteRT interpreter with XNNPACK (its default "
        f"CPU delegate), batch 1 at the export size, {settings['warmup']} warm-up runs then "
        f"median and p90 of {settings['runs']} timed `invoke()` calls; Keras is an eager "
        "`model(x, training=False)` call with TensorFlow's own threads. Untrained weights "
        "(random init): latency and size do not depend on the values.",
        "",
        f"{report.memory}.",
        "",
        "Speed-up is float32 median / mode median at the same thread count, from the same run; "
        "size is relative to the float32 file.",
        "",
        "## Summary",
        "",
        "| model | keras ms | "
        + " | ".join(f"float32 ms ({t}t) | int8 ms ({t}t) | int8 speed-up ({t}t)" for t in threads)
        + " | float32 size | int8 size |",
        "|---|---:|" + "---:|" * (3 * len(threads)) + "---:|---:|",
    ]

    def ms(row) -> str:
        return "-" if row is None else f"{row.median_ms:.4g}"

    for name in names:
        cells = [name, ms(by_key.get((name, "keras", None)))]
        for t in threads:
            f32, i8 = by_key.get((name, "float32", t)), by_key.get((name, "int8", t))
            speedup = "-" if i8 is None or i8.speedup is None else f"{i8.speedup:.2f}x"
            cells += [ms(f32), ms(i8), speedup]
        f32, i8 = by_key.get((name, "float32", threads[0])), by_key.get((name, "int8", threads[0]))
        cells.append("-" if f32 is None else _size(f32.size_bytes))
        cells.append("-" if i8 is None else f"{_size(i8.size_bytes)} ({i8.size_ratio:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Every row", "", report.markdown(), ""]
    if failures:
        lines += ["## Failures", ""]
        for name, failed in failures.items():
            lines += [f"- {name} {mode}: {message}" for mode, message in failed.items()]
        lines.append("")
    return "\n".join(lines)


def _size(size: int) -> str:
    from convert.bench import format_size

    return format_size(size)


if __name__ == "__main__":
    main()
