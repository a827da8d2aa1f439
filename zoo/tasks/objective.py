"""The base of every training objective: its data, models, optimizers, step, samples, metrics.

An objective's ``train_step`` runs once per replica under ``strategy.run``: it scales every
per-example loss by the *global* batch (``tf.nn.compute_average_loss``), and the Keras 3
optimizer sums the gradients across replicas, so N replicas with N shards of a batch
make the same update as one device with the whole batch.

Data are prepared before any model is built, so bad data fails before training. An image
folder streams (:meth:`Objective.data`): each example is decoded, cut to the model's size and
made into training arrays as the pipeline reads it, by the same :meth:`Objective.arrays_of`
that prepares in-memory sources whole. Random degradations of the input (noise, blur) are
made per example in the pipeline (:meth:`Objective.degrade`), from stateless generators.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from zoo import data as zdata
from zoo.data.stream import Examples, skip_unreadable
from zoo.errors import ZooError
from zoo.registry import ModelInfo, create

if TYPE_CHECKING:
    from zoo.train.config import TrainConfig

Arrays = dict[str, np.ndarray]
VALIDATION_SAMPLES = 64
CACHES = ("auto", "stream", "memory", "disk")
DISK_CACHE = Path("~/.cache/deconv-zoo/decoded")  # cache="disk" without cache_dir
MEMORY_CACHE_BYTES = 1 << 30  # a folder whose training examples take more streams
SAMPLE_COLUMNS = 8


class Objective:
    """Base: a single model trained on (input, target) pairs with one optimizer."""

    patches: ClassVar[bool] = False  # train on random crops of whole images (photos, folders)
    limit: int | None = None  # load at most this many images per split (None: all)
    trains: Callable[[Any], bool] | None = None  # see use()

    def __init__(self, info: ModelInfo, config: TrainConfig) -> None:
        self.info = info
        self.config = config
        self.options = config.options
        self.global_batch = config.batch_size

    # --- data ---

    def data(self) -> tuple[Examples, Arrays]:
        """(training examples, validation arrays) for ``zoo train``.

        An image folder streams (each file decoded when the pipeline reads it) when its
        training examples would take more than :data:`MEMORY_CACHE_BYTES` in memory; a
        smaller one is prepared once, up front, as other sources are (:meth:`load_data`).
        Recipe option ``cache`` overrides the choice: "stream" or "memory" ("auto" chooses);
        "disk" streams and keeps each decoded file's pixels under ``cache_dir`` (default
        ``~/.cache/deconv-zoo/decoded``), so later epochs read them instead of decoding.
        """
        source, split = self.source("train")
        cache = self.options.get("cache", "auto")
        if cache not in CACHES:
            raise ZooError(f"cache={cache!r}: expected one of {', '.join(CACHES)}")
        if streams(source) and cache != "memory":
            examples = self.streamed(source, split)
            if cache in ("stream", "disk") or examples.nbytes > MEMORY_CACHE_BYTES:
                return examples, self.arrays("test")
        train, validation = self.load_data()
        return Examples.in_memory(train, source), validation

    def load_data(self) -> tuple[Arrays, Arrays]:
        """(train, validation) arrays in memory, keyed by the names ``train_step`` reads."""
        return self.arrays("train"), self.arrays("test")

    def arrays(self, split: str) -> Arrays:
        """The arrays of ``split`` ("train", or "test": the validation samples)."""
        if split == "train":
            return self.arrays_of(self.load_images("train"), training=True)
        test = self.load_images("test")
        return self.arrays_of(test.take(min(VALIDATION_SAMPLES, len(test))), training=False)

    def arrays_of(self, images: zdata.ImageSet, *, training: bool) -> Arrays:
        """Training (or validation) arrays of images at the model's size; numpy, seeded."""
        raise NotImplementedError

    def streamed(self, source: str, split: str) -> Examples:
        """The examples of a folder or a TFDS set, each decoded when the pipeline reads it.

        An example is one file's (or record's) image (with its label or mask) at the model's size: a
        random crop for patch tasks (``crops_per_image`` examples per file and epoch), else
        the image resized to cover the size and center-cropped, as in-memory loading does.
        """
        channels = self.image_shape()[2]
        try:
            items, read_item, skipped = item_reader(source, split, channels, self.disk_cache())
        except zdata.NotIndexableError:
            return self.streamed_records(source.removeprefix("tfds:"), split)
        per_file = self.options.get("crops_per_image", 128) if self.patches else 1
        num_classes = len(items.class_names) if items.class_names else None

        def read(index: int, rng: np.random.Generator) -> Arrays:
            _, (image, mask, label) = read_item(index // per_file)
            return self.example(image, mask, label, rng, num_classes)

        return Examples.streamed(len(items) * per_file, read, items.name, skipped)

    def streamed_records(self, name: str, split: str) -> Examples:
        """A TFDS set without random access, streamed in a seeded shuffle of its records
        (one example per record and epoch), each decoded when the pipeline reads it."""
        channels = self.image_shape()[2]
        records = zdata.tfds_records(name, split=split)
        num_classes = len(records.class_names) if records.class_names else None

        def read_record(record: dict, rng: np.random.Generator) -> Arrays:
            image, label = records.read(record, channels)
            return self.example(image, None, label, rng, num_classes)

        return Examples.from_records(records.count, records.make, read_record, records.name)

    def example(self, image, mask, label, rng: np.random.Generator, num_classes) -> Arrays:
        """One training example of a decoded image (and its mask or label) at the model's
        size: a random crop (patch tasks) or the image fitted as in-memory loading fits it."""
        height, width, _ = self.image_shape()
        if self.patches:
            images = zdata.random_crops([image], (height, width), 1, seed=rng_seed(rng))
            masks = None
        else:
            images = np.clip(zdata.fit_image(image, (height, width)), 0.0, 1.0)[None]
            masks = None if mask is None else zdata.fit_mask(mask, (height, width))[None]
        one = zdata.ImageSet(
            images,
            labels=None if label is None else [label],
            masks=masks,
            num_classes=num_classes,
        )
        return {key: value[0] for key, value in self.arrays_of(one, training=True).items()}

    def disk_cache(self) -> Path | None:
        """The folder of decoded pixels with recipe option ``cache="disk"``, else None."""
        if self.options.get("cache") != "disk":
            return None
        return Path(self.options.get("cache_dir") or DISK_CACHE).expanduser()

    def degrade(self, example: dict, seed) -> dict:
        """An example's random training input, made in TensorFlow per example (traced).

        ``seed`` is a shape-(2,) int64 tensor for stateless random ops; default: as it is.
        """
        return example

    # --- models (built inside strategy.scope()) ---

    def build(self) -> None:
        import keras

        self.model = self.create_model()
        self.optimizer = keras.optimizers.Adam(
            self.config.learning_rate, beta_1=self.options.get("beta_1", 0.9)
        )
        self.optimizer.build(self.model.trainable_variables)

    def create_model(self):
        """The model this run trains: the registry's, with the run's overrides.

        Recipe option ``freeze_batch_norm`` runs its BatchNormalization layers in inference
        mode, their statistics and scales fixed (Keras does so for a non-trainable layer):
        for a fine-tune of a model trained at batch 1, whose per-image batch statistics are
        not the moving averages it is evaluated with.
        """
        import keras

        from zoo.layers import all_layers

        model = create(self.info.name, **self.config.model_overrides)
        if self.options.get("freeze_batch_norm"):
            for layer in all_layers(model):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        return model

    def trackables(self) -> dict[str, Any]:
        """What a checkpoint holds besides the step and epoch counters."""
        return {"model": self.model, "optimizer": self.optimizer}

    def start_epoch(self, epoch: int) -> None:
        """Called before each epoch (0-based); schedules live here.

        Recipe option ``lr_schedule="cosine"`` decays the learning rate from the recipe's
        to 0 over the run's epochs, one step per epoch (so a resumed run follows the same
        curve).
        """
        if self.options.get("lr_schedule") == "cosine":
            progress = epoch / self.config.epochs
            rate = 0.5 * self.config.learning_rate * (1.0 + np.cos(np.pi * progress))
            for optimizer in self.optimizers():
                optimizer.learning_rate.assign(rate)

    def optimizers(self) -> list:
        """The optimizers the learning-rate schedule drives."""
        return [self.optimizer]

    # --- one step (per replica, traced) ---

    def train_step(self, batch: dict) -> dict:
        import tensorflow as tf

        inputs, target = self.pair(batch)
        with tf.GradientTape() as tape:
            prediction = self.model(inputs, training=True)
            loss = self.average(self.training_loss(batch, target, prediction))
        self.apply(tape, loss, self.model, self.optimizer)
        return {"loss": loss}

    def training_loss(self, batch: dict, target, prediction):
        """The per-example loss a training step minimises; the batch is there for objectives
        whose loss reads more than the target (default: :meth:`per_example_loss`)."""
        return self.per_example_loss(target, prediction)

    def pair(self, batch: dict) -> tuple:
        raise NotImplementedError

    def per_example_loss(self, target, prediction):
        import tensorflow as tf

        error = prediction - target
        pointwise = tf.abs(error) if self.info.recipe.loss == "l1" else tf.square(error)
        return tf.reduce_mean(pointwise, axis=list(range(1, len(pointwise.shape))))

    def average(self, per_example):
        import tensorflow as tf

        return tf.nn.compute_average_loss(per_example, global_batch_size=self.global_batch)

    def use(self, model, optimizer, *, trains: Callable[[Any], bool] | None = None) -> None:
        """Train ``model`` with ``optimizer``, both made elsewhere, instead of :meth:`build`'s.

        ``convert.optimize`` fine-tunes a tf_keras twin this way (QAT, pruning, clustering);
        ``trains(variable)`` chooses which of the model's trainable variables move (default:
        all of them).
        """
        self.model, self.optimizer, self.trains = model, optimizer, trains

    def apply(self, tape, loss, model, optimizer) -> None:
        """One update of ``model``'s trainable variables (those ``trains`` chooses)."""
        variables = model.trainable_variables
        if model is self.model and self.trains is not None:
            variables = [variable for variable in variables if self.trains(variable)]
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, variables, strict=True) if g is not None]
        )

    # --- host-side views ---

    def predict(self, inputs) -> np.ndarray:
        return np.asarray(self.model(inputs, training=False))

    def validate(self, validation: Arrays) -> dict[str, float]:
        """Quick metrics on the validation arrays, once per epoch."""
        return {}

    def sample_rows(self, validation: Arrays) -> list[list[np.ndarray]]:
        """Rows of images in [0, 1] for the epoch's sample grid."""
        raise NotImplementedError

    @classmethod
    def test_metrics(cls, model, images: np.ndarray) -> dict[str, float]:
        """The objective's own terms on test images in [0, 1], reported by ``zoo eval``
        beside the task's metrics (the VAE: its ELBO). Default: none."""
        return {}

    # --- helpers ---

    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the model's image: fixed by the model or the recipe's patch size."""
        spec = self.info.output if self.info.generates else self.info.inputs[0]
        height, width, channels = spec.shape
        size = self.options.get("patch_size") or self.options.get("image_size") or 64
        channels = self.config.model_overrides.get("channels", channels)
        return (height or size, width or size, channels)

    def source(self, split: str) -> tuple[str, str]:
        """(source, split) to read for ``split``: ``validation_data`` replaces the test split,
        and then all of ``data`` is for training."""
        if self.config.validation_data:
            return (
                (self.config.validation_data, "all")
                if split == "test"
                else (self.config.data, "all")
            )
        return self.config.data, split

    def crops_whole_images(self, source: str) -> bool:
        """Whether a patch task cuts its patches from whole images of ``source``."""
        return self.patches and (source == "photos" or is_folder(source))

    def limit_of(self, split: str) -> int | None:
        """How many images of ``split`` to load: validation reads few from a streamed source."""
        source, _ = self.source(split)
        if split == "test" and streams(source):
            return min(self.limit or VALIDATION_SAMPLES, VALIDATION_SAMPLES)
        return self.limit

    def load_images(
        self, split: str, *, size: int | None = None, channels: int | None = None
    ) -> zdata.ImageSet:
        """The split at the model's image size; patch tasks crop photos and folders. Recipe
        option ``train_count``: how many training images a procedural set (shapes, ...)
        draws (a set that cannot draw more says so)."""
        height, width, model_channels = self.image_shape()
        limit = self.limit_of(split)
        validation = split == "test"
        source, split = self.source(split)
        crops = {}
        if self.crops_whole_images(source):
            per_image = self.options.get("crops_per_image", 128)
            if validation and is_folder(source):
                # as many crops as validation takes, spread over up to that many files
                files = min(len(zdata.list_folder(source, split)), VALIDATION_SAMPLES)
                per_image = -(-VALIDATION_SAMPLES // files)
            crops = {"crops_per_image": per_image}
        if split == "train" and "train_count" in self.options:
            crops["count"] = self.options["train_count"]  # a procedural set draws that many
        return zdata.load(
            source,
            split=split,
            image_size=(size, size) if size else (height, width),
            channels=channels or model_channels,
            limit=limit,
            seed=self.config.seed,
            **crops,
        )


def item_reader(source: str, split: str, channels: int | None = None, cache: Path | None = None):
    """(items, read_item, skipped) of a streamable source's split (a folder's files, or a
    TFDS set's records): ``read_item(i)`` is (i', (image, mask, label)) of item i or, when
    it cannot be read, of the next readable item i'; ``skipped`` (a set) collects the names
    of the items passed over. ``cache``: a folder's decoded pixels are kept there."""
    if source.startswith("tfds:"):
        items = zdata.tfds_source(source.removeprefix("tfds:"), split=split)
    else:
        items = replace(zdata.list_folder(source, split), cache=cache)
    skipped: set[str] = set()
    read_item = skip_unreadable(
        len(items), lambda i: items.read(i, channels), items.item_name, skipped, items.name
    )
    return items, read_item, skipped


def is_folder(source: str) -> bool:
    """Whether a data source names a folder rather than a dataset."""
    return source not in zdata.list_datasets() and Path(source).expanduser().is_dir()


def streams(source: str) -> bool:
    """Whether a source can stream: a folder, or a TFDS set (read by index)."""
    return source.startswith("tfds:") or is_folder(source)


def rng_seed(rng: np.random.Generator) -> int:
    """A seed for a seeded numpy helper, drawn from ``rng``."""
    return int(rng.integers(2**63))


def first_samples(arrays: Arrays, count: int = SAMPLE_COLUMNS) -> Arrays:
    """The first ``count`` samples of each array (the columns of a sample grid)."""
    return {key: value[:count] for key, value in arrays.items()}
