"""Deblurring: an image blurred by a known family of kernels (plus a little noise) in, sharp out.

Recipe options name the kernel bank (:func:`zoo.data.blur_kernel_bank`: ``kernels``,
``gaussian_sigma``, ``motion_length``) and ``noise_sigma`` (0-255 units, 2.55 by default).
Training blurs each sharp crop afresh at every step; ``zoo eval`` scores every test image
under every kernel of the bank (:mod:`zoo.tasks.restoration`), so that every kind and
strength of blur the model trained on is scored on every image.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.errors import ZooError
from zoo.tasks import restoration
from zoo.tasks.base import Task
from zoo.tasks.objective import Arrays, Objective, first_samples

if TYPE_CHECKING:
    from zoo.weights_io import TrainedModel

DEFAULT_NOISE_SIGMA = 2.55  # 0-255 units: 0.01 of the [0, 1] range
# The recipe options of the zoo's deblurring models: the kernels of the peers' table
BLUR_RECIPE = {
    "kernels": ["gaussian", "motion"],
    "gaussian_sigma": [1.0, 3.0],
    "motion_length": [5, 15],
    "noise_sigma": DEFAULT_NOISE_SIGMA,
}


def noise_sigma(options: dict) -> float:
    """The recipe's noise level after the blur, in 0-255 units."""
    return options.get("noise_sigma", DEFAULT_NOISE_SIGMA)


def kernels(options: dict) -> list[np.ndarray]:
    """The recipe's blur kernels (:func:`zoo.data.blur_kernel_bank`), as in training."""
    return zdata.blur_kernel_bank(options)


def degrade(options: dict, image: np.ndarray, seed: int, kernel: np.ndarray | None = None):
    """One (H, W, C) image blurred by ``kernel`` (default: one drawn from the recipe's bank)
    plus the recipe's noise, clipped to [0, 1]."""
    bank = kernels(options) if kernel is None else [kernel]
    blurred, _ = zdata.blurred_pairs(image[None], bank, noise_sigma=noise_sigma(options), seed=seed)
    return blurred[0]


class Deblur(Objective):
    """Known blur kernels (Gaussian and motion) with a little noise; learns to undo them.

    Training blurs each sharp crop afresh at every step, in TensorFlow: a kernel drawn
    uniformly from the bank and Gaussian noise of ``noise_sigma`` (0-255 units), clipped to
    [0, 1]. Validation pairs are fixed (seeded, blurred once in numpy) so PSNR compares
    across runs.
    """

    patches = True

    def kernels(self) -> list[np.ndarray]:
        """The recipe's blur kernels (:func:`zoo.data.blur_kernel_bank`)."""
        return kernels(self.options)

    @cached_property
    def kernel_bank(self) -> np.ndarray:
        """The bank as one (N, K, K) float32 array, K odd (see ``zdata.stack_kernels``)."""
        return zdata.stack_kernels(self.kernels())

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        sharp = images.images
        if training:
            reach = self.kernel_bank.shape[-1] // 2
            if min(sharp.shape[1:3]) < reach:
                raise ZooError(
                    f"deblur training crops of {sharp.shape[1]}x{sharp.shape[2]} are smaller "
                    f"than the largest blur kernel's reach ({reach} pixels); raise patch_size"
                )
            return {"sharp": sharp}
        blurred, sharp = zdata.blurred_pairs(
            sharp, self.kernels(), noise_sigma=noise_sigma(self.options), seed=self.config.seed
        )
        return {"blurred": blurred, "sharp": sharp}

    def degrade(self, example: dict, seed) -> dict:
        import tensorflow as tf

        sharp = tf.convert_to_tensor(example["sharp"], dtype=tf.float32)
        bank = self.kernel_bank
        kernel_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        index = tf.random.stateless_uniform([1], kernel_seed, maxval=len(bank), dtype=tf.int32)
        blurred = zdata.blur_tf(sharp[None], bank, index)[0]
        sigma = noise_sigma(self.options) / 255.0
        noisy = blurred + tf.random.stateless_normal(tf.shape(blurred), noise_seed) * sigma
        return {"blurred": tf.clip_by_value(noisy, 0.0, 1.0), "sharp": sharp}

    def pair(self, batch: dict) -> tuple:
        return batch["blurred"], batch["sharp"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["blurred"]), validation["sharp"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        return [list(first["blurred"]), list(self.predict(first["blurred"])), list(first["sharp"])]


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    bank = kernels(run.options)
    count, values = restoration.evaluate(run, source, limit, seed, bank, degrade)
    details = {
        "images": count // len(bank),
        "kernels": len(bank),
        "noise_sigma": noise_sigma(run.options),
    }
    return count, values, details


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    return restoration.sample_pairs(run, count, seed, source, kernels(run.options), degrade)


TASK = Task(
    name="deblur",
    metric="psnr",
    higher_is_better=True,
    objective=Deblur,
    evaluate=evaluate,
    sample_rows=("blurred", "restored", "sharp"),
    predict_image=restoration.predict_image,
    sample_pairs=sample_pairs,
    grid_rows=restoration.grid_rows,
    fully_convolutional=True,
)
