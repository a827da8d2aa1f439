"""The GPU parity sweep on a machine without TensorFlow: pack the files here, replay them there.

A real GPU's Vulkan driver may sit on a machine that has LiteRT but no TensorFlow (a
GPU server, a board). ``pack`` converts every shipped model at each size, as
``benchmarks/accelerators.py``'s sweep does, and stores each file with its inputs and its
Keras model's outputs. ``replay`` needs only numpy, Pillow and ai-edge-litert: it runs every
packed file on that machine's GPU accelerator (``convert.runtime.run_file``, a process per
file) and writes each file's error against Keras. ``merge`` adds the replay to
``benchmarks/results/accelerators.{json,md}`` beside the sweep's own GPU column.

    python benchmarks/gpu_sweep.py pack FOLDER [--models a,b] [--sizes 16,32,64,96,128]
    python benchmarks/gpu_sweep.py replay FOLDER --out replay.json      # on the GPU machine
    python benchmarks/gpu_sweep.py merge replay.json

A pack holds ``manifest.json`` and, per file, ``<stem>.tflite`` and ``<stem>.npz`` (the
inputs as ``"<sample>:<input name>"`` and the Keras outputs as ``"expected"``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from zoo.files import write_text_atomically

RESULTS = Path(__file__).resolve().parent / "results"


def pack(folder: Path, names: list[str], sizes: list[int]) -> list[dict]:
    """Write every sweep file of ``names`` into ``folder``; the manifest's entries."""
    import zoo
    from benchmarks.accelerators import shipped_models, sweep_files
    from convert import flatbuffer
    from convert.runtime import keras_outputs, output_width

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in names:
        info = zoo.info(name)
        weights = "default" if name in shipped_models() else None  # tiny models: initial
        model = zoo.get(name, weights=weights)
        for file in sweep_files(name, model, info, sizes):
            stem = f"{name}_{file['size']}_{file['mode']}_{file['lowering']}".replace("-", "any")
            samples = file["samples"]
            expected = keras_outputs(model, samples)
            signature = next(
                s
                for s in flatbuffer.read(file["flatbuffer"]).signatures
                if s.key == flatbuffer.SIGNATURE_KEY
            )
            inputs = [spec.name for spec in info.inputs]
            arrays = {
                f"{i}:{input_name}": array
                for i, sample in enumerate(samples)
                for input_name, array in zip(inputs, sample, strict=True)
            }
            np.savez(folder / f"{stem}.npz", expected=expected, **arrays)
            (folder / f"{stem}.tflite").write_bytes(file["flatbuffer"])
            entries.append(
                {
                    "stem": stem,
                    "model": name,
                    **{key: file[key] for key in ("size", "mode", "lowering")},
                    "inputs": inputs,
                    "samples": len(samples),
                    "output": next(iter(signature.outputs)),
                    "width": output_width(info, expected),
                    "gpu_float32": info.gpu_float32,
                }
            )
            print(f"packed {stem} ({len(file['flatbuffer']) / 1e6:.2f} MB)", flush=True)
    write_text_atomically(folder / "manifest.json", json.dumps({"files": entries}, indent=1) + "\n")
    return entries


def replay_one(folder: Path, entry: dict, device, runs: int, gpu_float32: bool = False) -> dict:
    """One packed file on ``device``: its verdict and its error against Keras."""
    from convert.flatbuffer import SIGNATURE_KEY
    from convert.runtime import run_file, tolerance

    with np.load(folder / f"{entry['stem']}.npz") as stored:
        expected = stored["expected"]
        feeds = [
            {name: stored[f"{i}:{name}"] for name in entry["inputs"]}
            for i in range(entry["samples"])
        ]
    data = (folder / f"{entry['stem']}.tflite").read_bytes()
    gpu_float32 = gpu_float32 or entry.get("gpu_float32", False)  # the model needs it
    run, raw = run_file(
        data, feeds, device, runs=runs, signature=SIGNATURE_KEY, gpu_float32=gpu_float32
    )
    row = {key: entry[key] for key in ("model", "size", "mode", "lowering")}
    row["gpu_float32"] = gpu_float32
    row.update(accepted=run.accepted, reason=run.reason, fully_accelerated=run.fully_accelerated)
    row["median_ms"] = run.median_ms
    if run.accepted:
        actual = np.concatenate([r[entry["output"]] for r in raw]).astype(np.float32)
        error = np.abs(expected.astype(np.float32) - actual)
        row["relative_error"] = float(error.max()) / entry["width"]
        row["mean_abs_error"] = float(error.mean())
        allowed = tolerance(entry["mode"], "gpu", gpu_float32=gpu_float32)
        row["agrees"] = row["relative_error"] <= allowed
    return row


def gpu_name() -> str | None:
    """The GPU's name and driver as ``nvidia-smi`` tells them, where it exists."""
    if shutil.which("nvidia-smi") is None:
        return None
    query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
    answer = subprocess.run(query, capture_output=True, text=True, check=False)
    return answer.stdout.strip().splitlines()[0] if answer.returncode == 0 else None


def replay(
    folder: Path, out: Path, *, workers: int, runs: int, budget_s: float, gpu_float32: bool = False
) -> dict:
    """Run every packed file on this machine's GPU accelerator; files left when ``budget_s``
    has passed are listed as not run."""
    from convert.runtime import gpu_device

    device = gpu_device()
    entries = json.loads((folder / "manifest.json").read_text())["files"]
    started = time.perf_counter()
    rows: list[dict] = []

    def one(entry: dict) -> dict:
        if time.perf_counter() - started > budget_s:
            return {key: entry[key] for key in ("model", "size", "mode", "lowering")} | {
                "accepted": False,
                "reason": "not run: the replay's time budget was spent",
            }
        row = replay_one(folder, entry, device, runs, gpu_float32)
        print(json.dumps(row), flush=True)
        return row

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(one, entries))
    document = {
        "device": device.label(),
        "available": device.available,
        "reason": device.reason,
        "gpu": gpu_name(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "seconds": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    write_text_atomically(out, json.dumps(document, indent=1) + "\n")
    return document


def merge(replayed: dict, results: Path) -> str:
    """Add a replay to the accelerators results as each sweep row's ``gpu_real`` entry."""
    from benchmarks.accelerators import markdown
    from benchmarks.results_files import write_model_table

    path = results / "accelerators.json"
    table = json.loads(path.read_text())["models"]
    device = replayed["device"] + (f", {replayed['gpu']}" if replayed.get("gpu") else "")
    measured = {}
    for row in replayed["rows"]:
        entries = table.get(row["model"], {}).get("gpu_sweep", [])
        for entry in entries:
            if all(entry[key] == row[key] for key in ("size", "mode", "lowering")):
                entry["gpu_real"] = {k: v for k, v in row.items() if k != "model"}
                entry["gpu_real_device"] = device
                measured[row["model"]] = table[row["model"]]
    return write_model_table(path, measured, markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="Convert and store the sweep's files.")
    packing.add_argument("folder", type=Path)
    packing.add_argument("--models", help="Comma-separated names (default: every shipped model).")
    packing.add_argument("--sizes", default="16,32,64,96,128", help="Square sizes to sweep.")
    replaying = commands.add_parser("replay", help="Run a pack on this machine's GPU.")
    replaying.add_argument("folder", type=Path)
    replaying.add_argument("--out", type=Path, required=True, help="The replay's JSON.")
    replaying.add_argument("--workers", type=int, default=4, help="Files run at once.")
    replaying.add_argument("--runs", type=int, default=5, help="Timed runs per file.")
    replaying.add_argument("--budget", type=float, default=1e9, help="Seconds to start files.")
    replaying.add_argument(
        "--gpu-float32", action="store_true", help="The GPU computes in float32 (enforce_f32)."
    )
    merging = commands.add_parser("merge", help="Add a replay to the accelerators results.")
    merging.add_argument("replay", type=Path)
    merging.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    if args.command == "pack":
        from benchmarks.accelerators import shipped_models

        names = args.models.split(",") if args.models else shipped_models()
        entries = pack(args.folder, names, [int(s) for s in args.sizes.split(",")])
        print(f"{len(entries)} files in {args.folder}")
    elif args.command == "replay":
        document = replay(
            args.folder,
            args.out,
            workers=args.workers,
            runs=args.runs,
            budget_s=args.budget,
            gpu_float32=args.gpu_float32,
        )
        wrong = [r for r in document["rows"] if not (r["accepted"] and r.get("agrees"))]
        print(
            f"{document['device']} ({document['gpu']}): {len(document['rows'])} files, "
            f"{len(wrong)} refused, not run or wrong, in {document['seconds']} s"
        )
    else:
        print(merge(json.loads(args.replay.read_text()), args.results))


if __name__ == "__main__":
    main()
