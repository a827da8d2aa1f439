"""Task metrics on numpy arrays: PSNR, SSIM, the super-resolution protocol, mean IoU,
pixel accuracy and the Frechet distance.

Images are float arrays in [0, ``data_range``]: one image (H, W) or (H, W, C), or a
batch (N, H, W, C). Means over a batch are means of the per-image values for SSIM and
of the squared error over every pixel for :func:`psnr` (the training loop's convention).
"""

from __future__ import annotations

import warnings

import numpy as np

from zoo.errors import ZooError

SSIM_SIGMA = 1.5  # Wang et al. 2004: an 11x11 Gaussian window of std 1.5


def psnr(prediction: np.ndarray, target: np.ndarray, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over the whole batch (prediction clipped to the range)."""
    prediction = np.clip(np.asarray(prediction, np.float64), 0.0, data_range)
    mse = float(np.mean((prediction - np.asarray(target, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range**2 / mse)


def mse(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error over every value."""
    difference = np.asarray(prediction, np.float64) - np.asarray(target, np.float64)
    return float(np.mean(difference**2))


def ssim(prediction: np.ndarray, target: np.ndarray, *, data_range: float = 1.0) -> float:
    """Structural similarity (Wang et al. 2004), the mean over the images of a batch.

    scikit-image's ``structural_similarity`` with the paper's settings: an 11x11 Gaussian
    window (std 1.5), K1 = 0.01, K2 = 0.03, population covariances; colour images are the
    mean over the channels. The prediction is clipped to [0, ``data_range``]. Images
    smaller than 11 pixels use the largest odd uniform window that fits.
    """
    from skimage.metrics import structural_similarity

    prediction = np.clip(np.asarray(prediction, np.float64), 0.0, data_range)
    target = np.asarray(target, np.float64)
    if prediction.shape != target.shape:
        raise ZooError(f"ssim: shapes differ, {prediction.shape} vs {target.shape}")
    if prediction.ndim == 2:
        prediction, target = prediction[None, ..., None], target[None, ..., None]
    elif prediction.ndim == 3:
        prediction, target = prediction[None], target[None]
    side = min(prediction.shape[1:3])
    if side >= 11:
        window = {"gaussian_weights": True, "sigma": SSIM_SIGMA, "use_sample_covariance": False}
    elif side >= 3:
        window = {"win_size": side if side % 2 else side - 1, "use_sample_covariance": False}
    else:
        raise ZooError(f"ssim needs images of at least 3x3 pixels, got {prediction.shape[1:3]}")
    values = [
        structural_similarity(p, t, data_range=data_range, channel_axis=-1, **window)
        for p, t in zip(prediction, target, strict=True)
    ]
    return float(np.mean(values))


# === Super-resolution protocol ===


def shave(images: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels from every side of (H, W, ...) or (N, H, W, C) images."""
    if border <= 0:
        return images
    images = np.asarray(images)
    axis = 1 if images.ndim == 4 else 0
    index = [slice(None)] * images.ndim
    index[axis] = slice(border, images.shape[axis] - border)
    index[axis + 1] = slice(border, images.shape[axis + 1] - border)
    shaved = images[tuple(index)]
    if 0 in shaved.shape[axis : axis + 2]:
        raise ZooError(f"image {images.shape} is too small to shave {border} pixels per side")
    return shaved


def to_y_255(image: np.ndarray, *, quantize: bool = True) -> np.ndarray:
    """BT.601 luma in 0..255 (16..235) of RGB (..., 3); a (..., 1) image is taken as Y already.

    ``quantize`` rounds to 8-bit levels, as MATLAB's ``rgb2ycbcr`` on uint8 images does.
    """
    from zoo.data import rgb_to_y

    image = np.asarray(image, np.float64)
    y = rgb_to_y(np.clip(image, 0.0, 1.0)) if image.shape[-1] == 3 else image
    y = np.asarray(y, np.float64) * 255.0
    return np.round(np.clip(y, 0.0, 255.0)) if quantize else y


def super_resolution_metrics(
    prediction: np.ndarray, target: np.ndarray, *, scale: int, quantize: bool = True
) -> dict[str, float]:
    """PSNR and SSIM of one upscaled image by the standard SR protocol.

    ``prediction`` and ``target`` are (H, W, 3) RGB or (H, W, 1) Y in [0, 1] (Y as
    :func:`zoo.data.rgb_to_y` makes it: 16/255..235/255). Both become Y in 0..255 (rounded
    to 8 bits with ``quantize``, as saved images are), ``scale`` pixels are shaved from every
    border, and PSNR / SSIM are computed with a data range of 255.
    """
    if np.shape(prediction) != np.shape(target):
        raise ZooError(f"shapes differ: {np.shape(prediction)} vs {np.shape(target)}")
    sr = shave(to_y_255(prediction, quantize=quantize), scale)
    hr = shave(to_y_255(target, quantize=quantize), scale)
    return {"psnr": psnr(sr, hr, data_range=255.0), "ssim": ssim(sr, hr, data_range=255.0)}


# === Segmentation ===


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = true class, columns = predicted class."""
    index = np.asarray(labels, np.int64).ravel() * num_classes + np.asarray(predictions).ravel()
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class IoU (num_classes,) from a confusion matrix; NaN for a class never seen."""
    intersection = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def mean_iou(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Mean intersection over union over the classes present in labels or predictions."""
    confusion = confusion_matrix(labels, predictions, num_classes)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    return float(np.mean(intersection[present] / union[present]))


def pixel_accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction of pixels whose predicted class equals the label."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ZooError(f"shapes differ: {labels.shape} vs {predictions.shape}")
    return float(np.mean(labels == predictions))


# === Generators ===


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of (N, D) features (N >= 2)."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ZooError(f"need (N >= 2, D) features, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two (N, D) feature sets (FID's formula).

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. The matrix square root is
    scipy's ``sqrtm``; its rounding-level imaginary parts are dropped, and a singular
    product (dead features, few samples) is regularised with 1e-6 on the diagonals, as in
    Heusel et al.'s reference code. Never negative.
    """
    from scipy import linalg

    mu_a, sigma_a = gaussian_statistics(features_a)
    mu_b, sigma_b = gaussian_statistics(features_b)
    if mu_a.shape != mu_b.shape:
        raise ZooError(f"feature sizes differ: {mu_a.shape[0]} vs {mu_b.shape[0]}")
    sigma_a, sigma_b = np.atleast_2d(sigma_a), np.atleast_2d(sigma_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular: handled below
        root = linalg.sqrtm(sigma_a @ sigma_b)
        if not np.isfinite(root).all():
            offset = np.eye(len(sigma_a)) * 1e-6
            root = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(root):
        scale = max(float(np.abs(root).max()), 1.0)
        if np.abs(root.imag).max() > 1e-3 * scale:
            raise ZooError("frechet_distance: the covariance product has no real square root")
        root = root.real
    difference = mu_a - mu_b
    value = difference @ difference + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(root)
    return float(max(value, 0.0))
