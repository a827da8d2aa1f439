"""Latency, file size and peak memory of TFLite files on the CPU, beside the Keras model.

A target is a ``.tflite`` file or a registry name. A file is timed as it is. A name is built
(random initial weights unless ``weights=`` is given), timed as a Keras model, then converted
with :func:`convert.tflite.to_tflite` to each mode and every file is timed: all in one run,
so the ratios against float32 compare like with like.

How each number is measured:

- TFLite latency: ``ai_edge_litert.interpreter.Interpreter(model_path, num_threads=N)`` with
  the default op resolver, which applies LiteRT's default CPU delegate, XNNPACK (its
  ``DELEGATE`` nodes are counted and reported; ``xnnpack=False`` selects
  ``BUILTIN_WITHOUT_DEFAULT_DELEGATES``). Inputs are set once (random, fixed seed, honouring
  each input's dtype and shape; integer inputs quantized from the declared float range with
  the tensor's scale and zero point), ``warmup`` invokes, then ``runs`` timed ``invoke()``
  calls. Median and 90th percentile (linear interpolation) of those runs, in ms.
- Peak memory: each (file, threads) pair runs in a fresh Python process that imports only
  numpy and ai_edge_litert (``convert/latency_worker.py``). Reported: the peak resident
  memory (Linux VmHWM, reset after the imports) added by loading the model, creating the
  interpreter and its delegate, allocating tensors and the runs, over the resident set just
  before loading. It includes the file's mapped pages, XNNPACK's packed weights, the tensor
  arena, and library code paged in on first use. ``ru_maxrss`` is not used on Linux: a
  process started from a large one (this one, holding TensorFlow) inherits its parent's
  high-water mark, which would hide the child's growth.
- Keras latency: in this process, ``model(x, training=False)`` (eager) on a batch of 1 at the
  export size, ``warmup`` calls first, the output copied to numpy inside the timing.
  TensorFlow uses its own thread pools (all cores), so the Keras row has no thread count,
  no file size and no peak memory.

``speedup`` is float32's median over the row's median at the same thread count (> 1 is
faster than float32); ``size_ratio`` is the row's file size over float32's.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convert import flatbuffer
from convert.delegates.checking import precision
from zoo.errors import ZooError

TFLITE_MODES = ("float32", "float16", "dynamic", "int8", "int16x8")
KERAS = "keras"
DEFAULT_MODES = (KERAS, "float32", "float16", "dynamic", "int8")
REFERENCE_MODE = "float32"
WORKER = Path(__file__).with_name("latency_worker.py")
XNNPACK_LOG = "XNNPACK delegate for CPU"  # LiteRT logs "Created TensorFlow Lite XNNPACK ..."


# === Results ===


@dataclass(frozen=True)
class Latency:
    """One timed configuration: a target in one mode at one thread count.

    ``threads`` is None for Keras (TensorFlow's own pools). ``size_bytes`` and
    ``peak_mib`` are None for Keras. ``threads_added`` is how many OS threads the
    interpreter started (XNNPACK's pool: threads - 1). ``delegate`` is "XNNPACK" when
    XNNPACK took part of the graph, "none" when no delegate did, "tensorflow" for Keras.
    """

    target: str
    model: str | None
    mode: str
    threads: int | None
    runs: int
    warmup: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    size_bytes: int | None
    peak_mib: float | None
    delegate: str
    delegate_partitions: int | None = None
    threads_added: int | None = None
    speedup: float | None = None  # float32 median / this median, same threads
    size_ratio: float | None = None  # this size / float32 size

    @property
    def label(self) -> str:
        return self.model or self.target


@dataclass
class BenchReport:
    """Every row of one run, the settings, and how memory was measured."""

    results: list[Latency]
    settings: dict[str, Any]
    machine: str
    memory: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "memory": self.memory,
            "notes": self.notes,
            "results": [asdict(r) for r in self.results],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def rows(self) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
        """Headers and text rows of the table."""
        headers = (
            "model",
            "mode",
            "threads",
            "median ms",
            "p90 ms",
            "vs float32",
            "size",
            "size vs f32",
            "peak MiB",
            "delegate",
        )
        rows = [
            (
                r.target,
                r.mode,
                "tf" if r.threads is None else str(r.threads),
                f"{r.median_ms:.4g}",
                f"{r.p90_ms:.4g}",
                "-" if r.speedup is None else f"{r.speedup:.2f}x",
                "-" if r.size_bytes is None else format_size(r.size_bytes),
                "-" if r.size_ratio is None else f"{r.size_ratio:.2f}",
                "-" if r.peak_mib is None else f"{r.peak_mib:.1f}",
                r.delegate,
            )
            for r in self.results
        ]
        return headers, rows

    def markdown(self) -> str:
        headers, rows = self.rows()
        right = {"threads", "median ms", "p90 ms", "vs float32", "size", "size vs f32", "peak MiB"}
        lines = [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---:" if h in right else "---" for h in headers) + "|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Write the bar chart (median, p90 whisker) as a PNG, atomically."""
        from convert.chart import write_chart

        path = Path(path)
        if not path.parent.is_dir():
            raise ZooError(f"folder {path.parent} does not exist")
        return write_chart(self.results, path, title=f"Latency on {self.machine}")


def format_size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.2f} MiB"


# === Settings ===


def parse_threads(text: str | Iterable[int]) -> tuple[int, ...]:
    """'1,2' (or [1, 2]) -> (1, 2): positive integers, duplicates dropped, order kept."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    counts = []
    for part in parts:
        try:
            count = int(str(part).strip())
        except ValueError:
            raise ZooError(f"--threads takes positive integers like 1,2; got {text!r}") from None
        if count < 1:
            raise ZooError(f"--threads must be at least 1; got {text!r}")
        if count not in counts:
            counts.append(count)
    if not counts:
        raise ZooError("--threads needs at least one thread count")
    return tuple(counts)


def parse_modes(text: str | Iterable[str]) -> tuple[str, ...]:
    """'keras,float32,int8' -> a tuple; each one of keras and the TFLite modes."""
    modes = [m.strip() for m in (text.split(",") if isinstance(text, str) else text)]
    known = (KERAS, *TFLITE_MODES)
    for mode in modes:
        if mode not in known:
            raise ZooError(f"unknown mode {mode!r}; expected some of {', '.join(known)}")
    if not modes:
        raise ZooError("--modes needs at least one mode")
    return tuple(dict.fromkeys(modes))


def _check_counts(runs: int, warmup: int) -> None:
    if runs < 1:
        raise ZooError(f"--runs must be at least 1; got {runs}")
    if warmup < 0:
        raise ZooError(f"--warmup must be 0 or more; got {warmup}")


def is_file_target(target: str) -> bool:
    """A path (existing, ending in .tflite, or with a folder) rather than a model name."""
    return (
        Path(target).exists()
        or target.endswith(".tflite")
        or os.sep in target
        or (os.altsep is not None and os.altsep in target)
    )


# === Timing a file ===


def bench_file(
    path: str | Path,
    *,
    threads: Sequence[int] = (1,),
    runs: int = 20,
    warmup: int = 3,
    seed: int = 0,
    xnnpack: bool = True,
    target: str | None = None,
    mode: str | None = None,
    ranges: list | None = None,
) -> list[Latency]:
    """Time ``path`` once per thread count, each in a fresh process (no TensorFlow there).

    The mode, model name and input float ranges come from the zoo's metadata in the file
    when present (``mode``/``ranges`` override them); a file without it is labelled with the
    precision its tensors show (float32, float16, dynamic, int8, int16x8). Raises ZooError
    for a missing, corrupt or unrunnable file.
    """
    threads = parse_threads(threads)
    _check_counts(runs, warmup)
    path = Path(path)
    parsed = flatbuffer.read(path)  # missing / corrupt files fail here, in one line
    meta = parsed.zoo_metadata or {}
    if ranges is None and meta.get("inputs"):
        ranges = [entry.get("value_range") for entry in meta["inputs"]]
    results = []
    for count in threads:
        request = {
            "path": str(path.resolve()),
            "threads": count,
            "runs": runs,
            "warmup": warmup,
            "seed": seed,
            "xnnpack": xnnpack,
            "ranges": ranges,
        }
        answer, log = _run_worker(request, path)
        times = np.asarray(answer["times_ms"], dtype=np.float64)
        partitions = int(answer["delegate_partitions"])
        results.append(
            Latency(
                target=target or path.name,
                model=meta.get("name"),
                mode=mode or meta.get("mode") or precision(parsed),
                threads=count,
                runs=runs,
                warmup=warmup,
                median_ms=float(np.median(times)),
                p90_ms=float(np.percentile(times, 90)),
                mean_ms=float(times.mean()),
                min_ms=float(times.min()),
                size_bytes=path.stat().st_size,
                peak_mib=answer["peak_kib"] / 1024,
                delegate="XNNPACK" if partitions and XNNPACK_LOG in log else "none",
                delegate_partitions=partitions,
                threads_added=answer["threads_added"],
            )
        )
    return results


def _run_worker(request: dict, path: Path) -> tuple[dict, str]:
    """Run the worker; its answer and its stderr (LiteRT's log lines)."""
    completed = subprocess.run(
        [sys.executable, "-I", str(WORKER), json.dumps(request)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = completed.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if completed.returncode != 0 or "error" in answer or "times_ms" not in answer:
        reason = answer.get("error") or _last_line(completed.stderr) or "the worker failed"
        raise ZooError(f"{path} does not run in the LiteRT interpreter: {reason}")
    return answer, completed.stderr


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


# === Timing a registered model ===


def bench_keras(model, info, *, runs: int = 20, warmup: int = 3, seed: int = 0) -> Latency:
    """Time ``model(x, training=False)`` on a batch of 1 at the export size, in-process."""
    import time

    from zoo.smoke import model_feed, random_inputs

    _check_counts(runs, warmup)
    feed = model_feed(info, random_inputs(info, seed=seed))
    for _ in range(warmup):
        np.asarray(model(feed, training=False))
    times = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        np.asarray(model(feed, training=False))
        times.append((time.perf_counter_ns() - started) / 1e6)
    values = np.asarray(times)
    return Latency(
        target=info.name,
        model=info.name,
        mode=KERAS,
        threads=None,
        runs=runs,
        warmup=warmup,
        median_ms=float(np.median(values)),
        p90_ms=float(np.percentile(values, 90)),
        mean_ms=float(values.mean()),
        min_ms=float(values.min()),
        size_bytes=None,
        peak_mib=None,
        delegate="tensorflow",
    )


def bench_model(
    name: str,
    *,
    weights: str | None = None,
    modes: Sequence[str] = DEFAULT_MODES,
    threads: Sequence[int] = (1,),
    runs: int = 20,
    warmup: int = 3,
    seed: int = 0,
    xnnpack: bool = True,
    failures: dict[str, str] | None = None,
) -> list[Latency]:
    """Keras, then each TFLite mode of the registered model ``name`` (converted here).

    With a ``failures`` dict, a mode that fails to convert or run is recorded there
    (mode -> message) and skipped; without one, the first failure raises ZooError.
    """
    from convert.tflite import to_tflite
    from zoo import factory, models

    modes = parse_modes(modes)
    threads = parse_threads(threads)
    _check_counts(runs, warmup)
    info = models.info(name)  # an unknown name fails here, before building anything
    model = factory.get(name, weights=weights)
    results = []
    if KERAS in modes:
        results.append(bench_keras(model, info, runs=runs, warmup=warmup, seed=seed))
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as folder:
        for mode in (m for m in modes if m != KERAS):
            path = Path(folder) / f"{name}_{mode}.tflite"
            try:
                path.write_bytes(to_tflite(model, mode=mode, parity=False, weights=weights))
                results += bench_file(
                    path,
                    threads=threads,
                    runs=runs,
                    warmup=warmup,
                    seed=seed,
                    xnnpack=xnnpack,
                    target=name,
                    mode=mode,
                )
            except ZooError as error:
                if failures is None:
                    raise
                failures[mode] = str(error)
            finally:
                path.unlink(missing_ok=True)
    return results


def bench(
    targets: Sequence[str],
    *,
    threads: Sequence[int] | str = (1,),
    runs: int = 20,
    warmup: int = 3,
    seed: int = 0,
    weights: str | None = None,
    modes: Sequence[str] | str = DEFAULT_MODES,
    xnnpack: bool = True,
) -> BenchReport:
    """Time every target (a .tflite path or a model name) and add the float32 ratios."""
    if not targets:
        raise ZooError("name a .tflite file or a model")
    threads = parse_threads(threads)
    modes = parse_modes(modes)
    _check_counts(runs, warmup)
    files = [t for t in targets if is_file_target(t)]
    if weights is not None and len(files) == len(targets):
        raise ZooError("--weights applies to model names, not to .tflite files")
    for target in files:
        flatbuffer.read(target)  # fail on a bad file before any slow work
    results = []
    for target in targets:
        common = {"threads": threads, "runs": runs, "warmup": warmup, "seed": seed}
        if target in files:
            results += bench_file(target, target=target, xnnpack=xnnpack, **common)
        else:
            results += bench_model(target, weights=weights, modes=modes, xnnpack=xnnpack, **common)
    return BenchReport(
        results=with_ratios(results),
        settings={
            "threads": list(threads),
            "runs": runs,
            "warmup": warmup,
            "seed": seed,
            "xnnpack": xnnpack,
            "weights": weights,
        },
        machine=machine(),
        memory=(
            "peak MiB: peak resident memory added by loading the .tflite file, creating the "
            "interpreter (and delegate), allocating tensors and running, in a fresh process "
            "that imports only numpy and ai_edge_litert (Linux VmHWM after the runs minus VmRSS "
            "before loading)"
        ),
    )


def with_ratios(results: Sequence[Latency]) -> list[Latency]:
    """Each row with ``speedup`` and ``size_ratio`` against the float32 row of the same
    model and thread count from the same run (None where there is none)."""
    reference = {}
    for r in results:
        if r.mode == REFERENCE_MODE and r.threads is not None:
            reference.setdefault((r.label, r.threads), r)
    updated = []
    for r in results:
        base = reference.get((r.label, r.threads))
        if base is None or r.threads is None:
            updated.append(r)
            continue
        updated.append(
            replace(
                r,
                speedup=base.median_ms / r.median_ms if r.median_ms > 0 else None,
                size_ratio=r.size_bytes / base.size_bytes if base.size_bytes else None,
            )
        )
    return updated


def machine() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        litert = f"ai-edge-litert {version('ai-edge-litert')}"
    except PackageNotFoundError:
        litert = "ai-edge-litert"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, {litert}"
