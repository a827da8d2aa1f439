"""Task metrics on numpy arrays: PSNR, mean IoU."""

from __future__ import annotations

import numpy as np


def psnr(prediction: np.ndarray, target: np.ndarray, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole batch (prediction clipped to the range)."""
    prediction = np.clip(np.asarray(prediction, np.float64), 0.0, data_range)
    mse = float(np.mean((prediction - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = true class, columns = predicted class."""
    index = np.asarray(labels, np.int64).ravel() * num_classes + np.asarray(predictions).ravel()
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def mean_iou(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Mean intersection over union over the classes present in labels or predictions."""
    confusion = confusion_matrix(labels, predictions, num_classes)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    return float(np.mean(intersection[present] / union[present]))
