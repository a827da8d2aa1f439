"""Denoising: an image with additive Gaussian noise in, the clean image out.

Noise of standard deviation ``noise_sigma`` (recipe option, 0-255 units; 25 by default) is
drawn afresh for every training example, clipped to [0, 1]. ``zoo eval`` scores each whole
test image with fresh noise (seed ``seed + index``); see :mod:`zoo.tasks.restoration`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.tasks import restoration
from zoo.tasks.base import Task
from zoo.tasks.objective import Arrays, Objective, first_samples

if TYPE_CHECKING:
    from zoo.weights_io import TrainedModel

DEFAULT_SIGMA = 25.0


def noise_sigma(options: dict) -> float:
    """The recipe's noise level in 0-255 units."""
    return options.get("noise_sigma", DEFAULT_SIGMA)


def degrade(options: dict, image: np.ndarray, seed: int, kernel=None) -> np.ndarray:
    """One (H, W, C) image with the recipe's noise (``kernel`` is always None here)."""
    noisy, _ = zdata.noisy_pairs(image[None], noise_sigma(options), seed=seed)
    return noisy[0]


class Denoise(Objective):
    """Gaussian noise of ``noise_sigma`` (0-255 units), drawn afresh for every example."""

    patches = True

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        if training:
            return {"clean": images.images}
        noisy, clean = zdata.noisy_pairs(
            images.images, noise_sigma(self.options), seed=self.config.seed
        )
        return {"noisy": noisy, "clean": clean}

    def degrade(self, example: dict, seed) -> dict:
        import tensorflow as tf

        clean = example["clean"]
        sigma = noise_sigma(self.options) / 255.0
        noise = tf.random.stateless_normal(tf.shape(clean), seed) * sigma
        return {"noisy": tf.clip_by_value(clean + noise, 0.0, 1.0), "clean": clean}

    def pair(self, batch: dict) -> tuple:
        return batch["noisy"], batch["clean"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["noisy"]), validation["clean"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        return [list(first["noisy"]), list(self.predict(first["noisy"])), list(first["clean"])]


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    count, values = restoration.evaluate(run, source, limit, seed, [None], degrade)
    return count, values, {"noise_sigma": noise_sigma(run.options)}


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    return restoration.sample_pairs(run, count, seed, source, [None], degrade)


TASK = Task(
    name="denoise",
    metric="psnr",
    higher_is_better=True,
    objective=Denoise,
    evaluate=evaluate,
    sample_rows=("noisy", "denoised", "clean"),
    predict_image=restoration.predict_image,
    sample_pairs=sample_pairs,
    grid_rows=restoration.grid_rows,
    fully_convolutional=True,
)
