"""What a run writes, as Keras callbacks: checkpoints, the run folder's files, the epoch line.

The loop (:mod:`zoo.train.loop`) calls these as ``Model.fit`` calls its callbacks, in the
order :func:`run_callbacks` gives: checkpoints first, then the user's callbacks, then the
run folder's files, so that a user's ``EarlyStopping(restore_best_weights=True)`` has
restored the weights before the final model is saved.

- :class:`Checkpoints`: a ``tf.train.CheckpointManager`` save every ``checkpoint_every``
  steps and at the end of every epoch (after the epoch counter moves on).
- :class:`RunFiles` (the chief only): per epoch a ``metrics.csv`` row, TensorBoard scalars and
  the sample grid (PNG and TensorBoard image) and ``summary.json`` (with the count of files a
  streamed source skipped as unreadable); at the end the model as ``model.keras`` and
  ``model.weights.h5``, after checking there is room for them.
- :class:`EpochLine`: one printed line per epoch.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo.errors import ZooError
from zoo.files import free_bytes, write_atomically, write_png, write_text_atomically
from zoo.tasks import sample_row_labels
from zoo.tasks.objective import Objective
from zoo.train.config import TrainConfig
from zoo.train.grid import image_grid


class Checkpoints(keras.callbacks.Callback):
    """Saves the run's checkpoint every ``every`` steps (0: never) and after every epoch."""

    def __init__(self, manager, step, epoch, every: int) -> None:
        super().__init__()
        self.manager, self.step, self.epoch, self.every = manager, step, epoch, every

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        step = int(self.step.numpy())
        if self.every and step % self.every == 0:
            self.manager.save(checkpoint_number=step)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.epoch.assign(epoch + 1)
        self.manager.save(checkpoint_number=int(self.step.numpy()))


class RunFiles(keras.callbacks.Callback):
    """The run folder's metrics CSV, TensorBoard events, sample grids, summary and model."""

    def __init__(
        self,
        out: Path,
        objective: Objective,
        validation: dict,
        *,
        resume: bool,
        skipped: set[str] | None = None,
    ) -> None:
        import tensorflow as tf

        super().__init__()
        self.out, self.objective, self.validation = out, objective, validation
        self.skipped = set() if skipped is None else skipped  # filled by a streamed source
        self.config: TrainConfig = objective.config
        self.rows: list[dict] = read_rows(out / "metrics.csv") if resume else []
        self.seconds_before = read_summary(out).get("seconds", 0.0) if resume else 0.0
        self.writer = tf.summary.create_file_writer(str(out / "logs"))
        self.started = time.perf_counter()
        self.step = 0

    @property
    def seconds(self) -> float:
        return round(self.seconds_before + time.perf_counter() - self.started, 2)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        import tensorflow as tf

        row = {**epoch_row(logs), "seconds": self.seconds}
        self.step = row["step"]
        rows = self.objective.sample_rows(self.validation)
        grid = image_grid(rows, labels=sample_row_labels(self.objective.info.task, len(rows)))
        csv_text = rows_to_csv([*self.rows, row])
        # the grid goes to a PNG and into the events file; room for both (as raw pixels, more
        # than they take compressed), the CSV twice and a margin, or nothing of the epoch
        check_room(self.out, 2 * grid.size + 2 * len(csv_text) + (1 << 16), "the epoch's files")
        self.rows.append(row)
        write_text_atomically(self.out / "metrics.csv", csv_text)
        write_png(self.out / "samples" / f"epoch_{row['epoch']:03d}.png", grid)
        with self.writer.as_default(step=row["step"]):
            for key, value in row.items():
                if key not in ("epoch", "step", "seconds"):
                    tf.summary.scalar(key, value)
            tf.summary.image("samples", grid[None])
        self.writer.flush()
        self.write_summary(final=False)

    def on_train_end(self, logs=None) -> None:
        check_room_for(self.objective.model, self.out)
        save_model(self.objective.model, self.out)
        self.write_summary(final=True)

    def write_summary(self, *, final: bool) -> None:
        last = self.rows[-1] if self.rows else {}
        summary = {
            "model": self.config.model,
            "epochs_completed": last.get("epoch", 0),
            "epochs": self.config.epochs,
            "global_step": last.get("step", self.step),
            "metrics": {k: v for k, v in last.items() if k not in ("epoch", "step", "seconds")},
            "data": self.config.data,
            "seconds": self.seconds,
            "finished": final,
            "stopped_early": bool(final and getattr(self.model, "stop_training", False)),
            "unreadable_files_skipped": len(self.skipped),
        }
        write_text_atomically(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")


class EpochLine(keras.callbacks.Callback):
    """Prints ``epoch E/N  step S  key value ...`` after every epoch."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        print(describe_epoch(epoch_row(logs), self.epochs), flush=True)
        if getattr(self.model, "stop_training", False):
            print(f"stopped by a callback after epoch {epoch + 1}", flush=True)


def run_callbacks(
    *,
    checkpoints: Checkpoints,
    user: Sequence[Any],
    files: RunFiles | None,
    line: EpochLine | None,
) -> list:
    """The loop's callbacks in the order they run (see the module docstring)."""
    return [checkpoints, *user, *(c for c in (files, line) if c is not None)]


def epoch_row(logs: dict | None) -> dict:
    """The loop's epoch logs with their counters whole again (Keras passes floats)."""
    row = dict(logs or {})
    for key in ("epoch", "step"):
        if key in row:
            row[key] = int(row[key])
    return row


def check_room_for(model, out: Path) -> None:
    """A ZooError, before anything is written, when ``out`` cannot hold the final model.

    Room for ``model.keras`` and ``model.weights.h5`` (each about the weights' size) and
    their temporary copies, plus 1 MiB.
    """
    weights = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    check_room(out, 4 * weights + (1 << 20), "the final model")


def check_room(out: Path, needed: int, what: str) -> None:
    """A ZooError when ``out`` has less than ``needed`` bytes free for ``what``."""
    free = free_bytes(out)
    if free < needed:
        raise ZooError(
            f"not enough free space in {out} for {what} ({needed / 1e6:.1f} MB needed, "
            f"{free / 1e6:.1f} MB free); free some and run again with --resume"
        )


def save_model(model, out: Path) -> None:
    """``model.keras`` (architecture and weights) and ``model.weights.h5``, each atomically."""
    write_atomically(out / "model.keras", model.save)
    write_atomically(out / "model.weights.h5", model.save_weights)


def describe_epoch(row: dict[str, float], epochs: int) -> str:
    values = "  ".join(
        f"{key} {value:.4g}" for key, value in row.items() if key not in ("epoch", "step")
    )
    return f"epoch {row['epoch']}/{epochs}  step {row['step']}  {values}"


def rows_to_csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [
            {key: _number(value) for key, value in row.items() if value != ""}
            for row in csv.DictReader(f)
        ]


def _number(text: str) -> float | int:
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number


def read_summary(out: Path) -> dict:
    try:
        return json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
