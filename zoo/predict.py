"""``zoo predict``: image files in, one PNG out for each.

What a model makes of one image (H, W, C) in [0, 1] is its task's (:mod:`zoo.tasks`):
super-resolution upscales Y and the chroma bicubically, restorations and segmentation run
the whole image (segmentation draws its classes over it), translation and autoencoders fit
it to the model's fixed size. Generators take no image: ``zoo predict`` refuses them and
points to ``zoo sample``.

:func:`predict` reads every input before it writes anything, computes every output, then
writes each PNG atomically, so an unreadable input leaves no partial results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import data as zdata
from zoo import models
from zoo.errors import ZooError
from zoo.files import write_png
from zoo.inference import size_multiple
from zoo.registry import ModelInfo
from zoo.tasks import get_task
from zoo.weights_io import load_run

if TYPE_CHECKING:
    import keras


def image_to_image(
    model: keras.Model,
    info: ModelInfo,
    image: np.ndarray,
    options: dict[str, Any],
    *,
    multiple: int | None = None,
) -> np.ndarray:
    """The output image in [0, 1] that ``zoo predict`` writes for one input image.

    ``multiple``: the size multiple of a fully convolutional model, if already known.
    """
    check_image_to_image(info)
    return get_task(info.task).predict_image(model, info, image, options, multiple)


def check_image_to_image(info: ModelInfo) -> None:
    """A ZooError for a model that takes no input image (a generator)."""
    if get_task(info.task).generates:
        raise ZooError(
            f"{info.name} generates images from noise and takes no input image; "
            f"use `zoo sample {info.name} --weights ... --out grid.png`"
        )


def read_inputs(paths: Sequence[str | Path]) -> Sequence[np.ndarray]:
    """The inputs as images decoded one at a time when indexed (float32 (H, W, C) in [0, 1]);
    a missing file or one that is not an image is a ZooError now, before any is decoded."""
    return zdata.ImageFiles(paths)


def output_paths(inputs: Sequence[str | Path], out: Path) -> list[Path]:
    """``out/<input stem>.png`` for each input; repeated stems get ``_2``, ``_3``, ..."""
    paths, seen = [], {}
    sources = {Path(p).resolve() for p in inputs}
    for path in inputs:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        target = out / f"{name}.png"
        if target.resolve() in sources:
            raise ZooError(f"{target} is an input; choose another --out folder")
        paths.append(target)
    return paths


def predict(
    model_name: str,
    weights: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> list[Path]:
    """Run image-to-image ``model_name`` on image files; write ``out/<stem>.png`` for each.

    ``options`` join the run's recipe options for the task's image function (a non-blind
    deblurring model's ``kernel``).

    Returns the written paths. Generators, missing inputs or files that are not images, and
    bad weights are one-line ZooErrors, raised before anything is written; the images are
    then read, run and written one at a time, so any number of files takes bounded memory.
    """
    info = models.info(model_name)
    check_image_to_image(info)
    if not inputs:
        raise ZooError("no input images given")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; pass a folder")
    targets = output_paths(inputs, out)
    images = read_inputs(inputs)
    run = load_run(model_name, weights, overrides=overrides)
    multiple = None
    if get_task(info.task).fully_convolutional:
        multiple = size_multiple(run.model, run.options)
    options = {**run.options, **(options or {})}
    for target, image in zip(targets, images, strict=True):  # one image in memory at a time
        write_png(target, image_to_image(run.model, info, image, options, multiple=multiple))
    return targets
