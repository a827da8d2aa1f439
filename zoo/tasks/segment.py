"""Segmentation: an RGB image in, per-pixel class probabilities out.

- Contract: :func:`segmentation` (the embedded ``shapes`` data's classes, H and W
  multiples of the model's ``multiple``).
- Training (:class:`Segment`): per-pixel sparse categorical cross-entropy; mIoU per epoch.
- ``zoo eval``: mean IoU (over the classes seen in labels or predictions), pixel accuracy
  and per-class IoU on the test split.
- ``zoo predict``: the image padded like a restoration's; the predicted classes drawn as
  colours (:func:`zoo.data.label_palette`) blended over it (background left as is).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.data.embedded import SHAPE_CLASSES
from zoo.errors import ZooError
from zoo.inference import model_channels, run_batches, run_whole, size_multiple
from zoo.registry import Recipe, TensorSpec
from zoo.tasks.base import Task, test_chunks, test_images
from zoo.tasks.objective import Arrays, Objective, first_samples

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel

SEGMENTATION_CLASSES = len(SHAPE_CLASSES)  # the embedded "shapes" data
EXPORT_SIZE = (128, 128)
OVERLAY_ALPHA = 0.5


def segmentation(*, multiple: int) -> dict[str, Any]:
    """RGB (H, W, 3) in [0, 1], H and W multiples of ``multiple`` -> softmax (H, W, classes)."""
    return {
        "task": "segment",
        "inputs": [
            TensorSpec("image", (None, None, 3), description=f"RGB; H, W divisible by {multiple}")
        ],
        "output": TensorSpec(
            "probs", (None, None, SEGMENTATION_CLASSES), description="per-pixel class probabilities"
        ),
        "dataset": "shapes",
        "recipe": Recipe(
            epochs=40,
            batch_size=16,
            learning_rate=1e-3,
            loss="sparse_categorical_crossentropy",
            options={
                "num_classes": SEGMENTATION_CLASSES,
                "image_size": 64,
                "size_multiple": multiple,
            },
        ),
        "export_size": EXPORT_SIZE,
    }


# === Training ===


class Segment(Objective):
    """Per-pixel sparse categorical cross-entropy on softmax probabilities; mIoU as metric."""

    def arrays(self, split: str) -> Arrays:
        height, width, _ = self.image_shape()
        multiple = self.options.get("size_multiple", 1)
        if height % multiple or width % multiple:
            raise ZooError(
                f"{self.info.name} takes sizes divisible by {multiple}; image_size is {height}"
            )
        return super().arrays(split)

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        pixels, masks = zdata.segmentation_pairs(images)
        classes = self.info.output.shape[-1]
        if masks.max() >= classes:
            raise ZooError(
                f"masks hold class {int(masks.max())} but {self.info.name} predicts "
                f"{classes} classes; pass num_classes"
            )
        return {"image": pixels, "mask": masks.astype(np.int32)}

    def per_example_loss(self, target, prediction):
        import keras
        import tensorflow as tf

        pixel = keras.losses.sparse_categorical_crossentropy(target, prediction)
        return tf.reduce_mean(pixel, axis=[1, 2])

    def pair(self, batch: dict) -> tuple:
        return batch["image"], batch["mask"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        predicted = self.predict(validation["image"]).argmax(-1)
        classes = self.info.output.shape[-1]
        return {"miou": metrics.mean_iou(validation["mask"], predicted, classes)}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        predicted = self.predict(first["image"]).argmax(-1)
        classes = self.info.output.shape[-1]
        return [
            list(first["image"]),
            list(zdata.colorize_masks(predicted, classes)),
            list(zdata.colorize_masks(first["mask"], classes)),
        ]


# === zoo eval ===


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    multiple = size_multiple(run.model, run.options)
    classes = int(run.model.outputs[0].shape[-1])
    confusion = np.zeros((classes, classes), np.int64)
    count, names = 0, None
    for chunk in test_chunks(run, source, limit, seed):
        images, masks = zdata.segmentation_pairs(chunk)
        height, width = images.shape[1:3]
        if height % multiple or width % multiple:
            raise ZooError(
                f"{run.info.name} takes sizes divisible by {multiple}; the test images are "
                f"{height}x{width}"
            )
        predicted = run_batches(run.model, images).argmax(-1)
        confusion += metrics.confusion_matrix(masks, predicted, classes)
        count, names = count + len(images), names or chunk.class_names
    names = names or tuple(str(c) for c in range(classes))
    iou = metrics.class_iou(confusion)
    values = {
        "miou": float(np.nanmean(iou)),  # over the classes seen in labels or predictions
        "pixel_accuracy": float(np.trace(confusion) / confusion.sum()),
    }
    details = {
        "class_iou": {
            str(name): round(float(v), 4) for name, v in zip(names, iou, strict=False) if v == v
        }
    }
    return count, values, details


# === zoo predict and zoo sample ===


def segment_image(model: keras.Model, image: np.ndarray, multiple: int) -> np.ndarray:
    """Class index (H, W) of each pixel of an RGB (H, W, 3) image."""
    rgb = zdata.to_channels(np.asarray(image, np.float32), model_channels(model))
    return run_whole(model, rgb, multiple).argmax(-1).astype(np.int32)


def overlay(image: np.ndarray, mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Class colours blended (alpha 0.5) over an (H, W, C) image where the class is not 0."""
    rgb = zdata.to_channels(np.asarray(image, np.float32), 3)
    colours = zdata.colorize_masks(mask, num_classes)
    blended = (1.0 - OVERLAY_ALPHA) * rgb + OVERLAY_ALPHA * colours
    return np.where((mask > 0)[..., None], blended, rgb).astype(np.float32)


def predict_image(
    model: keras.Model, info: ModelInfo, image: np.ndarray, options: dict, multiple: int | None
) -> np.ndarray:
    """The image with its predicted classes drawn over it."""
    mask = segment_image(model, image, multiple or size_multiple(model, options))
    return overlay(image, mask, int(model.outputs[0].shape[-1]))


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    images, masks = zdata.segmentation_pairs(test_images(run, source, count, seed))
    return list(images), list(masks)


def grid_rows(run: TrainedModel, inputs: list, targets: list) -> list[list[np.ndarray]]:
    """Image, predicted classes over it, true classes over it."""
    classes = int(run.model.outputs[0].shape[-1])
    multiple = size_multiple(run.model, run.options)
    masks = [segment_image(run.model, image, multiple) for image in inputs]
    return [
        list(inputs),
        [overlay(image, mask, classes) for image, mask in zip(inputs, masks, strict=True)],
        [overlay(image, mask, classes) for image, mask in zip(inputs, targets, strict=True)],
    ]


TASK = Task(
    name="segment",
    metric="miou",
    higher_is_better=True,
    objective=Segment,
    evaluate=evaluate,
    sample_rows=("image", "predicted", "true"),
    predict_image=predict_image,
    sample_pairs=sample_pairs,
    grid_rows=grid_rows,
    fully_convolutional=True,
    per_pixel_classes=True,
)
