"""Quantization-aware training, pruning and weight clustering of a zoo model: ``zoo optimize``.

::

    from convert.optimize import optimize
    result = optimize("fsrcnn_x3", weights="runs/fsrcnn_x3/x", qat=True, steps=500, out="opt/")
    result.report["metrics"]  # {"float": {...}, "ptq_int8": {...}, "optimized": {...}, ...}

tensorflow-model-optimization (tfmot) works on tf_keras models only, so the model is rebuilt
as a flat tf_keras twin (:mod:`convert.twin`: same weights, BatchNormalization folded into the
preceding conv / dense layer) and optimized there (:mod:`convert.techniques`). Techniques, in
the order they run, each followed by ``steps`` fine-tuning steps:

- ``prune=SPARSITY``: magnitude pruning of every kernel to that fraction of zeros, then strip;
- ``cluster=K``: weight clustering to at most K shared values per kernel, then strip
  (after pruning: sparsity-preserving clustering, the zeros stay);
- ``qat=True``: quantization-aware training (int8 fake quantization); after pruning it
  preserves the zeros (PQAT), after clustering the clusters (CQAT), after both both (PCQAT).
  The activation ranges start from calibration on the representative samples (the ranges
  int8 post-training quantization would use), not tfmot's [-6, 6]: a short fine-tune could
  not move them that far.

Fine-tuning uses the model's own training objective (:func:`zoo.tasks.objective_for`): its data,
its input/target pairs and its per-example loss; a GAN generator trains against its
discriminator (restored from the run's checkpoint when ``weights`` is a run folder, else
freshly built). The VAE fine-tunes its reconstruction term only (the pixel loss through the
sampled z; the flat twin has no encoder part for the KL term). The learning rate defaults to
a tenth of the run's (or recipe's).

What ``out`` receives (each file written atomically):

- ``<model>_<scheme>_int8.tflite`` with QAT (int8 ops, int8 input and output), otherwise
  ``<model>_<scheme>_float32.tflite`` (the zeros and shared values compress: see the gzip
  sizes in the report); each with the zoo's JSON metadata beside it. Batch 1, static shape
  (the export size), builtin ops only, as every zoo file;
- ``model.weights.h5``: the optimized weights for ``zoo.get(model)`` (the folded BN written
  back as an identity BN carrying the bias; with QAT, the fake-quantized kernels), and
  ``config.json``, so ``zoo eval MODEL --weights OUT`` evaluates them in float;
- ``report.json``: the task metric (PSNR, mIoU, Frechet distance...) of the float model, its
  int8 post-training quantization (with QAT), the optimized model in Keras and as TFLite;
  Keras-vs-TFLite agreement; sparsity and unique values per kernel; file sizes.

The TFLite metric runs the file at each evaluation image's size (a fully convolutional model is
converted once per size met; the written file has the export size).
"""

from __future__ import annotations

import gzip
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convert.fine_tune import FineTuneJob, fine_tune, load_job
from convert.quality import TFLiteModel, fit_samples, task_metrics
from convert.tflite import input_shapes
from zoo import models
from zoo.errors import ZooError
from zoo.evaluate import jsonable
from zoo.tasks import get_task

DEFAULT_STEPS = 200
REPRESENTATIVE_SAMPLES = 32
MAX_CLUSTERS = 256
TWIN_TOLERANCE = 1e-4


def scheme_name(*, qat: bool, prune: float | None, cluster: int | None) -> str:
    """The scheme's name: qat, prune, cluster, pqat, cqat, pcqat or prune_cluster."""
    pruned, clustered = prune is not None, cluster is not None
    if qat:
        return {(False, False): "qat", (True, False): "pqat", (False, True): "cqat"}.get(
            (pruned, clustered), "pcqat"
        )
    return "prune_cluster" if pruned and clustered else "prune" if pruned else "cluster"


@dataclass
class OptimizeResult:
    """What :func:`optimize` wrote: the folder, the report (as in report.json) and the files."""

    out: Path
    report: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> str:
        report = self.report
        metric = report["metric"]
        lines = [
            f"{report['model']}: {report['scheme']} ({report['steps']} steps per technique) "
            f"-> {self.files['tflite']} ({report['files']['tflite']['bytes'] / 1024:,.1f} KB)"
        ]
        values = "  ".join(
            f"{label} {_format(values.get(metric))}"
            for label, values in report["metrics"].items()
            if metric in values
        )
        lines.append(f"  {metric} on {report['eval_data']}: {values}")
        agreement = report.get("agreement") or {}
        if agreement:
            lines.append(
                f"  Keras vs TFLite: max |err| {agreement['max_abs_error']:.3g}, "
                f"mean |err| {agreement['mean_abs_error']:.3g}"
            )
        weights, techniques = report["weights"], report["techniques"]
        if techniques["prune"] is not None:
            lines.append(f"  sparsity {100 * weights['sparsity']:.1f}% of kernel weights")
        if techniques["cluster"] is not None:
            lines.append(f"  at most {weights['max_unique_per_kernel']} unique values per kernel")
        lines.append(f"  report: {self.files['report']}")
        return "\n".join(lines)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


# === Checks (before anything heavy) ===


def _check_arguments(
    *,
    qat: bool,
    prune: float | None,
    cluster: int | None,
    steps: int,
    out: Path,
    batch_size: int | None,
    learning_rate: float | None,
) -> None:
    if not qat and prune is None and cluster is None:
        raise ZooError("choose a technique: --qat, --prune SPARSITY and/or --cluster K")
    if prune is not None and not 0.0 < prune < 1.0:
        raise ZooError(f"--prune takes a sparsity between 0 and 1 (exclusive), got {prune}")
    if cluster is not None and not 2 <= cluster <= MAX_CLUSTERS:
        raise ZooError(f"--cluster takes 2 to {MAX_CLUSTERS} clusters, got {cluster}")
    if steps < 1:
        raise ZooError(f"--steps must be at least 1, got {steps}")
    if batch_size is not None and batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1, got {batch_size}")
    if learning_rate is not None and not learning_rate > 0:
        raise ZooError(f"--lr must be positive, got {learning_rate}")
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; pass a folder")
    if not out.parent.is_dir():
        raise ZooError(f"--out: folder {out.parent} does not exist")
    if (out / "checkpoints").exists():
        raise ZooError(f"--out {out} holds a training run; choose another folder")


# === Conversion ===


def convert_quantized(model, info, *, size: tuple[int, int] | None = None) -> bytes:
    """A quantization-aware tf_keras model as an int8 file (int8 input and output).

    The ranges come from the model's fake quantization: no calibration.
    """
    import warnings

    from convert.tflite import convert_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = convert_model(
            model, mode="int8", info=info, size=size, parity=False, quantization_aware=True
        )
    return result.flatbuffer


# === Evaluation ===


def _default_eval_data(job: FineTuneJob) -> str:
    from zoo.evaluate import default_data

    return default_data(job.run())


# === Weights statistics ===


def weight_statistics(weights: dict[str, list[np.ndarray]], kernels: list[str]) -> dict:
    """Sparsity and unique values of each kernel (the first weight of each named layer)."""
    per_layer = {}
    zeros = total = 0
    for name in kernels:
        kernel = np.asarray(weights[name][0])
        layer_zeros = int(np.sum(kernel == 0))
        zeros += layer_zeros
        total += kernel.size
        per_layer[name] = {
            "size": int(kernel.size),
            "sparsity": round(layer_zeros / kernel.size, 6),
            "unique": int(np.unique(kernel).size),
        }
    return {
        "sparsity": zeros / total if total else 0.0,
        "max_unique_per_kernel": max((v["unique"] for v in per_layer.values()), default=0),
        "kernels": per_layer,
    }


def _sizes(data: bytes) -> dict[str, int]:
    return {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9))}


# === The whole path ===


def optimize(
    model: str,
    *,
    out: str | Path,
    weights: str | None = None,
    qat: bool = False,
    prune: float | None = None,
    cluster: int | None = None,
    steps: int = DEFAULT_STEPS,
    data: str | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    eval_data: str | None = None,
    eval_limit: int | None = None,
    data_limit: int | None = None,
    representative_count: int = REPRESENTATIVE_SAMPLES,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    quiet: bool = True,
) -> OptimizeResult:
    """Optimize registered ``model`` with the chosen techniques; write files into ``out``.

    ``weights``: a run folder or weights file (default: the initial weights). ``steps``:
    fine-tuning steps per technique. ``data``: fine-tuning data (default: the run's).
    ``eval_data`` / ``eval_limit``: what the task metric runs on (default: as ``zoo eval``).
    ``data_limit``: load at most this many images per split for fine-tuning.
    ``representative_count``: samples of the model's dataset that calibrate the int8
    baseline and the QAT ranges, and check the twin. See the module docstring for the files.
    """
    out = Path(out).expanduser()
    _check_arguments(
        qat=qat,
        prune=prune,
        cluster=cluster,
        steps=steps,
        out=out,
        batch_size=batch_size,
        learning_rate=learning_rate,
    )
    models.info(model)  # an unknown name fails before anything loads
    run = _Run(quiet=quiet)
    job = load_job(
        model,
        weights=weights,
        overrides=dict(overrides or {}),
        data=data,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        data_limit=data_limit,
    )
    from convert.representative import representative_inputs

    source = eval_data or _default_eval_data(job)
    samples = representative_inputs(job.info, count=representative_count, seed=seed)

    def measure(candidate) -> dict[str, Any]:
        try:
            return task_metrics(candidate, job.run(), data=source, limit=eval_limit, seed=seed)
        except ZooError as error:  # a metric that cannot be computed must not lose the model
            return {"error": str(error)}

    run.log(f"{model}: the float model on {source}")
    metrics = {"float": measure(job.model)}
    files = _baseline_files(job, samples, qat, metrics, measure, run)

    run.log("tf_keras twin")
    twin, twin_difference = _checked_twin(job, samples)
    current, phases = _apply_techniques(job, twin, samples, qat, prune, cluster, steps, run)
    feed = _batch(samples[:4])
    current(feed, training=False)  # QAT wrappers set their fake-quantized kernels on the layer
    from convert import techniques

    effective = techniques.effective_weights(current)
    target = models.create(model, **job.config.model_overrides)
    twin.write_back(effective, target)
    keras_difference = _max_difference(current(feed, training=False), target(feed, training=False))

    scheme = scheme_name(qat=qat, prune=prune, cluster=cluster)
    mode = "int8" if qat else "float32"
    run.log(f"converting to {mode}")
    conversion, at_size = _convert_optimized(current, job.info, samples, mode, scheme)
    run.log("the optimized model, in Keras and as TFLite")
    metrics["optimized"] = measure(current)
    metrics["optimized_tflite"] = measure(TFLiteModel(at_size, job.model, job.info))

    kernels = [
        name
        for _, name, _ in twin.layers
        if isinstance(twin.model.get_layer(name), techniques.KERNEL_LAYERS)
    ]
    report = {
        "model": model,
        "scheme": scheme,
        "techniques": {"qat": qat, "prune": prune, "cluster": cluster},
        "steps": steps,
        "weights_source": weights or "initial (untrained)",
        "fine_tune": {
            "data": job.config.data,
            "batch_size": job.config.batch_size,
            "learning_rate": job.config.learning_rate,
            "seed": seed,
            "discriminator": job.discriminator_source,
            "fixed_biases": job.fixed_biases,
        },
        "metric": get_task(job.info.task).metric,
        "eval_data": source,
        "eval_limit": eval_limit,
        "metrics": metrics,
        "agreement": _parity_dict(conversion.parity),
        "twin": {
            "max_difference": twin_difference,
            "folded_batch_norms": [f.batch_norm.name for f in twin.folds],
        },
        "keras_weights_max_difference": keras_difference,
        "phases": phases,
        "weights": weight_statistics(effective, kernels),
        "files": files,
        "ops": _op_summary(conversion.flatbuffer),
    }
    run.log("writing")
    return _write(out, f"{model}_{scheme}_{mode}.tflite", conversion, target, job, report, run)


class _Run:
    """Progress lines with the seconds since the start (unless quiet)."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.started, 1)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(f"[{self.seconds:6.1f} s] {message}", flush=True)


def _columns(samples: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Batch-1 samples as one batch array per model input."""
    return [np.concatenate(column) for column in zip(*samples, strict=True)]


def _batch(samples: list[list[np.ndarray]]):
    """Batch-1 samples as one batch: an array, or a list of arrays for several inputs."""
    arrays = _columns(samples)
    return arrays[0] if len(arrays) == 1 else arrays


def _baseline_files(
    job: FineTuneJob, samples, qat: bool, metrics: dict, measure, run: _Run
) -> dict:
    """Sizes of the float file before; with QAT also int8 post-training quantization's metric."""
    from convert.tflite import convert_model

    info = job.info
    before = convert_model(job.model, mode="float32", info=info, parity=False)
    files: dict[str, Any] = {"float32_before": _sizes(before.flatbuffer)}
    if not qat:
        return files
    run.log("int8 post-training quantization (the baseline QAT should beat)")
    # rounded as zoo convert and zoo export round it
    options = {"mode": "int8", "info": info, "rounding": "best", "parity": False}
    ptq = convert_model(job.model, representative=samples, **options)
    export = input_shapes(info, None)[0][:2]

    def at_size(size):
        if size is None or tuple(size) == tuple(export):
            return ptq.flatbuffer
        fitted = fit_samples(samples, input_shapes(info, size))
        return convert_model(job.model, size=size, representative=fitted, **options).flatbuffer

    metrics["ptq_int8"] = measure(TFLiteModel(at_size, job.model, info))
    rounding = {key: ptq.metadata[key] for key in ("rounding", "rounding_errors")}
    files["int8_ptq"] = {**_sizes(ptq.flatbuffer), **rounding}
    return files


def _checked_twin(job: FineTuneJob, samples):
    """The flat, BN-folded tf_keras twin, checked against the Keras 3 model on ``samples``."""
    from convert.twin import build_twin

    twin = build_twin(job.model, flatten=True)
    feed = _batch(samples[:4])
    difference = _max_difference(job.model(feed, training=False), twin.model(feed))
    if difference > TWIN_TOLERANCE:
        raise ZooError(f"the tf_keras twin of {job.info.name} differs by {difference:.3g}")
    job.fixed_biases = twin.fixed_biases()
    return twin, difference


def _apply_techniques(job: FineTuneJob, twin, samples, qat, prune, cluster, steps, run: _Run):
    """Prune, cluster, then QAT (those chosen), each fine-tuned; the model and phase records."""
    from convert import techniques

    current = twin.model
    phases = []
    if prune is not None:
        run.log(f"pruning to {prune:.0%} sparsity")
        wrapped, layers = techniques.prune(current, prune, steps)
        callback = techniques.pruning_callback(wrapped)
        losses = fine_tune(job, wrapped, steps, quiet=run.quiet, label="prune")
        callback.on_epoch_end(-1)
        current = techniques.strip(wrapped)
        phases.append({"technique": "prune", "sparsity": prune, "layers": layers, **losses})
    if cluster is not None:
        run.log(f"clustering to {cluster} values per kernel")
        wrapped, layers = techniques.cluster(current, cluster, preserve_sparsity=prune is not None)
        losses = fine_tune(job, wrapped, steps, quiet=run.quiet, label="cluster")
        current = techniques.strip(wrapped)
        phases.append({"technique": "cluster", "clusters": cluster, "layers": layers, **losses})
    if qat:
        run.log("quantization-aware training")
        reference = current
        current = techniques.quantize(
            current, pruned=prune is not None, clustered=cluster is not None
        )
        ranges = techniques.initialize_ranges(current, reference, _columns(samples))
        losses = fine_tune(job, current, steps, quiet=run.quiet, label="qat")
        phases.append({"technique": "qat", "ranges_calibrated": ranges, **losses})
    return current, phases


def _convert_optimized(current, info, samples, mode: str, scheme: str):
    """(Conversion at the export size, ``size -> file bytes`` for the evaluation)."""
    import warnings

    from convert.tflite import convert_model

    export = input_shapes(info, None)[0][:2]
    options = {"info": info, "extra_metadata": {"optimization": scheme}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "int8":
            conversion = convert_model(current, mode=mode, quantization_aware=True, **options)
        else:
            conversion = convert_model(current, mode=mode, representative=samples, **options)

    def at_size(size):
        if size is None or tuple(size) == tuple(export):
            return conversion.flatbuffer
        if mode == "int8":
            return convert_quantized(current, info, size=size)
        return convert_model(current, mode=mode, size=size, info=info, parity=False).flatbuffer

    return conversion, at_size


def _write(out: Path, filename: str, conversion, target, job: FineTuneJob, report: dict, run: _Run):
    """The .tflite (+ .json), the weights, config.json and report.json, each atomically."""
    import tensorflow as tf

    from zoo.files import write_atomically, write_text_atomically

    out.mkdir(exist_ok=True)
    tflite_path = conversion.save(out / filename)
    weights_path = out / "model.weights.h5"
    write_atomically(weights_path, target.save_weights)
    job.config.save(out / "config.json")
    report["files"]["tflite"] = {"path": tflite_path.name, **_sizes(conversion.flatbuffer)}
    report["files"]["weights"] = {"path": weights_path.name, "bytes": weights_path.stat().st_size}
    report["tensorflow_version"] = tf.__version__
    report["seconds"] = run.seconds
    report_path = out / "report.json"
    write_text_atomically(report_path, json.dumps(report, indent=2, default=jsonable) + "\n")
    files = {"tflite": tflite_path, "weights": weights_path, "report": report_path}
    return OptimizeResult(out=out, report=report, files=files)


def _max_difference(expected, actual) -> float:
    import tensorflow as tf

    pairs = zip(tf.nest.flatten(expected), tf.nest.flatten(actual), strict=True)
    return max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in pairs)


def _parity_dict(parity) -> dict[str, Any] | None:
    if parity is None:
        return None
    from dataclasses import asdict

    return asdict(parity)


def _op_summary(data: bytes) -> dict[str, Any]:
    """Op names with versions, and the ops whose inputs or outputs are float."""
    from convert import flatbuffer

    parsed = flatbuffer.read(data)
    float_ops = sorted(
        {
            op.name
            for op in parsed.operators
            if op.name not in ("QUANTIZE", "DEQUANTIZE")
            and any(
                t.dtype == "float32" and not t.constant
                for t in (*parsed.operator_inputs(op), *parsed.operator_outputs(op))
            )
        }
    )
    return {"versions": parsed.op_versions, "float_ops": float_ops}
