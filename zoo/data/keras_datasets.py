"""keras.datasets image sets (mnist, fashion_mnist, cifar10), read from keras' cache first.

Keras' own ``load_data`` checks the cached file's hash and downloads again on any mismatch,
so the cached files are read here directly, in keras 3's cache layout under
``$KERAS_HOME/datasets`` (default ``~/.keras/datasets``, or ``/tmp/.keras/datasets`` when the
home folder is not writable):

- mnist: ``mnist.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``;
- fashion_mnist: ``fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` (IDX);
- cifar10: ``cifar-10-batches-py-target/cifar-10-batches-py/{data_batch_1..5,test_batch}``
  (older keras: ``cifar-10-batches-py/`` directly), the extracted pickles.

Only when the files are absent is ``keras.datasets.<name>.load_data()`` called, under a
15 s socket timeout; any failure becomes a one-line :class:`ZooError`.
"""

from __future__ import annotations

import gzip
import os
import pickle
import socket
from pathlib import Path
from typing import ClassVar

import numpy as np

from zoo.data.imageset import ImageSet, check_split, finish
from zoo.errors import ZooError

DOWNLOAD_TIMEOUT_S = 15.0

FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

KERAS_DATASETS = {
    "mnist": "keras.datasets MNIST digits, 28x28 gray, 10 classes (cached or downloaded)",
    "fashion_mnist": "keras.datasets Fashion-MNIST, 28x28 gray, 10 classes (cached or downloaded)",
    "cifar10": "keras.datasets CIFAR-10, 32x32 RGB, 10 classes (cached or downloaded)",
}


def keras_cache_dirs() -> list[Path]:
    """Where keras keeps downloaded datasets, most likely first (reads $KERAS_HOME now)."""
    if "KERAS_HOME" in os.environ:
        return [Path(os.environ["KERAS_HOME"]).expanduser() / "datasets"]
    return [Path.home() / ".keras" / "datasets", Path("/tmp/.keras/datasets")]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# === Cache readers ===


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped or not): big-endian magic 0x0000 <type> <ndim>, dims, uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path.name} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    return np.frombuffer(data, np.uint8, offset=offset, count=int(np.prod(dims))).reshape(dims)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays, refusing every other global."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return data, np.asarray(batch["labels"], dtype=np.int32)


def _cached(name: str, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(uint8 images, labels) of one split from the cache, or None when not cached."""
    for datasets in keras_cache_dirs():
        if name == "mnist":
            path = datasets / "mnist.npz"
            if path.is_file():
                with np.load(path, allow_pickle=False) as f:
                    return f[f"x_{split}"], f[f"y_{split}"]
        elif name == "fashion_mnist":
            images_file, labels_file = (
                datasets / "fashion-mnist" / f for f in _FASHION_FILES[split]
            )
            if images_file.is_file() and labels_file.is_file():
                return _read_idx(images_file), _read_idx(labels_file)
        elif name == "cifar10":
            for folder in (
                datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                datasets / "cifar-10-batches-py",
            ):
                paths = [folder / f for f in _CIFAR_FILES[split]]
                if all(p.is_file() for p in paths):
                    batches = [_read_cifar_batch(p) for p in paths]
                    return (
                        np.concatenate([b[0] for b in batches]),
                        np.concatenate([b[1] for b in batches]),
                    )
    return None


def _download(name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """keras.datasets.<name>.load_data() under a short socket timeout; errors -> ZooError."""
    where = keras_cache_dirs()[0]
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as error:
        raise ZooError(
            f"{name} is not cached in {where} and could not be downloaded (offline?): "
            f"{_one_line(error)}"
        ) from error
    finally:
        socket.setdefaulttimeout(previous)
    return {"train": (x_train, y_train), "test": (x_test, y_test)}


def load_keras(
    name: str,
    *,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    download: bool = True,
) -> ImageSet:
    """A keras.datasets set as (N, H, W, C) float32 in [0, 1] with int labels 0..9."""
    if name not in KERAS_DATASETS:
        raise ZooError(
            f"unknown keras dataset {name!r}; expected one of {', '.join(KERAS_DATASETS)}"
        )
    check_split(split)
    parts = ("train", "test") if split == "all" else (split,)
    arrays = []
    downloaded = None
    for part in parts:
        try:
            found = _cached(name, part)
        except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as error:
            raise ZooError(f"cached {name} files are unreadable: {_one_line(error)}") from error
        if found is None:
            if not download:
                raise ZooError(f"{name} is not cached in {keras_cache_dirs()[0]}")
            downloaded = downloaded or _download(name)
            found = downloaded[part]
        arrays.append(found)
    images = np.concatenate([a[0] for a in arrays])
    labels = np.concatenate([np.asarray(a[1]).reshape(-1) for a in arrays])
    if len(images) != len(labels):
        raise ZooError(f"cached {name} files disagree: {len(images)} images, {len(labels)} labels")
    class_names = {
        "mnist": [str(i) for i in range(10)],
        "fashion_mnist": FASHION_CLASSES,
        "cifar10": CIFAR10_CLASSES,
    }[name]
    return finish(
        images,
        labels=labels,
        name=name,
        split=split,
        num_classes=10,
        class_names=class_names,
        image_size=image_size,
        channels=channels,
        limit=limit,
        seed=seed,
    )
