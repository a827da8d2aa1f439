"""The training loop: one custom loop under any tf.distribute strategy.

Per step: ``strategy.run(objective.train_step)`` on a shard of the global batch, then
``strategy.reduce(SUM)`` of the per-replica losses (each already divided by the global
batch). Per ``checkpoint_every`` steps and per epoch: a tf.train.CheckpointManager save of
the models, optimizers, step and epoch. Per epoch: validation metrics, a metrics CSV row,
TensorBoard scalars and a sample grid (PNG and TensorBoard image). At the end: the model
as ``model.keras`` and ``model.weights.h5``, and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from zoo import models
from zoo.data import stream
from zoo.data.stream import Examples
from zoo.errors import ZooError
from zoo.files import (
    disk_error,
    folder_lock,
    remove_partial_files,
)
from zoo.tasks import objective_for
from zoo.train.callbacks import Checkpoints, EpochLine, RunFiles, read_summary, run_callbacks
from zoo.train.config import TrainConfig, check_options
from zoo.train.strategy import chief_process, is_chief, make_strategy
from zoo.weights_io import copy_matching_weights, initial_run


def _option_name(setting: str) -> str:
    """The command-line spelling of a TrainConfig field."""
    return "--lr" if setting == "learning_rate" else "--" + setting.replace("_", "-")


def default_run_dir(model: str) -> Path:
    return Path("runs") / model / datetime.now().strftime("%Y%m%d-%H%M%S")


def train(
    model: str,
    *,
    data: str | None = None,
    validation_data: str | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    strategy: str | None = None,
    seed: int | None = None,
    checkpoint_every: int | None = None,
    keep_checkpoints: int | None = None,
    jit_compile: bool | None = None,
    options: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    quiet: bool = False,
    overwrite: bool = False,
    callbacks: Sequence[Any] | None = None,
    init: str | None = None,
) -> Path:
    """Train registered ``model`` and return its run directory.

    Defaults come from the model's recipe. ``epochs`` is the total: with ``resume`` the run
    in ``out`` continues from its latest checkpoint (same step, optimizer state and epoch)
    up to it. ``validation_data`` (a dataset or folder) replaces ``data``'s test split.
    ``options`` override recipe options (e.g. ``noise_sigma``); ``overrides``
    reach the model builder (e.g. ``upsample="resize_conv"``). A folder that holds a run is
    refused unless ``resume`` continues it or ``overwrite`` replaces it; the run holds
    ``out/.lock`` while it trains, so a second run into the same folder is refused too.

    ``callbacks`` are ``keras.callbacks.Callback`` objects, called as ``Model.fit`` calls
    them: train, epoch and batch begin/end, with the step's losses as batch logs and the
    epoch's row (losses, validation metrics, steps/s) as epoch logs; their ``model`` is the
    trained model. A callback that sets ``model.stop_training`` (``EarlyStopping``) ends the
    run after that epoch, which is then saved like a finished one.

    ``init`` (``[NAME:]WEIGHTS``, :func:`zoo.weights_io.initial_run`) starts a new run from
    trained weights: each layer whose name and shapes match takes them, the others start
    fresh (the FSRCNN paper's x2 and x4 start from its x3 this way).
    """
    info = models.info(model)
    check_options(options or {})
    settings = {
        "data": data,
        "validation_data": validation_data,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
        "learning_rate": lr,
        "strategy": strategy,
        "seed": seed,
        "checkpoint_every": checkpoint_every,
        "keep_checkpoints": keep_checkpoints,
        "jit_compile": jit_compile,
        "options": {**info.recipe.options, **options} if options else None,
        "model_overrides": overrides or None,
        "init": init,
    }
    if resume and out is None:
        raise ZooError("--resume needs --out, the run folder to continue")
    out = Path(out) if out is not None else default_run_dir(model)
    held = folder_lock(out, what="zoo train") if chief_process() else contextlib.nullcontext()
    with held:
        if resume:
            config = _resumed_config(out, model, settings, epochs)
        else:
            _clear_for_a_new_run(out, overwrite=overwrite)
            config = TrainConfig.from_recipe(info, epochs=epochs, **settings)
        try:
            return Trainer(config, out, quiet=quiet, callbacks=callbacks).run(resume=resume)
        except Exception as error:
            message = disk_error(error)
            if message is None:
                raise
            remove_partial_files(out)
            remove_checkpoint_leftovers(out / "checkpoints")
            kept = _latest_checkpoint(out) or "none was written"
            raise ZooError(f"{message}; the run's last checkpoint is kept: {kept}") from None


RUN_FILES = ("config.json", "summary.json", "metrics.csv", "model.keras", "model.weights.h5")
RUN_FOLDERS = ("checkpoints", "logs", "samples")


def remove_checkpoint_leftovers(folder: Path) -> None:
    """Remove what a checkpoint save cut short leaves (TensorFlow's temporary files)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if "_temp" in path.name or path.name.startswith("checkpoint.tmp"):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def _latest_checkpoint(out: Path) -> str | None:
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(out / "checkpoints"))


def _clear_for_a_new_run(out: Path, *, overwrite: bool) -> None:
    """Refuse a folder that holds a run (finished or not); with ``overwrite``, remove the
    run's own files and folders first (nothing else in ``out`` is touched)."""
    found = [name for name in (*RUN_FILES, *RUN_FOLDERS) if (out / name).exists()]
    if not found:
        return
    if not overwrite:
        raise ZooError(
            f"{out} already holds a run ({', '.join(found)}); pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    for name in found:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _resumed_config(
    out: Path, model: str, settings: dict[str, Any], epochs: int | None
) -> TrainConfig:
    """The saved configuration of the run in ``out``, checked against what was asked."""
    if not (out / "config.json").exists():
        raise ZooError(f"--resume: {out} holds no run (no config.json)")
    config = TrainConfig.load(out / "config.json")
    if config.model != model:
        raise ZooError(f"--resume: {out} trains {config.model}, not {model}")
    changed = [
        key
        for key, value in settings.items()
        if value is not None and value != getattr(config, key)
    ]
    if changed:
        saved = ", ".join(
            f"{_option_name(key)} (saved {getattr(config, key)!r})" for key in changed
        )
        raise ZooError(f"--resume continues {out} with its saved settings; these differ: {saved}")
    completed = read_summary(out).get("epochs_completed", 0)
    if epochs is not None and epochs < completed:
        raise ZooError(
            f"--epochs {epochs} is the new total, but {out} has completed {completed} epochs; "
            f"pass --epochs {completed + 1} or more to train on"
        )
    return config.with_total_epochs(epochs)


class Trainer:
    """Runs one TrainConfig into one run directory."""

    def __init__(
        self,
        config: TrainConfig,
        out: Path,
        *,
        quiet: bool = False,
        callbacks: Sequence[Any] | None = None,
    ) -> None:
        self.config = config
        self.out = out
        self.quiet = quiet
        self.callbacks = list(callbacks or [])
        self.info = models.info(config.model)

    def _initialize(self, model) -> None:
        """Copy ``config.init``'s matching weights into ``model``; say which layers took them."""
        source = initial_run(self.config.init, self.info.name)
        copied, kept = copy_matching_weights(model, source.model)
        if not copied:
            raise ZooError(
                f"--init {self.config.init}: no layer of {source.info.name} matches "
                f"{self.info.name} by name and shape"
            )
        if not self.quiet and self.chief:
            fresh = f"; fresh: {', '.join(kept)}" if kept else ""
            print(f"init: {len(copied)} layers from {source.source}{fresh}", flush=True)

    def run(self, *, resume: bool) -> Path:
        import keras
        import tensorflow as tf

        strategy = make_strategy(self.config.strategy)  # first: multiworker must precede ops
        keras.utils.set_random_seed(self.config.seed)
        objective = objective_for(self.info, self.config)
        examples, validation = objective.data()
        steps_per_epoch = self.config.steps_per_epoch or max(
            1, examples.count // self.config.batch_size
        )
        self.chief = is_chief(strategy)

        if self.chief:
            remove_partial_files(self.out)  # left by a run killed while saving; we hold out
        with strategy.scope():
            objective.build()
            if self.config.init and not resume:
                self._initialize(objective.model)
            step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        checkpoint = tf.train.Checkpoint(
            step=step, epoch=epoch, seeds=seed_states(objective), **objective.trackables()
        )
        # Every worker must save (the save may sync them); a non-chief writes to a scratch
        # folder that is removed when the run ends, and on --resume reads the chief's.
        scratch = None if self.chief else tempfile.TemporaryDirectory(prefix="zoo-worker-")
        directory = self.out / "checkpoints" if scratch is None else Path(scratch.name)
        manager = tf.train.CheckpointManager(
            checkpoint, directory, max_to_keep=self.config.keep_checkpoints
        )
        if resume:
            latest = tf.train.latest_checkpoint(str(self.out / "checkpoints"))
            if latest is None:
                raise ZooError(f"--resume: {self.out} has no checkpoint yet")
            checkpoint.restore(latest).assert_existing_objects_matched()
        if self.chief:  # a resumed run's too: --epochs may have set a new total
            self.config.save(self.out / "config.json")

        global_step = int(step.numpy())

        def pipeline(context: tf.distribute.InputContext):
            return make_dataset(
                examples,
                self.config.batch_size,
                self.config.seed,
                start_step=global_step,
                context=context,
                degrade=objective.degrade,
            )

        iterator = iter(strategy.distribute_datasets_from_function(pipeline))

        replica_step = objective.train_step
        if self.config.jit_compile:
            replica_step = tf.function(replica_step, jit_compile=True)

        @tf.function
        def distributed_step(batch):
            losses = strategy.run(replica_step, args=(batch,))
            return {
                key: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in losses.items()
            }

        callbacks = run_callbacks(
            checkpoints=Checkpoints(manager, step, epoch, self.config.checkpoint_every),
            user=self.callbacks,
            files=RunFiles(self.out, objective, validation, resume=resume, skipped=examples.skipped)
            if self.chief
            else None,
            line=None if self.quiet else EpochLine(self.config.epochs),
        )
        hooks = keras.callbacks.CallbackList(callbacks, model=objective.model)
        hooks.set_params({"epochs": self.config.epochs, "steps": steps_per_epoch, "verbose": 0})
        objective.model.stop_training = False
        hooks.on_train_begin()
        row: dict = {}
        for epoch_index in range(int(epoch.numpy()), self.config.epochs):
            objective.start_epoch(epoch_index)
            hooks.on_epoch_begin(epoch_index)
            done = min(max(global_step - epoch_index * steps_per_epoch, 0), steps_per_epoch)
            progress = progress_bar(steps_per_epoch, quiet=self.quiet)
            progress.update(done)
            epoch_started = time.perf_counter()

            def one_step() -> dict:
                hooks.on_train_batch_begin(global_step % steps_per_epoch)
                return self._step(distributed_step, iterator)

            def after_step(losses: dict[str, float]) -> None:
                nonlocal global_step
                batch = global_step % steps_per_epoch
                global_step += 1
                step.assign(global_step)
                hooks.on_train_batch_end(batch, losses)

            def stopped(key: str, value: float, _: int) -> str:
                kept = manager.latest_checkpoint or "none was written yet"
                return (
                    f"{key} became {value} at step {global_step + 1}; training stopped; "
                    f"the last checkpoint, written before that step, is kept: {kept}"
                )

            values = run_steps(
                one_step,
                steps_per_epoch - done,
                progress=progress,
                after_step=after_step,
                stopped=stopped,
            )
            totals = {key: sum(series) for key, series in values.items()}
            steps_run = max(steps_per_epoch - done, 1)
            steps_per_second = steps_run / (time.perf_counter() - epoch_started)
            row = {
                "epoch": epoch_index + 1,
                "step": global_step,
                **{key: value / steps_run for key, value in totals.items()},
                **objective.validate(validation),
                "steps_per_second": steps_per_second,
            }
            hooks.on_epoch_end(epoch_index, row)
            if objective.model.stop_training:
                break

        hooks.on_train_end(dict(row))
        if scratch is not None:
            scratch.cleanup()
        return self.out

    def _step(self, distributed_step, iterator) -> dict:
        """One training step; an XLA compile failure becomes a one-line error."""
        import tensorflow as tf

        try:
            return distributed_step(next(iterator))
        except tf.errors.InvalidArgumentError as error:
            failure = xla_failure(self.config.model, error) if self.config.jit_compile else None
            if failure is None:
                raise
            raise failure from None


def xla_failure(model: str, error: BaseException) -> ZooError | None:
    """The one-line error for an XLA compile failure of ``model``'s step (naming the ops XLA
    has no kernel for), or None when ``error`` is not one."""
    if "XLA" not in str(error):
        return None
    ops = re.findall(r"No registered '(\w+)' OpKernel", str(error))
    missing = f" (no XLA kernel for {', '.join(sorted(set(ops)))})" if ops else ""
    return ZooError(f"XLA cannot compile {model}'s training step{missing}; train without --jit")


def progress_bar(steps: int, *, quiet: bool = False):
    """A ``keras.utils.Progbar`` that shows the values it is given as they are.

    :func:`run_steps` gives it running means. (Keras averages values itself, but shows the
    last step's value on the final update, so an epoch would end on one noisy step.)
    """
    import keras

    return keras.utils.Progbar(steps, verbose=0 if quiet else 1, stateless_metrics=())


def run_steps(
    step: Callable[[], dict],
    count: int,
    *,
    progress=None,
    after_step: Callable[[dict[str, float]], None] | None = None,
    stopped: Callable[[str, float, int], str] | None = None,
) -> dict[str, list[float]]:
    """Call ``step`` ``count`` times; every loss it returns, per key, in order.

    The one step loop of ``zoo train`` and ``zoo optimize``. ``progress`` (a
    :func:`progress_bar`) shows each loss's running mean; ``after_step(losses)`` runs after
    each step (counters, checkpoints). A loss that is not finite stops the loop with a
    ZooError whose text is ``stopped(key, value, n)``, n counting this call's steps from 1.
    """
    values: dict[str, list[float]] = {}
    for index in range(1, count + 1):
        losses = {key: float(value) for key, value in step().items()}
        for key, value in losses.items():
            if not math.isfinite(value):
                raise ZooError(stopped(key, value, index) if stopped else f"{key} became {value}")
            values.setdefault(key, []).append(value)
        if after_step is not None:
            after_step(losses)
        if progress is not None:
            progress.add(1, [(key, sum(series) / len(series)) for key, series in values.items()])
    return values


def seed_states(objective) -> list:
    """The state of every Keras SeedGenerator in the objective's models (dropout, sampling
    layers), in model order: checkpointed, so that a resumed run draws what an uninterrupted
    one would (model weights files leave them out)."""
    return [
        variable
        for model in objective.trackables().values()
        if hasattr(model, "layers")
        for variable in model.variables
        if variable.path.endswith("seed_generator_state")
    ]


def make_dataset(
    examples: Examples,
    global_batch: int,
    seed: int,
    *,
    start_step: int = 0,
    context=None,
    degrade=None,
):
    """The input pipeline of ``context`` (a ``tf.distribute.InputContext``; None: the only
    one) from global step ``start_step`` on: :func:`zoo.data.stream.batches`.

    The batches are a function of the seed alone, so a resumed run sees the batches an
    uninterrupted one would; each pipeline (worker) reads its slice of every global batch.
    """
    if context is None:
        return stream.batches(examples, global_batch, seed, start_step=start_step, degrade=degrade)
    return stream.batches(
        examples,
        global_batch,
        seed,
        start_step=start_step,
        pipeline=context.input_pipeline_id,
        pipelines=context.num_input_pipelines,
        replica_batch=context.get_per_replica_batch_size(global_batch),
        degrade=degrade,
    )
