"""Running a model on numpy images, whatever its task: batches, whole images, value ranges.

``model`` is anything called like a Keras model on float32 batches (a Keras model, or a
TFLite file's runner). Images are float32 (H, W, C) in [0, 1] unless a docstring says
otherwise. The task modules (:mod:`zoo.tasks`) build their evaluation and prediction on these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import data as zdata
from zoo.errors import ZooError

if TYPE_CHECKING:
    import keras

BATCH = 32
LABEL_MAP_COLOURS = 32  # at most this many distinct colours: a label map, resized nearest
_PROBE_SIZES = (1, 2, 4, 8, 16, 32, 64, 128)


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
    fixed = [np.zeros((1, *tensor.shape[1:]), np.float32) for tensor in model.inputs[1:]]
    for m in _PROBE_SIZES:
        try:
            fits = all(
                np.asarray(model(_probe(s, channels, fixed))).shape[1:3] == (s * scale, s * scale)
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


def _probe(size: int, channels: int, fixed: list[np.ndarray]):
    """Zeros for a size probe: the image at ``size``, the fixed-size inputs as they are."""
    image = np.zeros((1, size, size, channels), np.float32)
    return [image, *fixed] if fixed else image


def pad_to_multiple(image: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad (H, W, C) at the bottom and right to multiples of ``multiple``."""
    height, width = image.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    return image, (height, width)


def run_whole(
    model: keras.Model, image: np.ndarray, multiple: int, extra: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """A fully convolutional model on one whole (H, W, C) image (padded, then cropped back).

    ``extra``: the model's further inputs for this image, without the batch axis (a
    non-blind deblurring model's kernel).
    """
    padded, (height, width) = pad_to_multiple(image, multiple)
    batch = padded[None].astype(np.float32)
    inputs = [batch, *(np.asarray(a, np.float32)[None] for a in extra)] if extra else batch
    output = np.asarray(model(inputs, training=False))[0]
    scale = output.shape[0] // padded.shape[0]
    return output[: height * scale, : width * scale]


def bicubic_upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """(H, W, C) -> (scale*H, scale*W, C), bicubic, clipped to [0, 1]."""
    size = (image.shape[0] * scale, image.shape[1] * scale)
    return np.clip(zdata.resize_image(image, size, "bicubic"), 0.0, 1.0)


def fit_to_model(image: np.ndarray, model: keras.Model) -> np.ndarray:
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
