"""Data for training and evaluating the zoo: offline embedded sets and adapters.

::

    from zoo import data
    data.list_datasets()                     # digits, shapes, photos, faces, mnist, ...
    train = data.load("digits")              # images (1438, 32, 32, 1) in [0, 1], labels 0..9
    seg = data.load("shapes", split="test")  # images (200, 64, 64, 3), masks (200, 64, 64) 0..3
    crops = data.load("photos", image_size=33, channels=1)   # random crops, gray
    mine = data.load("~/pictures", image_size=64)            # a folder (see zoo.data.folder)
    fm = data.load("fashion_mnist", limit=5000)              # keras' cache, or a download
    flowers = data.load("tfds:oxford_flowers102", image_size=64)  # needs tensorflow-datasets
    lr, hr = data.super_resolution_pairs(crops.images, 3)

Sources: an embedded name (works offline: digits, shapes, photos, faces), a keras.datasets name
(mnist, fashion_mnist, cifar10), ``tfds:<name>``, or a folder path. Splits: train, test, all.
Images are float32 (N, H, W, C) in [0, 1], C = 1 or 3. User mistakes raise ZooError.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data import _image
from zoo.data._image import fit_image, fit_mask, resize, resize_image, to_channels
from zoo.data.embedded import (
    EMBEDDED,
    PHOTO_NAMES,
    PHOTO_TEST,
    SCENE_COLOURS,
    SHAPE_CLASSES,
    digits,
    faces,
    photo_images,
    photo_names,
    photos,
    render_scenes,
    render_shapes,
    shape_scenes,
    shapes,
    shapes_pairs,
)
from zoo.data.folder import (
    IMAGE_EXTENSIONS,
    FolderListing,
    ImageFiles,
    image_files,
    iter_folder,
    list_folder,
    load_folder,
    read_image,
    read_images,
)
from zoo.data.imageset import SPLITS, ImageSet, check_split
from zoo.data.keras_datasets import KERAS_DATASETS, keras_cache_dirs, load_keras
from zoo.data.pairs import (
    blur_kernel,
    blur_kernel_bank,
    blur_tf,
    blurred_pairs,
    colorize_masks,
    convolve,
    label_palette,
    noisy_pairs,
    random_crops,
    random_dihedral,
    rgb_to_y,
    rgb_to_ycbcr,
    segmentation_pairs,
    stack_kernels,
    super_resolution_crops,
    super_resolution_pairs,
    translation_pairs,
    ycbcr_to_rgb,
)
from zoo.data.tfds import (
    NotIndexableError,
    TfdsRecords,
    TfdsSource,
    load_tfds,
    tfds_records,
    tfds_source,
)
from zoo.errors import ZooError


def list_datasets() -> list[str]:
    """Names :func:`load` knows: the embedded (offline) sets, then the keras.datasets ones."""
    return [*EMBEDDED, *KERAS_DATASETS]


def at_hand(source: str) -> bool:
    """Whether ``source`` is a dataset name :func:`load` knows or an existing folder."""
    named = source.startswith("tfds:") or source in list_datasets()
    return named or Path(source).expanduser().is_dir()


def describe_dataset(name: str) -> str:
    """A one-line description of a named dataset."""
    if name in EMBEDDED:
        return EMBEDDED[name][1]
    if name in KERAS_DATASETS:
        return KERAS_DATASETS[name]
    raise ZooError(_unknown(name))


def _unknown(source: str) -> str:
    close = difflib.get_close_matches(source, list_datasets(), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"unknown dataset {source!r}{hint}: expected one of {', '.join(list_datasets())}, "
        "tfds:<name>, or an existing image folder"
    )


def _call(loader, source: str, options: dict[str, Any], **kwargs) -> ImageSet:
    accepted = inspect.signature(loader).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        extra = sorted(set(accepted) - set(kwargs)) or ["none"]
        raise ZooError(
            f"{source} does not take option(s) {', '.join(unknown)}; it takes {', '.join(extra)}"
        )
    return loader(**kwargs, **options)


def load(
    source: str,
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    **options: Any,
) -> ImageSet:
    """Load ``source`` as an :class:`ImageSet` of float32 (N, H, W, C) images in [0, 1].

    ``image_size`` (int or (H, W)) resizes, or for ``photos`` sets the crop size; None keeps
    the source's size (digits 32, shapes 64, photos 64). ``channels`` (1 or 3) converts gray
    and colour; None keeps the source's. ``limit`` keeps at most that many samples, chosen
    deterministically from ``seed``. ``options`` go to the embedded loader (e.g. ``count`` for
    shapes, ``crops_per_image`` for photos, ``nonfaces`` for faces), ``download`` to keras
    sets and ``tfds_split`` / ``data_dir`` to TFDS.
    """
    if not isinstance(source, str | Path):
        raise ZooError(f"dataset source must be a name or a path, got {source!r}")
    source = str(source)
    check_split(split)
    _image.check_channels(channels)
    _image.check_limit(limit)
    size = _image.parse_size(image_size)
    common = {"split": split, "channels": channels, "limit": limit, "seed": seed}
    if source.startswith("tfds:"):
        name = source.removeprefix("tfds:")
        if not name:
            raise ZooError("tfds: needs a dataset name, e.g. tfds:mnist")
        return _call(load_tfds, source, options, name=name, image_size=size, **common)
    if source in EMBEDDED:
        loader = EMBEDDED[source][0]
        if size is not None:
            common["image_size"] = size
        return _call(loader, source, options, **common)
    if source in KERAS_DATASETS:
        return _call(load_keras, source, options, name=source, image_size=size, **common)
    if Path(source).expanduser().exists():
        return _call(load_folder, source, options, path=source, image_size=size, **common)
    raise ZooError(_unknown(source))


def whole_images(
    source: str, *, split: str = "all", limit: int | None = None
) -> tuple[Sequence[np.ndarray], list[str]]:
    """(images, names): whole float32 (H, W, C) images in [0, 1] of various sizes, in order.

    A folder: its images of ``split`` (see :func:`image_files`; a file that is not an image
    is an error), decoded one at a time as they are indexed (:class:`ImageFiles`), so a
    large folder is evaluated in bounded memory. ``photos``: the photos of the split.
    Another source: its split at its own size. ``limit`` keeps the first that many.
    """
    check_split(split)
    _image.check_limit(limit)
    path = Path(str(source)).expanduser()
    if source == "photos":
        images, names = photo_images(split), photo_names(split)
    elif path.is_dir():
        files = image_files(path, split)[:limit]
        return ImageFiles(files), [str(p.relative_to(path)) for p in files]
    else:
        imageset = load(source, split=split, limit=limit)
        images = list(imageset.images)
        names = [f"{imageset.name}/{split}/{i}" for i in range(len(images))]
    return images[:limit], names[:limit]


__all__ = [
    "EMBEDDED",
    "IMAGE_EXTENSIONS",
    "KERAS_DATASETS",
    "PHOTO_NAMES",
    "PHOTO_TEST",
    "SCENE_COLOURS",
    "SHAPE_CLASSES",
    "SPLITS",
    "FolderListing",
    "ImageFiles",
    "ImageSet",
    "NotIndexableError",
    "TfdsRecords",
    "TfdsSource",
    "blur_kernel",
    "blur_kernel_bank",
    "blur_tf",
    "blurred_pairs",
    "colorize_masks",
    "convolve",
    "describe_dataset",
    "digits",
    "faces",
    "fit_image",
    "fit_mask",
    "image_files",
    "iter_folder",
    "keras_cache_dirs",
    "label_palette",
    "list_datasets",
    "list_folder",
    "load",
    "load_folder",
    "load_keras",
    "load_tfds",
    "noisy_pairs",
    "photo_images",
    "photo_names",
    "photos",
    "random_crops",
    "random_dihedral",
    "read_image",
    "read_images",
    "render_scenes",
    "render_shapes",
    "resize",
    "resize_image",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "segmentation_pairs",
    "shape_scenes",
    "shapes",
    "shapes_pairs",
    "stack_kernels",
    "super_resolution_crops",
    "super_resolution_pairs",
    "tfds_records",
    "tfds_source",
    "to_channels",
    "translation_pairs",
    "whole_images",
    "ycbcr_to_rgb",
]
