"""What the restoration tasks (denoise, deblur) share: cases, evaluation, whole-image I/O.

A restoration task degrades a clean image by one of its *cases* (a blur kernel, or None for
noise alone) and the model restores it. ``zoo eval`` scores PSNR and SSIM of the restored
whole test images (the same sources as super-resolution), degraded as in training, beside
the degraded input's. ``zoo predict`` runs the model fully convolutionally: the image is
reflect-padded to the multiple of its size the model needs (found by probing, or the
recipe's ``size_multiple``), run whole and cropped back; the output has the model's channels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.inference import model_channels, run_whole, size_multiple
from zoo.tasks.base import image_to_image_rows, mean, test_images, whole_images

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel

# degrade(options, image (H, W, C), seed, kernel or None) -> degraded image
Degrade = Callable[[dict, np.ndarray, int, "np.ndarray | None"], np.ndarray]
# restore(model, info, degraded image, its kernel or None, size multiple) -> image in [0, 1]
Restore = Callable[["keras.Model", "ModelInfo", np.ndarray, "np.ndarray | None", int], np.ndarray]


def restore_blind(
    model: keras.Model,
    info: ModelInfo,
    degraded: np.ndarray,
    kernel: np.ndarray | None,
    multiple: int,
) -> np.ndarray:
    """The model on the degraded image alone, clipped to [0, 1] (the case's kernel unused)."""
    return np.clip(run_whole(model, degraded, multiple), 0.0, 1.0)


def cases(
    run: TrainedModel,
    images: Sequence[np.ndarray],
    seed: int,
    kernels: list[np.ndarray | None],
    degrade: Degrade,
) -> Iterator[tuple[int, int | None, np.ndarray, np.ndarray]]:
    """``(image index, kernel index, clean, degraded)`` for every case ``zoo eval`` scores,
    made one at a time (an image folder is read as it is scored): each image under each of
    ``kernels`` (``[None]``: noise alone), with seed ``seed + index * len(kernels) + k``."""
    channels = model_channels(run.model)
    for index, image in enumerate(images):
        clean = zdata.to_channels(image, channels)
        for k, kernel in enumerate(kernels):
            degraded = degrade(run.options, clean, seed + index * len(kernels) + k, kernel)
            yield index, None if kernel is None else k, clean, degraded


def evaluate(
    run: TrainedModel,
    source: str,
    limit: int | None,
    seed: int,
    kernels: list[np.ndarray | None],
    degrade: Degrade,
    restore: Restore = restore_blind,
):
    """(cases, PSNR and SSIM of the restored and of the degraded images, no details)."""
    multiple = size_multiple(run.model, run.options)
    images, _ = whole_images(source, limit=limit)
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_input": [], "ssim_input": []}
    for _, k, clean, degraded in cases(run, images, seed, kernels, degrade):
        kernel = None if k is None else kernels[k]
        restored = restore(run.model, run.info, degraded, kernel, multiple)
        for suffix, candidate in (("", restored), ("_input", degraded)):
            scores["psnr" + suffix].append(metrics.psnr(candidate, clean))
            scores["ssim" + suffix].append(metrics.ssim(candidate, clean))
    return len(scores["psnr"]), {key: mean(value) for key, value in scores.items()}


def predict_image(
    model: keras.Model, info: ModelInfo, image: np.ndarray, options: dict, multiple: int | None
) -> np.ndarray:
    """The restored whole image in [0, 1], at the model's channels."""
    multiple = multiple or size_multiple(model, options)
    source = zdata.to_channels(np.asarray(image, np.float32), model_channels(model))
    return restore_blind(model, info, source, None, multiple)


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str, kernels, degrade):
    """(degraded, clean) test images at the training size; the i-th case gets seed + i and
    kernel i modulo the bank."""
    clean = test_images(run, source, count, seed).images
    inputs = [
        degrade(run.options, image, seed + i, kernels[i % len(kernels)])
        for i, image in enumerate(clean)
    ]
    return inputs, list(clean)


def grid_rows(run: TrainedModel, inputs: list, targets: list) -> list[list[np.ndarray]]:
    """Degraded, restored, clean."""
    multiple = size_multiple(run.model, run.options)
    return image_to_image_rows(run, inputs, targets, predict_image, multiple)
