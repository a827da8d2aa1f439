"""Classical restorers, each with one parameter tuned fairly on held-out images.

- deblurring (non-blind: given the true kernel): :func:`wiener_deconvolve` and
  :func:`richardson_lucy_deconvolve` (scikit-image), through :func:`classical_deblur`;
- denoising (given the noise sigma): total variation (Chambolle) and non-local means,
  through :func:`classical_denoise`.

Fair tuning: each method's one parameter is chosen from a grid by the mean PSNR on
held-out images that are never test images (:func:`held_out_images`: a detailed crop of
each photo of the embedded train split, the learned models' own training photos; or a
dataset's train split), degraded the same way with other noise seeds. Deblurring tunes per
kernel (:func:`tune_deblur` on :func:`blurred_tuning_pairs`); denoising tunes one parameter
per method (:func:`tune_denoise`).

Boundaries: test images are blurred with a mirrored border (:func:`zoo.data.convolve`).
Wiener is an FFT (circular) filter, so it sees the image mirrored to twice its size, which
is exactly the periodic version of a mirrored-border blur for kernels symmetric about both
axes (Gaussian, horizontal and vertical motion); other kernels get the image mirrored by
twice the kernel size with a raised-cosine edge taper into its circular blur (as MATLAB's
``edgetaper``). Richardson-Lucy's convolutions pad with zeros, so the image is mirrored by
three kernel sizes first. Colour images are restored channel by channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.errors import ZooError

RL_ITERATIONS = (5, 10, 20, 40, 80)
WIENER_BALANCES = tuple(round(float(b), 6) for b in np.logspace(-4, 0, 13))  # 3 a decade
TV_WEIGHTS = tuple(round(float(w), 4) for w in np.geomspace(0.01, 1.0, 13))
NL_MEANS_H = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2)  # h in units of the noise sigma
NL_MEANS_PATCH, NL_MEANS_DISTANCE = 5, 6
TUNE_IMAGES = 16  # held-out images to tune on: all 16 train photos
TUNE_SIZE = 128
CROP_CANDIDATES = 8
TUNE_SEED_OFFSET = 10_000  # held-out noise never repeats a test image's noise

Log = Callable[[str], None] | None
Pairs = Sequence[tuple[np.ndarray, np.ndarray]]  # (degraded, clean) images


# === Tuning ===


@dataclass(frozen=True)
class Tuning:
    """A parameter chosen from ``grid`` by the mean PSNR (``scores``) on ``images`` pairs."""

    method: str
    parameter: str
    value: float
    grid: tuple[float, ...]
    scores: tuple[float, ...]
    images: int

    @property
    def at_edge(self) -> bool:
        """The best value is the grid's first or last: the grid may be too narrow."""
        return len(self.grid) > 1 and self.value in (self.grid[0], self.grid[-1])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at_edge": self.at_edge}


def tune(
    method: str,
    parameter: str,
    pairs: Pairs,
    grid: Sequence[float],
    restore: Callable[[np.ndarray, float], np.ndarray],
) -> Tuning:
    """The value of ``grid`` whose ``restore(degraded, value)`` has the best mean PSNR."""
    if not pairs:
        raise ZooError(f"tuning {method} needs at least one held-out image")
    if not grid:
        raise ZooError(f"tuning {method} needs a non-empty grid")
    scores = tuple(
        float(np.mean([metrics.psnr(restore(degraded, value), clean) for degraded, clean in pairs]))
        for value in grid
    )
    best = int(np.argmax(scores))
    return Tuning(
        method=method,
        parameter=parameter,
        value=grid[best],
        grid=tuple(grid),
        scores=tuple(round(s, 4) for s in scores),
        images=len(pairs),
    )


def held_out_images(
    source: str,
    *,
    count: int = TUNE_IMAGES,
    size: int = TUNE_SIZE,
    seed: int = 0,
    channels: int = 3,
) -> tuple[list[np.ndarray], list[str]]:
    """(images, names) for tuning, never test images: float32 (h, w, C) in [0, 1].

    ``photos`` or a folder: crops of at most ``size`` x ``size`` from ``count`` photos of the
    embedded train split (all 16 by default, else spread over it), each the most detailed
    (largest mean absolute gradient) of ``CROP_CANDIDATES`` random positions drawn from
    ``seed``, so that flat background does not decide a parameter. A dataset name: the
    first ``count`` images of its train split.
    """
    if count < 1:
        raise ZooError(f"tuning needs at least one held-out image; got count={count}")
    if source != "photos" and not Path(source).expanduser().is_dir():
        imageset = zdata.load(source, split="train", channels=channels, limit=count)
        images = [np.asarray(image, np.float32) for image in imageset.images]
        return images, [f"{imageset.name}/train/{i}" for i in range(len(images))]
    names = [name for name in zdata.PHOTO_NAMES if name not in zdata.PHOTO_TEST]
    photos = zdata.photo_images("train", channels=channels)
    picks = sorted(set(np.linspace(0, len(photos) - 1, count).round().astype(int).tolist()))
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for index in picks:
        photo = photos[index]
        height, width = min(size, photo.shape[0]), min(size, photo.shape[1])
        corners = [
            (
                int(rng.integers(0, photo.shape[0] - height + 1)),
                int(rng.integers(0, photo.shape[1] - width + 1)),
            )
            for _ in range(CROP_CANDIDATES)
        ]
        top, left = max(
            corners, key=lambda c: _detail(photo[c[0] : c[0] + height, c[1] : c[1] + width])
        )
        images.append(photo[top : top + height, left : left + width])
        labels.append(f"photos/train/{names[index]}[{top}:{top + height}, {left}:{left + width}]")
    return images, labels


def _detail(image: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels (both axes, all channels)."""
    return float(np.abs(np.diff(image, axis=0)).mean() + np.abs(np.diff(image, axis=1)).mean())


# === Classical deblurring ===


def _per_channel(image: np.ndarray, restore: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``restore`` on each channel of (H, W, C) (or on a (H, W) image), clipped to [0, 1]."""
    image = np.asarray(image, np.float64)
    planes = image[..., None] if image.ndim == 2 else image
    out = np.stack([restore(planes[..., c]) for c in range(planes.shape[-1])], axis=-1)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return out if image.ndim == 3 else out[..., 0]


def _transfer(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The real FFT of ``kernel`` zero-padded to ``shape`` with its centre at the origin."""
    padded = np.zeros(shape)
    kh, kw = kernel.shape
    padded[:kh, :kw] = kernel
    return np.fft.rfft2(np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def axis_symmetric(kernel: np.ndarray) -> bool:
    """Symmetric about both axes: a mirrored-border blur is then exactly periodic."""
    kernel = np.asarray(kernel)
    return bool(np.allclose(kernel, kernel[::-1]) and np.allclose(kernel, kernel[:, ::-1]))


def _wiener_plane(plane: np.ndarray, kernel: np.ndarray, balance: float) -> np.ndarray:
    from skimage.restoration import wiener

    height, width = plane.shape
    if axis_symmetric(kernel):
        mirrored = np.pad(plane, ((0, height), (0, width)), mode="symmetric")
        return wiener(mirrored, kernel, balance, clip=False)[:height, :width]
    margin = 2 * max(kernel.shape)
    padded = np.pad(plane, margin, mode="symmetric")
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, margin))
    weights = []
    for size in padded.shape:
        w = np.ones(size)
        w[:margin], w[-margin:] = ramp, ramp[::-1]
        weights.append(w)
    taper = np.outer(*weights)
    blurred = np.fft.irfft2(np.fft.rfft2(padded) * _transfer(kernel, padded.shape), padded.shape)
    tapered = taper * padded + (1.0 - taper) * blurred
    return wiener(tapered, kernel, balance, clip=False)[margin:-margin, margin:-margin]


def wiener_deconvolve(image: np.ndarray, kernel: np.ndarray, balance: float) -> np.ndarray:
    """scikit-image's ``wiener`` per channel with the true ``kernel`` (boundaries: module
    docstring). (H, W[, C]) in [0, 1] -> the same shape, clipped to [0, 1]."""
    kernel = np.asarray(kernel, np.float64)
    return _per_channel(image, lambda plane: _wiener_plane(plane, kernel, balance))


def richardson_lucy_deconvolve(
    image: np.ndarray, kernel: np.ndarray, iterations: int
) -> np.ndarray:
    """scikit-image's ``richardson_lucy`` per channel with the true ``kernel``, on the image
    mirrored by three kernel sizes. (H, W[, C]) in [0, 1] -> the same shape, in [0, 1]."""
    from skimage.restoration import richardson_lucy

    kernel = np.asarray(kernel, np.float64)
    margin = 3 * max(kernel.shape)

    def restore(plane: np.ndarray) -> np.ndarray:
        padded = np.pad(plane, margin, mode="symmetric")
        out = richardson_lucy(padded, kernel, num_iter=int(iterations))
        return out[margin:-margin, margin:-margin]

    return _per_channel(image, restore)


DEBLUR_METHODS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    # method: (label, parameter, default grid)
    "richardson_lucy": ("Richardson-Lucy", "iterations", RL_ITERATIONS),
    "wiener": ("Wiener", "balance", WIENER_BALANCES),
}


def classical_deblur(
    image: np.ndarray, kernel: np.ndarray, *, method: str, value: float
) -> np.ndarray:
    """Deblur (H, W[, C]) in [0, 1] by ``method`` (``richardson_lucy`` with ``value``
    iterations, or ``wiener`` with balance ``value``) given the true ``kernel``."""
    if method == "richardson_lucy":
        return richardson_lucy_deconvolve(image, kernel, int(value))
    if method == "wiener":
        return wiener_deconvolve(image, kernel, float(value))
    raise ZooError(f"unknown deblurring method {method!r}; expected {', '.join(DEBLUR_METHODS)}")


def tune_deblur(
    method: str, kernel: np.ndarray, pairs: Pairs, *, grid: Sequence[float] | None = None
) -> Tuning:
    """Tune ``method``'s parameter for ``kernel`` on held-out (blurred, sharp) ``pairs``."""
    if method not in DEBLUR_METHODS:
        raise ZooError(
            f"unknown deblurring method {method!r}; expected {', '.join(DEBLUR_METHODS)}"
        )
    _, parameter, default = DEBLUR_METHODS[method]
    return tune(
        method,
        parameter,
        pairs,
        tuple(grid or default),
        lambda degraded, value: classical_deblur(degraded, kernel, method=method, value=value),
    )


def blurred_tuning_pairs(
    images: Sequence[np.ndarray], kernel: np.ndarray, *, noise_sigma: float, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(blurred, sharp) pairs of held-out ``images`` by ``kernel`` plus noise, one channel each.

    The classical methods work channel by channel, so each image gives one gray plane
    (R, G, B in turn): the same statistics at a third of the cost.
    """
    pairs = []
    for j, image in enumerate(images):
        channel = j % image.shape[-1]
        plane = np.asarray(image[..., channel : channel + 1], np.float32)
        blurred, sharp = zdata.blurred_pairs(
            plane[None], kernel, noise_sigma=noise_sigma, seed=seed + TUNE_SEED_OFFSET + j
        )
        pairs.append((blurred[0], sharp[0]))
    return pairs


def describe_kernel(kernel: np.ndarray) -> str:
    """A short label: 'gaussian sigma 2.0 (13x13)' or 'motion 10 px at 45 deg (11x11)'.

    Read off the kernel itself: a Gaussian has no zero tap; sigma is its spread, a motion
    line's length and angle come from its second moments.
    """
    kernel = np.asarray(kernel, np.float64)
    size = f"({kernel.shape[0]}x{kernel.shape[1]})"
    ys, xs = np.indices(kernel.shape, dtype=np.float64)
    total = kernel.sum()
    cy, cx = (kernel * ys).sum() / total, (kernel * xs).sum() / total
    dy, dx = -(ys - cy), xs - cx  # y up, as zoo.data.blur_kernel's angle
    cxx, cyy, cxy = ((kernel * d).sum() / total for d in (dx * dx, dy * dy, dx * dy))
    if np.all(kernel > 0):
        return f"gaussian sigma {math.sqrt((cxx + cyy) / 2):.1f} {size}"
    angle = math.degrees(0.5 * math.atan2(2 * cxy, cxx - cyy)) % 180
    major = (cxx + cyy) / 2 + math.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    return f"motion {math.sqrt(12 * major):.0f} px at {angle:.0f} deg {size}"


# === Classical denoising ===


DENOISE_METHODS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "tv_chambolle": ("TV (Chambolle)", "weight", TV_WEIGHTS),
    "nl_means": ("non-local means", "h / sigma", NL_MEANS_H),
}


def classical_denoise(image: np.ndarray, *, method: str, value: float, sigma: float) -> np.ndarray:
    """Denoise (H, W, C) in [0, 1] (noise std ``sigma`` in 0..255 units) by ``method``:
    ``tv_chambolle`` with weight ``value``, or ``nl_means`` with h = ``value`` * sigma
    (5x5 patches, 13x13 search, told the true sigma). Returns (H, W, C) in [0, 1]."""
    from skimage import restoration

    image = np.asarray(image, np.float64)
    if method == "tv_chambolle":
        out = restoration.denoise_tv_chambolle(image, weight=float(value), channel_axis=-1)
    elif method == "nl_means":
        out = restoration.denoise_nl_means(
            image,
            patch_size=NL_MEANS_PATCH,
            patch_distance=NL_MEANS_DISTANCE,
            h=float(value) * sigma / 255.0,
            sigma=sigma / 255.0,
            fast_mode=True,
            channel_axis=-1,
        )
    else:
        raise ZooError(
            f"unknown denoising method {method!r}; expected {', '.join(DENOISE_METHODS)}"
        )
    return np.clip(out, 0.0, 1.0).astype(np.float32).reshape(image.shape)


def tune_denoise(
    method: str, pairs: Pairs, *, sigma: float, grid: Sequence[float] | None = None
) -> Tuning:
    """Tune ``method``'s parameter on held-out (noisy, clean) ``pairs`` at noise ``sigma``."""
    if method not in DENOISE_METHODS:
        raise ZooError(
            f"unknown denoising method {method!r}; expected {', '.join(DENOISE_METHODS)}"
        )
    _, parameter, default = DENOISE_METHODS[method]
    return tune(
        method,
        parameter,
        pairs,
        tuple(grid or default),
        lambda noisy, value: classical_denoise(noisy, method=method, value=value, sigma=sigma),
    )


def noisy_tuning_pairs(
    images: Sequence[np.ndarray], *, sigma: float, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(noisy, clean) pairs of held-out ``images`` with Gaussian noise of ``sigma`` / 255."""
    pairs = []
    for j, image in enumerate(images):
        noisy, clean = zdata.noisy_pairs(image[None], sigma, seed=seed + TUNE_SEED_OFFSET + j)
        pairs.append((noisy[0], clean[0]))
    return pairs
