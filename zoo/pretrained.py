"""Weights the zoo trained itself and ships inside the package: ``weights="default"``.

::

    import zoo
    model = zoo.get("fsrcnn_x3", weights="default")  # hash-checked, then loaded
    zoo.pretrained.manifest("fsrcnn_x3")["metrics"]   # what they measured, and how

Each shipped model has ``zoo/weights/<name>.weights.h5`` (large models add
``<name>.part2.weights.h5``, ...) and a manifest ``<name>.json``: each file's sha256 and
size, the exact command that trained it, its data, training time, the run's resolved
configuration (recipe options such as ``noise_sigma``), the metrics ``zoo eval`` measured
on the shipped files, and the TensorFlow / Keras versions. Weights
are stored gzip-compressed: float32 up to ``FLOAT16_ABOVE`` bytes, else float16, else (for
models whose float16 files would exceed ``MAX_MODEL_BYTES``) int8 kernels with per-channel
scales, expanded to float at load; weights over ``MAX_BYTES`` are split into parts of whole
arrays, up to ``MAX_MODEL_BYTES`` in all. The manifest's metrics are those of the stored
files.

The sha256 is checked on every load: a changed or truncated file is a one-line ZooError,
never a silently different model. Ship a finished run (maintainers)::

    python tools/ship_weights.py runs/fsrcnn_x3 --eval-data ../shared/data/sr/Set5 \\
        --command "zoo train fsrcnn_x3 --data ../shared/data/sr/T91 ..."
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.files import sha256_of
from zoo.tasks import get_task

WEIGHTS_DIR = Path(__file__).parent / "weights"
FLOAT16_ABOVE = 2 * 2**20  # float32 weights larger than this are stored as float16
MAX_BYTES = 4_500_000  # no shipped file may exceed this (the repository's limit is 5 MB)
MAX_MODEL_BYTES = 8_000_000  # nor a model's files together (shards of MAX_BYTES at most)
NOT_MODELS = frozenset({"digit_classifier"})  # other shipped files in WEIGHTS_DIR


def weights_file(name: str, part: int = 1) -> Path:
    """Shipped file ``part`` of ``name``: ``<name>.weights.h5``, ``<name>.part2.weights.h5``..."""
    return WEIGHTS_DIR / (f"{name}.weights.h5" if part == 1 else f"{name}.part{part}.weights.h5")


def manifest_file(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.json"


def shipped() -> list[str]:
    """Names of the registered models with shipped weights, sorted."""
    from zoo.models import list_models  # Keras: the manifests themselves do not need it

    names = {path.stem for path in WEIGHTS_DIR.glob("*.json")} - NOT_MODELS
    return sorted(names & set(list_models()))


def manifest(name: str) -> dict[str, Any]:
    """The manifest of ``name``'s shipped weights (ZooError if it has none)."""
    from zoo.models import info  # Keras: the manifests themselves do not need it

    info(name)  # an unknown name is an UnknownModelError
    path = manifest_file(name)
    if not path.is_file():
        have = ", ".join(shipped()) or "none"
        raise ZooError(
            f"{name} has no shipped weights (shipped: {have}); pass a run folder or weights file"
        )
    return read_json(path)


def headline_metric(record: dict[str, Any], task: str) -> tuple[str, float]:
    """(metric, value) of a manifest: the task's primary metric, else its first."""
    metrics = record["metrics"]
    key = get_task(task).metric
    return (key, metrics[key]) if key in metrics else next(iter(metrics.items()))


def verified_files(name: str) -> list[Path]:
    """The shipped weights files of ``name`` after checking each sha256 against the manifest."""
    paths = []
    for entry in manifest(name)["files"]:
        path = WEIGHTS_DIR / entry["file"]
        if not path.is_file():
            raise ZooError(f"shipped weights {path} are missing; reinstall deconv-zoo")
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise ZooError(
                f"shipped weights {path} fail the hash check (sha256 {actual[:12]}..., manifest "
                f"{entry['sha256'][:12]}...): the file was changed; reinstall deconv-zoo"
            )
        paths.append(path)
    return paths


def read_json(path: Path) -> dict:
    """A JSON file's content; an unreadable or malformed file is a one-line ZooError."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ZooError(f"cannot read {path}: {error}") from None
