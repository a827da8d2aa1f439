"""Translation (pix2pix): a colour-coded label map in, the photo-like image out.

Training (:class:`Translate`): a conditional PatchGAN on (source, target) plus
``l1_weight`` x L1 to the target (Isola et al. 2017), images in [-1, 1].
``zoo eval``: L1 (images in [0, 1]), PSNR and SSIM on the test pairs. ``zoo predict``
fits an image to the model's size (nearest for a label map) as the autoencoders do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo.errors import ZooError
from zoo.inference import from_unit, run_batches, to_unit
from zoo.tasks import reconstruct
from zoo.tasks.base import Scores, Task, image_to_image_rows, test_chunks, test_images
from zoo.tasks.generate import Adversarial, per_example_mean, signed_to_unit
from zoo.tasks.objective import SAMPLE_COLUMNS, Arrays, Objective, first_samples

if TYPE_CHECKING:
    from zoo.weights_io import TrainedModel


class Translate(Adversarial):
    """pix2pix: conditional PatchGAN on (source, target) plus ``l1_weight`` x L1."""

    def arrays(self, split: str) -> Arrays:
        arrays = Objective.arrays(self, split)
        if split == "test":
            arrays = first_samples(arrays, SAMPLE_COLUMNS)
        return arrays

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        if images.masks is None:
            raise ZooError(
                f"dataset {self.config.data} has no masks to translate from; "
                f"{self.info.name} trains on 'shape_scenes', 'shapes' or an images/ + masks/ folder"
            )
        source, target = zdata.translation_pairs(images)
        return {"source": source * 2.0 - 1.0, "target": target * 2.0 - 1.0}

    def real(self, batch: dict):
        return batch["target"]

    def generator_inputs(self, z, batch: dict):
        return batch["source"]

    def discriminator_inputs(self, images, batch: dict):
        return [batch["source"], images]

    def extra_generator_loss(self, fake, batch: dict):
        import tensorflow as tf

        l1 = per_example_mean(tf.abs(fake - batch["target"]))
        return self.options.get("l1_weight", 100.0) * self.average(l1)

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        fake = self.predict(first["source"])
        return [list(signed_to_unit(images)) for images in (first["source"], fake, first["target"])]


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    info = run.info
    scores = Scores()
    for chunk in test_chunks(run, source, limit, seed):
        sources, targets = zdata.translation_pairs(chunk)
        fake = run_batches(run.model, from_unit(sources, info.input_range))
        scores.add(to_unit(fake, info.output_range), targets)
    return scores.count, {"l1": scores.l1, "psnr": scores.psnr, "ssim": scores.ssim}, {}


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    sources, targets = zdata.translation_pairs(test_images(run, source, count, seed))
    return list(sources), list(targets)


def grid_rows(run: TrainedModel, inputs: list, targets: list) -> list[list[np.ndarray]]:
    """Source, generated, target."""
    return image_to_image_rows(run, inputs, targets, reconstruct.predict_image)


TASK = Task(
    name="translate",
    metric="psnr",
    higher_is_better=True,
    objective=Translate,
    evaluate=evaluate,
    sample_rows=("source", "generated", "target"),
    predict_image=reconstruct.predict_image,
    sample_pairs=sample_pairs,
    grid_rows=grid_rows,
)
