"""A cached copy of every ModelInfo, so `zoo list` answers without importing TensorFlow.

The family files import Keras, which takes seconds. Their metadata does not change
between runs, so the first listing writes it to a JSON file in the user's cache,
keyed on the package version and the size and modification time of every file under
``zoo/``; any edit there, a new family file included, makes a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import zoo
from zoo.files import write_text_atomically
from zoo.registry import ModelInfo, Recipe, TensorSpec

PACKAGE_DIR = Path(zoo.__file__).resolve().parent


def cache_dir() -> Path:
    """``$DECONV_ZOO_CACHE``, else ``$XDG_CACHE_HOME/deconv-zoo``, else ``~/.cache/deconv-zoo``."""
    if override := os.environ.get("DECONV_ZOO_CACHE"):
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deconv-zoo"


def catalog_key() -> str:
    """A digest of the version and every source file's size and modification time."""
    digest = hashlib.sha256(zoo.__version__.encode())
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(PACKAGE_DIR)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def load_catalog() -> dict[str, ModelInfo]:
    """Every registered ModelInfo by name, from the cache when it is current."""
    path = cache_dir() / f"catalog-{catalog_key()}.json"
    try:
        return {row["name"]: info_from_dict(row) for row in json.loads(path.read_text())}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from zoo import models  # imports Keras: only when the cache is stale

    infos = {name: models.info(name) for name in models.list_models()}
    try:
        write_text_atomically(path, json.dumps([info.to_dict() for info in infos.values()]))
    except OSError:
        return infos  # an unwritable cache only costs the next listing its speed
    else:
        for stale in path.parent.glob("catalog-*.json"):
            if stale != path:
                stale.unlink(missing_ok=True)
    return infos


def info_from_dict(data: dict) -> ModelInfo:
    """Inverse of :meth:`ModelInfo.to_dict` (JSON lists become tuples again)."""

    def spec(row: dict) -> TensorSpec:
        return TensorSpec(
            name=row["name"],
            shape=tuple(row["shape"]),
            dtype=row["dtype"],
            value_range=tuple(row["value_range"]),
            bounded=row["bounded"],
            description=row["description"],
            levels=row["levels"],
        )

    fields = {key: data[key] for key in ModelInfo.__dataclass_fields__}
    fields["inputs"] = tuple(spec(row) for row in data["inputs"])
    fields["output"] = spec(data["output"])
    fields["recipe"] = Recipe(**data["recipe"])
    if fields["export_size"] is not None:
        fields["export_size"] = tuple(fields["export_size"])
    return ModelInfo(**fields)
