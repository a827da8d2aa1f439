"""Ship a finished run's weights inside the package (maintainers).

    python tools/ship_weights.py runs/fsrcnn_x3 --eval-data ../shared/data/sr/Set5 \\
        --command "zoo train fsrcnn_x3 --data ../shared/data/sr/T91 ..."

The weights are stored in the first storage that fits (see :mod:`zoo.pretrained`), loaded
back from the stored files, evaluated with ``zoo eval``'s protocol, and described in the
model's manifest; the files are renamed into ``zoo/weights`` only once measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the checkout's packages come first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zoo import pretrained
from zoo.errors import ZooError
from zoo.evaluate import Evaluation, evaluate_model
from zoo.files import sha256_of, write_atomically, write_text_atomically
from zoo.train.config import TrainConfig
from zoo.weights_io import TrainedModel, load_run, load_weights_into, transcode_weights

STAGED = ".staged-"  # prefix of files written by ship() before they are measured


def write_weights(model, out_dir: Path, *, prefix: str = "") -> tuple[str, list[Path]]:
    """Save ``model``'s weights into ``out_dir`` in the first storage that fits.

    float32 up to ``FLOAT16_ABOVE`` bytes; above, float16, else int8 kernels (see
    :func:`zoo.weights_io.transcode_weights`), whichever first fits in ``MAX_MODEL_BYTES``
    (int8 kernels cost pix2pix_256 0.5 dB of PSNR, so a float16 file in shards comes
    first); a file over ``MAX_BYTES`` is split into shards of ``MAX_BYTES`` at most, whole
    arrays each (the limits of :mod:`zoo.pretrained`). Files are named as
    :func:`zoo.pretrained.weights_file`'s, after ``prefix``.
    Returns (storage, the files written).
    """
    import numpy as np

    float32_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    storages = ("float32",) if float32_bytes <= pretrained.FLOAT16_ABOVE else ("float16", "int8")
    with tempfile.TemporaryDirectory(prefix="zoo-ship-") as folder:
        saved = Path(folder) / "saved.weights.h5"
        model.save_weights(saved)
        for storage in storages:
            candidate = Path(folder) / f"{storage}.weights.h5"
            transcode_weights(saved, candidate, storage)
            size = candidate.stat().st_size
            if size <= pretrained.MAX_BYTES:
                return storage, _place(model.name, [candidate], out_dir, prefix)
            if size <= pretrained.MAX_MODEL_BYTES:
                try:
                    shards = split_weights(
                        candidate, Path(folder) / f"{storage}-shards", pretrained.MAX_BYTES
                    )
                except ZooError:  # one array alone over MAX_BYTES: the next storage
                    continue
                return storage, _place(model.name, shards, out_dir, prefix)
    raise ZooError(
        f"{model.name}'s weights take {size / 1e6:.1f} MB even as {storage}; the package ships "
        f"at most {pretrained.MAX_BYTES / 1e6:.1f} MB per file and "
        f"{pretrained.MAX_MODEL_BYTES / 1e6:.0f} MB per model"
    )


def _place(name: str, files: list[Path], out_dir: Path, prefix: str) -> list[Path]:
    import shutil
    from functools import partial

    placed = []
    for part, file in enumerate(files, start=1):
        target = out_dir / f"{prefix}{pretrained.weights_file(name, part).name}"
        write_atomically(target, partial(shutil.copyfile, file))
        placed.append(target)
    return placed


def split_weights(path: Path, folder: Path, max_bytes: int) -> list[Path]:
    """Split an HDF5 weights file into files of at most ``max_bytes``, whole datasets each.

    The first file also holds every group with its attributes; the files merge back with
    :func:`zoo.weights_io.transcode_weights`. ZooError if the split cannot fit the limit.
    """
    import h5py

    folder.mkdir(parents=True, exist_ok=True)
    skeleton = folder / "groups.weights.h5"
    with h5py.File(path, "r") as source:
        names: list[str] = []
        source.visititems(lambda key, item: names.append(key) if _is_dataset(item) else None)
        with h5py.File(skeleton, "w") as target:
            _copy_groups(source, target)
        # what a dataset costs on disk: its compressed bytes plus its share of the headers
        stored = {key: source[key].id.get_storage_size() for key in names}
        headers = path.stat().st_size - skeleton.stat().st_size - sum(stored.values())
        cost = {key: stored[key] + max(headers, 0) / len(names) for key in names}
        budget = max_bytes - skeleton.stat().st_size
        parts: list[list[str]] = [[]]
        for key in names:
            if parts[-1] and sum(cost[k] for k in parts[-1]) + cost[key] > budget:
                parts.append([])
            parts[-1].append(key)
        files = []
        for index, keys in enumerate(parts, start=1):
            file = folder / f"part{index}.weights.h5"
            with h5py.File(file, "w") as target:
                if index == 1:
                    _copy_groups(source, target)
                for key in keys:
                    parent = target.require_group(key.rpartition("/")[0] or "/")
                    source.copy(source[key], parent, name=key.rpartition("/")[2])
            if file.stat().st_size > max_bytes:
                raise ZooError(
                    f"cannot split {path.name} into files of {max_bytes / 1e6:.2f} MB "
                    f"({file.stat().st_size / 1e6:.2f} MB in part {index})"
                )
            files.append(file)
    return files


def _copy_groups(source, target) -> None:
    """Every group of ``source`` with its attributes, no datasets."""
    target.attrs.update(source.attrs)
    source.visititems(
        lambda key, item: (
            None if _is_dataset(item) else target.require_group(key).attrs.update(item.attrs)
        )
    )


def _is_dataset(item) -> bool:
    import h5py

    return isinstance(item, h5py.Dataset)


def ship(
    run_dir: str | Path,
    *,
    command: str,
    eval_data: str | None = None,
    seed: int = 0,
    out_dir: Path = pretrained.WEIGHTS_DIR,
) -> dict[str, Any]:
    """Copy a finished run's weights into ``out_dir``, evaluate them there, write the manifest.

    The metrics are measured on the stored file (float16 where it is stored so), with
    ``zoo eval``'s protocol on ``eval_data`` (default: the run's evaluation data).
    """
    import keras
    import tensorflow as tf

    run_dir = Path(run_dir)
    config = TrainConfig.load(run_dir / "config.json")
    summary = pretrained.read_json(run_dir / "summary.json")
    if not summary.get("finished"):
        raise ZooError(f"{run_dir} is not a finished run (summary.json says unfinished)")
    trained = load_run(config.model, run_dir)
    # Staged beside the targets and renamed only once measured: a failed evaluation leaves
    # the shipped files and their manifest as they were.
    try:
        storage, staged = write_weights(trained.model, out_dir, prefix=STAGED)
        keras.utils.set_random_seed(seed)  # as zoo eval --seed does before it loads the model
        model = load_weights_into(config.model, staged, config)
        targets = [path.with_name(path.name.removeprefix(STAGED)) for path in staged]
        run = TrainedModel(model=model, info=trained.info, config=config, source=targets[0])
        evaluation = evaluate_model(run, data=eval_data, seed=seed)
        files = [
            {"file": target.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}
            for path, target in zip(staged, targets, strict=True)
        ]
        _remove_parts(config.model, out_dir, keep=len(targets))
        for path, target in zip(staged, targets, strict=True):
            os.replace(path, target)
    finally:  # whatever was staged and not renamed, even by a write that failed halfway
        for path in out_dir.glob(f"{STAGED}{config.model}.*weights.h5"):
            path.unlink()
    record = {
        "model": config.model,
        "files": files,
        "bytes": sum(entry["bytes"] for entry in files),
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


def _remove_parts(name: str, out_dir: Path, *, keep: int) -> None:
    """Delete shipped parts of ``name`` beyond the first ``keep`` (left by an earlier ship)."""
    for path in out_dir.glob(f"{name}.part*.weights.h5"):
        part = path.name.removeprefix(f"{name}.part").removesuffix(".weights.h5")
        if part.isdigit() and int(part) > keep:
            path.unlink()


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
