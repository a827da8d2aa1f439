"""Array helpers shared by the loaders: value scaling, resizing, cropping, channel conversion.

Images are float32 arrays in [0, 1], one image (H, W, C) or a batch (N, H, W, C), C in {1, 3}.
Resizing is Pillow's, run on float ("F" mode) planes, so there is no 8-bit rounding in
between: "bilinear" and "bicubic" (Keys, a = -0.5, as MATLAB's imresize) widen their support
when reducing, which makes downscaling antialiased. A batch of equal-size images is resized
with two matrices (rows, columns) taken from Pillow once, which is exact for these separable
filters and fast for tens of thousands of small images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from zoo.errors import ZooError

# ITU-R BT.601 luma weights (what Pillow's "L" conversion and MATLAB's rgb2gray use).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
_MATRIX_LIMIT = 2048  # larger images are resized plane by plane, not with dense matrices


def parse_size(image_size: int | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """``32`` or ``(32, 48)`` -> ``(height, width)``; ``None`` stays ``None``."""
    if image_size is None:
        return None
    if isinstance(image_size, int | np.integer):
        size = (int(image_size), int(image_size))
    else:
        try:
            height, width = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ZooError(
                f"image_size must be an int or (height, width), got {image_size!r}"
            ) from None
        size = (height, width)
    if min(size) < 1:
        raise ZooError(f"image_size must be positive, got {image_size!r}") from None
    return size


def check_channels(channels: int | None) -> None:
    if channels not in (None, 1, 3):
        raise ZooError(f"channels must be 1 or 3, got {channels!r}")


def as_float(array: np.ndarray) -> np.ndarray:
    """Integers scaled by their type's maximum (uint8 / 255, uint16 / 65535), bools to 0/1."""
    array = np.asarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if np.issubdtype(array.dtype, np.integer):
        return np.clip(array.astype(np.float32) / 65535.0, 0.0, 1.0)
    return np.clip(array.astype(np.float32), 0.0, 1.0)


def with_channel_axis(array: np.ndarray, ndim: int) -> np.ndarray:
    """Give gray images a channel axis: (H, W) -> (H, W, 1), (N, H, W) -> (N, H, W, 1)."""
    return array[..., None] if array.ndim == ndim - 1 else array


def to_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """Gray -> RGB by replication, RGB -> gray by BT.601 luma, RGBA -> RGB over white."""
    if images.shape[-1] == 4:
        images = flatten_alpha(images)
    if images.shape[-1] == 2:  # gray + alpha
        images = images[..., :1] * images[..., 1:] + (1.0 - images[..., 1:])
    if channels is None or images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    if channels == 1:
        return (images @ LUMA_WEIGHTS)[..., None].astype(np.float32)
    raise ZooError(f"channels must be 1 or 3, got {channels!r}")


def flatten_alpha(images: np.ndarray) -> np.ndarray:
    """RGBA -> RGB composited over a white background."""
    alpha = images[..., 3:4]
    return (images[..., :3] * alpha + (1.0 - alpha)).astype(np.float32)


@lru_cache(maxsize=128)
def _matrix(n_in: int, n_out: int, method: str) -> np.ndarray:
    """The (n_out, n_in) matrix of Pillow's 1-D resampling along the rows of an image."""
    eye = Image.fromarray(np.eye(n_in, dtype=np.float32))
    return np.asarray(eye.resize((n_in, n_out), _RESAMPLE[method]), dtype=np.float32)


def _resample(method: str) -> Image.Resampling:
    try:
        return _RESAMPLE[method]
    except KeyError:
        raise ZooError(
            f"unknown resize method {method!r}; expected one of {', '.join(_RESAMPLE)}"
        ) from None


def resize_image(image: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """One (H, W, C) float image to (height, width, C), plane by plane in float."""
    resample = _resample(method)
    height, width = size
    if image.shape[:2] == (height, width):
        return image.astype(np.float32, copy=False)
    planes = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32)).resize(
                (width, height), resample
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.stack(planes, axis=-1).astype(np.float32)


def resize(images: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """A batch (N, H, W, C) of float images to (N, height, width, C); not clipped."""
    _resample(method)
    height, width = size
    n, h, w, _ = images.shape
    if (h, w) == (height, width):
        return images.astype(np.float32, copy=False)
    if method == "nearest" or max(h, w) > _MATRIX_LIMIT:
        return np.stack([resize_image(im, size, method) for im in images]) if n else images
    rows = _matrix(h, height, method)
    cols = _matrix(w, width, method)
    planes = np.moveaxis(images.astype(np.float32, copy=False), -1, 1)  # (N, C, H, W)
    return np.ascontiguousarray(np.moveaxis((rows @ planes) @ cols.T, 1, -1))


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of integer masks (..., H, W) (pixel centres, as Pillow)."""
    h, w = masks.shape[-2:]
    height, width = size
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(int), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(int), w - 1)
    return masks[..., rows[:, None], cols[None, :]]


def cover_size(shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """The smallest (h, w) with the aspect of ``shape`` that covers ``size``."""
    h, w = shape
    scale = max(size[0] / h, size[1] / w)
    return max(size[0], round(h * scale)), max(size[1], round(w * scale))


def center_crop(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop the central (height, width) window of an (H, W, ...) array."""
    h, w = array.shape[:2]
    top, left = (h - size[0]) // 2, (w - size[1]) // 2
    return array[top : top + size[0], left : left + size[1]]


def fit_image(image: np.ndarray, size: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize (H, W, C) to cover ``size`` keeping the aspect ratio, then center-crop to it."""
    if image.shape[:2] == size:
        return image
    return center_crop(resize_image(image, cover_size(image.shape[:2], size), method), size)


def fit_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The same geometry as :func:`fit_image` for an (H, W) class-index mask (nearest)."""
    if mask.shape[:2] == size:
        return mask
    return center_crop(resize_masks(mask, cover_size(mask.shape[:2], size)), size)


def choose(n: int, limit: int | None, seed: int) -> np.ndarray:
    """At most ``limit`` of ``range(n)``, a seeded random choice kept in ascending order."""
    if limit is None or limit >= n:
        return np.arange(n)
    picked = np.random.default_rng(seed).choice(n, size=limit, replace=False)
    return np.sort(picked)


def check_limit(limit: int | None) -> None:
    if limit is not None and (not isinstance(limit, int | np.integer) or limit < 1):
        raise ZooError(f"limit must be a positive integer, got {limit!r}")
