"""Fine-tuning a model with its own training objective: what ``zoo optimize`` trains.

:func:`load_job` gathers the source model (trained weights or fresh), its objective and
training data, and for a GAN the discriminator it trained beside; :func:`fine_tune` runs
``steps`` steps of that objective on a tf_keras twin, in ``zoo train``'s step loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from zoo import models
from zoo.data.stream import Examples
from zoo.errors import ZooError

FINE_TUNE_LR_FACTOR = 0.1  # the recipe's rate times this, unless --lr says otherwise


@dataclass
class FineTuneJob:
    """Everything one optimization shares: the source model, its objective and data."""

    info: Any
    config: Any
    model: Any  # the Keras 3 model (the "before")
    objective: Any
    train: dict[str, np.ndarray]
    weights: str | None
    discriminator_source: str | None = None
    fixed_biases: list[str] = field(default_factory=list)

    def run(self):
        """The source model as a :class:`zoo.weights_io.TrainedModel` (for evaluation)."""
        from zoo.weights_io import TrainedModel

        return TrainedModel(model=self.model, info=self.info, config=self.config, source=Path("."))


def load_job(
    name: str,
    *,
    weights: str | None,
    overrides: dict[str, Any],
    data: str | None,
    batch_size: int | None,
    learning_rate: float | None,
    seed: int,
    data_limit: int | None,
) -> FineTuneJob:
    import keras

    from zoo.tasks import objective_for
    from zoo.train.config import TrainConfig
    from zoo.weights_io import load_run

    info = models.info(name)
    keras.utils.set_random_seed(seed)
    if weights is not None:
        run = load_run(name, weights, overrides=overrides or None)
        model, config = run.model, run.config
    else:
        model = models.create(name, **overrides)
        config = TrainConfig.from_recipe(info, model_overrides=overrides or None)
    config = replace(
        config,
        data=data or config.data,
        batch_size=batch_size or config.batch_size,
        learning_rate=learning_rate or config.learning_rate * FINE_TUNE_LR_FACTOR,
        seed=seed,
    )
    objective = objective_for(info, config)
    objective.limit = data_limit
    train, _ = objective.load_data()
    job = FineTuneJob(info, config, model, objective, train, weights)
    if info.has_discriminator:
        _attach_discriminator(job, name)
    return job


def _attach_discriminator(job: FineTuneJob, name: str) -> None:
    """The GAN partner: from the run's latest checkpoint when there is one, else fresh."""
    import keras
    import tensorflow as tf

    objective = job.objective
    discriminator = models.get_discriminator(name, **job.config.model_overrides)
    job.discriminator_source = "freshly built"
    folder = Path(job.weights).expanduser() if job.weights else None
    if folder is not None and folder.is_dir():
        latest = tf.train.latest_checkpoint(str(folder / "checkpoints"))
        if latest is not None:
            try:
                status = tf.train.Checkpoint(discriminator=discriminator).restore(latest)
                status.expect_partial()
                status.assert_existing_objects_matched()
            except (tf.errors.OpError, ValueError, AssertionError) as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else "mismatch"
                raise ZooError(
                    f"cannot restore the discriminator from {latest}: {reason}"
                ) from None
            job.discriminator_source = latest
    objective.discriminator = discriminator
    beta_1 = objective.options.get("beta_1", 0.5)
    objective.d_optimizer = keras.optimizers.Adam(job.config.learning_rate, beta_1=beta_1)
    objective.d_optimizer.build(discriminator.trainable_variables)


def fine_tune(job: FineTuneJob, model, steps: int, *, quiet: bool, label: str) -> dict[str, float]:
    """``steps`` steps of the model's own objective on tf_keras ``model``; last losses.

    The objective trains the twin through :meth:`zoo.tasks.objective.Objective.use` and the
    steps run in ``zoo train``'s loop (:func:`zoo.train.loop.run_steps`), progress bar included.
    """
    import tensorflow as tf
    import tf_keras

    from zoo.train.loop import make_dataset, progress_bar, run_steps

    objective = job.objective
    optimizer = tf_keras.optimizers.Adam(
        job.config.learning_rate, beta_1=objective.options.get("beta_1", 0.9)
    )
    fixed = job.fixed_biases

    def trains(variable) -> bool:
        return not _is_fixed(variable.name, fixed)

    optimizer.build([v for v in model.trainable_variables if trains(v)])
    objective.use(model, optimizer, trains=trains)
    step_fn = tf.function(objective.train_step)

    examples = Examples.in_memory(job.train)
    batch = min(job.config.batch_size, examples.count)
    iterator = iter(make_dataset(examples, batch, job.config.seed, degrade=objective.degrade))
    if not quiet:
        print(f"{label}: {steps} steps", flush=True)
    started = time.perf_counter()
    values = run_steps(
        lambda: step_fn(next(iterator)),
        steps,
        progress=None if quiet else progress_bar(steps),
        stopped=lambda key, value, n: f"{label}: {key} became {value} at step {n}; lower --lr",
    )
    tail = max(1, steps // 10)
    result = {key: float(np.mean(series[-tail:])) for key, series in values.items()}
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _is_fixed(variable_name: str, layers: list[str]) -> bool:
    name = variable_name.split(":")[0]
    return any(name == f"{layer}/bias" or name.endswith(f"/{layer}/bias") for layer in layers)
