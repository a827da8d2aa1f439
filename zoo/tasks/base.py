"""What a task module declares (:class:`Task`), and the evaluation helpers tasks share.

A task module (one per task in :mod:`zoo.tasks`) owns its contract (the ``register``
keywords its families spread), its training objective, its ``zoo eval`` evaluator and
metric, its ``zoo predict`` image I/O and its sample grids, and ends with one ``TASK``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.tasks.objective import Objective

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel

# (samples scored, metrics, details) of one evaluation
Scored = tuple[int, dict[str, float], dict[str, Any]]
Evaluator = Callable[["TrainedModel", str, "int | None", int], Scored]
ImagePredictor = Callable[["keras.Model", "ModelInfo", np.ndarray, dict, "int | None"], np.ndarray]
SamplePairs = Callable[["TrainedModel", int, int, str], tuple[list, list]]
GridRows = Callable[["TrainedModel", list, list], list[list[np.ndarray]]]


@dataclass(frozen=True)
class Task:
    """One task: its name, metric, objective and the hooks ``zoo eval/predict/sample`` call.

    ``evaluate(run, source, limit, seed)`` scores a trained model on whole test data;
    ``predict_image(model, info, image, options, multiple)`` is ``zoo predict``'s output for
    one image in [0, 1] (None: the model takes no image, it generates);
    ``sample_pairs(run, count, seed, source)`` gives (inputs, targets) for a sample grid and
    ``grid_rows(run, inputs, targets)`` the grid's rows, labelled by ``sample_rows``.
    """

    name: str
    metric: str  # judged by first
    higher_is_better: bool
    objective: type[Objective]
    evaluate: Evaluator
    sample_rows: tuple[str, ...] = ()
    predict_image: ImagePredictor | None = None
    sample_pairs: SamplePairs | None = None
    grid_rows: GridRows | None = None
    fully_convolutional: bool = False  # runs whole images padded to its size multiple
    per_pixel_classes: bool = False  # its output is class probabilities per pixel

    @property
    def generates(self) -> bool:
        """Whether the model makes images from latent draws (no input image)."""
        return self.predict_image is None


# === Evaluation helpers ===


def whole_images(
    source: str, *, limit: int | None = None
) -> tuple[Sequence[np.ndarray], list[str]]:
    """(images, names) to evaluate on: every image of a folder, else the source's test split.

    Whole float32 (H, W, C) images in [0, 1] of various sizes (:func:`zoo.data.whole_images`).
    """
    split = "all" if Path(source).expanduser().is_dir() else "test"
    return zdata.whole_images(source, split=split, limit=limit)


def image_shape(run: TrainedModel) -> tuple[int, int, int]:
    """(H, W, C) of the model's images: fixed by the model, else the recipe's patch size."""
    model = run.model
    tensor = model.outputs[0] if run.info.generates else model.inputs[0]
    height, width, channels = tensor.shape[1:]
    size = run.options.get("image_size") or run.options.get("patch_size") or 64
    return (height or size, width or size, int(channels))


def test_chunks(
    run: TrainedModel, source: str, limit: int | None, seed: int
) -> Iterator[zdata.ImageSet]:
    """The test split at the model's (or recipe's) image size and channels: a folder a few
    hundred images at a time (bounded memory), another source in one piece."""
    height, width, channels = image_shape(run)
    settings = {"split": "test", "image_size": (height, width), "channels": channels}
    settings.update(limit=limit, seed=seed)
    if source not in zdata.list_datasets() and Path(source).expanduser().is_dir():
        yield from zdata.iter_folder(source, **settings)
    else:
        yield zdata.load(source, **settings)


def test_images(run: TrainedModel, source: str, count: int, seed: int) -> zdata.ImageSet:
    """``count`` test images at the model's image size (a sample grid's inputs)."""
    height, width, channels = image_shape(run)
    return zdata.load(
        source, split="test", image_size=(height, width), channels=channels, seed=seed
    ).take(count)


def mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


class Scores:
    """Pixel scores summed over chunks of (prediction, target) images in [0, 1]."""

    def __init__(self) -> None:
        self.count = self.values = 0
        self.squared = self.absolute = self.ssim_sum = 0.0
        self.psnrs: list[float] = []

    def add(self, predictions: np.ndarray, targets: np.ndarray) -> None:
        difference = np.asarray(predictions, np.float64) - np.asarray(targets, np.float64)
        self.squared += float(np.sum(difference**2))
        self.absolute += float(np.sum(np.abs(difference)))
        self.values += difference.size
        self.psnrs += [metrics.psnr(p, t) for p, t in zip(predictions, targets, strict=True)]
        self.ssim_sum += metrics.ssim(predictions, targets) * len(targets)
        self.count += len(targets)

    @property
    def mse(self) -> float:
        return self.squared / self.values

    @property
    def l1(self) -> float:
        return self.absolute / self.values

    @property
    def psnr(self) -> float:
        return mean(self.psnrs)

    @property
    def ssim(self) -> float:
        return self.ssim_sum / self.count


def image_to_image_rows(
    run: TrainedModel,
    inputs: list,
    targets: list | None,
    predict_image: ImagePredictor,
    multiple: int | None = None,
) -> list[list[np.ndarray]]:
    """A sample grid's rows for an image-to-image task: inputs, outputs (and targets)."""
    model, info, options = run.model, run.info, run.options
    outputs = [predict_image(model, info, image, options, multiple) for image in inputs]
    return [list(inputs), outputs, *([list(targets)] if targets is not None else [])]
