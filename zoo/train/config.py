"""The resolved settings of one training run, written to ``config.json`` in the run folder."""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.registry import ModelInfo

STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")

# Every recipe option a training objective reads, and the kind of value it takes.
OPTIONS = {
    "augment": "bool",
    "beta_1": "number",
    "cache": "name",
    "cache_dir": "name",
    "crops_per_image": "count",
    "freeze_batch_norm": "bool",
    "gaussian_sigma": "range",
    "image_size": "count",
    "instance_noise": "number",
    "kernels": "names",
    "kl_warmup_epochs": "whole",
    "l1_weight": "number",
    "latent_dim": "count",
    "likelihood": "name",
    "lr_8bit": "bool",
    "lr_schedule": "name",
    "motion_length": "range",
    "no_worse_weight": "number",
    "noise_sigma": "number",
    "num_classes": "count",
    "patch_size": "count",
    "rescales": "numbers",
    "scale": "count",
    "size_multiple": "count",
    "train_count": "count",
}
_KINDS = {
    "bool": "true or false",
    "number": "a finite number",
    "count": "a whole number >= 1",
    "whole": "a whole number >= 0",
    "range": "[low, high], two numbers",
    "numbers": "a list of numbers",
    "names": "a list of names",
    "name": "a name",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fits(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return _is_number(value)
    if kind in ("count", "whole"):
        whole = isinstance(value, int) and not isinstance(value, bool)
        return whole and value >= (1 if kind == "count" else 0)
    if kind == "range":
        return (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(_is_number(v) for v in value)
            and value[0] <= value[1]
        )
    if kind == "numbers":
        return isinstance(value, list | tuple) and bool(value) and all(map(_is_number, value))
    if kind == "names":
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def check_options(options: dict[str, Any]) -> None:
    """A one-line ZooError for an option no objective reads or a value of the wrong kind."""
    for key, value in options.items():
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, OPTIONS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ZooError(f"unknown option {key!r}; {hint}(options: {', '.join(OPTIONS)})")
        if not _fits(OPTIONS[key], value):
            raise ZooError(f"option {key} takes {_KINDS[OPTIONS[key]]}, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; defaults come from the model's recipe.

    ``epochs`` is the total (a resumed run trains up to it). ``steps_per_epoch=None``
    means one pass over the training data. ``checkpoint_every`` is in steps (0: only at
    the end of each epoch). ``options`` are the recipe's task options, with overrides.
    ``validation_data`` replaces the test split of ``data`` for per-epoch validation (the
    super-resolution protocol trains on all of T91 and validates on Set5). ``init`` names
    the weights a new run starts from (:func:`zoo.weights_io.initial_run`).
    """

    model: str
    data: str
    epochs: int
    batch_size: int
    learning_rate: float
    steps_per_epoch: int | None = None
    seed: int = 0
    strategy: str = "auto"
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    jit_compile: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    validation_data: str | None = None
    init: str | None = None  # the weights training starts from (zoo train --init)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ZooError(f"{name.replace('_', '-')} must be at least 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ZooError("steps-per-epoch must be at least 1")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ZooError(f"lr must be a positive finite number, got {self.learning_rate}")
        if self.strategy not in STRATEGIES:
            raise ZooError(f"strategy {self.strategy!r}; expected one of {', '.join(STRATEGIES)}")
        if self.checkpoint_every < 0 or self.keep_checkpoints < 1:
            raise ZooError("checkpoint-every must be >= 0 and keep-checkpoints >= 1")

    @classmethod
    def from_recipe(cls, info: ModelInfo, **overrides: Any) -> TrainConfig:
        """The recipe's defaults with every non-None override applied."""
        recipe = info.recipe
        values: dict[str, Any] = {
            "model": info.name,
            "data": info.dataset,
            "epochs": recipe.epochs,
            "batch_size": recipe.batch_size,
            "learning_rate": recipe.learning_rate,
            "options": dict(recipe.options),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def with_total_epochs(self, epochs: int | None) -> TrainConfig:
        return self if epochs is None else replace(self, epochs=epochs)

    def save(self, path: Path) -> None:
        from zoo.files import write_text_atomically

        write_text_atomically(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise ZooError(f"cannot read the run's config {path}: {error}") from None
