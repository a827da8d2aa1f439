"""Running a trained model: ``zoo predict`` (image files in, PNGs out) and its building blocks.

Per task, on one image (H, W, C) in [0, 1] at a time:

- super-resolution: the model upscales the Y channel of BT.601 YCbCr; Cb and Cr are
  upscaled bicubically; the result is RGB (scale*H, scale*W, 3) (a gray input is treated
  as RGB with equal channels). A model built for 3 channels gets RGB directly.
- denoise, deblur: fully convolutional: the image is reflect-padded to the multiple of
  its size the model needs (found by probing, or the recipe's ``size_multiple``), run
  whole, and cropped back; the output has the model's channels.
- segmentation: padded the same way; the predicted classes are written as colours
  (:func:`zoo.data.label_palette`) blended over the image (background left as is).
- translation (pix2pix) and autoencoders: resized to the model's fixed size (nearest for
  a colour-coded label map with few colours, bilinear otherwise); the output is at that size.
- generators take no image: ``zoo predict`` refuses them and points to ``zoo sample``.

:func:`predict` reads every input before it writes anything, computes every output, then
writes each PNG atomically, so an unreadable input leaves no partial results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import data as zdata
from zoo import models
from zoo.errors import ZooError
from zoo.registry import ModelInfo

if TYPE_CHECKING:
    import keras

GENERATOR_TASKS = ("generate", "generate_conditional")
BATCH = 32
OVERLAY_ALPHA = 0.5
LABEL_MAP_COLOURS = 32  # at most this many distinct colours: a label map, resized nearest
_PROBE_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


# === Running a model ===


def run_batches(model: keras.Model, inputs, *, batch: int = BATCH) -> np.ndarray:
    """``model(inputs)`` in batches, without training behaviour; inputs an array or a list."""
    arrays = inputs if isinstance(inputs, list | tuple) else [inputs]
    total = len(arrays[0])
    outputs = []
    for start in range(0, total, batch):
        chunk = [np.asarray(a[start : start + batch], np.float32) for a in arrays]
        outputs.append(np.asarray(model(chunk if len(chunk) > 1 else chunk[0], training=False)))
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)


def model_channels(model: keras.Model) -> int:
    """Channels of the model's (first) image input."""
    return int(model.inputs[0].shape[-1])


def size_multiple(model: keras.Model, options: dict[str, Any] | None = None) -> int:
    """The multiple that a fully convolutional model needs its height and width to be.

    The recipe's ``size_multiple`` when it names one; otherwise the smallest power of two m
    for which sizes m and 3m both come back unchanged (times the model's scale).
    """
    options = options or {}
    if options.get("size_multiple"):
        return int(options["size_multiple"])
    channels = model_channels(model)
    scale = int(options.get("scale", 1))
    for m in _PROBE_SIZES:
        try:
            fits = all(
                np.asarray(model(np.zeros((1, s, s, channels), np.float32))).shape[1:3]
                == (s * scale, s * scale)
                for s in (m, 3 * m)
            )
        except (ValueError, TypeError, RuntimeError):  # e.g. a skip concatenation mismatch
            fits = False
        except Exception as error:  # TensorFlow's InvalidArgumentError and kin
            if type(error).__module__.startswith("tensorflow"):
                fits = False
            else:
                raise
        if fits:
            return m
    raise ZooError(f"{model.name}: found no input size it keeps (tried multiples up to 128)")


def pad_to_multiple(image: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad (H, W, C) at the bottom and right to multiples of ``multiple``."""
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    return image, (height, width)


def run_whole(model: keras.Model, image: np.ndarray, multiple: int) -> np.ndarray:
    """A fully convolutional model on one whole (H, W, C) image (padded, then cropped back)."""
    padded, (height, width) = pad_to_multiple(image, multiple)
    output = np.asarray(model(padded[None].astype(np.float32), training=False))[0]
    scale = output.shape[0] // padded.shape[0]
    return output[: height * scale, : width * scale]


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


def bicubic_upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, C) -> (scale*H, scale*W, C), bicubic, clipped to [0, 1]."""
    size = (image.shape[0] * scale, image.shape[1] * scale)
    return np.clip(zdata.resize_image(image, size, "bicubic"), 0.0, 1.0)


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


def fit_to_model(image: np.ndarray, info: ModelInfo, model: keras.Model) -> np.ndarray:
    """An image resized to a fixed-size model's input (nearest for label maps) and channels."""
    height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
    image = zdata.to_channels(np.asarray(image, np.float32), channels)
    if image.shape[:2] == (height, width):
        return image
    levels = np.unique(np.round(image.reshape(-1, image.shape[-1]) * 255), axis=0)
    method = "nearest" if len(levels) <= LABEL_MAP_COLOURS else "bilinear"
    return np.clip(zdata.resize_image(image, (height, width), method), 0.0, 1.0)


def to_unit(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Values in ``value_range`` mapped to [0, 1] and clipped."""
    low, high = value_range
    return np.clip((np.asarray(images, np.float32) - low) / (high - low), 0.0, 1.0)


def from_unit(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """[0, 1] mapped to ``value_range``."""
    low, high = value_range
    return (np.asarray(images, np.float32) * (high - low) + low).astype(np.float32)


def image_to_image(
    model: keras.Model,
    info: ModelInfo,
    image: np.ndarray,
    options: dict[str, Any],
    *,
    multiple: int | None = None,
) -> np.ndarray:
    """The output image in [0, 1] that ``zoo predict`` writes for one input image.

    ``multiple``: the size multiple of a fully convolutional model, if already known.
    """
    task = info.task
    if task == "super_resolve":
        return upscale_color(model, image, int(options["scale"]))
    if task in ("denoise", "deblur", "segment") and multiple is None:
        multiple = size_multiple(model, options)
    if task in ("denoise", "deblur"):
        source = zdata.to_channels(np.asarray(image, np.float32), model_channels(model))
        return np.clip(run_whole(model, source, multiple), 0.0, 1.0)
    if task == "segment":
        mask = segment_image(model, image, multiple)
        return overlay(image, mask, int(model.outputs[0].shape[-1]))
    if task in ("translate", "reconstruct"):
        source = from_unit(fit_to_model(image, info, model), info.input_range)
        output = np.asarray(model(source[None], training=False))[0]
        return to_unit(output, info.output_range)
    raise ZooError(f"no image-to-image prediction for task {task!r}")


# === Generators ===


def check_image_to_image(info: ModelInfo) -> None:
    if info.task in GENERATOR_TASKS:
        raise ZooError(
            f"{info.name} generates images from noise and takes no input image; "
            f"use `zoo sample {info.name} --weights ... --out grid.png`"
        )


def latents(info: ModelInfo, model: keras.Model, count: int, seed: int) -> np.ndarray:
    """``count`` latent vectors drawn uniformly from the declared range of input ``z``."""
    low, high = info.inputs[0].value_range
    dim = int(model.inputs[0].shape[-1])
    return np.random.default_rng(seed).uniform(low, high, (count, dim)).astype(np.float32)


def generate(
    model: keras.Model,
    info: ModelInfo,
    count: int,
    *,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """``count`` generated images (N, H, W, C) in [0, 1]; ``labels`` (N,) for conditional."""
    z = latents(info, model, count, seed)
    if info.task == "generate_conditional":
        classes = int(model.inputs[1].shape[-1])
        if labels is None:
            labels = np.arange(count) % classes
        one_hot = np.eye(classes, dtype=np.float32)[np.asarray(labels)]
        return to_unit(run_batches(model, [z, one_hot]), info.output_range)
    return to_unit(run_batches(model, z), info.output_range)


def vae_prior_samples(model: keras.Model, count: int, *, seed: int = 0) -> np.ndarray:
    """``count`` VAE decodings of z ~ N(0, I): (N, H, W, C) in [0, 1]."""
    from zoo.models.vae import decoder_of

    decoder = decoder_of(model)
    dim = int(decoder.inputs[0].shape[-1])
    z = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return np.clip(run_batches(decoder, z), 0.0, 1.0)


# === zoo predict ===


def read_inputs(paths: Sequence[str | Path]) -> Sequence[np.ndarray]:
    """The inputs as images decoded one at a time when indexed (float32 (H, W, C) in [0, 1]);
    a missing file or one that is not an image is a ZooError now, before any is decoded."""
    return zdata.ImageFiles(paths)


def output_paths(inputs: Sequence[str | Path], out: Path) -> list[Path]:
    """``out/<input stem>.png`` for each input; repeated stems get ``_2``, ``_3``, ..."""
    paths, seen = [], {}
    sources = {Path(p).resolve() for p in inputs}
    for path in inputs:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
        target = out / f"{name}.png"
        if target.resolve() in sources:
            raise ZooError(f"{target} is an input; choose another --out folder")
        paths.append(target)
    return paths


def predict(
    model_name: str,
    weights: str | Path,
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    overrides: dict[str, Any] | None = None,
) -> list[Path]:
    """Run image-to-image ``model_name`` on image files; write ``out/<stem>.png`` for each.

    Returns the written paths. Generators, missing inputs or files that are not images, and
    bad weights are one-line ZooErrors, raised before anything is written; the images are
    then read, run and written one at a time, so any number of files takes bounded memory.
    """
    from zoo.files import write_png
    from zoo.weights_io import load_run

    info = models.info(model_name)
    check_image_to_image(info)
    if not inputs:
        raise ZooError("no input images given")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; pass a folder")
    targets = output_paths(inputs, out)
    images = read_inputs(inputs)
    run = load_run(model_name, weights, overrides=overrides)
    multiple = None
    if info.task in ("denoise", "deblur", "segment"):
        multiple = size_multiple(run.model, run.options)
    for target, image in zip(targets, images, strict=True):  # one image in memory at a time
        write_png(target, image_to_image(run.model, info, image, run.options, multiple=multiple))
    return targets
