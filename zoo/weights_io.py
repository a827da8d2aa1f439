"""Loading a trained model: a run folder of `zoo train`, or a weights or model file.

::

    from zoo.weights_io import load_trained, load_run
    model = load_trained("fsrcnn_x3", "runs/fsrcnn_x3/20250101-120000")  # a keras.Model
    run = load_run("dae_tiny", "dae.weights.h5")  # model + ModelInfo + the run's TrainConfig

``weights`` may be:

- a run folder (``zoo train --out``): its ``model.weights.h5`` loaded into
  ``zoo.get(name, **model_overrides)`` from the run's ``config.json``; else its
  ``model.keras``; else (an unfinished run) the model of its latest checkpoint;
- a ``.weights.h5`` file (into ``zoo.get(name)``, with the overrides of a run's
  ``config.json`` lying beside it, if any);
- a ``.keras`` file (the architecture comes from the file; its model name must match);
- ``"default"``: the weights shipped in the package (:mod:`zoo.pretrained`), hash-checked.

Every failure (missing or corrupt file, a run or file of another model, weights that do not
fit the architecture) is a one-line :class:`zoo.errors.ZooError`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import pretrained
from zoo.data import at_hand
from zoo.errors import ZooError
from zoo.models import create, info
from zoo.registry import ModelInfo
from zoo.train.config import TrainConfig, check_options

if TYPE_CHECKING:
    import keras

WEIGHTS_FILE = "model.weights.h5"
MODEL_FILE = "model.keras"
USAGE = "pass a run folder (zoo train --out), a .weights.h5 / .keras file, or default"
STORAGES = ("float32", "float16", "int8")  # how transcode_weights stores float arrays
STORAGE_ATTR = "zoo_storage"  # root attribute of a transcoded file
SCALE_ATTR = "zoo_scale"  # per-slice scales of an int8 dataset


@dataclass(frozen=True)
class TrainedModel:
    """A loaded model with what it was trained with.

    ``config`` is the run's (its options, e.g. ``noise_sigma``, and its data) or, for a bare
    file, the recipe's defaults. ``source`` is the file the weights came from.
    """

    model: keras.Model
    info: ModelInfo
    config: TrainConfig
    source: Path

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.config.options)

    def with_options(self, options: dict[str, Any] | None) -> TrainedModel:
        """The same model with ``options`` added to or replacing its run's (checked)."""
        if not options:
            return self
        check_options(options)
        config = replace(self.config, options={**self.config.options, **options})
        return replace(self, config=config)


def load_trained(model_name: str, weights: str | Path) -> keras.Model:
    """The trained ``model_name`` from a run folder or a ``.weights.h5`` / ``.keras`` file."""
    return load_run(model_name, weights).model


def load_run(
    model_name: str, weights: str | Path, *, overrides: dict[str, Any] | None = None
) -> TrainedModel:
    """Like :func:`load_trained`, with the model's info and the run's configuration.

    ``overrides`` reach the builder on top of the run's ``model_overrides`` (for weights
    files trained with options that no config.json records).
    """
    if str(weights) == "default":
        return load_shipped(model_name, overrides=overrides)
    model_info = info(model_name)
    path = Path(weights).expanduser()
    if not path.exists():
        raise ZooError(f"weights {path} not found; {USAGE}")
    config = _run_config(path if path.is_dir() else path.parent, model_name, required=False)
    if path.is_dir():
        if config is None:
            config = _run_config(path, model_name, required=True)
        source = _pick_file(path)
    else:
        source = path
    config = config or TrainConfig.from_recipe(model_info)
    if overrides:
        config = replace(config, model_overrides={**config.model_overrides, **overrides})
    if source.is_dir():  # a checkpoints/ folder
        model = _from_checkpoint(model_name, source, config)
    elif source.name.endswith(".keras"):
        model = _from_keras_file(model_name, source)
    elif source.name.endswith(".weights.h5"):
        model = load_weights_into(model_name, source, config)
    else:
        raise ZooError(f"{source} is neither a .weights.h5 nor a .keras file; {USAGE}")
    return TrainedModel(model=model, info=model_info, config=config, source=source)


def initial_run(source: str, model_name: str) -> TrainedModel:
    """The trained model ``zoo train MODEL --init SOURCE`` starts from.

    ``SOURCE`` is ``[NAME:]WEIGHTS`` with WEIGHTS as for :func:`load_run`: ``default`` (the
    shipped weights), a run folder or a weights / model file. Without NAME the model is the
    run folder's (its ``config.json``), else ``model_name``; so ``fsrcnn_x3:default`` starts
    an x2 model from the shipped x3 weights.
    """
    name, colon, weights = source.rpartition(":")
    if not colon:
        name = model_name
        path = Path(weights).expanduser()
        config = path / "config.json" if path.is_dir() else path.parent / "config.json"
        if weights != "default" and path.exists() and config.is_file():
            name = TrainConfig.load(config).model
    return load_run(name, weights)


def copy_matching_weights(target: keras.Model, source: keras.Model) -> tuple[list[str], list[str]]:
    """Copy into each of ``target``'s layers the weights of ``source``'s layer of the same
    name where their shapes all match; returns (copied, kept) names of the layers that
    hold weights (kept: no such layer in ``source``, or other shapes)."""
    copied, kept = [], []
    for layer in target.layers:
        if not layer.weights:
            continue
        try:
            weights = source.get_layer(layer.name).get_weights()
        except ValueError:  # no layer of that name
            weights = None
        shapes = [tuple(w.shape) for w in layer.weights]
        if weights is not None and [w.shape for w in weights] == shapes:
            layer.set_weights(weights)
            copied.append(layer.name)
        else:
            kept.append(layer.name)
    return copied, kept


def load_shipped(name: str, *, overrides: dict[str, Any] | None = None) -> TrainedModel:
    """``name`` with its shipped weights (hash-checked) and the configuration they trained with.

    ``overrides`` must leave the architecture as trained (a different ``upsample=`` would not
    fit the weights: a one-line ZooError).
    """
    paths = pretrained.verified_files(name)
    config = TrainConfig(**pretrained.manifest(name)["config"])
    # The manifest names folders portably (sr/T91); where they are not at hand here, further
    # training (zoo optimize) and evaluation default to the recipe's embedded data.
    data = config.data if at_hand(config.data) else info(name).dataset
    config = replace(config, data=data, validation_data=None)
    if overrides:
        config = replace(config, model_overrides={**config.model_overrides, **overrides})
    model = load_weights_into(name, paths, config)
    return TrainedModel(model=model, info=info(name), config=config, source=paths[0])


def _run_config(folder: Path, model_name: str, *, required: bool) -> TrainConfig | None:
    path = folder / "config.json"
    if not path.is_file():
        if required:
            raise ZooError(f"{folder} is not a run folder (no config.json); {USAGE}")
        return None
    config = TrainConfig.load(path)
    if config.model != model_name:
        raise ZooError(f"{folder} is a run of {config.model}, not {model_name}")
    return config


def _pick_file(run: Path) -> Path:
    for name in (WEIGHTS_FILE, MODEL_FILE):
        if (run / name).is_file():
            return run / name
    if (run / "checkpoints" / "checkpoint").is_file():
        return run / "checkpoints"
    raise ZooError(
        f"run {run} holds no trained model yet ({WEIGHTS_FILE}, {MODEL_FILE} or a checkpoint)"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load_weights_into(
    model_name: str, path: Path | Sequence[Path], config: TrainConfig
) -> keras.Model:
    """``zoo.get(model_name, **config.model_overrides)`` with a ``.weights.h5`` file loaded.

    ``path`` may be several files that each hold part of the weights (shipped shards).
    """
    import tempfile
    import warnings

    paths = [Path(path)] if isinstance(path, str | Path) else [Path(p) for p in path]
    model = create(model_name, **config.model_overrides)
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="zoo-") as folder:
            warnings.simplefilter("ignore", UserWarning)  # keras warns before it raises
            if len(paths) > 1 or stored_as(paths[0]) == "int8":
                # Keras reads one file, and would load int8 arrays as they are
                merged = Path(folder) / "float32.weights.h5"
                transcode_weights(paths, merged, "float32")
                model.load_weights(merged)
            else:
                model.load_weights(paths[0])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ZooError(f"cannot load {paths[0]} into {model_name}: {_first_line(error)}") from None
    return model


# === Storage of .weights.h5 files ===


def stored_as(path: Path) -> str:
    """The storage of a ``.weights.h5`` file: one of STORAGES (a Keras file is float32)."""
    import h5py

    with h5py.File(path, "r") as file:
        return str(file.attrs.get(STORAGE_ATTR, "float32"))


def transcode_weights(source: Path | Sequence[Path], target: Path, storage: str) -> None:
    """Rewrite a Keras ``.weights.h5`` into a fresh, gzip-compressed ``target``.

    Several ``source`` files (shards, each holding part of the datasets) merge into one.
    ``storage`` says how float32 arrays are kept:

    - ``float32``: as they are (int8 arrays of ``source`` are expanded back to float32);
    - ``float16``: halved (outputs move by about 1e-4);
    - ``int8``: every kernel (rank >= 2) quantized symmetrically, one scale per slice of its
      last axis (``q = round(w / s)`` in [-127, 127], ``s = max|w| / 127``, as TFLite's
      per-channel weights), its scales in the dataset's ``zoo_scale`` attribute; the other
      arrays (biases, normalization statistics) as float16.

    A fresh file, because HDF5 does not reclaim the space of datasets rewritten in place.
    """
    import h5py

    if storage not in STORAGES:
        raise ZooError(f"unknown weights storage {storage!r}; choose from {', '.join(STORAGES)}")
    sources = [source] if isinstance(source, str | Path) else list(source)
    with h5py.File(target, "w") as writer:
        for path in sources:
            with h5py.File(path, "r") as reader:
                _transcode_group(reader, writer, storage)
        writer.attrs[STORAGE_ATTR] = storage


def _transcode_group(source, target, storage: str) -> None:
    import h5py
    import numpy as np

    target.attrs.update(source.attrs)
    for key, item in source.items():
        if isinstance(item, h5py.Group):
            _transcode_group(item, target.require_group(key), storage)
            continue
        values, attributes = item[()], dict(item.attrs)
        scale = attributes.pop(SCALE_ATTR, None)
        if scale is not None:
            values = values.astype(np.float32) * scale
        if getattr(values, "dtype", None) == np.float32:
            values, attributes = _encode(values, storage, attributes)
        options = {"compression": "gzip", "compression_opts": 9} if np.ndim(values) else {}
        target.create_dataset(key, data=values, **options).attrs.update(attributes)


def _encode(values, storage: str, attributes: dict) -> tuple[Any, dict]:
    import numpy as np

    if storage == "float32":
        return values, attributes
    if storage == "float16" or values.ndim < 2:
        return values.astype(np.float16), attributes
    peak = np.abs(values).reshape(-1, values.shape[-1]).max(axis=0)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    quantized = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
    return quantized, {**attributes, SCALE_ATTR: scale}


def _from_keras_file(model_name: str, path: Path) -> keras.Model:
    import keras

    if not zipfile.is_zipfile(path):
        raise ZooError(f"{path} is not a valid .keras file (not a zip archive)")
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ZooError(f"cannot load {path}: {_first_line(error)}") from None
    if model.name != model_name:
        raise ZooError(f"{path} holds model {model.name}, not {model_name}")
    return model


def _from_checkpoint(model_name: str, folder: Path, config: TrainConfig) -> keras.Model:
    import tensorflow as tf

    model = create(model_name, **config.model_overrides)
    latest = tf.train.latest_checkpoint(str(folder))
    if latest is None:
        raise ZooError(f"{folder} holds no checkpoint")
    try:
        status = tf.train.Checkpoint(model=model).restore(latest)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError) as error:
        raise ZooError(f"cannot restore {latest} into {model_name}: {_first_line(error)}") from None
    return model
