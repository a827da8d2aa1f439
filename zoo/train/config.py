"""The resolved settings of one training run, written to ``config.json`` in the run folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.registry import ModelInfo

STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; defaults come from the model's recipe.

    ``epochs`` is the total (a resumed run trains up to it). ``steps_per_epoch=None``
    means one pass over the training data. ``checkpoint_every`` is in steps (0: only at
    the end of each epoch). ``options`` are the recipe's task options, with overrides.
    ``validation_data`` replaces the test split of ``data`` for per-epoch validation (the
    super-resolution protocol trains on all of T91 and validates on Set5).
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

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ZooError(f"{name.replace('_', '-')} must be at least 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ZooError("steps-per-epoch must be at least 1")
        if not self.learning_rate > 0:
            raise ZooError("lr must be positive")
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
