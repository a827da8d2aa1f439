"""Contracts shared by every family of a task: input and output specs, data, recipe.

A family file spreads one of these into its registration, so that, say, every
segmentation model takes the same input and emits the same output::

    register(family="unet", num_params=..., paper=PAPER, **segmentation(multiple=16))
"""

from __future__ import annotations

from typing import Any

from zoo.data.embedded import SHAPE_CLASSES
from zoo.registry import Recipe, TensorSpec

SEGMENTATION_CLASSES = len(SHAPE_CLASSES)  # the embedded "shapes" data
SEGMENTATION_EXPORT_SIZE = (128, 128)
SUPER_RESOLUTION_EXPORT_SIZE = (128, 128)  # low-resolution input of exported files

# The metric each task is judged by first, and whether higher is better.
PRIMARY_METRIC = {
    "super_resolve": ("psnr", True),
    "denoise": ("psnr", True),
    "deblur": ("psnr", True),
    "reconstruct": ("psnr", True),
    "translate": ("psnr", True),
    "segment": ("miou", True),
    "generate": ("frechet_distance", False),
    "generate_conditional": ("class_accuracy", True),
}


# What the rows of an image-to-image task's sample grid show, top to bottom (training's
# per-epoch grids and `zoo sample`).
SAMPLE_ROWS = {
    "super_resolve": ("bicubic", "model", "original"),
    "denoise": ("noisy", "denoised", "clean"),
    "deblur": ("blurred", "restored", "sharp"),
    "reconstruct": ("input", "output"),
    "segment": ("image", "predicted", "true"),
    "translate": ("source", "generated", "target"),
}


def sample_row_labels(task: str, rows: int) -> list[str] | None:
    """Labels of a task's ``rows`` sample rows, or None when its rows are all samples."""
    names = SAMPLE_ROWS.get(task)
    return list(names) if names and len(names) == rows else None


def segmentation(*, multiple: int) -> dict[str, Any]:
    """RGB (H, W, 3) in [0, 1], H and W multiples of ``multiple`` -> softmax (H, W, classes)."""
    return {
        "task": "segment",
        "inputs": [
            TensorSpec("image", (None, None, 3), description=f"RGB; H, W divisible by {multiple}")
        ],
        "output": TensorSpec(
            "probs",
            (None, None, SEGMENTATION_CLASSES),
            description="per-pixel class probabilities",
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
        "export_size": SEGMENTATION_EXPORT_SIZE,
    }


def super_resolution(
    *, scale: int, patch_size: int, epochs: int = 60, batch_size: int = 64, **options: Any
) -> dict[str, Any]:
    """Y channel (H, W, 1) in [0, 1] -> (scale*H, scale*W, 1), linear (clip when saving).

    ``patch_size`` is the high-resolution training patch (a multiple of ``scale``);
    ``options`` add to or replace the recipe's options (e.g. ``rescales``).
    """
    return {
        "task": "super_resolve",
        "inputs": [TensorSpec("lr", (None, None, 1), description="low-resolution Y channel")],
        "output": TensorSpec(
            "hr", (None, None, 1), bounded=False, description=f"Y channel x{scale}"
        ),
        "dataset": "photos",
        "recipe": Recipe(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=1e-3,
            loss="mse",
            options={
                "scale": scale,
                "patch_size": patch_size,
                "crops_per_image": 512,
                "augment": True,
                "lr_schedule": "cosine",
                **options,
            },
        ),
        "export_size": SUPER_RESOLUTION_EXPORT_SIZE,
    }
