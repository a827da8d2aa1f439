"""Super-resolution: a low-resolution Y channel in, the Y channel ``scale`` times larger out.

- Contract: :func:`super_resolution` (input ``lr`` (H, W, 1), output ``hr`` (sH, sW, 1),
  linear, nominally [0, 1]).
- Training (:class:`SuperResolve`): aligned (lr, hr) Y patches, low resolution by
  antialiased bicubic downscaling.
- ``zoo eval``: PSNR and SSIM by the standard protocol on whole images: each is cropped to
  a multiple of the scale, its BT.601 Y channel (8-bit, as MATLAB's ``rgb2ycbcr``) is
  downscaled by antialiased bicubic (:func:`zoo.data.super_resolution_pairs`, MATLAB's
  ``imresize``), the model upscales it, and Y in 0..255 (rounded to 8 bits) is compared
  with ``scale`` pixels shaved from every border. Bicubic upscaling is reported beside it.
- ``zoo predict``: the model upscales Y of BT.601 YCbCr, Cb and Cr are upscaled bicubically,
  the result is RGB (a gray input is RGB with equal channels); a 3-channel model gets RGB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.data.stream import Examples
from zoo.inference import bicubic_upscale, model_channels
from zoo.registry import Recipe, TensorSpec
from zoo.tasks.base import Task, image_shape, mean, whole_images
from zoo.tasks.objective import (
    VALIDATION_SAMPLES,
    Arrays,
    Objective,
    first_samples,
    item_reader,
    rng_seed,
)

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel

EXPORT_SIZE = (128, 128)  # low-resolution input of exported files


def super_resolution(
    *, scale: int, patch_size: int, epochs: int = 60, batch_size: int = 64, **options: Any
) -> dict[str, Any]:
    """Y channel (H, W, 1) in [0, 1] -> (scale*H, scale*W, 1), linear (clip when saving).

    ``patch_size`` is the high-resolution training patch (a multiple of ``scale``);
    ``options`` add to or replace the recipe's options (e.g. ``rescales``).
    """
    return {
        "task": "super_resolve",
        "inputs": [
            TensorSpec("lr", (None, None, 1), description="low-resolution Y channel", levels=256)
        ],
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
        "export_size": EXPORT_SIZE,
    }


# === Training ===


class SuperResolve(Objective):
    """Y-channel patches; low resolution by antialiased bicubic downscaling (the SR protocol).

    From photos and folders, each whole image (and, with recipe option ``rescales``, copies
    of it shrunk by those factors) is downscaled once and ``crops_per_image`` aligned
    (lr, hr) patches are cut from the pair (:func:`zoo.data.super_resolution_crops`).
    Other sources give images at the patch size, downscaled one by one.
    """

    patches = True

    def arrays(self, split: str) -> Arrays:
        scale, patch = self.options["scale"], self.patch()
        source, source_split = self.source(split)
        training = split == "train"
        if self.crops_whole_images(source):
            images, _ = zdata.whole_images(source, split=source_split, limit=self.limit_of(split))
            per_image = self.options.get("crops_per_image", 128)
            lr, hr = zdata.super_resolution_crops(
                [zdata.rgb_to_y(image) for image in images],
                scale,
                patch,
                per_image if training else -(-VALIDATION_SAMPLES // len(images)),
                rescales=self.options.get("rescales", (1.0,)) if training else (1.0,),
                seed=self.config.seed,
            )
        else:
            images = self.load_images(split, size=patch, channels=3).images
            lr, hr = zdata.super_resolution_pairs(zdata.rgb_to_y(images), scale)
        if not training:
            return {"lr": lr[:VALIDATION_SAMPLES], "hr": hr[:VALIDATION_SAMPLES]}
        return self.augmented(lr, hr, self.config.seed)

    def streamed(self, source: str, split: str) -> Examples:
        """Each example: one file's Y channel, shrunk by one of ``rescales`` (drawn per
        example), downscaled whole and cut into one aligned (lr, hr) crop, as in memory."""
        scale, patch = self.options["scale"], self.patch()
        items, read_item, skipped = item_reader(source, split, cache=self.disk_cache())
        per_file = self.options.get("crops_per_image", 128)
        rescales = self.options.get("rescales", (1.0,))

        def read(index: int, rng: np.random.Generator) -> Arrays:
            _, (image, _, _) = read_item(index // per_file)
            factor = rescales[int(rng.integers(len(rescales)))]
            lr, hr = zdata.super_resolution_crops(
                [zdata.rgb_to_y(image)], scale, patch, 1, rescales=(factor,), seed=rng_seed(rng)
            )
            arrays = self.augmented(lr, hr, rng_seed(rng))
            return {key: value[0] for key, value in arrays.items()}

        return Examples.streamed(len(items) * per_file, read, items.name, skipped)

    def patch(self) -> int:
        """The high-resolution patch side: ``patch_size`` rounded down to a multiple of scale."""
        scale = self.options["scale"]
        return self.options.get("patch_size", 32) // scale * scale

    def augmented(self, lr: np.ndarray, hr: np.ndarray, seed: int) -> Arrays:
        """(lr, hr) flipped and turned alike (recipe option ``augment``), or as they are."""
        if self.options.get("augment"):
            lr = zdata.random_dihedral(lr, seed=seed)
            hr = zdata.random_dihedral(hr, seed=seed)
        return {"lr": lr, "hr": hr}

    def pair(self, batch: dict) -> tuple:
        return batch["lr"], batch["hr"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        sr = self.predict(validation["lr"])
        bicubic = _upscale_batch(validation["lr"], self.options["scale"])
        return {
            "psnr": metrics.psnr(sr, validation["hr"]),
            "psnr_bicubic": metrics.psnr(bicubic, validation["hr"]),
        }

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        bicubic = _upscale_batch(first["lr"], self.options["scale"])
        return [list(bicubic), list(self.predict(first["lr"])), list(first["hr"])]


def _upscale_batch(images: np.ndarray, scale: int) -> np.ndarray:
    height, width = images.shape[1:3]
    return np.clip(zdata.resize(images, (height * scale, width * scale), "bicubic"), 0, 1)


# === zoo eval ===


def sr_pair(
    image: np.ndarray, scale: int, channels: int, *, lr_8bit: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(lr, hr) of one whole image by the protocol: crop, 8-bit Y (or RGB), bicubic down;
    ``lr_8bit`` rounds lr to 8-bit levels too (the paper's protocol keeps it unrounded)."""
    rgb = zdata.to_channels(np.asarray(image, np.float32), 3)
    hr = rgb if channels == 3 else np.round(zdata.rgb_to_y(rgb) * 255.0) / 255.0
    lrs, hrs = zdata.super_resolution_pairs([hr.astype(np.float32)], scale, quantize=lr_8bit)
    return lrs[0], hrs[0]


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    """Whole images by the protocol; option ``lr_8bit`` gives the model 8-bit low-resolution
    images (what an int8 file's input holds) instead of unrounded ones."""
    scale = int(run.options["scale"])
    lr_8bit = bool(run.options.get("lr_8bit", False))
    channels = model_channels(run.model)
    images, names = whole_images(source, limit=limit)
    per_image: dict[str, dict[str, float]] = {}
    for image, name in zip(images, names, strict=True):
        lr, hr = sr_pair(image, scale, channels, lr_8bit=lr_8bit)
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
    values = {key: mean([scores[key] for scores in per_image.values()]) for key in keys}
    details = {
        "scale": scale,
        "protocol": f"Y (BT.601, 8-bit), bicubic x1/{scale} antialiased"
        + (" (8-bit)" if lr_8bit else "")
        + f", {scale}-pixel shave",
        "per_image": {name: round(scores["psnr"], 3) for name, scores in per_image.items()},
    }
    return len(images), values, details


# === zoo predict and zoo sample ===


def super_resolve(model: keras.Model, lr: np.ndarray) -> np.ndarray:
    """Model output for one low-resolution image (h, w, C) (Y or RGB as the model takes)."""
    return np.asarray(model(lr[None].astype(np.float32), training=False))[0]


def upscale_color(model: keras.Model, image: np.ndarray, scale: int) -> np.ndarray:
    """RGB (scale*H, scale*W, 3) in [0, 1]: Y through the model, CbCr bicubic (or RGB whole)."""
    rgb = zdata.to_channels(np.asarray(image, np.float32), 3)
    size = (rgb.shape[0] * scale, rgb.shape[1] * scale)
    if model_channels(model) == 3:
        return np.clip(super_resolve(model, rgb), 0.0, 1.0)
    ycbcr = zdata.rgb_to_ycbcr(rgb)
    y = super_resolve(model, ycbcr[..., :1])
    chroma = zdata.resize_image(ycbcr[..., 1:], size, "bicubic")
    return zdata.ycbcr_to_rgb(np.concatenate([y, chroma], axis=-1))


def predict_image(
    model: keras.Model, info: ModelInfo, image: np.ndarray, options: dict, multiple: int | None
) -> np.ndarray:
    return upscale_color(model, image, int(options["scale"]))


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    """(low-resolution RGB, original RGB) test crops at the training size."""
    height, width, _ = image_shape(run)
    scale = int(run.options["scale"])
    size = (height // scale * scale, width // scale * scale)
    images = zdata.load(source, split="test", image_size=size, channels=3, seed=seed)
    lr, hr = zdata.super_resolution_pairs(images.images[:count], scale)
    return list(lr), list(hr)


def grid_rows(run: TrainedModel, inputs: list, targets: list) -> list[list[np.ndarray]]:
    """Bicubic, model, original."""
    scale = int(run.options["scale"])
    shown = [bicubic_upscale(lr, scale) for lr in inputs]
    outputs = [upscale_color(run.model, lr, scale) for lr in inputs]
    return [shown, outputs, list(targets)]


TASK = Task(
    name="super_resolve",
    metric="psnr",
    higher_is_better=True,
    objective=SuperResolve,
    evaluate=evaluate,
    sample_rows=("bicubic", "model", "original"),
    predict_image=predict_image,
    sample_pairs=sample_pairs,
    grid_rows=grid_rows,
)
