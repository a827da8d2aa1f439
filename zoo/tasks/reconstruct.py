"""Reconstruction (autoencoders): an image in, the same image out through a small code.

``zoo eval`` reports MSE, PSNR and SSIM on the test split, plus the objective's own terms
where it has them (the VAE's ELBO: :meth:`zoo.tasks.objective.Objective.test_metrics`).
``zoo predict`` resizes an image to the model's fixed size (nearest for a colour-coded label
map with few colours, bilinear otherwise); the output is at that size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo import metrics
from zoo.data import ImageSet
from zoo.inference import fit_to_model, from_unit, run_batches, to_unit
from zoo.registry import objective_of
from zoo.tasks.base import Scores, Task, image_to_image_rows, test_chunks, test_images
from zoo.tasks.objective import Arrays, Objective, first_samples

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel


class Reconstruct(Objective):
    """Autoencoders: the image is its own target."""

    def arrays_of(self, images: ImageSet, *, training: bool) -> Arrays:
        return {"image": images.images}

    def pair(self, batch: dict) -> tuple:
        return batch["image"], batch["image"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["image"]), validation["image"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        images = first_samples(validation)["image"]
        return [list(images), list(self.predict(images))]


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    info = run.info
    objective = objective_of(info.name) or Reconstruct
    scores = Scores()
    totals: dict[str, float] = {}
    for chunk in test_chunks(run, source, limit, seed):
        images = chunk.images
        outputs = to_unit(
            run_batches(run.model, from_unit(images, info.input_range)), info.output_range
        )
        scores.add(outputs, images)
        for key, value in objective.test_metrics(run.model, images).items():
            totals[key] = totals.get(key, 0.0) + value * len(images)
    values = {"mse": scores.mse, "psnr": scores.psnr, "ssim": scores.ssim}
    values.update({key: total / scores.count for key, total in totals.items()})
    return scores.count, values, {}


def predict_image(
    model: keras.Model, info: ModelInfo, image: np.ndarray, options: dict, multiple: int | None
) -> np.ndarray:
    """The model's output for one image fitted to its input size, in [0, 1]."""
    source = from_unit(fit_to_model(image, model), info.input_range)
    output = np.asarray(model(source[None], training=False))[0]
    return to_unit(output, info.output_range)


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    clean = test_images(run, source, count, seed).images
    return list(clean), list(clean)


def grid_rows(run: TrainedModel, inputs: list, targets: list) -> list[list[np.ndarray]]:
    """Input, output."""
    return image_to_image_rows(run, inputs, None, predict_image)


TASK = Task(
    name="reconstruct",
    metric="psnr",
    higher_is_better=True,
    objective=Reconstruct,
    evaluate=evaluate,
    sample_rows=("input", "output"),
    predict_image=predict_image,
    sample_pairs=sample_pairs,
    grid_rows=grid_rows,
)
