"""Weights the zoo trained itself and ships inside the package: ``weights="default"``.

::

    import zoo
    model = zoo.get("fsrcnn_x3", weights="default")  # hash-checked, then loaded
    zoo.pretrained.manifest("fsrcnn_x3")["metrics"]   # what they measured, and how

Each shipped model has ``zoo/weights/<name>.weights.h5`` and a manifest ``<name>.json``:
the file's sha256 and size, the exact command that trained it, its data, training time,
the run's resolved configuration (recipe options such as ``noise_sigma``), the metrics
``zoo eval`` measured on the shipped file, and the TensorFlow / Keras versions. Weights
are stored gzip-compressed: float32 up to ``FLOAT16_ABOVE`` bytes, else float16, else (for
models whose float16 file would exceed ``MAX_BYTES``) int8 kernels with per-channel scales,
expanded to float at load. The manifest's metrics are those of the stored file.

The sha256 is checked on every load: a changed or truncated file is a one-line ZooError,
never a silently different model. Ship a finished run (maintainers)::

    python -m zoo.pretrained runs/fsrcnn_x3 --eval-data ../shared/data/sr/Set5 \\
        --command "zoo train fsrcnn_x3 --data ../shared/data/sr/T91 ..."
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import registry
from zoo.classifier import sha256_of
from zoo.errors import ZooError
from zoo.train.config import TrainConfig
from zoo.train.files import write_atomically, write_text_atomically

if TYPE_CHECKING:
    from zoo.evaluate import Evaluation
    from zoo.weights_io import TrainedModel

WEIGHTS_DIR = Path(__file__).parent / "weights"
FLOAT16_ABOVE = 2 * 2**20  # float32 weights larger than this are stored as float16
MAX_BYTES = 4_500_000  # no shipped file may exceed this (the repository's limit is 5 MB)
NOT_MODELS = frozenset({"digit_classifier"})  # other shipped files in WEIGHTS_DIR


def weights_file(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.weights.h5"


def manifest_file(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.json"


def shipped() -> list[str]:
    """Names of the registered models with shipped weights, sorted."""
    names = {path.stem for path in WEIGHTS_DIR.glob("*.json")} - NOT_MODELS
    return sorted(names & set(registry.list_models()))


def manifest(name: str) -> dict[str, Any]:
    """The manifest of ``name``'s shipped weights (ZooError if it has none)."""
    registry.info(name)  # an unknown name is an UnknownModelError
    path = manifest_file(name)
    if not path.is_file():
        have = ", ".join(shipped()) or "none"
        raise ZooError(
            f"{name} has no shipped weights (shipped: {have}); pass a run folder or weights file"
        )
    return _read_json(path)


def headline_metric(record: dict[str, Any], task: str) -> tuple[str, float]:
    """(metric, value) of a manifest: the task's primary metric (zoo.evaluate), else its first."""
    from zoo.evaluate import PRIMARY_METRIC

    metrics = record["metrics"]
    key = PRIMARY_METRIC[task][0]
    return (key, metrics[key]) if key in metrics else next(iter(metrics.items()))


def verified_file(name: str) -> Path:
    """The shipped weights file of ``name`` after checking its sha256 against the manifest."""
    record = manifest(name)
    path = weights_file(name)
    if not path.is_file():
        raise ZooError(f"shipped weights {path} are missing; reinstall deconv-zoo")
    actual = sha256_of(path)
    if actual != record["sha256"]:
        raise ZooError(
            f"shipped weights {path} fail the hash check (sha256 {actual[:12]}..., manifest "
            f"{record['sha256'][:12]}...): the file was changed; reinstall deconv-zoo"
        )
    return path


def load(name: str, *, overrides: dict[str, Any] | None = None) -> TrainedModel:
    """``name`` with its shipped weights (hash-checked) and the configuration they trained with.

    ``overrides`` must leave the architecture as trained (a different ``upsample=`` would not
    fit the weights: a one-line ZooError).
    """
    from zoo.data import at_hand
    from zoo.weights_io import TrainedModel, load_weights_into

    path = verified_file(name)
    config = TrainConfig(**manifest(name)["config"])
    # The manifest names folders portably (sr/T91); where they are not at hand here, further
    # training (zoo optimize) and evaluation default to the recipe's embedded data.
    data = config.data if at_hand(config.data) else registry.info(name).dataset
    config = replace(config, data=data, validation_data=None)
    if overrides:
        config = replace(config, model_overrides={**config.model_overrides, **overrides})
    model = load_weights_into(name, path, config)
    return TrainedModel(model=model, info=registry.info(name), config=config, source=path)


# === Shipping a run (maintainers) ===


def write_weights(model, path: Path) -> str:
    """Save ``model``'s weights to ``path`` in the first storage that fits; that storage.

    float32 up to FLOAT16_ABOVE bytes; above, float16, else int8 kernels (see
    :func:`zoo.weights_io.transcode_weights`), whichever first fits in MAX_BYTES.
    """
    import shutil
    from functools import partial

    import numpy as np

    from zoo.weights_io import transcode_weights

    float32_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    storages = ("float32",) if float32_bytes <= FLOAT16_ABOVE else ("float16", "int8")
    with tempfile.TemporaryDirectory(prefix="zoo-ship-") as folder:
        saved = Path(folder) / "saved.weights.h5"
        model.save_weights(saved)
        for storage in storages:
            candidate = Path(folder) / f"{storage}.weights.h5"
            transcode_weights(saved, candidate, storage)
            size = candidate.stat().st_size
            if size <= MAX_BYTES:
                write_atomically(path, partial(shutil.copyfile, candidate))
                return storage
    raise ZooError(
        f"{model.name}'s weights take {size / 1e6:.1f} MB even as {storage}; "
        f"the package ships at most {MAX_BYTES / 1e6:.1f} MB per model"
    )


def ship(
    run_dir: str | Path,
    *,
    command: str,
    eval_data: str | None = None,
    seed: int = 0,
    out_dir: Path = WEIGHTS_DIR,
) -> dict[str, Any]:
    """Copy a finished run's weights into ``out_dir``, evaluate them there, write the manifest.

    The metrics are measured on the stored file (float16 where it is stored so), with
    ``zoo eval``'s protocol on ``eval_data`` (default: the run's evaluation data).
    """
    import keras
    import tensorflow as tf

    from zoo.evaluate import evaluate_model
    from zoo.weights_io import TrainedModel, load_run, load_weights_into

    run_dir = Path(run_dir)
    config = TrainConfig.load(run_dir / "config.json")
    summary = _read_json(run_dir / "summary.json")
    if not summary.get("finished"):
        raise ZooError(f"{run_dir} is not a finished run (summary.json says unfinished)")
    trained = load_run(config.model, run_dir)
    target = out_dir / f"{config.model}.weights.h5"
    # Staged beside the target and renamed only once measured: a failed evaluation leaves
    # the shipped file and its manifest as they were.
    staged = out_dir / f".staged-{target.name}"
    try:
        storage = write_weights(trained.model, staged)
        keras.utils.set_random_seed(seed)  # as zoo eval --seed does before it loads the model
        model = load_weights_into(config.model, staged, config)
        run = TrainedModel(model=model, info=trained.info, config=config, source=target)
        evaluation = evaluate_model(run, data=eval_data, seed=seed)
        digest, size = sha256_of(staged), staged.stat().st_size
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)
    record = {
        "model": config.model,
        "file": target.name,
        "sha256": digest,
        "bytes": size,
        "storage": storage,
        "command": command,
        "data": _describe(config.data),
        "validation_data": _describe(config.validation_data) if config.validation_data else None,
        "epochs": summary.get("epochs_completed"),
        "steps": summary.get("global_step"),
        "train_seconds": summary.get("seconds"),
        "config": {**asdict(config), **_portable_paths(config)},
        "evaluation": _evaluation_record(evaluation),
        "metrics": {k: _round(v) for k, v in evaluation.metrics.items()},
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores",
    }
    write_text_atomically(
        out_dir / f"{config.model}.json", json.dumps(record, indent=2, default=str) + "\n"
    )
    return record


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ZooError(f"cannot read {path}: {error}") from None


def _describe(data: str) -> str:
    """A dataset name as is; a folder by its last two path parts (data stays outside)."""
    path = Path(data)
    return data if not path.is_absolute() and len(path.parts) == 1 else "/".join(path.parts[-2:])


def _portable_paths(config: TrainConfig) -> dict[str, Any]:
    values = {"data": _describe(config.data)}
    if config.validation_data:
        values["validation_data"] = _describe(config.validation_data)
    return values


def _evaluation_record(evaluation: Evaluation) -> dict[str, Any]:
    details = {k: v for k, v in evaluation.details.items() if not isinstance(v, list)}
    return {"data": _describe(evaluation.data), "samples": evaluation.samples, **details}


def _round(value: Any) -> Any:
    return round(float(value), 4) if isinstance(value, float | int) else value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ship a finished run's weights in zoo/weights.")
    parser.add_argument("run", help="run folder of `zoo train`")
    parser.add_argument("--command", required=True, help="the exact command that made the run")
    parser.add_argument("--eval-data", help="evaluation data (default: the run's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        record = ship(args.run, command=args.command, eval_data=args.eval_data, seed=args.seed)
    except ZooError as error:
        raise SystemExit(f"Error: {error}") from None
    print(json.dumps({k: record[k] for k in ("model", "bytes", "storage", "metrics")}, indent=2))


if __name__ == "__main__":
    main()
