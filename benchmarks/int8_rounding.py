"""What int8 costs super-resolution per weight-rounding method, on Set5 and on unseen photos.

For each shipped super-resolution model (or those named), the Keras float model's PSNR and
the int8 cost (Keras minus the int8 file, dB, positive: a loss) of the int8 file
``zoo convert`` writes, made four ways (``convert.tflite.convert_model``):

- ``nearest``: the converter's own rounding of every weight to its nearest level;
- ``nearest + CLE``: cross-layer equalization first (``equalize=True``, Nagel et al. 2019);
- ``GPTQ + CLE``: the weights rounded by GPTQ (``convert.rounding``) after the paper's
  equalization;
- ``GPTQ`` (the default): activation ranges balanced first (``equalize`` with
  ``target="activations"``), then GPTQ, each layer fitted to its int8-rounded input
  first (``convert.rounding``). Every file gives an output that spans [0, 1] the
  8-bit image grid (``convert.flatbuffer.pin_pixel_output``), holds its low-resolution
  input on the 8-bit levels (``convert.ranges.pin_input_levels``), computes PReLUs as ReLU
  convolutions (``convert.lowering.split_prelus``) and rounds a residual model's sum once
  (``convert.skips``).

Each file is converted at every evaluation image's size, calibrated on 32 samples of the
model's own training data, and measured with ``zoo eval``'s protocol on Set5 (``--sr-data``)
and on the zoo's ``photos`` (scikit-image's, which no super-resolution recipe trains or
validates on). The protocol leaves the low-resolution input unrounded (as the FSRCNN paper
does), which an int8 file's 8-bit input cannot hold: its cost includes that rounding, which
Keras given 8-bit input loses too. ``Set5, 8-bit LR`` gives Keras and the file the same
input rounded to 8-bit levels, as a phone's image (or camera Y plane) is: the cost of the
int8 arithmetic alone. Writes
``benchmarks/results/int8_rounding.json`` and ``.md`` (models measured earlier and not named
now are kept) and prints the Markdown.

    python benchmarks/int8_rounding.py [MODEL ...] [--sr-data PATH] [--unseen-data photos]
        [--limit N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SET5 = ROOT.parent / "shared" / "data" / "sr" / "Set5"
UNSEEN = "photos"
LR_8BIT = ", 8-bit LR"  # a data set label ending so: Keras and the file get 8-bit lr
METHODS = {  # label -> convert_model options
    "nearest": {"rounding": "nearest"},
    "nearest + CLE": {"rounding": "nearest", "equalize": True},
    "GPTQ + CLE": {"rounding": "gptq", "equalize": True},
    "GPTQ": {"rounding": "gptq"},
}


def measure(name: str, data_sets: dict[str, str], limit: int | None) -> dict[str, Any]:
    """Keras PSNR and each method's int8 cost on each data set, for one model."""
    from convert.quality import file_model, task_metrics
    from zoo.weights_io import load_run

    run = load_run(name, "default")
    start = time.perf_counter()
    row: dict[str, Any] = {"keras": {}, "cost": {method: {} for method in METHODS}}
    files = {method: file_model(run, "int8", **options) for method, options in METHODS.items()}
    for label, data in data_sets.items():
        measured = run
        if label.endswith(LR_8BIT):
            measured = run.with_options({"lr_8bit": True})
        reference = task_metrics(run.model, measured, data=data, limit=limit)["psnr"]
        row["keras"][label] = round(reference, 4)
        for method, model in files.items():
            value = task_metrics(model, measured, data=data, limit=limit)["psnr"]
            row["cost"][method][label] = round(reference - value, 4)
            print(f"  {label} {method}: {reference - value:+.3f} dB", flush=True)
    row["seconds"] = round(time.perf_counter() - start, 1)
    row["limit"] = limit
    return row


def markdown(table: dict[str, dict], machine: str) -> str:
    sets = sorted({label for row in table.values() for label in row["keras"]})
    lines = [
        "# int8 cost per weight-rounding method (super-resolution)",
        "",
        f"Machine: {machine}. `python benchmarks/int8_rounding.py`. PSNR (Y, `zoo eval`'s "
        "protocol) of the Keras float model, and int8 cost = Keras minus the int8 file "
        "(dB, positive: a loss), the file converted at each image's size and calibrated on "
        "32 samples of the model's training data. Data: Set5, and `unseen` (the zoo's "
        "photos unless the run said otherwise), which no super-resolution recipe trains or "
        "validates on, with the low-resolution input unrounded as the FSRCNN paper has it; "
        "`Set5, 8-bit LR`: Keras and the file both given it rounded to 8-bit levels (what "
        "an int8 file's input holds, and a phone's image): the cost of the int8 arithmetic "
        "alone, where the other rows also count the input's rounding to 8 bits. `GPTQ` is "
        "what `zoo convert` and `zoo export` write by default.",
        "",
        "| model | data | Keras | " + " | ".join(METHODS) + " |",
        "|---|---|---:|" + "---:|" * len(METHODS),
    ]
    for name, row in sorted(table.items()):
        for label in sets:
            if label not in row["keras"]:
                continue
            costs = " | ".join(f"{row['cost'][m][label]:+.3f}" for m in METHODS)
            lines.append(f"| {name} | {label} | {row['keras'][label]:.2f} | {costs} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="Shipped SR models (default: all of them).")
    parser.add_argument("--sr-data", type=Path, default=SET5, help="Set5 folder.")
    parser.add_argument(
        "--unseen-data", default=UNSEEN, help="The second data set (default: photos)."
    )
    parser.add_argument("--limit", type=int, help="At most this many images per data set.")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Folder for the results.")
    args = parser.parse_args(argv)

    from benchmarks.results_files import write_model_table
    from zoo import models, pretrained

    shipped = [n for n in pretrained.shipped() if models.info(n).task == "super_resolve"]
    names = args.models or shipped
    unknown = [n for n in names if n not in shipped]
    if unknown:
        raise SystemExit(f"Error: no shipped super-resolution weights for {', '.join(unknown)}")
    if not args.sr_data.is_dir():
        raise SystemExit(f"Error: --sr-data {args.sr_data} is not a folder")
    data_sets = {
        "Set5": str(args.sr_data),
        "unseen": args.unseen_data,
        f"Set5{LR_8BIT}": str(args.sr_data),
    }
    measured = {}
    for name in names:
        print(f"{name} ...", flush=True)
        measured[name] = measure(name, data_sets, args.limit)
    print(write_model_table(args.out / "int8_rounding.json", measured, markdown))


if __name__ == "__main__":
    main()
