"""The objectives of the non-adversarial tasks, and :func:`objective_for` for every task."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.data.stream import Examples
from zoo.errors import ZooError
from zoo.registry import ModelInfo
from zoo.train import adversarial
from zoo.train.config import TrainConfig
from zoo.train.objective import (
    VALIDATION_SAMPLES,
    Arrays,
    Objective,
    first_samples,
    item_reader,
    rng_seed,
)

# === Pixel tasks ===


class Reconstruct(Objective):
    """Autoencoders: the image is its own target."""

    tasks = ("reconstruct",)

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        return {"image": images.images}

    def pair(self, batch: dict) -> tuple:
        return batch["image"], batch["image"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["image"]), validation["image"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        images = first_samples(validation)["image"]
        return [list(images), list(self.predict(images))]


class Denoise(Objective):
    """Gaussian noise of ``noise_sigma`` (0-255 units), drawn afresh for every example."""

    tasks = ("denoise",)
    patches = True

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        if training:
            return {"clean": images.images}
        sigma = self.options.get("noise_sigma", 25)
        noisy, clean = zdata.noisy_pairs(images.images, sigma, seed=self.config.seed)
        return {"noisy": noisy, "clean": clean}

    def degrade(self, example: dict, seed) -> dict:
        import tensorflow as tf

        clean = example["clean"]
        sigma = self.options.get("noise_sigma", 25) / 255.0
        noise = tf.random.stateless_normal(tf.shape(clean), seed) * sigma
        return {"noisy": tf.clip_by_value(clean + noise, 0.0, 1.0), "clean": clean}

    def pair(self, batch: dict) -> tuple:
        return batch["noisy"], batch["clean"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["noisy"]), validation["clean"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        return [list(first["noisy"]), list(self.predict(first["noisy"])), list(first["clean"])]


class Deblur(Objective):
    """Known blur kernels (Gaussian and motion) with a little noise; learns to undo them.

    Training blurs each sharp crop afresh at every step, in TensorFlow: a kernel drawn
    uniformly from the bank and Gaussian noise of ``noise_sigma`` (0-255 units), clipped to
    [0, 1]. Validation pairs are fixed (seeded, blurred once in numpy) so PSNR compares
    across runs.
    """

    tasks = ("deblur",)
    patches = True

    def kernels(self) -> list[np.ndarray]:
        """The recipe's blur kernels (:func:`zoo.data.blur_kernel_bank`)."""
        return zdata.blur_kernel_bank(self.options)

    @cached_property
    def kernel_bank(self) -> np.ndarray:
        """The bank as one (N, K, K) float32 array, K odd (see ``zdata.stack_kernels``)."""
        return zdata.stack_kernels(self.kernels())

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
        noise = self.options.get("noise_sigma", 2.55)
        blurred, sharp = zdata.blurred_pairs(
            sharp, self.kernels(), noise_sigma=noise, seed=self.config.seed
        )
        return {"blurred": blurred, "sharp": sharp}

    def degrade(self, example: dict, seed) -> dict:
        import tensorflow as tf

        sharp = tf.convert_to_tensor(example["sharp"], dtype=tf.float32)
        bank = self.kernel_bank
        kernel_seed, noise_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        index = tf.random.stateless_uniform([1], kernel_seed, maxval=len(bank), dtype=tf.int32)
        blurred = zdata.blur_tf(sharp[None], bank, index)[0]
        sigma = self.options.get("noise_sigma", 2.55) / 255.0
        noisy = blurred + tf.random.stateless_normal(tf.shape(blurred), noise_seed) * sigma
        return {"blurred": tf.clip_by_value(noisy, 0.0, 1.0), "sharp": sharp}

    def pair(self, batch: dict) -> tuple:
        return batch["blurred"], batch["sharp"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["blurred"]), validation["sharp"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        return [list(first["blurred"]), list(self.predict(first["blurred"])), list(first["sharp"])]


class SuperResolve(Objective):
    """Y-channel patches; low resolution by antialiased bicubic downscaling (the SR protocol).

    From photos and folders, each whole image (and, with recipe option ``rescales``, copies
    of it shrunk by those factors) is downscaled once and ``crops_per_image`` aligned
    (lr, hr) patches are cut from the pair (:func:`zoo.data.super_resolution_crops`).
    Other sources give images at the patch size, downscaled one by one.
    """

    tasks = ("super_resolve",)
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
        bicubic = _upscale(validation["lr"], self.options["scale"])
        return {
            "psnr": metrics.psnr(sr, validation["hr"]),
            "psnr_bicubic": metrics.psnr(bicubic, validation["hr"]),
        }

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        bicubic = _upscale(first["lr"], self.options["scale"])
        return [list(bicubic), list(self.predict(first["lr"])), list(first["hr"])]


def _upscale(images: np.ndarray, scale: int) -> np.ndarray:

    height, width = images.shape[1:3]
    return np.clip(zdata.resize(images, (height * scale, width * scale), "bicubic"), 0, 1)


class Segment(Objective):
    """Per-pixel sparse categorical cross-entropy on softmax probabilities; mIoU as metric."""

    tasks = ("segment",)

    def arrays(self, split: str) -> Arrays:
        height, width, _ = self.image_shape()
        multiple = self.options.get("size_multiple", 1)
        if height % multiple or width % multiple:
            raise ZooError(
                f"{self.info.name} takes sizes divisible by {multiple}; image_size is {height}"
            )
        return super().arrays(split)

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        pixels, masks = zdata.segmentation_pairs(images)
        classes = self.info.output.shape[-1]
        if masks.max() >= classes:
            raise ZooError(
                f"masks hold class {int(masks.max())} but {self.info.name} predicts "
                f"{classes} classes; pass num_classes"
            )
        return {"image": pixels, "mask": masks.astype(np.int32)}

    def per_example_loss(self, target, prediction):
        import keras
        import tensorflow as tf

        pixel = keras.losses.sparse_categorical_crossentropy(target, prediction)
        return tf.reduce_mean(pixel, axis=[1, 2])

    def pair(self, batch: dict) -> tuple:
        return batch["image"], batch["mask"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        predicted = self.predict(validation["image"]).argmax(-1)
        classes = self.info.output.shape[-1]
        return {"miou": metrics.mean_iou(validation["mask"], predicted, classes)}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        first = first_samples(validation)
        predicted = self.predict(first["image"]).argmax(-1)
        classes = self.info.output.shape[-1]
        return [
            list(first["image"]),
            list(zdata.colorize_masks(predicted, classes)),
            list(zdata.colorize_masks(first["mask"], classes)),
        ]


class Variational(Reconstruct):
    """VAE: the negative ELBO (Bernoulli likelihood) with a linear KL warm-up.

    A model given to :meth:`use` (a flat twin) has no encoder part to read the KL term from:
    it trains on the pixel loss alone.
    """

    elbo: bool = True

    def use(self, model, optimizer, *, trains=None) -> None:
        super().use(model, optimizer, trains=trains)
        self.elbo = False

    def build(self) -> None:
        import keras

        super().build()
        self.kl_weight = keras.Variable(0.0, trainable=False, name="kl_weight")

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        warmup = self.options.get("kl_warmup_epochs", 0)
        self.kl_weight.assign(min(1.0, (epoch + 1) / warmup) if warmup else 1.0)

    def terms(self, images, *, training: bool):
        from zoo.models.vae import elbo_terms

        return elbo_terms(self.model, images, training=training)

    def train_step(self, batch: dict) -> dict:
        import tensorflow as tf

        if not self.elbo:
            return super().train_step(batch)
        with tf.GradientTape() as tape:
            reconstruction, kl = self.terms(batch["image"], training=True)
            loss = self.average(reconstruction + self.kl_weight * kl)
        self.apply(tape, loss, self.model, self.optimizer)
        return {
            "loss": loss,
            "reconstruction": self.average(reconstruction),
            "kl": self.average(kl),
        }

    def validate(self, validation: Arrays) -> dict[str, float]:
        reconstruction, kl = self.terms(validation["image"], training=False)
        elbo = -float(np.mean(np.asarray(reconstruction) + np.asarray(kl)))
        return {"elbo": elbo, **super().validate(validation)}


def objective_for(info: ModelInfo, config: TrainConfig) -> Objective:
    """The objective that trains ``info``'s task (the VAE's ELBO for loss "elbo")."""
    if info.recipe.loss == "elbo":
        return Variational(info, config)
    for kind in (Reconstruct, Denoise, Deblur, SuperResolve, Segment, *adversarial.OBJECTIVES):
        if info.task in kind.tasks:
            return kind(info, config)
    raise ZooError(f"no training objective for task {info.task!r}")
