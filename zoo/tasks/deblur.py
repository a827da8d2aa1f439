"""Deblurring: an image blurred by a known family of kernels (plus a little noise) in, sharp out.

Recipe options name the kernel bank (:func:`zoo.data.blur_kernel_bank`: ``kernels``,
``gaussian_sigma``, ``motion_length``) and ``noise_sigma`` (0-255 units, 2.55 by default).
``no_worse_weight`` (0 by default) adds that multiple of how far each training crop's loss
exceeds its blurred input's, so that crops a model makes worse than it was given weigh more.
Training blurs each sharp crop afresh at every step; ``zoo eval`` scores every test image
under every kernel of the bank (:mod:`zoo.tasks.restoration`), so that every kind and
strength of blur the model trained on is scored on every image.

A *blind* model sees the blurred image only. A *non-blind* one also takes the kernel that
blurred it (an input named ``kernel``, made by :func:`kernel_input`), as the classical
deconvolutions (Wiener, Richardson-Lucy) do; training, ``zoo eval``, the sample grids and
``zoo predict --kernel`` hand it the true kernel of each case.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.errors import ZooError
from zoo.inference import run_whole, size_multiple
from zoo.tasks import restoration
from zoo.tasks.base import Task
from zoo.tasks.objective import Arrays, Objective, first_samples

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelInfo
    from zoo.weights_io import TrainedModel

DEFAULT_NOISE_SIGMA = 2.55  # 0-255 units: 0.01 of the [0, 1] range
# The recipe options of the zoo's deblurring models: the kernels of the peers' table
BLUR_RECIPE = {
    "kernels": ["gaussian", "motion"],
    "gaussian_sigma": [1.0, 3.0],
    "motion_length": [5, 15],
    "noise_sigma": DEFAULT_NOISE_SIGMA,
}
# The side of the recipe's largest kernel (Gaussian sigma 3): a non-blind model's kernel input
RECIPE_KERNEL_SIZE = zdata.stack_kernels(zdata.blur_kernel_bank(BLUR_RECIPE)).shape[-1]


def noise_sigma(options: dict) -> float:
    """The recipe's noise level after the blur, in 0-255 units."""
    return options.get("noise_sigma", DEFAULT_NOISE_SIGMA)


def kernels(options: dict) -> list[np.ndarray]:
    """The recipe's blur kernels (:func:`zoo.data.blur_kernel_bank`), as in training."""
    return zdata.blur_kernel_bank(options)


def takes_kernel(info: ModelInfo) -> bool:
    """Whether the model is non-blind: it takes the blur kernel as an input."""
    return any(spec.name == "kernel" for spec in info.inputs)


def kernel_side(info: ModelInfo) -> int:
    """The side K of a non-blind model's (K, K, 1) kernel input."""
    return next(spec.shape[0] for spec in info.inputs if spec.name == "kernel")


def kernel_input(kernel: np.ndarray, side: int) -> np.ndarray:
    """A (k, k) blur kernel as a non-blind model's input: float32 (side, side, 1).

    Centred where :func:`zoo.data.stack_kernels` centres it, and scaled so its largest tap
    is 1 (a kernel sums to 1, so the scale loses nothing, and int8 inputs keep its shape).
    A kernel wider than ``side`` or with no positive tap is a ZooError.
    """
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 2 or kernel.max(initial=0.0) <= 0 or kernel.min(initial=0.0) < 0:
        raise ZooError(f"a blur kernel is a 2-D array of taps >= 0, not all 0; got {kernel.shape}")
    centred = zdata.stack_kernels([kernel])[0]
    if centred.shape[0] > side:
        raise ZooError(f"a {kernel.shape[0]}x{kernel.shape[1]} kernel is wider than {side}x{side}")
    margin = (side - centred.shape[0]) // 2
    padded = np.pad(centred, margin)
    return (padded / padded.max())[..., None]


def parse_kernel(spec: str) -> np.ndarray:
    """A blur kernel from ``zoo predict --kernel``: ``gaussian:SIGMA``,
    ``motion:LENGTH[:ANGLE]`` (pixels, degrees) or a file (.npy, or an image whose
    brightness is the kernel), normalized to sum 1."""
    kind, _, rest = spec.partition(":")
    try:
        if kind == "gaussian" and rest:
            return zdata.blur_kernel("gaussian", sigma=float(rest))
        if kind == "motion" and rest:
            length, _, angle = rest.partition(":")
            return zdata.blur_kernel("motion", length=float(length), angle=float(angle or 0))
    except ValueError:
        raise ZooError(
            f"--kernel {spec!r}: expected gaussian:SIGMA or motion:LENGTH[:ANGLE]"
        ) from None
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ZooError(
            f"--kernel {spec!r}: not gaussian:SIGMA, motion:LENGTH[:ANGLE] or an existing file"
        )
    if path.suffix == ".npy":
        try:
            kernel = np.asarray(np.load(path), np.float32)
        except (OSError, ValueError) as error:
            raise ZooError(f"--kernel {spec}: not a numpy array file ({error})") from None
    else:
        kernel = zdata.ImageFiles([path])[0].mean(axis=-1)
    if kernel.ndim != 2 or kernel.min() < 0 or kernel.sum() <= 0:
        raise ZooError(f"--kernel {spec}: expected a 2-D kernel with a positive sum")
    return kernel / kernel.sum()


def restore(
    model: keras.Model, info: ModelInfo, degraded: np.ndarray, kernel: np.ndarray, multiple: int
) -> np.ndarray:
    """The model's restoration of one whole blurred (H, W, C) image, clipped to [0, 1]; a
    non-blind model also gets ``kernel`` (k, k), the one that blurred it."""
    extra = [kernel_input(kernel, kernel_side(info))] if takes_kernel(info) else []
    return np.clip(run_whole(model, degraded, multiple, extra), 0.0, 1.0)


def degrade(options: dict, image: np.ndarray, seed: int, kernel: np.ndarray | None = None):
    """One (H, W, C) image blurred by ``kernel`` (default: one drawn from the recipe's bank)
    plus the recipe's noise, clipped to [0, 1]."""
    bank = kernels(options) if kernel is None else [kernel]
    blurred, _ = zdata.blurred_pairs(image[None], bank, noise_sigma=noise_sigma(options), seed=seed)
    return blurred[0]


class Deblur(Objective):
    """Known blur kernels (Gaussian and motion) with a little noise; learns to undo them.

    Training blurs each sharp crop afresh at every step, in TensorFlow: a kernel drawn
    uniformly from the bank and Gaussian noise of ``noise_sigma`` (0-255 units), clipped to
    [0, 1]. Validation pairs are fixed (seeded, blurred once in numpy) so PSNR compares
    across runs.
    """

    patches = True

    def kernels(self) -> list[np.ndarray]:
        """The recipe's blur kernels (:func:`zoo.data.blur_kernel_bank`)."""
        return kernels(self.options)

    @cached_property
    def kernel_bank(self) -> np.ndarray:
        """The bank as one (N, K, K) float32 array, K odd (see ``zdata.stack_kernels``)."""
        return zdata.stack_kernels(self.kernels())

    @cached_property
    def kernel_inputs(self) -> np.ndarray | None:
        """The bank as a non-blind model's kernel inputs, (N, side, side, 1); blind: None."""
        if not takes_kernel(self.info):
            return None
        side = kernel_side(self.info)
        return np.stack([kernel_input(kernel, side) for kernel in self.kernels()])

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        sharp = images.images
        if training:
            reach = self.kernel_bank.shape[-1] // 2
            if min(sharp.shape[1:3]) < reach:
                raise ZooError(
                    f"deblur training crops of {sharp.shape[1]}x{sharp.shape[2]} are smaller "
                    f"than the largest blur kernel's reach ({reach} pixels); raise patch_size"
                )
            return {"sharp": sharp}
        blurred, sharp, chosen = zdata.blurred_pairs(
            sharp,
            self.kernels(),
            noise_sigma=noise_sigma(self.options),
            seed=self.config.seed,
            return_kernels=True,
        )
        arrays = {"blurred": blurred, "sharp": sharp}
        if self.kernel_inputs is not None:
            arrays["kernel"] = self.kernel_inputs[chosen]
        return arrays

    def degrade(self, example: dict, seed) -> dict:
        import tensorflow as tf

        sharp = tf.convert_to_tensor(example["sharp"], dtype=tf.float32)
        bank = self.kernel_bank
        kernel_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        index = tf.random.stateless_uniform([1], kernel_seed, maxval=len(bank), dtype=tf.int32)
        blurred = zdata.blur_tf(sharp[None], bank, index)[0]
        sigma = noise_sigma(self.options) / 255.0
        noisy = blurred + tf.random.stateless_normal(tf.shape(blurred), noise_seed) * sigma
        degraded = {"blurred": tf.clip_by_value(noisy, 0.0, 1.0), "sharp": sharp}
        if self.kernel_inputs is not None:
            degraded["kernel"] = tf.gather(tf.constant(self.kernel_inputs), index)[0]
        return degraded

    def model_inputs(self, arrays: dict):
        """The model's inputs among ``arrays``: the blurred images (and kernels, non-blind)."""
        if self.kernel_inputs is None:
            return arrays["blurred"]
        return [arrays["blurred"], arrays["kernel"]]

    def pair(self, batch: dict) -> tuple:
        return self.model_inputs(batch), batch["sharp"]

    def training_loss(self, batch: dict, target, prediction):
        """The recipe's loss, plus ``no_worse_weight`` x its excess over the blurred input's."""
        import tensorflow as tf

        loss = self.per_example_loss(target, prediction)
        weight = float(self.options.get("no_worse_weight", 0.0))
        if not weight:
            return loss
        input_loss = self.per_example_loss(target, batch["blurred"])
        return loss + weight * tf.nn.relu(loss - input_loss)

    def validate(self, validation: Arrays) -> dict[str, float]:
        restored = self.predict(self.model_inputs(validation))
        return {"psnr": metrics.psnr(restored, validation["sharp"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        restored = self.predict(self.model_inputs(first))
        return [list(first["blurred"]), list(restored), list(first["sharp"])]


def evaluate(run: TrainedModel, source: str, limit: int | None, seed: int):
    bank = kernels(run.options)
    count, values = restoration.evaluate(run, source, limit, seed, bank, degrade, restore)
    details = {
        "images": count // len(bank),
        "kernels": len(bank),
        "noise_sigma": noise_sigma(run.options),
    }
    return count, values, details


def sample_pairs(run: TrainedModel, count: int, seed: int, source: str):
    return restoration.sample_pairs(run, count, seed, source, kernels(run.options), degrade)


def grid_rows(run: TrainedModel, inputs: list, targets: list) -> list[list[np.ndarray]]:
    """Blurred, restored (a non-blind model given each case's kernel), sharp."""
    bank = kernels(run.options)
    multiple = size_multiple(run.model, run.options)
    restored = [
        restore(run.model, run.info, image, bank[i % len(bank)], multiple)
        for i, image in enumerate(inputs)
    ]
    return [list(inputs), restored, list(targets)]


def predict_image(
    model: keras.Model, info: ModelInfo, image: np.ndarray, options: dict, multiple: int | None
) -> np.ndarray:
    """The deblurred whole image in [0, 1]; a non-blind model needs ``options["kernel"]``
    (a (k, k) array: ``zoo predict --kernel``), a blind one refuses it."""
    kernel = options.get("kernel")
    if not takes_kernel(info):
        if kernel is not None:
            raise ZooError(f"{info.name} is blind: it takes no kernel (drop --kernel)")
        return restoration.predict_image(model, info, image, options, multiple)
    if kernel is None:
        raise ZooError(
            f"{info.name} is non-blind: give the blur kernel "
            "(--kernel gaussian:SIGMA, motion:LENGTH[:ANGLE] or a .npy / image file)"
        )
    multiple = multiple or size_multiple(model, options)
    source = zdata.to_channels(np.asarray(image, np.float32), info.inputs[0].shape[-1])
    return restore(model, info, source, kernel, multiple)


TASK = Task(
    name="deblur",
    metric="psnr",
    higher_is_better=True,
    objective=Deblur,
    evaluate=evaluate,
    sample_rows=("blurred", "restored", "sharp"),
    predict_image=predict_image,
    sample_pairs=sample_pairs,
    grid_rows=grid_rows,
    fully_convolutional=True,
)
