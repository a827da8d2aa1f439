"""The zoo's models beside their classical and baseline peers, on the same data and protocol.

::

    from zoo import peers
    result = peers.deblur_comparison("runs/deblur")       # learned vs Richardson-Lucy / Wiener
    print(peers.to_markdown(result))
    peers.denoise_comparison("default")                   # dae_photos vs TV / non-local means
    peers.super_resolution_comparison("../shared/data/sr/Set5", weights={"fsrcnn_x3": "runs/x3"})

Three comparisons, each a dict of rows (one per method) that ``benchmarks/peers.py`` writes:

- super-resolution: FSRCNN (and FSRCNN-s) against ESPCN (the zoo's baseline without
  transposed convolution) and bicubic, per scale, by ``zoo eval``'s protocol
  (:func:`zoo.evaluate.evaluate`: Y channel, antialiased bicubic downscaling, ``scale``
  pixels shaved), with each model's cost: parameters, multiply-accumulates
  (:func:`zoo.arithmetic.model_macs`) and host TFLite latency (:func:`convert.bench.bench_model`).
- deblurring: the learned model against scikit-image's ``richardson_lucy`` and ``wiener``
  on exactly the inputs ``zoo eval`` uses (:func:`zoo.evaluate.degrade`: each test image
  blurred by a kernel of the run's bank, drawn per image, plus the run's noise). The
  classical methods are non-blind: they get each image's true kernel, which favours them.
- denoising: the learned model against ``denoise_tv_chambolle`` and ``denoise_nl_means``
  (given the true noise sigma) on ``zoo eval``'s noisy test images.

Fair tuning: each classical method's one parameter is chosen from a grid by the mean PSNR on
held-out images that are never test images (:func:`held_out_images`: a detailed crop of
each photo of the embedded train split, the learned models' own training photos; or a
dataset's train split), degraded the same way with other noise seeds. Deblurring tunes per
kernel: every kernel that blurs a test image gets its own parameter, tuned on the held-out
crops blurred by that same kernel. Denoising tunes one parameter per method.

Boundaries: the test images are blurred with a mirrored border (:func:`zoo.data.convolve`).
Wiener is an FFT (circular) filter, so it sees the image mirrored to twice its size, which
is exactly the periodic version of a mirrored-border blur for kernels symmetric about both
axes (Gaussian, horizontal and vertical motion); other kernels get the image mirrored by
twice the kernel size with a raised-cosine edge taper into its circular blur (as MATLAB's
``edgetaper``). Richardson-Lucy's convolutions pad with zeros, so the image is mirrored by
three kernel sizes first. Colour images are restored channel by channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo import data as zdata
from zoo import metrics, registry
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
SR_MODELS = tuple(
    f"{family}_x{scale}" for family in ("fsrcnn", "fsrcnn_s", "espcn") for scale in (2, 3, 4)
)
LATENCY_MODES = ("float32", "int8")

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


# === Comparisons ===


def resolve_weights(name: str, overrides: Mapping[str, str | Path] | None = None) -> str | None:
    """``name``'s weights: an override, else ``"default"`` when shipped, else None."""
    from zoo import pretrained

    registry.info(name)  # an unknown name is a one-line UnknownModelError
    if overrides and name in overrides:
        return str(overrides[name])
    return "default" if name in pretrained.shipped() else None


def _score(prediction: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"psnr": metrics.psnr(prediction, target), "ssim": metrics.ssim(prediction, target)}


def _mean_scores(per_image: list[dict], method: str) -> dict[str, float]:
    return {
        key: float(np.mean([image["scores"][method][key] for image in per_image]))
        for key in ("psnr", "ssim")
    }


def _margin(rows: list[dict]) -> dict[str, Any]:
    """The learned row's PSNR and SSIM minus those of the classical row with the best PSNR."""
    learned = next(row for row in rows if row["kind"] == "learned")
    classical = [row for row in rows if row["kind"] == "classical"]
    best = max(classical, key=lambda row: row["psnr"])
    return {
        "best_classical": best["method"],
        "psnr_db": learned["psnr"] - best["psnr"],
        "ssim": learned["ssim"] - best["ssim"],
    }


def _weights_label(run) -> str:
    """``default`` for the shipped weights, else the path the weights came from."""
    from zoo import pretrained

    return "default" if run.source == pretrained.weights_file(run.info.name) else str(run.source)


def _learned_row(run, scores: dict[str, float], size: tuple[int, int]) -> dict[str, Any]:
    from zoo.arithmetic import model_macs

    macs = model_macs(run.model, size)
    return {
        "model": run.info.name,
        "method": "learned",
        "kind": "learned",
        **scores,
        "params": run.info.num_params,
        "macs_per_pixel": macs / (size[0] * size[1]),
        "weights": _weights_label(run),
    }


def _restoration_setup(run, task: str, data: str | None, limit: int | None):
    from zoo.evaluate import default_data, whole_images
    from zoo.predict import model_channels, size_multiple

    if run.info.task != task:
        raise ZooError(f"{run.info.name} is a {run.info.task} model, not a {task} model")
    source = data or default_data(run)
    images, names = whole_images(source, limit=limit)
    return source, images, names, model_channels(run.model), size_multiple(run.model, run.options)


def deblur_comparison(
    weights: str | Path = "default",
    *,
    model: str = "deblur",
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    tune_images: int = TUNE_IMAGES,
    tune_size: int = TUNE_SIZE,
    grids: Mapping[str, Sequence[float]] | None = None,
    log: Log = None,
) -> dict[str, Any]:
    """The learned deblurring ``model`` against Richardson-Lucy and Wiener (true kernels).

    Inputs are exactly ``zoo eval``'s (``data`` defaults to the run's test data; ``limit``
    images; ``seed`` as ``zoo eval --seed``). Each classical method's parameter is tuned per
    kernel on ``tune_images`` held-out crops (``tune_size`` pixels) blurred by that kernel;
    ``grids`` replaces the default grids (method -> values). Returns the rows (blurred input,
    each method, the learned model), per-image scores, the tunings and the learned margin.
    """
    from zoo.evaluate import restoration_cases, restoration_kernels
    from zoo.predict import run_whole
    from zoo.weights_io import load_run

    run = load_run(model, weights)
    source, images, names, channels, multiple = _restoration_setup(run, "deblur", data, limit)
    kernels = restoration_kernels(run)
    noise = float(run.options.get("noise_sigma", 2.55))
    held_out, held_out_names = held_out_images(
        source, count=tune_images, size=tune_size, seed=seed, channels=channels
    )
    grids = dict(grids or {})
    tunings: dict[int, dict[str, Tuning]] = {}
    per_image = []
    for index, k, clean, blurred in restoration_cases(run, images, seed):
        name = names[index]
        kernel = kernels[k]
        if k not in tunings:
            pairs = blurred_tuning_pairs(held_out, kernel, noise_sigma=noise, seed=seed)
            tunings[k] = {
                method: tune_deblur(method, kernel, pairs, grid=grids.get(method))
                for method in DEBLUR_METHODS
            }
        outputs = {"blurred": blurred}
        for method, tuning in tunings[k].items():
            outputs[method] = classical_deblur(blurred, kernel, method=method, value=tuning.value)
        outputs["learned"] = np.clip(run_whole(run.model, blurred, multiple), 0.0, 1.0)
        scores = {method: _score(out, clean) for method, out in outputs.items()}
        per_image.append(
            {
                "image": name,
                "kernel": k,
                "kernel_label": describe_kernel(kernel),
                "parameters": {m: t.value for m, t in tunings[k].items()},
                "scores": scores,
            }
        )
        if log:
            text = ", ".join(f"{m} {s['psnr']:.2f}" for m, s in scores.items())
            log(f"deblur {name} ({describe_kernel(kernel)}): {text} dB")
    rows: list[dict[str, Any]] = [
        {"model": "blurred input", "method": "blurred", "kind": "input"}
        | _mean_scores(per_image, "blurred")
    ]
    for method, (label, parameter, _) in DEBLUR_METHODS.items():
        rows.append(
            {
                "model": f"{label} (true kernel)",
                "method": method,
                "kind": "classical",
                **_mean_scores(per_image, method),
                "parameter": parameter,
                "values": [image["parameters"][method] for image in per_image],
            }
        )
    rows.append(_learned_row(run, _mean_scores(per_image, "learned"), _export(run)))
    return {
        "section": "deblur",
        "model": model,
        "weights": _weights_label(run),
        "data": source,
        "samples": len(per_image),
        "images": len(images),
        "seed": seed,
        "noise_sigma": noise,
        "kernels": len(kernels),
        "protocol": (
            f"zoo eval's deblur inputs: each test image blurred (mirrored border) by each of the "
            f"run's {len(kernels)} kernels in turn (seed {seed} + case index), plus "
            f"Gaussian noise of sigma {noise:g}/255, clipped to [0, 1]; PSNR and SSIM of the "
            "whole restored image (RGB, data range 1). Classical methods are non-blind: they "
            "get the true kernel."
        ),
        "tuning": {
            "scope": "per kernel",
            "criterion": "mean PSNR",
            "held_out": held_out_names,
            "note": (
                f"each kernel that blurs a test image gets its own parameter, tuned on "
                f"{len(held_out)} held-out crops (never test images) blurred by that kernel "
                f"with noise of the same sigma and other seeds, one channel per crop"
            ),
            "by_kernel": {
                str(k): {"kernel": describe_kernel(kernels[k])}
                | {m: t.to_dict() for m, t in found.items()}
                for k, found in sorted(tunings.items())
            },
        },
        "rows": rows,
        "per_image": per_image,
        "margin": _margin(rows),
        "note": (
            f"On zoo eval's blurred test images ({len(images)}, noise sigma {noise:g}/255); "
            "Richardson-Lucy and Wiener get each image's true kernel (non-blind, which favours "
            "them), their parameter tuned per kernel on held-out train photos."
        ),
    }


def denoise_comparison(
    weights: str | Path = "default",
    *,
    model: str = "dae_photos",
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    tune_images: int = TUNE_IMAGES,
    tune_size: int = TUNE_SIZE,
    methods: Sequence[str] = tuple(DENOISE_METHODS),
    grids: Mapping[str, Sequence[float]] | None = None,
    log: Log = None,
) -> dict[str, Any]:
    """The learned denoising ``model`` against TV (Chambolle) and non-local means.

    Inputs are exactly ``zoo eval``'s: Gaussian noise of the run's ``noise_sigma`` with
    seed ``seed`` + image index. Each classical parameter is tuned once (globally) on
    ``tune_images`` held-out images with noise of the same sigma.
    """
    from zoo.evaluate import restoration_cases
    from zoo.predict import run_whole
    from zoo.weights_io import load_run

    run = load_run(model, weights)
    source, images, names, channels, multiple = _restoration_setup(run, "denoise", data, limit)
    sigma = float(run.options.get("noise_sigma", 25))
    held_out, held_out_names = held_out_images(
        source, count=tune_images, size=tune_size, seed=seed, channels=channels
    )
    pairs = noisy_tuning_pairs(held_out, sigma=sigma, seed=seed)
    grids = dict(grids or {})
    tunings = {m: tune_denoise(m, pairs, sigma=sigma, grid=grids.get(m)) for m in methods}
    per_image = []
    for index, _, clean, noisy in restoration_cases(run, images, seed):
        name = names[index]
        outputs = {"noisy": noisy}
        for method, tuning in tunings.items():
            outputs[method] = classical_denoise(
                noisy, method=method, value=tuning.value, sigma=sigma
            )
        outputs["learned"] = np.clip(run_whole(run.model, noisy, multiple), 0.0, 1.0)
        scores = {method: _score(out, clean) for method, out in outputs.items()}
        per_image.append({"image": name, "scores": scores})
        if log:
            text = ", ".join(f"{m} {s['psnr']:.2f}" for m, s in scores.items())
            log(f"denoise {name}: {text} dB")
    rows: list[dict[str, Any]] = [
        {"model": "noisy input", "method": "noisy", "kind": "input"}
        | _mean_scores(per_image, "noisy")
    ]
    for method, tuning in tunings.items():
        label, parameter, _ = DENOISE_METHODS[method]
        rows.append(
            {
                "model": label,
                "method": method,
                "kind": "classical",
                **_mean_scores(per_image, method),
                "parameter": parameter,
                "values": [tuning.value],
            }
        )
    rows.append(_learned_row(run, _mean_scores(per_image, "learned"), _export(run)))
    return {
        "section": "denoise",
        "model": model,
        "weights": _weights_label(run),
        "data": source,
        "samples": len(images),
        "seed": seed,
        "noise_sigma": sigma,
        "protocol": (
            f"zoo eval's denoise inputs: Gaussian noise of sigma {sigma:g}/255 (seed {seed} + "
            "image index), clipped to [0, 1]; PSNR and SSIM of the whole restored image "
            "(data range 1). Non-local means is told the true sigma."
        ),
        "tuning": {
            "scope": "global",
            "criterion": "mean PSNR",
            "held_out": held_out_names,
            "note": (
                f"one parameter per method, tuned on {len(held_out)} held-out images (never "
                f"test images) with noise of sigma {sigma:g} and other seeds"
            ),
            "methods": {m: t.to_dict() for m, t in tunings.items()},
        },
        "rows": rows,
        "per_image": per_image,
        "margin": _margin(rows),
        "note": (
            f"On zoo eval's noisy test images ({len(images)}, sigma {sigma:g}/255); the "
            "classical parameters tuned on held-out train images; non-local means is told "
            "the true sigma."
        ),
    }


def _export(run) -> tuple[int, int]:
    return tuple(run.info.export_size or (256, 256))


def bicubic_scores(data: str | Path, scale: int, *, limit: int | None = None) -> dict[str, float]:
    """Mean Y-PSNR and SSIM of bicubic upscaling on ``data`` by ``zoo eval``'s SR protocol."""
    from zoo.evaluate import whole_images

    images, _ = whole_images(str(data), limit=limit)
    return _bicubic(images, scale)


def _bicubic(images: Sequence[np.ndarray], scale: int) -> dict[str, float]:
    from zoo.evaluate import sr_pair
    from zoo.predict import bicubic_upscale

    scores = []
    for image in images:
        lr, hr = sr_pair(image, scale, 1)
        scores.append(metrics.super_resolution_metrics(bicubic_upscale(lr, scale), hr, scale=scale))
    return {key: float(np.mean([s[key] for s in scores])) for key in ("psnr", "ssim")}


def super_resolution_comparison(
    data: str | Path,
    *,
    models: Sequence[str] = SR_MODELS,
    weights: Mapping[str, str | Path] | None = None,
    limit: int | None = None,
    seed: int = 0,
    latency: bool = True,
    latency_modes: Sequence[str] = LATENCY_MODES,
    runs: int = 20,
    warmup: int = 3,
    log: Log = None,
) -> dict[str, Any]:
    """Each super-resolution model in ``models`` against bicubic (and each other), per scale.

    Quality: :func:`zoo.evaluate.evaluate_model` on the folder ``data`` (e.g. Set5).
    Cost: parameters, multiply-accumulates at the export size (the low-resolution input)
    and per output pixel, and with ``latency`` the median ms of the TFLite file in each of
    ``latency_modes`` (LiteRT with XNNPACK, 1 thread, batch 1 at the export size, ``runs``
    timed calls). A model with neither shipped weights nor an entry in ``weights`` is
    listed under ``skipped``.
    """
    from zoo.arithmetic import model_macs
    from zoo.evaluate import evaluate_model, whole_images
    from zoo.weights_io import load_run

    folder = Path(data).expanduser()
    if not folder.is_dir():
        raise ZooError(f"super-resolution data {folder} is not a folder")
    infos = [registry.info(name) for name in models]
    for info in infos:
        if info.task != "super_resolve":
            raise ZooError(f"{info.name} is a {info.task} model, not a super-resolution model")
    scales = sorted({int(info.recipe.options["scale"]) for info in infos})
    images, names = whole_images(str(folder), limit=limit)
    rows: list[dict[str, Any]] = []
    skipped = []
    for scale in scales:
        rows.append(
            {
                "model": "bicubic",
                "scale": scale,
                "method": "bicubic",
                "kind": "baseline",
                **_bicubic(images, scale),
                "params": 0,
            }
        )
    for info in infos:
        scale = int(info.recipe.options["scale"])
        chosen = resolve_weights(info.name, weights)
        if chosen is None:
            reason = f"no shipped weights; pass --weights {info.name}=RUN"
            skipped.append({"model": info.name, "reason": reason})
            if log:
                log(f"sr {info.name}: skipped ({reason})")
            continue
        run = load_run(info.name, chosen)
        evaluation = evaluate_model(run, data=str(folder), limit=limit, seed=seed)
        size = tuple(info.export_size or (128, 128))
        macs = model_macs(run.model, size)
        row: dict[str, Any] = {
            "model": info.name,
            "scale": scale,
            "method": info.family,
            "kind": "baseline" if info.baseline else "learned",
            "psnr": evaluation.metrics["psnr"],
            "ssim": evaluation.metrics["ssim"],
            "params": info.num_params,
            "export_size": list(size),
            "macs": macs,
            "macs_per_output_pixel": macs / (size[0] * size[1] * scale * scale),
            "weights": _weights_label(run),
        }
        if latency:
            row.update(_latency(info.name, chosen, latency_modes, runs=runs, warmup=warmup))
        rows.append(row)
        if log:
            timing = ", ".join(f"{m} {v:.3g} ms" for m, v in row.get("latency_ms", {}).items())
            log(f"sr {info.name}: {row['psnr']:.2f} dB, {row['ssim']:.4f} SSIM; {timing}")
    rows.sort(key=lambda row: row["scale"])  # stable: bicubic first, then models in order
    return {
        "section": "super_resolution",
        "data": str(folder),
        "samples": len(images),
        "images": names,
        "seed": seed,
        "protocol": (
            "zoo eval's super-resolution protocol: each image cropped to a multiple of the "
            "scale, its BT.601 Y channel (8-bit) downscaled by antialiased bicubic (MATLAB's "
            "imresize), upscaled, and Y-PSNR / SSIM computed in 0..255 with `scale` pixels "
            "shaved from every border."
        ),
        "latency": (
            {
                "modes": list(latency_modes),
                "threads": 1,
                "runs": runs,
                "warmup": warmup,
                "how": "LiteRT interpreter with XNNPACK, batch 1 at the export size "
                "(the low-resolution input), median of the timed invoke() calls",
            }
            if latency
            else None
        ),
        "rows": rows,
        "skipped": skipped,
        "note": (
            f"Y-PSNR / SSIM by zoo eval's protocol on {folder.name} ({len(images)} images); "
            "MACs for one low-resolution input at the export size and per output pixel"
            + ("; TFLite latency: median ms, 1 thread, XNNPACK." if latency else ".")
        ),
    }


def _latency(
    name: str, weights: str, modes: Sequence[str], *, runs: int, warmup: int
) -> dict[str, Any]:
    """{"latency_ms": {mode: median}, "latency_failures": {mode: message}} for one model."""
    from convert.bench import bench_model

    failures: dict[str, str] = {}
    results = bench_model(
        name,
        weights=weights,
        modes=modes,
        threads=(1,),
        runs=runs,
        warmup=warmup,
        failures=failures,
    )
    out: dict[str, Any] = {"latency_ms": {r.mode: r.median_ms for r in results}}
    if failures:
        out["latency_failures"] = failures
    return out


# === Markdown ===


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _parameters(row: dict[str, Any]) -> str:
    values = row.get("values")
    if not values:
        return "-"
    shown = ", ".join(f"{v:.3g}" for v in values)
    return f"{row['parameter']} {shown}"


def _quantity(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def _title(row: dict[str, Any]) -> str:
    return f"{row['model']} (learned)" if row["kind"] == "learned" else row["model"]


def restoration_markdown(result: dict[str, Any]) -> str:
    """The rows of a deblur / denoise comparison as a Markdown table, then the margin."""
    base = result["rows"][0]
    lines = [
        "| method | tuned parameter | PSNR (dB) | SSIM | vs input (dB) | params | MACs / px |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result["rows"]:
        gain = "-" if row is base else f"{row['psnr'] - base['psnr']:+.2f}"
        lines.append(
            f"| {_title(row)} | {_parameters(row)} | {row['psnr']:.2f} | {row['ssim']:.4f} | "
            f"{gain} | {_quantity(row.get('params'))} | {_quantity(row.get('macs_per_pixel'))} |"
        )
    margin = result["margin"]
    best = next(r["model"] for r in result["rows"] if r["method"] == margin["best_classical"])
    lines += [
        "",
        f"Learned margin over the best classical method ({best}): "
        f"{margin['psnr_db']:+.2f} dB PSNR, {margin['ssim']:+.4f} SSIM.",
    ]
    if result["section"] == "deblur":
        methods = list(DEBLUR_METHODS)
        lines += [
            "",
            "| image | kernel | blurred | "
            + " | ".join(f"{DEBLUR_METHODS[m][0]} ({DEBLUR_METHODS[m][1]})" for m in methods)
            + " | learned |",
            "|---|---|---:|" + "---:|" * len(methods) + "---:|",
        ]
        for image in result["per_image"]:
            scores = image["scores"]
            cells = [f"{scores[m]['psnr']:.2f} ({image['parameters'][m]:.3g})" for m in methods]
            lines.append(
                f"| {image['image']} | {image['kernel_label']} | "
                f"{scores['blurred']['psnr']:.2f} | "
                + " | ".join(cells)
                + f" | {scores['learned']['psnr']:.2f} |"
            )
    return "\n".join(lines)


def super_resolution_markdown(result: dict[str, Any]) -> str:
    """The rows of a super-resolution comparison as a Markdown table, then what was skipped."""
    latency = result.get("latency")
    headers = ["scale", "method", "PSNR (dB)", "SSIM", "params", "MACs / output px", "MACs"]
    if latency:
        headers += [f"{mode} ms" for mode in latency["modes"]]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|---:|---|" + "---:|" * (len(headers) - 2),
    ]
    for row in result["rows"]:
        name = row["model"] + (" (baseline)" if row["kind"] == "baseline" and row["params"] else "")
        cells = [
            f"x{row['scale']}",
            name,
            f"{row['psnr']:.2f}",
            f"{row['ssim']:.4f}",
            _quantity(row["params"]) if row["params"] else "-",
            _quantity(row.get("macs_per_output_pixel")),
            _quantity(row.get("macs")),
        ]
        if latency:
            timings = row.get("latency_ms", {})
            cells += [
                f"{timings[mode]:.3g}" if mode in timings else "-" for mode in latency["modes"]
            ]
        lines.append("| " + " | ".join(cells) + " |")
    if result["skipped"]:
        lines += ["", "Skipped (no weights): " + ", ".join(s["model"] for s in result["skipped"])]
    return "\n".join(lines)


def to_markdown(result: dict[str, Any]) -> str:
    """A comparison's table (and notes) in Markdown."""
    if result["section"] == "super_resolution":
        return super_resolution_markdown(result)
    return restoration_markdown(result)
