"""The objectives of the non-adversarial tasks, and :func:`objective_for` for every task."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from zoo import data as zdata
from zoo import metrics
from zoo.errors import ZooError
from zoo.registry import ModelInfo
from zoo.train import adversarial
from zoo.train.config import TrainConfig
from zoo.train.objective import VALIDATION_SAMPLES, Arrays, Objective, first_samples


def _validation(imageset: zdata.ImageSet) -> zdata.ImageSet:
    return imageset.take(min(VALIDATION_SAMPLES, len(imageset)))


# === Pixel tasks ===


class Reconstruct(Objective):
    """Autoencoders: the image is its own target."""

    tasks = ("reconstruct",)

    def load_data(self) -> tuple[Arrays, Arrays]:
        train, test = self.load_images("train"), _validation(self.load_images("test"))
        return {"image": train.images}, {"image": test.images}

    def pair(self, batch: dict) -> tuple:
        return batch["image"], batch["image"]

    def validate(self, validation: Arrays) -> dict[str, float]:
        return {"psnr": metrics.psnr(self.predict(validation["image"]), validation["image"])}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        images = first_samples(validation)["image"]
        return [list(images), list(self.predict(images))]


class Denoise(Objective):
    """Gaussian noise of ``noise_sigma`` (0-255 units), drawn afresh at every step."""

    tasks = ("denoise",)
    patches = True

    def load_data(self) -> tuple[Arrays, Arrays]:
        train, test = self.load_images("train"), _validation(self.load_images("test"))
        sigma = self.options.get("noise_sigma", 25)
        noisy, clean = zdata.noisy_pairs(test.images, sigma, seed=self.config.seed)
        return {"clean": train.images}, {"noisy": noisy, "clean": clean}

    def pair(self, batch: dict) -> tuple:
        import tensorflow as tf

        clean = batch["clean"]
        sigma = self.options.get("noise_sigma", 25) / 255.0
        noisy = tf.clip_by_value(clean + tf.random.normal(tf.shape(clean)) * sigma, 0.0, 1.0)
        return noisy, clean

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

    def load_data(self) -> tuple[Arrays, Arrays]:
        sharp = self.load_images("train").images
        reach = self.kernel_bank.shape[-1] // 2
        if min(sharp.shape[1:3]) < reach:
            raise ZooError(
                f"deblur training crops of {sharp.shape[1]}x{sharp.shape[2]} are smaller than "
                f"the largest blur kernel's reach ({reach} pixels); raise patch_size"
            )
        test = self.load_images("test").images[:VALIDATION_SAMPLES]
        noise = self.options.get("noise_sigma", 2.55)
        blurred, test_sharp = zdata.blurred_pairs(
            test, self.kernels(), noise_sigma=noise, seed=self.config.seed
        )
        return {"sharp": sharp}, {"blurred": blurred, "sharp": test_sharp}

    def pair(self, batch: dict) -> tuple:
        import tensorflow as tf

        sharp = tf.convert_to_tensor(batch["sharp"], dtype=tf.float32)
        bank = self.kernel_bank
        index = tf.random.uniform([tf.shape(sharp)[0]], maxval=len(bank), dtype=tf.int32)
        blurred = zdata.blur_tf(sharp, bank, index)
        sigma = self.options.get("noise_sigma", 2.55) / 255.0
        noisy = blurred + tf.random.normal(tf.shape(blurred)) * sigma
        return tf.clip_by_value(noisy, 0.0, 1.0), sharp

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

    def load_data(self) -> tuple[Arrays, Arrays]:
        scale = self.options["scale"]
        patch = self.options.get("patch_size", 32) // scale * scale
        arrays = []
        for split in ("train", "test"):
            source, source_split = self.source(split)
            if self.crops_whole_images(source):
                images, _ = zdata.whole_images(source, split=source_split, limit=self.limit)
                training = split == "train"
                lr, hr = zdata.super_resolution_crops(
                    [zdata.rgb_to_y(image) for image in images],
                    scale,
                    patch,
                    self.options.get("crops_per_image", 128)
                    if training
                    else -(-VALIDATION_SAMPLES // len(images)),
                    rescales=self.options.get("rescales", (1.0,)) if training else (1.0,),
                    seed=self.config.seed,
                )
            else:
                images = self.load_images(split, size=patch, channels=3).images
                lr, hr = zdata.super_resolution_pairs(zdata.rgb_to_y(images), scale)
            if split == "test":
                lr, hr = lr[:VALIDATION_SAMPLES], hr[:VALIDATION_SAMPLES]
            elif self.options.get("augment"):
                lr = zdata.random_dihedral(lr, seed=self.config.seed)
                hr = zdata.random_dihedral(hr, seed=self.config.seed)
            arrays.append({"lr": lr, "hr": hr})
        return arrays[0], arrays[1]

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

    def load_data(self) -> tuple[Arrays, Arrays]:
        height, width, _ = self.image_shape()
        multiple = self.options.get("size_multiple", 1)
        if height % multiple or width % multiple:
            raise ZooError(
                f"{self.info.name} takes sizes divisible by {multiple}; image_size is {height}"
            )
        arrays = []
        for split in ("train", "test"):
            imageset = self.load_images(split)
            images, masks = zdata.segmentation_pairs(imageset)
            classes = self.info.output.shape[-1]
            if masks.max() >= classes:
                raise ZooError(
                    f"masks hold class {int(masks.max())} but {self.info.name} predicts "
                    f"{classes} classes; pass num_classes"
                )
            if split == "test":
                images, masks = images[:VALIDATION_SAMPLES], masks[:VALIDATION_SAMPLES]
            arrays.append({"image": images, "mask": masks.astype(np.int32)})
        return arrays[0], arrays[1]

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
            list(zdata.colorize_masks(first["mask"], classes)),
            list(zdata.colorize_masks(predicted, classes)),
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
