"""Memory and speed of ``zoo train`` on image folders: peak RSS by folder size, streaming
against decoding the folder into memory, and the pipeline's decode rate.

Folders of 256x256 JPEGs (smooth synthetic scenes, about 10 kB each, made once under
``--root`` and reused) of each ``--sizes`` count. For each, ``zoo train dae_photos --data
FOLDER`` runs ``--steps`` steps in a child process whose peak resident memory (VmHWM) is read
from /proc. On the first folder the same run with ``--option cache=memory`` (decoded once
into memory, the pre-streaming path) gives the in-memory throughput and memory, both with
``crops_per_image=8`` so the in-memory copy fits; each path runs ``--repeats`` times,
interleaved, and the median run is reported (and ``cache=stream`` for the streamed run,
which ``auto`` would otherwise decode into memory at that size). Throughput is the second epoch's
steps/s from metrics.csv (the first pays for tracing). The decode rate is the streamed
pipeline alone, without a model: images/s over ``--decode-batches`` batches of 32.

Writes ``benchmarks/results/data_streaming.{json,md}`` and prints the Markdown.

    python benchmarks/data_streaming.py [--sizes 2000,20000,100000] [--steps 40]
        [--root /tmp/zoo-streaming]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from convert.bench import machine
from zoo.files import write_text_atomically

RESULTS = Path(__file__).resolve().parent / "results"
MODEL = "dae_photos"
SIDE = 256


def make_folder(folder: Path, count: int) -> Path:
    """``count`` JPEGs of SIDE x SIDE in ``folder`` (kept if it already holds them)."""
    if folder.is_dir() and sum(1 for _ in folder.iterdir()) == count:
        return folder
    partial = folder.with_name(folder.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    for index in range(count):
        phase, tilt, radius = rng.uniform(0, 1, 3)
        cy, cx = rng.uniform(0.2, 0.8, 2)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < (0.1 + 0.2 * radius) ** 2).astype(float)
        channels = [
            0.5 + 0.3 * np.sin(2 * np.pi * (xx * (1 + tilt) + yy + phase + c / 3)) + 0.2 * disc
            for c in range(3)
        ]
        pixels = (np.clip(np.stack(channels, -1), 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(partial / f"{index:06d}.jpg", quality=90)
    partial.rename(folder)
    return folder


def train_run(folder: Path, steps: int, *options: str) -> dict:
    """One ``zoo train`` child: peak RSS (MB), wall seconds, second-epoch steps/s."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        command = [
            sys.executable, "-m", "zoo", "train", MODEL, "--data", str(folder),
            "--epochs", "2", "--steps-per-epoch", str(steps), "--checkpoint-every", "0",
            "--out", str(out), "--quiet", *options,
        ]  # fmt: skip
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        peak_kb = 0
        while child.poll() is None:
            peak_kb = max(peak_kb, _peak_kb(child.pid))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        _, stderr = child.communicate()
        if child.returncode != 0:
            raise SystemExit(f"zoo train failed on {folder}:\n{stderr.decode()[-2000:]}")
        with (out / "metrics.csv").open() as rows:
            last = list(csv.DictReader(rows))[-1]
    return {
        "peak_rss_mb": round(peak_kb / 1024),
        "seconds": round(seconds, 1),
        "steps_per_second": round(float(last["steps_per_second"]), 2),
    }


def _median_run(runs: list[dict]) -> dict:
    """The run with the median steps/s, and every run's steps/s."""
    ordered = sorted(runs, key=lambda run: run["steps_per_second"])
    middle = ordered[len(ordered) // 2]
    return {**middle, "all_steps_per_second": [run["steps_per_second"] for run in runs]}


def _peak_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1])


def decode_rate(folder: Path, batches: int) -> float:
    """Images/s of the streamed pipeline alone (decode, crop, noise), batches of 32."""
    import zoo
    from zoo.data.stream import batches as stream_batches
    from zoo.tasks import objective_for
    from zoo.train.config import TrainConfig

    info = zoo.info(MODEL)
    objective = objective_for(info, TrainConfig.from_recipe(info, data=str(folder)))
    examples, _ = objective.data()
    pipeline = stream_batches(examples, 32, 0, degrade=objective.degrade)
    iterator = iter(pipeline)
    next(iterator)  # tracing and the first fills
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return round(32 * batches / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,20000,100000")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--decode-batches", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each path, interleaved")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the files")
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "zoo-streaming")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    rows = []
    for count in sizes:
        folder = make_folder(args.root / f"jpeg{count}", count)
        megabytes = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        run = train_run(folder, args.steps)
        rows.append({"files": count, "folder_mb": round(megabytes, 1), **run})
        print(f"{count} files: {run}", flush=True)
    smallest = args.root / f"jpeg{sizes[0]}"
    crops = ("--option", "crops_per_image=8")
    paths = {"streamed": "cache=stream", "in_memory": "cache=memory"}
    runs: dict[str, list[dict]] = {name: [] for name in paths}
    for _ in range(args.repeats):  # interleaved, so that a change in load hits both alike
        for name, cache in paths.items():
            runs[name].append(train_run(smallest, args.steps, *crops, "--option", cache))
    streamed, in_memory = (_median_run(runs[name]) for name in paths)
    report = {
        "machine": machine(),
        "model": MODEL,
        "steps": args.steps,
        "folders": rows,
        "throughput": {
            "files": sizes[0],
            "streamed": streamed,
            "in_memory": in_memory,
            "ratio": round(streamed["steps_per_second"] / in_memory["steps_per_second"], 2),
        },
        "decode_images_per_second": decode_rate(smallest, args.decode_batches),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    json_text = json.dumps(report, indent=2) + "\n"
    write_text_atomically(args.results / "data_streaming.json", json_text)
    markdown = to_markdown(report)
    write_text_atomically(args.results / "data_streaming.md", markdown)
    print(markdown)


def to_markdown(report: dict) -> str:
    lines = [
        f"# `zoo train {report['model']}` on JPEG folders: memory and speed",
        "",
        f"Machine: {report['machine']}. {report['steps']} steps per epoch, 2 epochs.",
        "",
        "| files | folder (MB) | peak RSS (MB) | steps/s | wall (s) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in report["folders"]:
        lines.append(
            f"| {row['files']:,} | {row['folder_mb']} | {row['peak_rss_mb']:,} | "
            f"{row['steps_per_second']} | {row['seconds']} |"
        )
    speed = report["throughput"]
    lines += [
        "",
        f"Streamed against decoded into memory (`--option cache=memory`), "
        f"{speed['files']:,} files, crops_per_image=8; the median of "
        f"{len(speed['streamed']['all_steps_per_second'])} interleaved runs each "
        f"(streamed: {speed['streamed']['all_steps_per_second']}, in memory: "
        f"{speed['in_memory']['all_steps_per_second']} steps/s):",
        "",
        "| path | steps/s | peak RSS (MB) |",
        "|---|---:|---:|",
        f"| streamed | {speed['streamed']['steps_per_second']} | "
        f"{speed['streamed']['peak_rss_mb']:,} |",
        f"| in memory | {speed['in_memory']['steps_per_second']} | "
        f"{speed['in_memory']['peak_rss_mb']:,} |",
        "",
        f"Streamed / in memory: {speed['ratio']}x. Decode rate of the streamed pipeline alone "
        f"(decode, crop, noise): {report['decode_images_per_second']} images/s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
