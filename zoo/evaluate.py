"""Evaluating a trained model on its task's test data: ``zoo eval``.

::

    from zoo.evaluate import evaluate
    result = evaluate("fsrcnn_x3", "runs/fsrcnn_x3/latest", data="../shared/data/sr/Set5")
    result.metrics  # {"psnr": ..., "ssim": ..., "psnr_bicubic": ..., "ssim_bicubic": ...}

Each task's module (:mod:`zoo.tasks`) says what it measures and how; ``data`` defaults to
the run's dataset, or the recipe's for a bare weights file or a run trained on a folder.
A folder is scored whole (every image in it), ``photos`` on its whole held-out test
photos, another dataset on its test split. PSNR and SSIM are means of per-image values
(SSIM: :func:`zoo.metrics.ssim`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo import data as zdata
from zoo.errors import ZooError
from zoo.tasks import get_task
from zoo.weights_io import TrainedModel, load_run


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`: task metrics plus details (per image, per class)."""

    model: str
    task: str
    data: str
    samples: int
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    weights: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=jsonable)

    def summary(self) -> str:
        """A few aligned lines: the model, the data, then one metric per line."""
        lines = [f"{self.model} ({self.task}) on {self.data}: {self.samples} samples"]
        width = max(len(key) for key in self.metrics) if self.metrics else 0
        lines += [f"  {key:<{width}}  {_format(value)}" for key, value in self.metrics.items()]
        for key, value in self.details.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} {_format(v)}" for k, v in value.items())
                lines.append(f"  {key}: {inner}")
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def _format(value: Any) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {_format(v)}" for k, v in value.items()) + ")"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4f}"
    return str(value)


def jsonable(value: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def evaluate(
    model_name: str,
    weights: str | Path,
    *,
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> Evaluation:
    """Evaluate trained ``model_name`` (``weights``: a run folder, a weights / model file, or
    ``"default"`` for the shipped weights).

    ``data``: the evaluation data (see the module docstring); ``limit``: at most this many
    test images (all by default); ``seed`` fixes noise, blur kernels and latent samples;
    ``options`` replace the run's task options (``noise_sigma``, ``kernels``, ``lr_8bit``).
    """
    import keras

    keras.utils.set_random_seed(seed)  # models that sample (the VAE) draw the same noise
    run = load_run(model_name, weights).with_options(options)
    return evaluate_model(run, data=data, limit=limit, seed=seed)


def evaluate_model(
    run: TrainedModel, *, data: str | None = None, limit: int | None = None, seed: int = 0
) -> Evaluation:
    """Evaluate ``run.model`` (a Keras model, or anything called like one on numpy batches,
    such as a TFLite file's runner) with ``run.info``'s task metric and ``run.config``'s
    options (noise level, blur kernels, scale)."""
    started = time.perf_counter()
    source = data or default_data(run)
    task = run.info.task
    samples, values, details = get_task(task).evaluate(run, source, limit, seed)
    return Evaluation(
        model=run.info.name,
        task=task,
        data=source,
        samples=samples,
        metrics=values,
        details=details,
        weights=str(run.source),
        seconds=round(time.perf_counter() - started, 2),
    )


def default_data(run: TrainedModel) -> str:
    """The run's dataset, unless it trained on a folder (its images may be the training
    images) or on data not at hand (a shipped model's folder): then the recipe's."""
    data = run.config.data
    named = data in zdata.list_datasets() or data.startswith("tfds:")
    return data if named else run.info.dataset


def sample_pairs(
    run: TrainedModel, *, count: int, seed: int, data: str | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, targets): ``count`` test examples at the training size for a sample grid
    (super-resolution: low-resolution RGB and original RGB; segmentation: image and mask)."""
    task = get_task(run.info.task)
    if task.sample_pairs is None:
        raise ZooError(f"{run.info.name} generates its samples; it has no test inputs")
    return task.sample_pairs(run, count, seed, data or default_data(run))
