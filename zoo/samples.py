"""``zoo sample``: one grid PNG of what a trained model makes.

Generated images (one row per class for conditional models, prior samples for the VAE),
or rows of test inputs / outputs / targets for image-to-image models (super-resolution:
bicubic / model / original; segmentation: image / predicted / true classes over it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.errors import ZooError
from zoo.evaluate import sample_pairs
from zoo.files import write_png
from zoo.predict import (
    bicubic_upscale,
    generate,
    image_to_image,
    overlay,
    segment_image,
    size_multiple,
    upscale_color,
    vae_prior_samples,
)
from zoo.tasks import sample_row_labels
from zoo.train.grid import image_grid
from zoo.weights_io import load_run

GRID_COLUMNS = 8


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


def _rows_of(images: np.ndarray, columns: int = GRID_COLUMNS) -> list[list[np.ndarray]]:
    return [list(images[i : i + columns]) for i in range(0, len(images), columns)]


def sample_rows(run, *, count: int | None, seed: int, data: str | None) -> list[list[np.ndarray]]:
    """The grid rows :func:`sample` draws (``run`` a :class:`zoo.weights_io.TrainedModel`)."""
    info, model, options = run.info, run.model, run.options
    if info.task == "generate":
        return _rows_of(generate(model, info, count or 64, seed=seed))
    if info.task == "generate_conditional":
        classes = int(model.inputs[1].shape[-1])
        per_class = count or GRID_COLUMNS
        labels = np.repeat(np.arange(classes), per_class)
        images = generate(model, info, len(labels), seed=seed, labels=labels)
        return _rows_of(images, per_class)
    if info.recipe.loss == "elbo":
        return _rows_of(vae_prior_samples(model, count or 64, seed=seed))
    inputs, targets = sample_pairs(run, count=count or GRID_COLUMNS, seed=seed, data=data)
    if info.task == "super_resolve":
        scale = int(options["scale"])
        shown = [bicubic_upscale(lr, scale) for lr in inputs]
        outputs = [upscale_color(model, lr, scale) for lr in inputs]
        return [shown, outputs, list(targets)]
    if info.task == "segment":
        classes = int(model.outputs[0].shape[-1])
        multiple = size_multiple(model, options)
        masks = [segment_image(model, image, multiple) for image in inputs]
        return [
            list(inputs),
            [overlay(image, mask, classes) for image, mask in zip(inputs, masks, strict=True)],
            [overlay(image, mask, classes) for image, mask in zip(inputs, targets, strict=True)],
        ]
    multiple = size_multiple(model, options) if info.task in ("denoise", "deblur") else None
    outputs = [image_to_image(model, info, image, options, multiple=multiple) for image in inputs]
    rows = [list(inputs), outputs]
    if info.task != "reconstruct":
        rows.append(list(targets))
    return rows
