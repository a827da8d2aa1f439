"""Datasets that need no download: shipped inside scikit-learn / scikit-image, or procedural.

- ``digits``: scikit-learn's 1,797 handwritten digits (8x8, 0..16), labels 0..9, resized
  (bilinear) to 32x32 by default; a fixed stratified 80/20 train/test split.
- ``shapes``: procedural circles, squares and triangles on textured backgrounds, 64x64 RGB by
  default, with masks (0 background, 1 circle, 2 square, 3 triangle); deterministic from the
  seed (train and test draw from different streams); 1000 train / 200 test by default.
- ``shape_scenes``: the same masks rendered by :func:`render_scenes` (fixed colours, bevel,
  drop shadow), so the image is a function of the mask: pix2pix's mask -> scene data.
- ``photos``: natural images bundled with scikit-image and scikit-learn (:data:`PHOTO_NAMES`),
  split by image (:data:`PHOTO_TEST` held out); random crops of ``image_size`` (64 by default),
  ``crops_per_image`` per image, deterministic from the seed. :func:`photo_images` gives whole
  images. Gray photos are replicated to RGB, RGB turned to BT.601 luma for ``channels=1``.
- ``faces``: scikit-image's LFW subset, 100 faces 25x25 gray (80 train / 20 test); with
  ``nonfaces=True`` also the 100 background crops, labelled 0 non-face / 1 face.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from zoo.data import _image
from zoo.data.imageset import ImageSet, check_split, concat, finish
from zoo.data.pairs import random_crops, translation_pairs
from zoo.errors import ZooError

_SPLIT_SEED = 1234  # fixed: the train/test partition never depends on the user's seed

SHAPE_CLASSES = ("background", "circle", "square", "triangle")

# scikit-image loaders that read files shipped in the wheel (no pooch, no network), plus
# scikit-learn's two sample photos. Gray: camera, coins, moon, grass, gravel, brick, clock, page,
# text. Needs a download and so left out: eagle, lily, kidney, brain, cells3d, skin, ...
PHOTO_NAMES = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
    "china",
    "flower",
)
PHOTO_TEST = ("chelsea", "coins", "flower")  # held out: a colour photo, a gray one, a sklearn one


# === digits ===


def _stratified_test_mask(labels: np.ndarray, fraction: float) -> np.ndarray:
    rng = np.random.default_rng(_SPLIT_SEED)
    test = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        test[rng.permutation(idx)[: round(len(idx) * fraction)]] = True
    return test


def digits(
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = 32,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> ImageSet:
    """scikit-learn digits: (N, 32, 32, 1) in [0, 1], labels 0..9; 1438 train / 359 test."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)
    labels = data.target.astype(np.int32)
    test = _stratified_test_mask(labels, 0.2)
    keep = {"train": ~test, "test": test, "all": np.ones_like(test)}[check_split(split)]
    return finish(
        images[keep],
        labels=labels[keep],
        name="digits",
        split=split,
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        image_size=_image.parse_size(image_size if image_size is not None else 32),
        channels=channels,
        limit=limit,
        seed=seed,
    )


# === shapes ===


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (yy, xx), each (H, W) float32."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    return yy, xx


def _background(
    rng: np.random.Generator, size: tuple[int, int], yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A textured background (H, W, 3) in [0, 1] and its base colour (3,)."""
    h, w = size
    base = rng.uniform(0.1, 0.9, 3).astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # blotches: a coarse random grid upsampled bicubically
        cells = int(rng.integers(3, 7))
        grid = rng.uniform(-1.0, 1.0, (1, cells, cells, 3)).astype(np.float32)
        texture = 0.25 * _image.resize(grid, size, "bicubic")[0]
    elif kind == 1:  # linear gradient
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)[..., None]
        texture = 0.4 * (ramp - ramp.mean()) * rng.uniform(-1.0, 1.0, 3).astype(np.float32)
    else:  # stripes
        period = rng.uniform(4.0, 12.0) * h / 64
        angle = rng.uniform(0, np.pi)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) * (2 * np.pi / period)
        texture = 0.12 * np.sin(phase)[..., None] * rng.uniform(0.3, 1.0, 3).astype(np.float32)
    return np.clip(base + texture, 0.0, 1.0), base


def _object_colour(rng: np.random.Generator, references: list[np.ndarray]) -> np.ndarray:
    """A random colour at least 0.6 (L1) away from each reference colour (tries 50 times)."""
    colour = rng.uniform(0.0, 1.0, 3)
    for _ in range(50):
        if all(np.abs(colour - r).sum() > 0.6 for r in references):
            break
        colour = rng.uniform(0.0, 1.0, 3)
    return colour.astype(np.float32)


def _footprint(
    rng: np.random.Generator, cls: int, size: tuple[int, int], yy: np.ndarray, xx: np.ndarray
) -> np.ndarray:
    """A boolean (H, W) footprint of one circle (1), axis-aligned square (2) or triangle (3)."""
    h, w = size
    radius = rng.uniform(0.1, 0.25) * min(h, w)
    cy = rng.uniform(radius, h - radius)
    cx = rng.uniform(radius, w - radius)
    dy, dx = yy - cy, xx - cx
    if cls == 1:
        return dy**2 + dx**2 <= radius**2
    if cls == 2:
        half = radius * 0.85
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    # an equilateral triangle inscribed in the circle, at a random rotation
    angles = rng.uniform(0, 2 * np.pi) + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
    vy, vx = radius * np.sin(angles), radius * np.cos(angles)
    inside = np.ones(size, dtype=bool)
    for i in range(3):
        j = (i + 1) % 3  # vertices run counter-clockwise in (x, y): interior on the left
        inside &= (vx[j] - vx[i]) * (dy - vy[i]) - (vy[j] - vy[i]) * (dx - vx[i]) >= 0
    return inside


def render_shapes(
    count: int,
    *,
    image_size: tuple[int, int] = (64, 64),
    max_objects: int = 3,
    noise: float = 0.03,
    seed: int | list[int] = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` scenes: images float32 (N, H, W, 3) in [0, 1], masks int32 (N, H, W) in 0..3.

    Each scene has 1..max_objects solid objects (later ones occlude earlier ones) on a
    textured background, plus Gaussian pixel noise of std ``noise``. Image i depends only on
    the seed and i's position, so a larger ``count`` extends a smaller one.
    """
    rng = np.random.default_rng(seed)
    h, w = image_size
    yy, xx = _grid(image_size)
    images = np.empty((count, h, w, 3), dtype=np.float32)
    masks = np.zeros((count, h, w), dtype=np.int32)
    for i in range(count):
        image, base = _background(rng, image_size, yy, xx)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            cls = int(rng.integers(1, 4))
            footprint = _footprint(rng, cls, image_size, yy, xx)
            under = image[footprint].mean(axis=0) if footprint.any() else base
            colour = _object_colour(rng, [base, under])
            image = np.where(footprint[..., None], colour, image)
            masks[i][footprint] = cls
        if noise > 0:
            image = image + rng.normal(0.0, noise, image.shape).astype(np.float32)
        images[i] = np.clip(image, 0.0, 1.0)
    return images, masks


def shapes(
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = 64,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    count: int | None = None,
    max_objects: int = 3,
    noise: float = 0.03,
) -> ImageSet:
    """Procedural shapes with masks: (N, 64, 64, 3) in [0, 1], masks (N, 64, 64) in 0..3.

    ``count`` defaults to 1000 for train and 200 for test; ``limit`` caps it.
    """
    check_split(split)
    size = _image.parse_size(image_size if image_size is not None else 64)
    if split == "all":
        parts = [
            shapes(
                split=s,
                image_size=size,
                channels=channels,
                seed=seed,
                count=count,
                max_objects=max_objects,
                noise=noise,
            )
            for s in ("train", "test")
        ]
        joined = concat(*parts)
        return joined.subset(_image.choose(len(joined), limit, seed))
    n = count if count is not None else (1000 if split == "train" else 200)
    if limit is not None:
        n = min(n, limit)
    images, masks = render_shapes(
        n,
        image_size=size,
        max_objects=max_objects,
        noise=noise,
        seed=[seed, int(split == "test")],
    )
    return finish(
        images,
        masks=masks,
        name="shapes",
        split=split,
        num_classes=len(SHAPE_CLASSES),
        class_names=SHAPE_CLASSES,
        channels=channels,
    )


SCENE_COLOURS = np.array(  # circle, square, triangle: one fixed colour each
    [[0.85, 0.25, 0.2], [0.2, 0.5, 0.85], [0.95, 0.75, 0.15]], dtype=np.float32
)
_SCENE_SKY, _SCENE_GROUND = (0.62, 0.78, 0.92), (0.86, 0.8, 0.64)


def render_scenes(masks: np.ndarray) -> np.ndarray:
    """Masks int (N, H, W) in 0..3 -> lit scenes float32 (N, H, W, 3) in [0, 1].

    A scene is a function of its mask alone: a fixed sky-to-ground gradient, each class in
    its :data:`SCENE_COLOURS` darkening towards the region's edge (a bevel ~8% of the height
    wide), and a drop shadow cast down-right by ~5% of the height. Seeing the shadow and the
    bevel takes a receptive field, so it is a small but real mask -> image translation.
    """
    from scipy.ndimage import distance_transform_edt

    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ZooError(f"render_scenes takes masks (N, H, W), got shape {masks.shape}")
    n, h, w = masks.shape
    bevel, offset = max(0.08 * h, 1.0), max(round(0.05 * h), 1)
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    sky = (1 - ramp) * np.float32(_SCENE_SKY) + ramp * np.float32(_SCENE_GROUND)
    scenes = np.broadcast_to(sky[None], (n, h, w, 3)).copy()
    objects = masks > 0
    shadow = np.zeros_like(objects)
    shadow[:, offset:, offset:] = objects[:, :-offset, :-offset]
    scenes[shadow & ~objects] *= np.float32(0.6)
    for i in range(n):
        for cls, colour in enumerate(SCENE_COLOURS, start=1):
            region = masks[i] == cls
            if region.any():
                depth = np.minimum(distance_transform_edt(region)[region] / bevel, 1.0)
                light = (0.55 + 0.45 * depth).astype(np.float32)[:, None]
                scenes[i][region] = light * colour
    return scenes


def shape_scenes(
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = 64,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    count: int | None = None,
    max_objects: int = 3,
) -> ImageSet:
    """``shapes``' masks with :func:`render_scenes` images: (N, 64, 64, 3) in [0, 1].

    Same masks, splits and options as :func:`shapes`; the images have one right answer given
    the mask, so pix2pix's L1 and PSNR measure rendering, not a guess at random colours.
    """
    layout = shapes(
        split=split,
        image_size=image_size,
        limit=limit,
        seed=seed,
        count=count,
        max_objects=max_objects,
    )
    return finish(
        render_scenes(layout.masks),
        masks=layout.masks,
        name="shape_scenes",
        split=split,
        num_classes=len(SHAPE_CLASSES),
        class_names=SHAPE_CLASSES,
        channels=channels,
    )


def shapes_pairs(
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = 64,
    limit: int | None = None,
    seed: int = 0,
    count: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """pix2pix pairs (label maps, scenes): colour-coded masks -> rendered scenes, RGB [0, 1]."""
    return translation_pairs(
        shape_scenes(split=split, image_size=image_size, limit=limit, seed=seed, count=count)
    )


# === photos ===


@lru_cache(maxsize=1)
def _photo_arrays() -> dict[str, np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    loaders = {"china": 0, "flower": 1}
    arrays: dict[str, np.ndarray] = {}
    sample = load_sample_images()
    for name in PHOTO_NAMES:
        if name in loaders:
            arrays[name] = sample.images[loaders[name]]
        else:
            arrays[name] = getattr(skimage.data, name)()
    return arrays


def photo_names(split: str) -> list[str]:
    """The names of the photos of a split, in the order :func:`photo_images` gives them."""
    check_split(split)
    if split == "all":
        return list(PHOTO_NAMES)
    test = split == "test"
    return [n for n in PHOTO_NAMES if (n in PHOTO_TEST) == test]


def photo_images(split: str = "train", channels: int | None = 3) -> list[np.ndarray]:
    """Whole photos of a split, each float32 (H, W, C) in [0, 1] (sizes differ)."""
    _image.check_channels(channels)
    arrays = _photo_arrays()
    out = []
    for name in photo_names(split):
        image = _image.with_channel_axis(_image.as_float(arrays[name]), 3)
        out.append(_image.to_channels(image, channels))
    return out


def photos(
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = 64,
    channels: int | None = 3,
    limit: int | None = None,
    seed: int = 0,
    crops_per_image: int = 32,
) -> ImageSet:
    """Random crops of the bundled photos: (N, 64, 64, 3) in [0, 1]; 16 train / 3 test photos."""
    size = _image.parse_size(image_size if image_size is not None else 64)
    if crops_per_image < 1:
        raise ZooError(f"crops_per_image must be >= 1, got {crops_per_image}")
    images = photo_images(split, channels=channels or 3)
    stream = {"train": 0, "test": 1, "all": 2}[split]
    crops = random_crops(images, size, crops_per_image, seed=[seed, stream])
    return finish(crops, name="photos", split=split, limit=limit, seed=seed)


# === faces ===


def faces(
    *,
    split: str = "train",
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    nonfaces: bool = False,
) -> ImageSet:
    """scikit-image LFW subset: (N, 25, 25, 1) faces in [0, 1]; 80 train / 20 test faces."""
    import skimage.data

    data = np.asarray(skimage.data.lfw_subset(), dtype=np.float32)  # (200, 25, 25) in [0, 1]
    labels = np.repeat(np.array([1, 0], dtype=np.int32), 100)  # first 100 faces, then non-faces
    if not nonfaces:
        data, labels = data[:100], labels[:100]
    test = _stratified_test_mask(labels, 0.2)
    keep = {"train": ~test, "test": test, "all": np.ones_like(test)}[check_split(split)]
    return finish(
        data[keep],
        labels=labels[keep] if nonfaces else None,
        name="faces",
        split=split,
        num_classes=2 if nonfaces else None,
        class_names=("non-face", "face") if nonfaces else None,
        image_size=_image.parse_size(image_size),
        channels=channels,
        limit=limit,
        seed=seed,
    )


EMBEDDED = {
    "digits": (digits, "scikit-learn handwritten digits, 32x32 gray, 10 classes (offline)"),
    "shapes": (shapes, "procedural circles/squares/triangles with masks, 64x64 RGB (offline)"),
    "shape_scenes": (
        shape_scenes,
        "shapes' masks rendered as lit scenes, one image per mask, 64x64 RGB (offline)",
    ),
    "photos": (photos, "random crops of scikit-image/scikit-learn photos, 64x64 RGB (offline)"),
    "faces": (faces, "scikit-image LFW subset, 100 faces 25x25 gray (offline)"),
}
