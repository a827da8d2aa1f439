"""``tfds:<name>``: a TensorFlow Datasets set, when the tensorflow-datasets package is installed.

:func:`load_tfds` reads a split into memory; :func:`tfds_source` reads it by index, one record
at a time (``tfds.data_source``, for sets prepared as ArrayRecord), which is how ``zoo train``
streams a large set.

Each example's ``image`` becomes a float32 image in [0, 1]; ``label`` (if any) the label, with
class names from the dataset info; ``segmentation_mask`` (if any) the mask. ``limit`` becomes a
TFDS slice (``train[:1000]``). TFDS downloads on first use: offline, a set that is not already
in its data folder fails with a one-line :class:`ZooError`.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoo.data import _image
from zoo.data.folder import read_image
from zoo.data.imageset import ImageSet, check_split
from zoo.errors import ZooError

DOWNLOAD_TIMEOUT_S = 15.0


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_tfds(
    name: str,
    *,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    tfds_split: str | None = None,
    data_dir: str | None = None,
) -> ImageSet:
    """tensorflow_datasets.load(name) as an ImageSet; ``tfds_split`` overrides the split name."""
    check_split(split)
    tfds = _import_tfds(name)
    if tfds_split is None:
        parts = ["train", "test"] if split == "all" else [split]
        tfds_split = "+".join(f"{p}[:{limit}]" if limit else p for p in parts)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        dataset, info = tfds.load(
            name, split=tfds_split, with_info=True, shuffle_files=False, data_dir=data_dir
        )
        examples = list(tfds.as_numpy(dataset))
    except Exception as error:
        raise ZooError(f"tfds:{name} could not be loaded: {_one_line(error)}") from error
    finally:
        socket.setdefaulttimeout(previous)
    if not examples:
        raise ZooError(f"tfds:{name} split {tfds_split} is empty")
    if "image" not in examples[0]:
        raise ZooError(f"tfds:{name} has no 'image' feature (features: {', '.join(examples[0])})")

    images = [_image.with_channel_axis(_image.as_float(ex["image"]), 3) for ex in examples]
    target = channels or (3 if any(im.shape[-1] >= 3 for im in images) else 1)
    images = [_image.to_channels(im, target) for im in images]
    has_masks = "segmentation_mask" in examples[0]
    masks = (
        [
            np.asarray(ex["segmentation_mask"]).reshape(im.shape[:2])
            for ex, im in zip(examples, images, strict=True)
        ]
        if has_masks
        else None
    )
    if image_size is None:
        if len({im.shape for im in images}) > 1:
            raise ZooError(f"tfds:{name} images have different sizes; pass image_size")
    else:
        images = [np.clip(_image.fit_image(im, image_size), 0.0, 1.0) for im in images]
        if masks is not None:
            masks = [_image.fit_mask(m, image_size) for m in masks]

    labels = class_names = num_classes = None
    if "label" in examples[0]:
        labels = np.array([int(ex["label"]) for ex in examples])
        feature = _feature(info, "label")
        names = getattr(feature, "names", None)
        class_names = tuple(names) if names else None
        num_classes = getattr(feature, "num_classes", None) or int(labels.max()) + 1
    mask_array = None if masks is None else np.stack(masks)
    if num_classes is None and mask_array is not None:
        num_classes = int(mask_array.max()) + 1
    result = ImageSet(
        images=np.stack(images),
        labels=labels,
        masks=mask_array,
        num_classes=num_classes,
        name=f"tfds:{name}",
        class_names=class_names,
        split=split,
    )
    if limit is not None and len(result) > limit:
        result = result.subset(_image.choose(len(result), limit, seed))
    return result


@dataclass(frozen=True, eq=False)
class TfdsSource:
    """A TFDS split read by index: ``read(i)`` decodes record i only (like a folder listing)."""

    name: str
    split: str
    records: Sequence[dict]
    class_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.records)

    def read(
        self, index: int, channels: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, int | None]:
        """(image float32 (H, W, C) in [0, 1], mask int32 (H, W) or None, label or None)."""
        example = self.records[index]
        image = _image.with_channel_axis(_image.as_float(np.asarray(example["image"])), 3)
        image = _image.to_channels(image, channels)
        mask = example.get("segmentation_mask")
        if mask is not None:
            mask = np.asarray(mask, np.int32).reshape(image.shape[:2])
        label = int(example["label"]) if "label" in example else None
        return image, mask, label

    def item_name(self, index: int) -> str:
        return f"{self.name}[{index}]"


class NotIndexableError(ZooError):
    """A TFDS set that cannot be read by index (prepared in TFRecord files only)."""


@dataclass(frozen=True, eq=False)
class TfdsRecords:
    """A TFDS split as raw records in a fixed order: ``make()`` gives a ``tf.data.Dataset``
    of ``{"image": encoded bytes, "label": ...}``, nothing decoded; ``read`` decodes one."""

    name: str
    split: str
    count: int
    make: Callable[[], Any]
    class_names: tuple[str, ...] | None = None

    def read(self, record: dict, channels: int | None = None) -> tuple[np.ndarray, int | None]:
        """(image float32 (H, W, C) in [0, 1], label or None) of one raw record."""
        image = read_image(io.BytesIO(bytes(record["image"])))
        label = int(record["label"]) if "label" in record else None
        return _image.to_channels(image, channels), label


def tfds_records(
    name: str, *, split: str = "train", tfds_split: str | None = None, data_dir: str | None = None
) -> TfdsRecords:
    """The split's raw records through ``tf.data`` (images left encoded, decoded one at a
    time by the pipeline): any TFDS set streams this way, TFRecord files included."""
    check_split(split)
    tfds = _import_tfds(name)
    if tfds_split is None:
        tfds_split = "train+test" if split == "all" else split
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        count = int(builder.info.splits[tfds_split].num_examples)
    except Exception as error:
        raise ZooError(f"tfds:{name} could not be loaded: {_one_line(error)}") from error
    if not count:
        raise ZooError(f"tfds:{name} split {tfds_split} is empty")
    decoders = {"image": tfds.decode.SkipDecoding()}

    def make():
        dataset = builder.as_dataset(split=tfds_split, shuffle_files=False, decoders=decoders)
        return dataset.map(
            lambda example: {k: example[k] for k in ("image", "label") if k in example}
        )

    names = getattr(_feature(builder.info, "label"), "names", None)
    return TfdsRecords(
        name=f"tfds:{name}",
        split=split,
        count=count,
        make=make,
        class_names=tuple(names) if names else None,
    )


def tfds_source(
    name: str, *, split: str = "train", tfds_split: str | None = None, data_dir: str | None = None
) -> TfdsSource:
    """``tfds.data_source(name)``: the split read by index, nothing decoded up front.

    Random access needs the set prepared as ArrayRecord; one in TFRecord files only is a
    :class:`NotIndexableError` error (:func:`tfds_records` streams it in order instead).
    """
    check_split(split)
    tfds = _import_tfds(name)
    if tfds_split is None:
        tfds_split = "train+test" if split == "all" else split
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        records = tfds.data_source(name, split=tfds_split, data_dir=data_dir)
        count = len(records)
    except Exception as error:
        raise NotIndexableError(
            f"tfds:{name} cannot be read by index ({_one_line(error)}); prepare it as "
            f"ArrayRecord (tfds build {name} --file_format=array_record) to stream it, or "
            "pass --option cache=memory to read it into memory"
        ) from error
    finally:
        socket.setdefaulttimeout(previous)
    if not count:
        raise ZooError(f"tfds:{name} split {tfds_split} is empty")
    feature = _feature(getattr(records, "dataset_info", None), "label")
    names = getattr(feature, "names", None)
    return TfdsSource(
        name=f"tfds:{name}",
        split=split,
        records=records,
        class_names=tuple(names) if names else None,
    )


def _import_tfds(name: str):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ZooError(
            f"install tensorflow-datasets to use tfds:{name} (pip install tensorflow-datasets)"
        ) from None
    return tfds


def _feature(info, key: str):
    try:
        return info.features[key]
    except (AttributeError, KeyError, TypeError):
        return None
