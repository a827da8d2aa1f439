"""Training pairs for each task, numpy in and numpy out, deterministic given a seed.

All images are float32 in [0, 1], batches (N, H, W, C) unless said otherwise.

- super-resolution: ``super_resolution_pairs`` (MATLAB-like antialiased bicubic downscaling,
  done with Pillow's BICUBIC, a = -0.5, support widened by the scale, in float, which matches
  ``tf.image.resize(method="bicubic", antialias=True)`` to float precision; then rounded to
  8 bits like the standard benchmark protocol), BT.601 ``rgb_to_y`` / ``rgb_to_ycbcr`` /
  ``ycbcr_to_rgb`` (MATLAB's rgb2ycbcr: Y in [16/255, 235/255]).
- denoising: ``noisy_pairs`` (additive Gaussian noise, sigma in 0..255 units, clipped).
- deblurring: ``blur_kernel`` (gaussian, motion, box, disk; normalised to sum 1) and
  ``blurred_pairs`` (true convolution per channel, symmetric "reflect" boundary, optional noise);
  ``blur_tf`` is ``convolve``'s TensorFlow twin (tensors in and out, one kernel of a
  ``stack_kernels`` bank per image) for blurring afresh inside a training step.
- segmentation / translation: ``segmentation_pairs``, ``translation_pairs`` (colour-coded
  label maps -> images, for pix2pix), ``label_palette``, ``colorize_masks``.
- patches: ``random_crops``; aligned super-resolution patches: ``super_resolution_crops``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data import _image
from zoo.data.imageset import ImageSet
from zoo.errors import ZooError

if TYPE_CHECKING:
    import tensorflow as tf

# MATLAB rgb2ycbcr (BT.601, studio swing), for R, G, B in [0, 1]; outputs in 0..255.
_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
    dtype=np.float64,
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


# === Patches ===


def random_crops(
    images: Sequence[np.ndarray] | np.ndarray,
    size: int | tuple[int, int],
    per_image: int,
    *,
    seed: int | Sequence[int] = 0,
) -> np.ndarray:
    """``per_image`` random (h, w) crops of each (H, W, C) image -> (N * per_image, h, w, C).

    An image smaller than the crop is first enlarged (bicubic, aspect kept) to cover it,
    with a warning when that takes more than twice its size (its crops are nearly flat).
    """
    height, width = _image.parse_size(size)
    rng = np.random.default_rng(seed)
    crops = []
    for image in images:
        if image.shape[0] < height or image.shape[1] < width:
            if 2 * image.shape[0] < height or 2 * image.shape[1] < width:
                warnings.warn(
                    f"an image of {image.shape[1]}x{image.shape[0]} was enlarged over 2x to "
                    f"cover {width}x{height} crops: they are nearly flat",
                    stacklevel=2,
                )
            covered = _image.cover_size(image.shape[:2], (height, width))
            image = np.clip(_image.resize_image(image, covered, "bicubic"), 0.0, 1.0)
        tops = rng.integers(0, image.shape[0] - height + 1, per_image)
        lefts = rng.integers(0, image.shape[1] - width + 1, per_image)
        crops.extend(image[t : t + height, x : x + width] for t, x in zip(tops, lefts, strict=True))
    if not crops:
        raise ZooError("no crops: pass at least one image and per_image >= 1")
    return np.stack(crops).astype(np.float32)


def random_dihedral(images: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Each (N, H, H, C) square image flipped and rotated by one of the 8 symmetries of the square.

    The augmentation of the super-resolution papers (rotations by 90 degrees and flips); the
    transform is drawn per image from ``seed``.
    """
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise ZooError(f"random_dihedral needs square (N, H, H, C) images; got {images.shape}")
    choices = np.random.default_rng(seed).integers(0, 8, len(images))
    out = np.empty_like(images)
    for index, (image, choice) in enumerate(zip(images, choices, strict=True)):
        turned = np.rot90(image, k=choice % 4, axes=(0, 1))
        out[index] = turned[:, ::-1] if choice >= 4 else turned
    return out


# === Super-resolution ===


def _downscale(hr: np.ndarray, scale: int, quantize: bool) -> np.ndarray:
    size = (hr.shape[-3] // scale, hr.shape[-2] // scale)
    if hr.ndim == 4:
        lr = _image.resize(hr, size, "bicubic")
    else:
        lr = _image.resize_image(hr, size, "bicubic")
    lr = np.clip(lr, 0.0, 1.0)
    return np.round(lr * 255.0) / 255.0 if quantize else lr


def super_resolution_pairs(
    hr_images: np.ndarray | Sequence[np.ndarray],
    scale: int,
    *,
    quantize: bool = True,
) -> tuple[np.ndarray, np.ndarray] | tuple[list[np.ndarray], list[np.ndarray]]:
    """(lr, hr): hr cropped (top-left) to a multiple of ``scale``, lr = bicubic downscale.

    A batch (N, H, W, C) gives two arrays, lr (N, H // scale, W // scale, C); a list of
    differently sized (H, W, C) images gives two lists. ``quantize`` rounds lr to 8-bit levels.
    """
    if not isinstance(scale, int | np.integer) or scale < 1:
        raise ZooError(f"scale must be a positive integer, got {scale!r}")

    def crop(image: np.ndarray, axis: int) -> np.ndarray:
        h, w = image.shape[axis], image.shape[axis + 1]
        if h < scale or w < scale:
            raise ZooError(f"image {h}x{w} is smaller than the scale {scale}")
        index = [slice(None)] * image.ndim
        index[axis] = slice(0, h // scale * scale)
        index[axis + 1] = slice(0, w // scale * scale)
        return image[tuple(index)].astype(np.float32, copy=False)

    if isinstance(hr_images, np.ndarray) and hr_images.ndim == 4:
        hr = crop(hr_images, 1)
        return _downscale(hr, scale, quantize).astype(np.float32), hr
    hrs = [crop(_image.with_channel_axis(np.asarray(im), 3), 0) for im in hr_images]
    return [_downscale(h, scale, quantize).astype(np.float32) for h in hrs], hrs


def super_resolution_crops(
    hr_images: Sequence[np.ndarray],
    scale: int,
    patch_size: int,
    per_image: int,
    *,
    rescales: Sequence[float] = (1.0,),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned random crops of whole images: lr (N, p, p, C) and hr (N, p*s, p*s, C).

    p = ``patch_size`` // ``scale``. Each whole (H, W, C) image, and a copy of it shrunk by
    each factor in ``rescales`` (the FSRCNN paper's 0.9 ... 0.6 multiply the data), is
    downscaled once by :func:`super_resolution_pairs`; every crop is cut at the same place
    in both, so no low-resolution pixel is computed from a crop's edge. ``per_image`` crops
    come from each image, shared evenly among its copies; an image smaller than a patch is
    first enlarged to cover it.
    """
    side = patch_size // scale
    if side < 1 or per_image < 1 or not rescales or min(rescales) <= 0:
        raise ZooError(
            f"super-resolution crops need patch_size >= scale ({patch_size} < {scale}?), "
            f"per_image >= 1 and positive rescales; got {per_image}, {list(rescales)}"
        )
    rng = np.random.default_rng(seed)
    counts = np.full(len(rescales), per_image // len(rescales))
    counts[: per_image % len(rescales)] += 1
    lr_crops, hr_crops = [], []
    for image in hr_images:
        image = _image.with_channel_axis(np.asarray(image, np.float32), 3)
        for factor, count in zip(rescales, counts, strict=True):
            if count == 0:
                continue
            height, width = image.shape[:2]
            size = (max(round(height * factor), 1), max(round(width * factor), 1))
            if min(size) < side * scale:
                size = _image.cover_size(size, (side * scale, side * scale))
            copy = np.clip(_image.resize_image(image, size, "bicubic"), 0.0, 1.0)
            (lr,), (hr,) = super_resolution_pairs([copy], scale)
            tops = rng.integers(0, lr.shape[0] - side + 1, count)
            lefts = rng.integers(0, lr.shape[1] - side + 1, count)
            for top, left in zip(tops, lefts, strict=True):
                lr_crops.append(lr[top : top + side, left : left + side])
                hr_crops.append(
                    hr[top * scale : (top + side) * scale, left * scale : (left + side) * scale]
                )
    if not lr_crops:
        raise ZooError("no super-resolution crops: pass at least one image")
    return np.stack(lr_crops), np.stack(hr_crops)


def rgb_to_ycbcr(images: np.ndarray) -> np.ndarray:
    """BT.601 studio-swing YCbCr (MATLAB rgb2ycbcr) of RGB (..., 3) in [0, 1], scaled / 255."""
    ycbcr = np.asarray(images, dtype=np.float64) @ _YCBCR.T + _YCBCR_OFFSET
    return (ycbcr / 255.0).astype(np.float32)


def ycbcr_to_rgb(images: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`, clipped to [0, 1]."""
    ycbcr = np.asarray(images, dtype=np.float64) * 255.0 - _YCBCR_OFFSET
    return np.clip(ycbcr @ np.linalg.inv(_YCBCR).T, 0.0, 1.0).astype(np.float32)


def rgb_to_y(images: np.ndarray) -> np.ndarray:
    """BT.601 luma Y (..., 1) in [16/255, 235/255] of RGB (..., 3) or gray (..., 1) in [0, 1]."""
    images = np.asarray(images, dtype=np.float64)
    if images.shape[-1] == 1:
        y = 16.0 + 219.0 * images  # R = G = B: the three weights add up to 219
    elif images.shape[-1] == 3:
        y = (images @ _YCBCR[0] + 16.0)[..., None]
    else:
        raise ZooError(f"rgb_to_y takes 1 or 3 channels, got {images.shape[-1]}")
    return (y / 255.0).astype(np.float32)


# === Denoising ===


def noisy_pairs(
    images: np.ndarray,
    sigma: float,
    *,
    seed: int = 0,
    clip: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean): additive white Gaussian noise of std ``sigma`` / 255, clipped to [0, 1]."""
    if sigma < 0:
        raise ZooError(f"noise sigma must be >= 0, got {sigma}")
    clean = np.asarray(images, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, sigma / 255.0, clean.shape)
    noisy = (clean + noise).astype(np.float32)
    return (np.clip(noisy, 0.0, 1.0) if clip else noisy), clean


# === Deblurring ===


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


def blur_kernel(
    kind: str = "gaussian",
    *,
    size: int | None = None,
    sigma: float = 1.6,
    length: float = 9.0,
    angle: float = 0.0,
    radius: float = 3.0,
) -> np.ndarray:
    """A float32 (k, k) point-spread function that sums to 1.

    - ``gaussian``: std ``sigma``; ``size`` defaults to 2 * ceil(3 sigma) + 1.
    - ``motion``: a straight line ``length`` pixels long at ``angle`` degrees (counter-clockwise
      from the x axis, y up) through the centre; each pixel weighs the length of line in it.
    - ``box``: a ``size`` x ``size`` average. ``disk``: a defocus disk of ``radius`` pixels.
    """
    if kind == "gaussian":
        if sigma <= 0:
            raise ZooError(f"gaussian blur needs sigma > 0, got {sigma}")
        k = size or 2 * int(np.ceil(3 * sigma)) + 1
        r = np.arange(k) - (k - 1) / 2
        g = np.exp(-(r**2) / (2 * sigma**2))
        kernel = np.outer(g, g)
    elif kind == "motion":
        if length < 1:
            raise ZooError(f"motion blur needs length >= 1, got {length}")
        k = size or max(3, _odd(int(np.ceil(length))))
        kernel = np.zeros((k, k))
        centre = (k - 1) / 2
        # supersample the segment (64 points a pixel), each point counted in its nearest pixel
        n = 64 * int(np.ceil(length))
        t = (np.arange(n) + 0.5) / n * length - length / 2
        theta = np.deg2rad(angle)
        xs = np.floor(np.round(centre + t * np.cos(theta), 6) + 0.5).astype(int)
        ys = np.floor(np.round(centre - t * np.sin(theta), 6) + 0.5).astype(int)
        inside = (ys >= 0) & (ys < k) & (xs >= 0) & (xs < k)
        np.add.at(kernel, (ys[inside], xs[inside]), 1.0)
    elif kind == "box":
        k = size or 5
        kernel = np.ones((k, k))
    elif kind == "disk":
        if radius <= 0:
            raise ZooError(f"disk blur needs radius > 0, got {radius}")
        k = size or 2 * max(0, int(np.ceil(radius - 0.5))) + 1
        r = np.arange(k) - (k - 1) / 2
        # 4x4 supersampling of each pixel gives smooth edge weights
        sub = (np.arange(4) + 0.5) / 4 - 0.5
        yy = (r[:, None, None, None] + sub[None, None, :, None]) ** 2
        xx = (r[None, :, None, None] + sub[None, None, None, :]) ** 2
        kernel = ((yy + xx) <= radius**2).mean(axis=(2, 3))
    else:
        raise ZooError(f"unknown blur kernel {kind!r}; expected gaussian, motion, box or disk")
    total = kernel.sum()
    if total <= 0:
        raise ZooError(f"{kind} blur kernel of size {k} is empty")
    return (kernel / total).astype(np.float32)


def convolve(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """True 2-D convolution of each channel of (N, H, W, C) with a (k, k) kernel, same size.

    The boundary is mirrored ("reflect" in scipy.ndimage, "symmetric" in numpy and MATLAB).
    """
    from scipy.signal import fftconvolve

    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    pad = ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0))
    padded = np.pad(np.asarray(images, dtype=np.float64), pad, mode="symmetric")
    out = fftconvolve(padded, kernel[None, :, :, None], mode="valid", axes=(1, 2))
    return out.astype(np.float32)


BLUR_DEFAULTS = {
    "kernels": ("gaussian", "motion"),
    "gaussian_sigma": (1.0, 3.0),
    "motion_length": (5, 15),
}
MOTION_ANGLES = (0, 45, 90, 135)


def blur_kernel_bank(options: Mapping[str, Any]) -> list[np.ndarray]:
    """The blur kernels a deblurring recipe names (its ``options``), each summing to 1.

    ``kernels``: which kinds ("gaussian", "motion"); ``gaussian_sigma`` and
    ``motion_length``: [low, high], three values spread evenly over each; motion kernels
    at the angles 0, 45, 90 and 135 degrees. Training and evaluation use this one bank.
    """

    def spread(key: str) -> np.ndarray:
        low, high = options.get(key, BLUR_DEFAULTS[key])
        return np.linspace(low, high, 3)

    kinds = options.get("kernels", BLUR_DEFAULTS["kernels"])
    bank = []
    if "gaussian" in kinds:
        bank += [blur_kernel("gaussian", sigma=s) for s in spread("gaussian_sigma")]
    if "motion" in kinds:
        for length in spread("motion_length"):
            bank += [blur_kernel("motion", length=int(length), angle=a) for a in MOTION_ANGLES]
    if not bank:
        raise ZooError(f"deblur needs blur kernels; got kernels={kinds!r}")
    return bank


def stack_kernels(kernels: Sequence[np.ndarray]) -> np.ndarray:
    """(k, k) kernels, zero-padded to one odd size K and stacked -> float32 (N, K, K).

    Each kernel sits where :func:`convolve` puts its origin (row kh // 2, column kw // 2) at
    the centre (K // 2, K // 2), so convolving with the padded kernel gives the same result
    (odd kernels are centred; even ones get one more zero row/column before than after).
    """
    kernels = [np.asarray(k, dtype=np.float32) for k in kernels]
    if not kernels or any(k.ndim != 2 for k in kernels):
        raise ZooError("stack_kernels needs at least one kernel, each (k, k)")
    size = max(_odd(n) for k in kernels for n in k.shape)
    stack = np.zeros((len(kernels), size, size), dtype=np.float32)
    for index, kernel in enumerate(kernels):
        top, left = size // 2 - kernel.shape[0] // 2, size // 2 - kernel.shape[1] // 2
        stack[index, top : top + kernel.shape[0], left : left + kernel.shape[1]] = kernel
    return stack


def blur_tf(
    images: tf.Tensor | np.ndarray, kernels: tf.Tensor | np.ndarray, index: tf.Tensor | np.ndarray
) -> tf.Tensor:
    """TensorFlow twin of :func:`convolve`, one kernel per image (traceable, no numpy).

    ``images`` (B, H, W, C) float32 in [0, 1]; ``kernels`` (N, K, K) from
    :func:`stack_kernels` (K odd; a numpy array or a tensor); ``index`` (B,) int, the kernel
    of each image. Returns the blurred images, (B, H, W, C) float32: true convolution (the
    kernel flipped, unlike ``tf.nn`` convolutions), same size, mirrored boundary (numpy
    "symmetric" = tf.pad "SYMMETRIC"), so equal to ``convolve(images[b:b+1], kernel)`` to
    float32 precision. H and W must be at least K // 2 (a tf.pad limit). B may be dynamic.
    One depthwise convolution does the whole batch: the batch moves into the channels.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, dtype=tf.float32)
    kernels = tf.convert_to_tensor(kernels, dtype=tf.float32)
    half = kernels.shape[-1] // 2
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    flipped = tf.reverse(tf.gather(kernels, index), axis=[1, 2])  # (B, K, K): true convolution
    per_channel = tf.repeat(flipped, channels, axis=0)  # (B * C, K, K), image-major
    filters = tf.transpose(per_channel, [1, 2, 0])[..., None]  # (K, K, B * C, 1)
    merged = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, height, width, -1])
    padded = tf.pad(merged, [[0, 0], [half, half], [half, half], [0, 0]], mode="SYMMETRIC")
    blurred = tf.nn.depthwise_conv2d(padded, filters, strides=[1, 1, 1, 1], padding="VALID")
    blurred = tf.transpose(tf.reshape(blurred, [height, width, batch, channels]), [2, 0, 1, 3])
    return tf.ensure_shape(blurred, images.shape)


def blurred_pairs(
    images: np.ndarray,
    kernels: np.ndarray | Sequence[np.ndarray],
    *,
    noise_sigma: float = 0.0,
    seed: int = 0,
    return_kernels: bool = False,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(blurred, sharp) or, with ``return_kernels``, (blurred, sharp, kernel index per image).

    ``kernels`` is one (k, k) kernel or a list of them; with several, each image gets one
    chosen at random (seeded). ``noise_sigma`` (0..255 units) adds Gaussian noise after the
    blur; the result is clipped to [0, 1].
    """
    sharp = np.asarray(images, dtype=np.float32)
    if isinstance(kernels, np.ndarray) and kernels.ndim == 2:
        kernels = [kernels]
    kernels = [np.asarray(k, dtype=np.float32) for k in kernels]
    if not kernels:
        raise ZooError("blurred_pairs needs at least one kernel")
    rng = np.random.default_rng(seed)
    choice = (
        rng.integers(0, len(kernels), len(sharp))
        if len(kernels) > 1
        else np.zeros(len(sharp), dtype=int)
    )
    blurred = np.empty_like(sharp)
    for index in np.unique(choice):
        members = choice == index
        blurred[members] = convolve(sharp[members], kernels[index])
    if noise_sigma > 0:
        blurred = blurred + rng.normal(0.0, noise_sigma / 255.0, blurred.shape).astype(np.float32)
    blurred = np.clip(blurred, 0.0, 1.0)
    if return_kernels:
        return blurred, sharp, choice
    return blurred, sharp


# === Segmentation and translation ===


def segmentation_pairs(imageset: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W, C) in [0, 1], masks int32 (N, H, W)) of a set that has masks."""
    if imageset.masks is None:
        raise ZooError(
            f"dataset {imageset.name} has no masks; segmentation needs an image folder with "
            "masks or 'shapes'"
        )
    return imageset.images, imageset.masks


def label_palette(num_classes: int) -> np.ndarray:
    """A fixed (num_classes, 3) float32 palette in [0, 1] (PASCAL VOC's bit-interleaved one)."""
    palette = np.zeros((num_classes, 3), dtype=np.int64)
    for cls in range(num_classes):
        c, shift = cls, 7
        while c:
            for channel in range(3):
                palette[cls, channel] |= ((c >> channel) & 1) << shift
            c >>= 3
            shift -= 1
    return (palette / 255.0).astype(np.float32)


def colorize_masks(masks: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Class-index masks (..., H, W) -> colour-coded label maps (..., H, W, 3) in [0, 1]."""
    masks = np.asarray(masks)
    n = num_classes or int(masks.max(initial=0)) + 1
    return label_palette(n)[masks]


def translation_pairs(imageset: ImageSet) -> tuple[np.ndarray, np.ndarray]:
    """pix2pix pairs (label maps, images): the colour-coded masks -> the photos, RGB in [0, 1]."""
    images, masks = segmentation_pairs(imageset)
    return colorize_masks(masks, imageset.num_classes), images
