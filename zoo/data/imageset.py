"""ImageSet: the one in-memory form every loader returns, and the shared finishing step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from zoo.data import _image
from zoo.errors import ZooError

SPLITS = ("train", "test", "all")


@dataclass(frozen=True, eq=False)
class ImageSet:
    """Images with optional labels and segmentation masks.

    ``images``: float32 (N, H, W, C) in [0, 1], C in {1, 3}.
    ``labels``: int32 (N,) class indices, or None. ``masks``: int32 (N, H, W) class
    indices per pixel, or None. ``num_classes`` counts label classes (or mask classes when
    there are no labels). ``skipped`` counts unreadable files a folder loader passed over.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None
    num_classes: int | None = None
    name: str = ""
    class_names: tuple[str, ...] | None = None
    split: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        images = np.asarray(self.images, dtype=np.float32)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ZooError(
                f"{self.name or 'ImageSet'}: images must be (N, H, W, 1|3), got {images.shape}"
            )
        object.__setattr__(self, "images", images)
        n = len(images)
        if self.labels is not None:
            labels = np.asarray(self.labels, dtype=np.int32).reshape(-1)
            if len(labels) != n:
                raise ZooError(f"{self.name}: {len(labels)} labels for {n} images")
            object.__setattr__(self, "labels", labels)
        if self.masks is not None:
            masks = np.asarray(self.masks, dtype=np.int32)
            if masks.shape != images.shape[:3]:
                raise ZooError(
                    f"{self.name}: masks {masks.shape} do not match images {images.shape}"
                )
            object.__setattr__(self, "masks", masks)
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"ImageSet({self.summary()})"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return int(self.images.shape[-1])

    def summary(self) -> str:
        """One line: ``digits/train: 1437 images 32x32x1, 10 classes``."""
        h, w, c = self.image_shape
        where = f"{self.name}/{self.split}" if self.split else self.name
        text = f"{where}: {len(self)} images {h}x{w}x{c}"
        if self.num_classes:
            text += f", {self.num_classes} classes"
        if self.masks is not None:
            text += ", masks"
        if self.skipped:
            text += f", {self.skipped} unreadable skipped"
        return text

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageSet:
        """The samples at ``indices`` (any integer index array or a boolean mask)."""
        idx = np.asarray(indices)
        return replace(
            self,
            images=self.images[idx],
            labels=None if self.labels is None else self.labels[idx],
            masks=None if self.masks is None else self.masks[idx],
        )

    def take(self, n: int) -> ImageSet:
        """The first ``n`` samples."""
        return self.subset(np.arange(min(n, len(self))))

    def shuffled(self, seed: int = 0) -> ImageSet:
        """The same samples in a seeded random order."""
        return self.subset(np.random.default_rng(seed).permutation(len(self)))

    def split_off(self, fraction: float = 0.1, seed: int = 0) -> tuple[ImageSet, ImageSet]:
        """(rest, held_out): a seeded random ``fraction`` held out (e.g. for validation)."""
        if not 0.0 < fraction < 1.0:
            raise ZooError(f"fraction must be in (0, 1), got {fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        n_held = max(1, round(len(self) * fraction))
        return self.subset(np.sort(order[n_held:])), self.subset(np.sort(order[:n_held]))

    def one_hot(self) -> np.ndarray:
        """Labels as float32 one-hot vectors (N, num_classes), the conditional models' input."""
        if self.labels is None or not self.num_classes:
            raise ZooError(f"dataset {self.name} has no labels")
        return np.eye(self.num_classes, dtype=np.float32)[self.labels]


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ZooError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def finish(
    images: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    name: str,
    split: str,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    method: str = "bilinear",
    skipped: int = 0,
) -> ImageSet:
    """Raw arrays -> ImageSet: pick ``limit`` samples, scale to [0, 1], resize, set channels.

    ``images`` may be uint8 / uint16 / float, (N, H, W) or (N, H, W, C); the ``limit``
    choice happens first so large raw sets are converted only in part.
    """
    idx = _image.choose(len(images), limit, seed)
    if len(idx) != len(images):
        images = images[idx]
        labels = None if labels is None else np.asarray(labels)[idx]
        masks = None if masks is None else masks[idx]
    array = _image.with_channel_axis(_image.as_float(images), 4)
    if channels is not None and channels < array.shape[-1]:
        array = _image.to_channels(array, channels)  # fewer planes to resize
    if image_size is not None:
        array = _image.resize(array, image_size, method)
        np.clip(array, 0.0, 1.0, out=array)
        if masks is not None:
            masks = _image.resize_masks(masks, image_size)
    array = _image.to_channels(array, channels)
    return ImageSet(
        images=array,
        labels=labels,
        masks=masks,
        num_classes=num_classes,
        name=name,
        class_names=None if class_names is None else tuple(class_names),
        split=split,
        skipped=skipped,
    )


def concat(first: ImageSet, second: ImageSet, *, split: str = "all") -> ImageSet:
    """Two sets with the same image shape, one after the other."""
    if first.image_shape != second.image_shape:
        raise ZooError(
            f"cannot join {first.summary()} and {second.summary()}: pass image_size and channels"
        )

    def join(a, b):
        return None if a is None or b is None else np.concatenate([a, b])

    return replace(
        first,
        images=np.concatenate([first.images, second.images]),
        labels=join(first.labels, second.labels),
        masks=join(first.masks, second.masks),
        split=split,
        skipped=first.skipped + second.skipped,
    )
