"""``zoo sample``: one grid PNG of what a trained model makes.

Generated images (one row per class for conditional models, prior samples for the VAE),
or rows of test inputs / outputs / targets for image-to-image models as their task draws
them (super-resolution: bicubic / model / original; segmentation: image / predicted / true
classes over it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.evaluate import sample_pairs
from zoo.files import write_png
from zoo.inference import run_batches
from zoo.models.vae import decoder_of
from zoo.tasks import get_task, sample_row_labels
from zoo.tasks.generate import generate, image_rows
from zoo.tasks.objective import SAMPLE_COLUMNS
from zoo.train.grid import image_grid
from zoo.weights_io import load_run


def sample(
    model_name: str,
    weights: str | Path,
    out: str | Path,
    *,
    count: int | None = None,
    seed: int = 0,
    data: str | None = None,
) -> Path:
    """Write a grid PNG of ``model_name``'s samples to ``out``; returns ``out``.

    Generators: ``count`` images (default 64) in rows of 8; conditional ones: one row per
    class, ``count`` (default 8) per row. VAE: ``count`` decodings of prior samples.
    Image-to-image models: ``count`` (default 8) test inputs (``data``: default the run's)
    as rows of input / output / target (super-resolution: bicubic / model / original).
    """
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ZooError(f"--out {out} must be a .png file")
    if count is not None and count < 1:
        raise ZooError("--count must be at least 1")
    run = load_run(model_name, weights)
    rows = sample_rows(run, count=count, seed=seed, data=data)
    prior = run.info.recipe.loss == "elbo"  # the VAE's rows are all prior samples
    labels = None if prior else sample_row_labels(run.info.task, len(rows))
    write_png(out, image_grid(rows, labels=labels))
    return out


def sample_rows(run, *, count: int | None, seed: int, data: str | None) -> list[list[np.ndarray]]:
    """The grid rows :func:`sample` draws (``run`` a :class:`zoo.weights_io.TrainedModel`)."""
    info, model = run.info, run.model
    task = get_task(info.task)
    if task.generates:
        if len(model.inputs) > 1:  # conditional: one row per class
            classes = int(model.inputs[1].shape[-1])
            per_class = count or SAMPLE_COLUMNS
            labels = np.repeat(np.arange(classes), per_class)
            images = generate(model, info, len(labels), seed=seed, labels=labels)
            return image_rows(images, per_class)
        return image_rows(generate(model, info, count or 64, seed=seed))
    if info.recipe.loss == "elbo":
        return image_rows(vae_prior_samples(model, count or 64, seed=seed))
    inputs, targets = sample_pairs(run, count=count or SAMPLE_COLUMNS, seed=seed, data=data)
    return task.grid_rows(run, inputs, targets)


def vae_prior_samples(model, count: int, *, seed: int = 0) -> np.ndarray:
    """``count`` VAE decodings of z ~ N(0, I): (N, H, W, C) in [0, 1]."""
    decoder = decoder_of(model)
    dim = int(decoder.inputs[0].shape[-1])
    z = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return np.clip(run_batches(decoder, z), 0.0, 1.0)
