"""Class-conditional generation: a latent z and a one-hot class in, an image of that class out.

Trains as :mod:`zoo.tasks.generate` does, both networks seeing the class. ``zoo eval`` adds
to the Frechet distances the classifier's accuracy on samples drawn for each class
(on digits, the data the shipped classifier judges).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo import classifier
from zoo import data as zdata
from zoo.errors import ZooError
from zoo.tasks import generate
from zoo.tasks.base import Task, mean
from zoo.tasks.generate import Adversarial, image_rows, signed_to_unit
from zoo.tasks.objective import SAMPLE_COLUMNS, Arrays

if TYPE_CHECKING:
    from zoo.weights_io import TrainedModel

SAMPLES_PER_CLASS = 100
CLASSIFIER_DOMAIN = "digits"  # the data the digit classifier judges classes on


class Conditional(Adversarial):
    """cGAN: both networks see the one-hot class; samples show one row per class."""

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        if images.labels is None:
            raise ZooError(f"dataset {self.config.data} has no labels; {self.info.name} needs them")
        classes = self.config.model_overrides.get("num_classes", self.info.inputs[1].shape[0])
        if images.num_classes != classes:
            raise ZooError(
                f"dataset {self.config.data} has {images.num_classes} classes but "
                f"{self.info.name} takes {classes}; pass --set num_classes={images.num_classes}"
            )
        return {"image": images.images * 2.0 - 1.0, "label": images.one_hot()}

    def generator_inputs(self, z, batch: dict):
        return [z, batch["label"]]

    def discriminator_inputs(self, images, batch: dict):
        return [images, batch["label"]]

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        classes = self.generator.inputs[1].shape[-1]
        z = np.tile(self.fixed_latents(SAMPLE_COLUMNS), (classes, 1))
        labels = np.repeat(np.eye(classes, dtype=np.float32), SAMPLE_COLUMNS, axis=0)
        return image_rows(signed_to_unit(self.predict([z, labels])))


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    classes = int(run.model.inputs[1].shape[-1])

    def labels_of(train: zdata.ImageSet) -> np.ndarray:
        if train.labels is not None and train.num_classes == classes:
            return train.labels
        return np.arange(len(train)) % classes

    count, values, details = generate.evaluate(run, source, limit, seed, labels_of=labels_of)
    if source == CLASSIFIER_DOMAIN and classes == classifier.NUM_CLASSES:
        per_class = class_accuracy(run, seed=seed)
        values["class_accuracy"] = mean(list(per_class.values()))
        details["class_accuracy"] = {str(k): round(v, 4) for k, v in per_class.items()}
    else:
        details["class_accuracy"] = f"not measured: the classifier judges {CLASSIFIER_DOMAIN}"
    return count, values, details


def class_accuracy(
    run: TrainedModel, *, per_class: int = SAMPLES_PER_CLASS, seed: int = 0, model=None
) -> dict[int, float]:
    """For each class c: the fraction of samples generated for c that the classifier calls c."""
    classes = int(run.model.inputs[1].shape[-1])
    requested = np.repeat(np.arange(classes), per_class)
    images = generate.generate(run.model, run.info, len(requested), seed=seed + 1, labels=requested)
    predicted = classifier.predict_labels(images, model=model)
    return {c: float(np.mean(predicted[requested == c] == c)) for c in range(classes)}


TASK = Task(
    name="generate_conditional",
    metric="class_accuracy",
    higher_is_better=True,
    objective=Conditional,
    evaluate=evaluate,
)
