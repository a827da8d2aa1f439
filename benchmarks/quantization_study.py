"""Float vs int8 per up-block: transposed convolution, resize-convolution and sub-pixel.

For one model (default fsrcnn_x3) trained once per ``upsample=`` mode, measures on the
evaluation data (default Set5) the task metric of the Keras float model, of its TFLite
float16, dynamic-range and int8 post-training-quantized files, and of int8 after
quantization-aware training (``--qat-steps``, 0 skips it); the bytes of each file at the
export size; and the int8 cost (Keras minus int8, dB for PSNR). The computing is
``convert.study.upsample_study``. Writes JSON and Markdown under ``benchmarks/results/``
(each atomically) and prints the table.

    zoo train fsrcnn_x3 --data ../shared/data/sr/T91 --set upsample=resize_conv --out runs/rc
    zoo train fsrcnn_x3 --data ../shared/data/sr/T91 --set upsample=subpixel --out runs/sp
    python benchmarks/quantization_study.py --run resize_conv=runs/rc --run subpixel=runs/sp

A run trained with ``--set residual=true`` (a fixed bilinear skip around the network, so the
quantized layers carry only the detail) is an arm of its own, ``transpose+residual``:

    zoo train fsrcnn_x3 --data ../shared/data/sr/T91 --set residual=true --out runs/res
    python benchmarks/quantization_study.py --run transpose+residual=runs/res

``transpose`` defaults to ``default``, the shipped weights. QAT fine-tunes on each run's own
training data; a shipped manifest records it portably (``sr/T91``), which is looked up under
``../shared/data/`` beside the repository when ``--qat-data`` is not given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_EVAL = "../shared/data/sr/Set5"  # relative to the repository root
MODE_LABELS = {
    "keras": "Keras float",
    "float16": "float16",
    "dynamic": "dynamic",
    "int8": "int8 PTQ",
    "int8_qat": "int8 QAT",
}


def parse_runs(items: list[str]) -> dict[str, str]:
    """``MODE=PATH`` items as {mode: path}; transpose defaults to the shipped weights."""
    from zoo.errors import ZooError

    runs = {"transpose": "default"}
    for item in items:
        mode, sep, path = item.partition("=")
        if not sep or not mode or not path:
            raise ZooError(f"--run takes MODE=PATH (e.g. resize_conv=runs/rc), got {item!r}")
        runs[mode.strip()] = path.strip()
    return runs


def resolve_eval_data(value: str | None) -> str:
    """``--eval-data``: a dataset name or folder; the default Set5 lives beside the repo."""
    from zoo.errors import ZooError

    if value is not None:
        return value
    path = (REPO / DEFAULT_EVAL).resolve()
    if not path.is_dir():
        raise ZooError(f"default --eval-data {path} not found; pass --eval-data (e.g. photos)")
    return str(path)


def shipped_data(model: str, weights: str) -> str | None:
    """The training data of shipped weights, looked up under ../shared/data (else None)."""
    if weights != "default":
        return None
    from zoo import pretrained

    recorded = pretrained.manifest(model)["config"]["data"]
    candidate = SHARED_DATA / recorded
    return str(candidate) if not Path(recorded).exists() and candidate.exists() else None


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    """The table: one row per arm, the primary metric in each mode, costs and sizes."""
    metric = rows[0]["metric"]
    unit = " (dB)" if metric == "psnr" else ""
    modes = [m for m in MODE_LABELS if any(m in row["metrics"] for row in rows)]
    headers = [
        "up-block",
        *(MODE_LABELS[m] for m in modes),
        f"int8 PTQ cost{unit}",
        f"int8 QAT cost{unit}",
        "float32 KB",
        "int8 KB",
        "QAT int8 KB",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|---" + "|---:" * (len(headers) - 1) + "|"]
    for row in rows:
        values = [row["metrics"].get(m, {}).get(metric) for m in modes]
        sizes = row["bytes"]
        kilobytes = [
            _number(sizes[k] / 1024, 1) if k in sizes else "-"
            for k in ("float32", "int8", "int8_qat")
        ]
        cells = [
            row["arm"],
            *(_number(v) for v in values),
            _number(row["cost"].get("int8")),
            _number(row["cost"].get("int8_qat")),
            *kilobytes,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def header(settings: dict) -> str:
    qat = (
        f"{settings['qat_steps']} quantization-aware training steps (`zoo optimize --qat`)"
        if settings["qat_steps"]
        else "no QAT (`--qat-steps 0`)"
    )
    limit = f", first {settings['limit']} images" if settings["limit"] else ""
    data = Path(settings["eval_data"])
    shown = "/".join(data.parts[-2:]) if data.is_absolute() else settings["eval_data"]
    metric = settings["metric"].upper() if settings["metric"] == "psnr" else settings["metric"]
    return (
        f"# Quantization per up-block: {settings['model']}\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs. Command: "
        f"`{settings['command']}`.\n\n"
        f"{metric} on {shown}{limit}, as `zoo eval` measures it, for the Keras "
        "float model and its TFLite files (each converted at every evaluation image's size; "
        "int8 calibrated on 32 samples of the model's dataset). int8 PTQ: post-training "
        f"quantization; int8 QAT: after {qat}. Cost: what the file loses against Keras "
        "(positive: a loss). Sizes: the files at the export size.\n\n"
        "Runs: "
        + ", ".join(f"{mode} = `{weights}`" for mode, weights in settings["runs"].items())
        + "\n\n"
    )


def study(args: argparse.Namespace) -> tuple[list[dict], dict]:
    """Check every argument and run, then measure each arm: (rows, settings)."""
    from convert.study import check_study_runs, quantization_study

    runs = check_study_runs(args.model, parse_runs(args.run))
    eval_data = resolve_eval_data(args.eval_data)
    command = "python benchmarks/quantization_study.py " + shlex.join(args.argv)
    settings = {
        "model": args.model,
        "runs": runs,
        "eval_data": eval_data,
        "limit": args.limit,
        "qat_steps": args.qat_steps,
        "qat_data": args.qat_data,
        "data_limit": args.data_limit,
        "seed": args.seed,
        "command": command.strip(),
    }
    rows = []
    for mode, weights in runs.items():
        qat_data = args.qat_data or shipped_data(args.model, weights)
        row = quantization_study(
            args.model,
            weights,
            data=eval_data,
            limit=args.limit,
            qat_steps=args.qat_steps,
            qat_data=qat_data,
            data_limit=args.data_limit,
            seed=args.seed,
        )
        rows.append(row)
        settings["metric"] = row["metric"]
        shown = {m: _number(v.get(row["metric"])) for m, v in row["metrics"].items()}
        print(json.dumps({"arm": mode, row["metric"]: shown, "bytes": row["bytes"]}), flush=True)
    return rows, settings


def main(argv: list[str] | None = None) -> None:
    from zoo.errors import ZooError
    from zoo.files import write_text_atomically

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fsrcnn_x3", help="registered model name")
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="MODE=PATH",
        help="a run folder (or weights file, or default) per arm: an up-block (transpose, "
        "resize_conv, subpixel), or one with +residual (built with --set residual=true); "
        "repeat; transpose defaults to default (the shipped weights)",
    )
    parser.add_argument("--eval-data", help=f"evaluation data (default {DEFAULT_EVAL})")
    parser.add_argument("--limit", type=int, help="evaluate at most this many images")
    parser.add_argument("--qat-steps", type=int, default=2000, help="QAT steps; 0 skips QAT")
    parser.add_argument("--qat-data", help="QAT fine-tuning data (default: each run's)")
    parser.add_argument("--data-limit", type=int, help="load at most this many QAT images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=str(RESULTS), help="folder for the result files")
    parser.add_argument("--output", default="quantization_study", help="results file stem")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    results = Path(args.results)
    try:
        if not results.parent.is_dir():
            raise ZooError(f"--results: folder {results.parent} does not exist")
        rows, settings = study(args)
    except ZooError as error:
        raise SystemExit(f"Error: {error}") from None
    import tensorflow as tf

    settings["tensorflow"] = tf.__version__
    table = markdown(rows)
    results.mkdir(exist_ok=True)
    document = {"settings": settings, "rows": rows}
    write_text_atomically(
        results / f"{args.output}.json", json.dumps(document, indent=2, default=str) + "\n"
    )
    write_text_atomically(results / f"{args.output}.md", header(settings) + table)
    print(table)


if __name__ == "__main__":
    main()
