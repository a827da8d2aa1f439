"""Evaluating a trained model on its task's test data: ``zoo eval``.

::

    from zoo.evaluate import evaluate
    result = evaluate("fsrcnn_x3", "runs/fsrcnn_x3/latest", data="../shared/data/sr/Set5")
    result.metrics  # {"psnr": ..., "ssim": ..., "psnr_bicubic": ..., "ssim_bicubic": ...}

The metric per task (``data`` defaults to the run's dataset, or the recipe's for a bare
weights file or a run trained on a folder):

- super-resolution: PSNR and SSIM by the standard protocol, on whole images: each is
  cropped to a multiple of the scale, its BT.601 Y channel (8-bit, as MATLAB's
  ``rgb2ycbcr``) is downscaled by antialiased bicubic (:func:`zoo.data.super_resolution_pairs`,
  MATLAB's ``imresize``), the model upscales it, and Y in 0..255 (rounded to 8 bits) is
  compared with ``scale`` pixels shaved from every border. Bicubic upscaling is reported
  beside it. ``data``: a folder (every image in it, e.g. Set5), ``photos`` (the whole
  held-out test photos) or a dataset name (its test split).
- denoise / deblur: PSNR and SSIM of the restored whole test images (the same sources as
  super-resolution), degraded as in training: Gaussian noise of the run's ``noise_sigma``,
  or blur by each of the run's kernels in turn plus its noise (:func:`restoration_cases`).
  The degraded input's PSNR and SSIM are the baseline.
- reconstruct: MSE, PSNR and SSIM on the test split; the VAE also reports its ELBO
  (nats per image, one posterior sample; the training objective's own terms).
- segment: mean IoU, pixel accuracy and per-class IoU on the test split.
- translate (pix2pix): L1 (images in [0, 1]), PSNR and SSIM on the test pairs.
- generate: the Frechet distance between generated samples and the real test images in
  the feature space of the shipped digit classifier (:mod:`zoo.classifier`), beside the
  floor ``frechet_distance_train_vs_test`` (real train vs real test images: what a perfect
  generator reaches). As many samples are generated as there are train images, so the two
  distances have the same sample sizes. Conditional generators are also judged by the
  classifier's accuracy on samples drawn for each class (on digits).

PSNR and SSIM are means of per-image values (SSIM: :func:`zoo.metrics.ssim`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.errors import ZooError
from zoo.predict import (
    bicubic_upscale,
    from_unit,
    generate,
    model_channels,
    run_batches,
    run_whole,
    size_multiple,
    super_resolve,
    to_unit,
)
from zoo.weights_io import TrainedModel, load_run

CONDITIONAL_SAMPLES_PER_CLASS = 100
CLASSIFIER_DOMAIN = "digits"  # the data the digit classifier judges classes on


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`: task metrics plus details (per image, per class)."""

    model: str
    task: str
    data: str
    samples: int
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    weights: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=jsonable)

    def summary(self) -> str:
        """A few aligned lines: the model, the data, then one metric per line."""
        lines = [f"{self.model} ({self.task}) on {self.data}: {self.samples} samples"]
        width = max(len(key) for key in self.metrics) if self.metrics else 0
        lines += [f"  {key:<{width}}  {_format(value)}" for key, value in self.metrics.items()]
        for key, value in self.details.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k} {_format(v)}" for k, v in value.items())
                lines.append(f"  {key}: {inner}")
            else:
                lines.append(f"  {key}: {value}")
        return "\n".join(lines)


def _format(value: Any) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {_format(v)}" for k, v in value.items()) + ")"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4f}"
    return str(value)


def jsonable(value: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def evaluate(
    model_name: str,
    weights: str | Path,
    *,
    data: str | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> Evaluation:
    """Evaluate trained ``model_name`` (``weights``: a run folder, a weights / model file, or
    ``"default"`` for the shipped weights).

    ``data``: the evaluation data (see the module docstring); ``limit``: at most this many
    test images (all by default); ``seed`` fixes noise, blur kernels and latent samples.
    """
    import keras

    keras.utils.set_random_seed(seed)  # models that sample (the VAE) draw the same noise
    return evaluate_model(load_run(model_name, weights), data=data, limit=limit, seed=seed)


def evaluate_model(
    run: TrainedModel, *, data: str | None = None, limit: int | None = None, seed: int = 0
) -> Evaluation:
    """Evaluate ``run.model`` (a Keras model, or anything called like one on numpy batches,
    such as a TFLite file's runner) with ``run.info``'s task metric and ``run.config``'s
    options (noise level, blur kernels, scale)."""
    started = time.perf_counter()
    source = data or default_data(run)
    task = run.info.task
    if task not in EVALUATORS:
        raise ZooError(f"no evaluation for task {task!r}")
    samples, values, details = EVALUATORS[task](run, source, limit, seed)
    return Evaluation(
        model=run.info.name,
        task=task,
        data=source,
        samples=samples,
        metrics=values,
        details=details,
        weights=str(run.source),
        seconds=round(time.perf_counter() - started, 2),
    )


def default_data(run: TrainedModel) -> str:
    """The run's dataset, unless it trained on a folder (its images may be the training
    images) or on data not at hand (a shipped model's folder): then the recipe's."""
    data = run.config.data
    named = data in zdata.list_datasets() or data.startswith("tfds:")
    return data if named else run.info.dataset


# === Test data ===


def whole_images(
    source: str, *, limit: int | None = None
) -> tuple[Sequence[np.ndarray], list[str]]:
    """(images, names) to evaluate on: every image of a folder, else the source's test split.

    Whole float32 (H, W, C) images in [0, 1] of various sizes (:func:`zoo.data.whole_images`).
    """
    split = "all" if Path(source).expanduser().is_dir() else "test"
    return zdata.whole_images(source, split=split, limit=limit)


def _test_chunks(
    run: TrainedModel, source: str, limit: int | None, seed: int
) -> Iterator[zdata.ImageSet]:
    """The test split at the model's (or recipe's) image size and channels: a folder a few
    hundred images at a time (bounded memory), another source in one piece."""
    height, width, channels = _image_shape(run)
    settings = {"split": "test", "image_size": (height, width), "channels": channels}
    settings.update(limit=limit, seed=seed)
    if source not in zdata.list_datasets() and Path(source).expanduser().is_dir():
        yield from zdata.iter_folder(source, **settings)
    else:
        yield zdata.load(source, **settings)


def _image_shape(run: TrainedModel) -> tuple[int, int, int]:
    """(H, W, C) of the model's images: fixed by the model, else the recipe's patch size."""
    model = run.model
    tensor = model.outputs[0] if run.info.task.startswith("generate") else model.inputs[0]
    height, width, channels = tensor.shape[1:]
    size = run.options.get("image_size") or run.options.get("patch_size") or 64
    return (height or size, width or size, int(channels))


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _pixel_scores(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    return metrics.psnr(prediction, target), metrics.ssim(prediction, target)


# === Super-resolution ===


def sr_pair(image: np.ndarray, scale: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(lr, hr) of one whole image by the protocol: crop, 8-bit Y (or RGB), bicubic down."""
    rgb = zdata.to_channels(np.asarray(image, np.float32), 3)
    hr = rgb if channels == 3 else np.round(zdata.rgb_to_y(rgb) * 255.0) / 255.0
    lrs, hrs = zdata.super_resolution_pairs([hr.astype(np.float32)], scale, quantize=False)
    return lrs[0], hrs[0]


def _super_resolve(run: TrainedModel, source: str, limit: int | None, seed: int):
    scale = int(run.options["scale"])
    channels = model_channels(run.model)
    images, names = whole_images(source, limit=limit)
    per_image: dict[str, dict[str, float]] = {}
    for image, name in zip(images, names, strict=True):
        lr, hr = sr_pair(image, scale, channels)
        sr = super_resolve(run.model, lr)
        model_scores = metrics.super_resolution_metrics(np.clip(sr, 0, 1), hr, scale=scale)
        bicubic = metrics.super_resolution_metrics(bicubic_upscale(lr, scale), hr, scale=scale)
        per_image[name] = {
            "psnr": model_scores["psnr"],
            "ssim": model_scores["ssim"],
            "psnr_bicubic": bicubic["psnr"],
            "ssim_bicubic": bicubic["ssim"],
        }
    keys = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic")
    values = {key: _mean([scores[key] for scores in per_image.values()]) for key in keys}
    details = {
        "scale": scale,
        "protocol": f"Y (BT.601, 8-bit), bicubic x1/{scale} antialiased, {scale}-pixel shave",
        "per_image": {name: round(scores["psnr"], 3) for name, scores in per_image.items()},
    }
    return len(images), values, details


# === Restoration ===


def degrade(
    run: TrainedModel, image: np.ndarray, seed: int, kernels: list[np.ndarray] | None = None
) -> np.ndarray:
    """One (H, W, C) image degraded as the run trained: noise (denoise) or blur + noise."""
    options = run.options
    batch = image[None]
    if run.info.task == "denoise":
        noisy, _ = zdata.noisy_pairs(batch, options.get("noise_sigma", 25), seed=seed)
        return noisy[0]
    if kernels is None:
        kernels = restoration_kernels(run)
    blurred, _ = zdata.blurred_pairs(
        batch, kernels, noise_sigma=options.get("noise_sigma", 2.55), seed=seed
    )
    return blurred[0]


def restoration_kernels(run: TrainedModel) -> list[np.ndarray]:
    """The run's blur kernels: the bank its recipe options name, as in training."""
    return zdata.blur_kernel_bank(run.options)


def restoration_cases(
    run: TrainedModel, images: Sequence[np.ndarray], seed: int
) -> Iterator[tuple[int, int | None, np.ndarray, np.ndarray]]:
    """``(image index, kernel index, clean, degraded)`` for every case ``zoo eval`` scores,
    made one at a time (an image folder is read as it is scored).

    Denoising: each image with fresh noise (seed ``seed + index``). Deblurring: each image
    under every kernel of the run's bank, plus noise, so that every kind and strength of blur
    the model trained on is scored on every test image (kernel index ``k``, seed
    ``seed + index * len(bank) + k``).
    """
    channels = model_channels(run.model)
    kernels = restoration_kernels(run) if run.info.task == "deblur" else [None]
    for index, image in enumerate(images):
        clean = zdata.to_channels(image, channels)
        for k, kernel in enumerate(kernels):
            case_seed = seed + index * len(kernels) + k
            bank = None if kernel is None else [kernel]
            degraded = degrade(run, clean, case_seed, bank)
            yield index, None if kernel is None else k, clean, degraded


def _restore(run: TrainedModel, source: str, limit: int | None, seed: int):
    multiple = size_multiple(run.model, run.options)
    images, _ = whole_images(source, limit=limit)
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "psnr_input": [], "ssim_input": []}
    for _, _, clean, degraded in restoration_cases(run, images, seed):
        restored = np.clip(run_whole(run.model, degraded, multiple), 0.0, 1.0)
        for suffix, candidate in (("", restored), ("_input", degraded)):
            psnr, ssim = _pixel_scores(candidate, clean)
            scores["psnr" + suffix].append(psnr)
            scores["ssim" + suffix].append(ssim)
    values = {key: _mean(value) for key, value in scores.items()}
    if run.info.task == "denoise":
        details = {"noise_sigma": run.options.get("noise_sigma", 25)}
    else:
        details = {
            "images": len(images),
            "kernels": len(restoration_kernels(run)),
            "noise_sigma": run.options.get("noise_sigma", 2.55),
        }
    return len(scores["psnr"]), values, details


# === Autoencoders ===


def vae_elbo(model, images: np.ndarray, *, batch: int = 256) -> dict[str, float]:
    """The VAE's ELBO in nats per image (one posterior sample), with its two terms.

    The same terms the training objective minimises (:func:`zoo.models.vae.elbo_terms`).
    """
    from zoo.models.vae import elbo_terms

    reconstruction, kl = [], []
    for start in range(0, len(images), batch):
        r, k = elbo_terms(model, images[start : start + batch], training=False)
        reconstruction.append(np.asarray(r))
        kl.append(np.asarray(k))
    nll, divergence = (
        float(np.mean(np.concatenate(reconstruction))),
        float(np.mean(np.concatenate(kl))),
    )
    return {"elbo": -(nll + divergence), "reconstruction_nll": nll, "kl": divergence}


def _reconstruct(run: TrainedModel, source: str, limit: int | None, seed: int):
    info = run.info
    scores = _Scores()
    elbo: dict[str, float] = {}
    for chunk in _test_chunks(run, source, limit, seed):
        images = chunk.images
        outputs = to_unit(
            run_batches(run.model, from_unit(images, info.input_range)), info.output_range
        )
        scores.add(outputs, images)
        if info.recipe.loss == "elbo":
            for key, value in vae_elbo(run.model, images).items():
                elbo[key] = elbo.get(key, 0.0) + value * len(images)
    values = {"mse": scores.mse, "psnr": scores.psnr, "ssim": scores.ssim}
    values.update({key: total / scores.count for key, total in elbo.items()})
    return scores.count, values, {}


class _Scores:
    """Pixel scores summed over chunks of (prediction, target) images in [0, 1]."""

    def __init__(self) -> None:
        self.count = self.values = 0
        self.squared = self.absolute = self.ssim_sum = 0.0
        self.psnrs: list[float] = []

    def add(self, predictions: np.ndarray, targets: np.ndarray) -> None:
        difference = np.asarray(predictions, np.float64) - np.asarray(targets, np.float64)
        self.squared += float(np.sum(difference**2))
        self.absolute += float(np.sum(np.abs(difference)))
        self.values += difference.size
        self.psnrs += [metrics.psnr(p, t) for p, t in zip(predictions, targets, strict=True)]
        self.ssim_sum += metrics.ssim(predictions, targets) * len(targets)
        self.count += len(targets)

    @property
    def mse(self) -> float:
        return self.squared / self.values

    @property
    def l1(self) -> float:
        return self.absolute / self.values

    @property
    def psnr(self) -> float:
        return _mean(self.psnrs)

    @property
    def ssim(self) -> float:
        return self.ssim_sum / self.count


# === Segmentation and translation ===


def _segment(run: TrainedModel, source: str, limit: int | None, seed: int):
    multiple = size_multiple(run.model, run.options)
    classes = int(run.model.outputs[0].shape[-1])
    confusion = np.zeros((classes, classes), np.int64)
    count, names = 0, None
    for chunk in _test_chunks(run, source, limit, seed):
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


def _translate(run: TrainedModel, source: str, limit: int | None, seed: int):
    info = run.info
    scores = _Scores()
    for chunk in _test_chunks(run, source, limit, seed):
        sources, targets = zdata.translation_pairs(chunk)
        fake = run_batches(run.model, from_unit(sources, info.input_range))
        scores.add(to_unit(fake, info.output_range), targets)
    return scores.count, {"l1": scores.l1, "psnr": scores.psnr, "ssim": scores.ssim}, {}


# === Generators ===


def _generate(run: TrainedModel, source: str, limit: int | None, seed: int):
    from zoo import classifier

    height, width, channels = _image_shape(run)
    load = {"image_size": (height, width), "channels": channels, "seed": seed}
    test = zdata.load(source, split="test", limit=limit, **load)
    train = zdata.load(source, split="train", **load)
    conditional = run.info.task == "generate_conditional"
    labels = None
    if conditional:
        classes = int(run.model.inputs[1].shape[-1])
        labels = (
            train.labels
            if train.labels is not None and train.num_classes == classes
            else np.arange(len(train)) % classes
        )
    fake = generate(run.model, run.info, len(train), seed=seed, labels=labels)
    model = classifier.load_classifier()
    test_features = classifier.features(test.images, model=model)
    values = {
        "frechet_distance": metrics.frechet_distance(
            classifier.features(fake, model=model), test_features
        ),
        "frechet_distance_train_vs_test": metrics.frechet_distance(
            classifier.features(train.images, model=model), test_features
        ),
    }
    details: dict[str, Any] = {
        "features": "digit classifier, penultimate layer (64)",
        "generated": len(fake),
        "train_images": len(train),
    }
    if conditional:
        if source == CLASSIFIER_DOMAIN and classes == classifier.NUM_CLASSES:
            per_class = class_accuracy(run, seed=seed, model=model)
            values["class_accuracy"] = _mean(list(per_class.values()))
            details["class_accuracy"] = {str(k): round(v, 4) for k, v in per_class.items()}
        else:
            details["class_accuracy"] = f"not measured: the classifier judges {CLASSIFIER_DOMAIN}"
    return len(test), values, details


def class_accuracy(
    run: TrainedModel,
    *,
    per_class: int = CONDITIONAL_SAMPLES_PER_CLASS,
    seed: int = 0,
    model=None,
) -> dict[int, float]:
    """For each class c: the fraction of samples generated for c that the classifier calls c."""
    from zoo import classifier

    classes = int(run.model.inputs[1].shape[-1])
    requested = np.repeat(np.arange(classes), per_class)
    images = generate(run.model, run.info, len(requested), seed=seed + 1, labels=requested)
    predicted = classifier.predict_labels(images, model=model)
    return {c: float(np.mean(predicted[requested == c] == c)) for c in range(classes)}


# === Sample pairs (for zoo sample) ===


def sample_pairs(
    run: TrainedModel, *, count: int, seed: int, data: str | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(inputs, targets): ``count`` test examples at the training size for a sample grid.

    Super-resolution: (low-resolution RGB, original RGB); segmentation: (image, mask).
    """
    source = data or default_data(run)
    task = run.info.task
    height, width, channels = _image_shape(run)
    if task == "super_resolve":
        scale = int(run.options["scale"])
        size = (height // scale * scale, width // scale * scale)
        images = zdata.load(source, split="test", image_size=size, channels=3, seed=seed)
        hr = images.images[:count]
        lr, hr = zdata.super_resolution_pairs(hr, scale)
        return list(lr), list(hr)
    imageset = zdata.load(
        source, split="test", image_size=(height, width), channels=channels, seed=seed
    ).take(count)
    if task == "segment":
        images, masks = zdata.segmentation_pairs(imageset)
        return list(images), list(masks)
    if task == "translate":
        sources, targets = zdata.translation_pairs(imageset)
        return list(sources), list(targets)
    clean = imageset.images
    if task in ("denoise", "deblur"):
        kernels = restoration_kernels(run) if task == "deblur" else None
        return [degrade(run, image, seed + i, kernels) for i, image in enumerate(clean)], list(
            clean
        )
    return list(clean), list(clean)


EVALUATORS = {
    "super_resolve": _super_resolve,
    "denoise": _restore,
    "deblur": _restore,
    "reconstruct": _reconstruct,
    "segment": _segment,
    "translate": _translate,
    "generate": _generate,
    "generate_conditional": _generate,
}
