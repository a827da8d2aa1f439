"""Images from a folder on disk, decoded with Pillow.

Every file under the folder (recursively) whose name ends in an image extension
(:data:`IMAGE_EXTENSIONS`) is a candidate; other files and hidden ones (".name") are ignored.
A candidate Pillow cannot decode is skipped and counted (``ImageSet.skipped``, one warning
per load). A folder without a single readable image is an error.

Layouts, checked in this order:

1. ``root/train/`` and ``root/test/`` (or ``val/`` / ``validation/`` for test): the split
   folder is loaded (``split="all"`` joins both). Without them, a file goes to test when the
   CRC-32 of its relative path is divisible by 10 (a stable ~10 %), except in folders with
   fewer than 10 candidates, where train and test are both the whole folder.
2. ``root/images/`` and ``root/masks/``: segmentation. The mask of ``images/a/b.jpg`` is
   ``masks/a/b.<any image extension>``, a single-channel image of class indices (a palette
   PNG's indices, or gray values 0, 1, 2, ...); ``num_classes`` is the largest index + 1.
   Images without a readable mask of the same size are skipped and counted.
3. No image directly in root and at least two subfolders with images: each subfolder is a
   class (sorted names -> labels 0, 1, ...), like keras' ``image_dataset_from_directory``.
4. Otherwise every image under root, without labels.

Pixels: 16-bit images are scaled by 65535, alpha is composited over white, palette and CMYK
images become RGB. ``channels=None`` keeps gray when every image is gray, else RGB.
``image_size`` resizes each image to cover the size (aspect kept, bilinear, antialiased when
reducing) and center-crops it; without it all images must already share one size.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from zoo.data import _image
from zoo.data.imageset import ImageSet, check_split
from zoo.data.pairs import random_crops
from zoo.errors import ZooError
from zoo.files import write_atomically

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TEST_FOLDERS = ("test", "val", "validation")
_MIN_FOR_HASH_SPLIT = 10


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def _candidates(root: Path) -> list[Path]:
    """Image files under root, sorted, none inside a hidden folder."""
    return sorted(
        p
        for p in root.rglob("*")
        if is_image_file(p)
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def read_image(path: str | Path | BinaryIO, cache: Path | None = None) -> np.ndarray:
    """Decode one image file (or open binary stream) to float32 (H, W, 1) or (H, W, 3) in
    [0, 1]; raises on bad files.

    With ``cache`` (a folder), the decoded pixels are kept there as ``.npy`` (keyed by the
    file's path, size and time) and read back instead of decoding the file again.
    """
    array = _cached_pixels(Path(path), cache) if cache is not None else _decode_pixels(path)
    if array.ndim == 2:
        array = array[..., None]
    scaled = _image.as_float(array)
    if scaled.shape[-1] in (2, 4):
        scaled = _image.to_channels(scaled, None)
    return scaled


def _decode_pixels(path: str | Path | BinaryIO) -> np.ndarray:
    """The file's pixels as Pillow gives them (uint8, or wider for 16-bit), palettes expanded."""
    with Image.open(path) as image:
        image.load()
        mode = image.mode
        if mode in ("P", "PA"):
            image = image.convert("RGBA")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            image = image.convert("RGB")
        elif mode == "1":
            image = image.convert("L")
        return np.asarray(image)


def _cached_pixels(path: Path, cache: Path) -> np.ndarray:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    stored = cache / f"{hashlib.sha1(key).hexdigest()}.npy"
    try:
        return np.load(stored)
    except (OSError, ValueError):
        pixels = _decode_pixels(path)
        write_atomically(stored, lambda temporary: np.save(temporary, pixels))
        return pixels


def read_mask(path: str | Path) -> np.ndarray:
    """Decode a class-index mask to int32 (H, W); a colour mask is an error."""
    with Image.open(path) as image:
        image.load()
        array = np.asarray(image)
    if array.ndim == 3:
        channels = array[..., :3]
        if channels.shape[-1] > 1 and not (channels == channels[..., :1]).all():
            raise ZooError(f"mask {path} is a colour image; masks must hold class indices (gray)")
        array = channels[..., 0]
    return array.astype(np.int32)


def image_files(path: str | Path, split: str = "all") -> list[Path]:
    """The image files of ``split`` under a folder, sorted, as :func:`load_folder` splits them.

    ``train/`` and ``test/`` (or ``val/``) subfolders are the splits; a flat folder of ten or
    more images puts a fixed, name-hashed tenth in test.
    """
    check_split(split)
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"{path} is not a folder")
    test_dir = next((root / t for t in TEST_FOLDERS if (root / t).is_dir()), root / "test")
    if (root / "train").is_dir() and test_dir.is_dir():
        folders = {"train": [root / "train"], "test": [test_dir]}
        return [
            f
            for folder in folders.get(split, [root / "train", test_dir])
            for f in _candidates(folder)
        ]
    files = _split_files(_candidates(root), root, split)
    if not files:
        raise ZooError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) of split {split} in {path}")
    return files


def read_images(paths: Sequence[str | Path]) -> list[np.ndarray]:
    """Each file decoded (float32 (H, W, C) in [0, 1]); the first unreadable one is a ZooError."""
    return [_read_or_fail(Path(path)) for path in paths]


def _read_or_fail(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ZooError(f"cannot read image {path}: no such file")
    try:
        return read_image(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise ZooError(f"cannot read image {path}: {reason}") from None


class ImageFiles(Sequence[np.ndarray]):
    """Image files that decode when indexed: a sequence of whole images held one at a time.

    Made from a file list, it opens each file's header (no decoding), so a file that is
    missing or not an image is a ZooError at once; ``files[i]`` decodes file i (float32
    (H, W, C) in [0, 1]), and a slice is another ImageFiles.
    """

    def __init__(self, paths: Sequence[str | Path], *, checked: bool = False) -> None:
        self.paths = [Path(path) for path in paths]
        if not checked:
            for path in self.paths:
                if not path.is_file():
                    raise ZooError(f"cannot read image {path}: no such file")
                try:
                    with Image.open(path):
                        pass
                except (OSError, ValueError, SyntaxError) as error:
                    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
                    raise ZooError(f"cannot read image {path}: {reason or 'unreadable'}") from None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ImageFiles(self.paths[index], checked=True)
        return _read_or_fail(self.paths[index])


def _split_files(files: list[Path], root: Path, split: str) -> list[Path]:
    if split == "all" or len(files) < _MIN_FOR_HASH_SPLIT:
        return files
    in_test = [zlib.crc32(p.relative_to(root).as_posix().encode()) % 10 == 0 for p in files]
    return [p for p, t in zip(files, in_test, strict=True) if t == (split == "test")]


def _order(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Decoding order: all in order, or a seeded shuffle when only ``limit`` are needed."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.random.default_rng(seed).permutation(n)


def _class_folders(root: Path) -> list[Path] | None:
    if any(is_image_file(p) and p.is_file() for p in root.iterdir()):
        return None
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    with_images = [d for d in subdirs if _candidates(d)]
    return with_images if len(with_images) >= 2 else None


def _find_mask(masks_root: Path, relative: Path) -> Path | None:
    stem = masks_root / relative.with_suffix("")
    for ext in IMAGE_EXTENSIONS:
        for candidate in (stem.with_suffix(ext), stem.with_suffix(ext.upper())):
            if candidate.is_file():
                return candidate
    return None


@dataclass(frozen=True)
class FolderListing:
    """The image files of one split of a folder, as :func:`load_folder` reads them.

    Nothing is decoded: listing a folder of any size costs one directory walk. ``labels``
    (class indices, one per file) for class subfolders; ``masks`` (the mask file of each
    image, or None where it has none) for images/ + masks/.
    """

    name: str
    split: str
    files: tuple[Path, ...]
    labels: tuple[int, ...] | None = None
    class_names: tuple[str, ...] | None = None
    masks: tuple[Path | None, ...] | None = None
    cache: Path | None = None  # a folder of decoded pixels (see read_image)

    def __len__(self) -> int:
        return len(self.files)

    def summary(self, sample: int = 64) -> str:
        """One line without decoding: file count and bytes, and the sizes and modes that
        the headers of ``sample`` files spread over the folder give."""
        total = sum(path.stat().st_size for path in self.files if path.is_file())
        picked = np.unique(np.linspace(0, len(self) - 1, min(sample, len(self))).astype(int))
        sizes, modes, unreadable = [], set(), 0
        for index in picked:
            try:
                with Image.open(self.files[index]) as image:
                    sizes.append((image.width, image.height))
                    modes.add(image.mode)
            except Exception:  # Pillow raises many types for a bad file
                unreadable += 1
        text = f"{self.name}/{self.split}: {len(self):,} image files, {total / 1e6:,.1f} MB"
        if self.class_names:
            text += f", {len(self.class_names)} classes"
        if self.masks is not None:
            text += f", masks for {sum(m is not None for m in self.masks):,}"
        seen = f"{len(picked)} headers"
        if sizes:
            (low_w, low_h), (high_w, high_h) = min(sizes), max(sizes)
            shape = (
                f"{low_w}x{low_h}"
                if len(set(sizes)) == 1
                else (f"{low_w}x{low_h} to {high_w}x{high_h}")
            )
            seen += f": {shape} {'/'.join(sorted(modes))}"
        if unreadable:
            seen += f", {unreadable} unreadable"
        return f"{text} ({seen})"

    def read(
        self, index: int, channels: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, int | None]:
        """(image float32 (H, W, C) in [0, 1], mask int32 (H, W) or None, label or None) of
        file ``index``. ``channels`` (1 or 3) converts; None keeps the file's.

        Raises what Pillow raises for an unreadable file, and ValueError for an image
        whose mask is missing or of another size.
        """
        image = _image.to_channels(read_image(self.files[index], self.cache), channels)
        label = None if self.labels is None else self.labels[index]
        if self.masks is None:
            return image, None, label
        mask_file = self.masks[index]
        if mask_file is None:
            raise ValueError(f"{self.files[index]} has no mask")
        mask = read_mask(mask_file)
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask_file} is not the size of its image")
        return image, mask, label

    def item_name(self, index: int) -> str:
        """How warnings name item ``index``: its path."""
        return str(self.files[index])


def list_folder(path: str | Path, split: str = "train") -> FolderListing:
    """The files of ``split`` under ``path`` by the layouts of the module docstring."""
    check_split(split)
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ZooError(f"{path} is not a folder")
    split_dirs = {"train": root / "train"}
    split_dirs["test"] = next(
        (root / t for t in TEST_FOLDERS if (root / t).is_dir()), root / "test"
    )
    if not (split_dirs["train"].is_dir() and split_dirs["test"].is_dir()):
        return _list_layout(root, split, str(path), split)
    # class subfolders: one class list for both splits, so labels mean the same in each
    found = [_class_folders(split_dirs[s]) for s in ("train", "test")]
    names = sorted({d.name for dirs in found if dirs for d in dirs}) or None
    parts = [
        _list_layout(split_dirs[s], "all", str(path), s, names)
        for s in (("train", "test") if split == "all" else (split,))
    ]
    if len(parts) == 1:
        return parts[0]
    first, second = parts

    def join(a, b):
        return None if a is None or b is None else a + b

    return replace(
        first,
        split="all",
        files=first.files + second.files,
        labels=join(first.labels, second.labels),
        masks=join(first.masks, second.masks),
    )


def _list_layout(
    root: Path,
    split: str,
    name: str,
    split_name: str,
    class_names: list[str] | None = None,
) -> FolderListing:
    images_dir, masks_dir = root / "images", root / "masks"
    labels: list[int] | None = None
    masks_root: Path | None = None
    if images_dir.is_dir() and masks_dir.is_dir():
        files = _candidates(images_dir)
        base, masks_root = images_dir, masks_dir
        class_names = None
    elif class_names or (class_dirs := _class_folders(root)) is not None:
        class_names = class_names or [d.name for d in class_dirs]
        files, labels = [], []
        for label, class_name in enumerate(class_names):
            found = _candidates(root / class_name) if (root / class_name).is_dir() else []
            files += found
            labels += [label] * len(found)
        base = root
    else:
        files, base = _candidates(root), root

    if not files:
        raise ZooError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {root}")
    label_of = dict(zip(files, labels, strict=True)) if labels is not None else {}
    files = sorted(_split_files(files, base, split), key=str)
    if not files:
        raise ZooError(f"no image files of split {split} in {name}; pass split='all'")
    return FolderListing(
        name=name,
        split=split_name,
        files=tuple(files),
        labels=None if labels is None else tuple(label_of[f] for f in files),
        class_names=None if class_names is None else tuple(class_names),
        masks=None
        if masks_root is None
        else tuple(_find_mask(masks_root, f.relative_to(base)) for f in files),
    )


def load_folder(
    path: str | Path,
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    crops_per_image: int | None = None,
) -> ImageSet:
    """Every readable image under ``path`` as an ImageSet (see the module docstring).

    With ``crops_per_image``, each image gives that many random ``image_size`` crops at
    its own resolution (training patches) instead of one resized, center-cropped image.
    """
    check_split(split)
    _image.check_channels(channels)
    _image.check_limit(limit)
    size = _image.parse_size(image_size)
    if crops_per_image is not None and (size is None or crops_per_image < 1):
        raise ZooError("crops_per_image needs image_size and must be at least 1")
    listing = list_folder(path, split)
    decoded = _read_files(listing, _order(len(listing), limit, seed), limit)
    if decoded.skipped:
        warnings.warn(
            f"skipped {decoded.skipped} unreadable image file(s) in {listing.name}", stacklevel=2
        )
    if not decoded.images:
        what = "image with a mask" if listing.masks is not None else "image"
        raise ZooError(f"no readable {what} in {listing.name} ({decoded.skipped} unreadable)")
    return _finish(listing, decoded, size, channels, crops_per_image, seed)


def iter_folder(
    path: str | Path,
    *,
    split: str = "test",
    image_size: int | tuple[int, int],
    channels: int,
    limit: int | None = None,
    seed: int = 0,
    chunk: int = 256,
) -> Iterator[ImageSet]:
    """The readable images of ``path``'s split, resized as :func:`load_folder` resizes them,
    as ImageSets of up to ``chunk`` images decoded one chunk at a time: any number of files
    in bounded memory. ``limit`` takes that many files, chosen as :func:`load_folder` does
    (unreadable ones among them are skipped and counted)."""
    check_split(split)
    _image.check_channels(channels)
    _image.check_limit(limit)
    size = _image.parse_size(image_size)
    listing = list_folder(path, split)
    chosen = np.sort(_order(len(listing), limit, seed)[:limit])
    skipped = yielded = 0
    for first in range(0, len(chosen), chunk):
        decoded = _read_files(listing, chosen[first : first + chunk], None)
        skipped += decoded.skipped
        if decoded.images:
            yielded += len(decoded.images)
            yield _finish(listing, decoded, size, channels, None, seed)
    if skipped:
        warnings.warn(f"skipped {skipped} unreadable image file(s) in {listing.name}", stacklevel=2)
    if not yielded:
        raise ZooError(f"no readable image in {listing.name} ({skipped} unreadable)")


@dataclass
class _Decoded:
    images: list[np.ndarray]
    masks: list[np.ndarray]
    kept: list[int]
    skipped: int


def _read_files(listing: FolderListing, order: Sequence[int], limit: int | None) -> _Decoded:
    """Files of ``listing`` in ``order`` until ``limit`` are read, sorted back by index;
    unreadable ones skipped and counted."""
    decoded = _Decoded([], [], [], 0)
    for i in order:
        if limit is not None and len(decoded.kept) >= limit:
            break
        try:
            image, mask, _ = listing.read(int(i))
        except ZooError:
            raise
        except Exception:  # Pillow raises many types for a bad file; all mean "unreadable"
            decoded.skipped += 1
            continue
        if mask is not None:
            decoded.masks.append(mask)
        decoded.images.append(image)
        decoded.kept.append(int(i))
    order_back = np.argsort(decoded.kept, kind="stable")
    decoded.images = [decoded.images[i] for i in order_back]
    decoded.masks = [decoded.masks[i] for i in order_back] if decoded.masks else []
    decoded.kept = [decoded.kept[i] for i in order_back]
    return decoded


def _finish(
    listing: FolderListing,
    decoded: _Decoded,
    size: tuple[int, int] | None,
    channels: int | None,
    crops_per_image: int | None,
    seed: int,
) -> ImageSet:
    """Decoded files -> an ImageSet: channels, then the size (as is, crops, or fitted)."""
    name, images, masks, kept = listing.name, decoded.images, decoded.masks, decoded.kept
    target_channels = channels or (3 if any(im.shape[-1] == 3 for im in images) else 1)
    images = [_image.to_channels(im, target_channels) for im in images]
    if size is None:
        shapes = sorted({im.shape[:2] for im in images})
        if len(shapes) > 1:
            listed = ", ".join(f"{h}x{w}" for h, w in shapes[:3])
            more = ", ..." if len(shapes) > 3 else ""
            raise ZooError(
                f"images in {name} have different sizes ({listed}{more}); pass image_size"
            )
    elif crops_per_image:
        if masks:
            raise ZooError(f"crops_per_image does not take masks ({name} has masks/)")
        images = list(random_crops(images, size, crops_per_image, seed=seed))
        kept = [i for i in kept for _ in range(crops_per_image)]
    else:
        images = [np.clip(_image.fit_image(im, size), 0.0, 1.0) for im in images]
        masks = [_image.fit_mask(m, size) for m in masks]

    mask_array = np.stack(masks) if masks else None
    num_classes = None
    if listing.labels is not None:
        num_classes = len(listing.class_names)
    elif mask_array is not None:
        num_classes = int(mask_array.max()) + 1
    return ImageSet(
        images=np.stack(images),
        labels=None if listing.labels is None else np.array([listing.labels[i] for i in kept]),
        masks=mask_array,
        num_classes=num_classes,
        name=name,
        class_names=listing.class_names,
        split=listing.split,
        skipped=decoded.skipped,
    )
