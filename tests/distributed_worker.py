"""One tiny ``zoo.train.train`` run in its own process, for tests/test_distributed.py.

Logical devices and MultiWorkerMirroredStrategy must be set up before TensorFlow runs its
first op, so each run of the distribution tests is a fresh process. Besides the run folder
(``--out``), the worker writes to ``--record``:

- ``initial.npz``: the model's weights right after they are built (under the strategy's scope);
- ``batches.npz``: this process's slices of the first global batches (``make_dataset``);
- ``final.npz``: the weights of the model this process trained (also on a non-chief worker,
  whose run folder stays empty);
- ``run.json``: the strategy's class, its ``num_replicas_in_sync`` and whether this process
  was the chief.

Usage: python tests/distributed_worker.py --model fsrcnn_tiny --strategy mirrored
    --out RUN --record REC [--logical-cpus 2] [--epochs 1 --steps 3 --batch-size 8 --seed 7]
    [--resume] [--data FOLDER --cache stream]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def weights_npz(path: Path, model) -> None:
    import numpy as np

    np.savez(path, *model.get_weights())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fsrcnn_tiny")
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--logical-cpus", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--data", help="a dataset or image folder (default: the recipe's)")
    parser.add_argument("--cache", help="recipe option cache: auto, stream or memory")
    args = parser.parse_args()
    record = Path(args.record)
    record.mkdir(parents=True, exist_ok=True)

    import tensorflow as tf

    if args.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(args.logical_cpus)]
        )

    import numpy as np

    from zoo.train import loop

    seen: dict = {}
    make_strategy, objective_for, make_dataset = (
        loop.make_strategy,
        loop.objective_for,
        loop.make_dataset,
    )

    def recording_strategy(name):
        seen["strategy"] = strategy = make_strategy(name)
        return strategy

    def recording_objective(info, config):
        seen["objective"] = objective = objective_for(info, config)
        build = objective.build

        def recording_build() -> None:
            build()
            weights_npz(record / "initial.npz", objective.model)

        objective.build = recording_build
        return objective

    def recording_dataset(*given, **named):
        # A second pipeline built the same way, with the same seeds, yields the same batches.
        # It yields one batch per local replica and step: joined, this pipeline's slice of
        # each global batch.
        context = named.get("context")
        per_step = context.num_replicas_in_sync // context.num_input_pipelines if context else 1
        batches = list(make_dataset(*given, **named).take(args.steps * per_step))
        flat = {
            f"{key}_{i}": np.concatenate(
                [batch[key].numpy() for batch in batches[i * per_step : (i + 1) * per_step]]
            )
            for i in range(args.steps)
            for key in batches[0]
        }
        np.savez(record / "batches.npz", **flat)
        return make_dataset(*given, **named)

    loop.make_strategy = recording_strategy
    loop.objective_for = recording_objective
    loop.make_dataset = recording_dataset

    # A resumed run takes its settings from the run folder's config.json (epochs aside).
    settings = {
        "steps_per_epoch": args.steps,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "strategy": args.strategy,
        "data": args.data,
        "options": {"cache": args.cache} if args.cache else None,
    }
    loop.train(
        args.model,
        epochs=args.epochs,
        out=args.out,
        resume=args.resume,
        quiet=True,
        **({} if args.resume else settings),
    )
    strategy = seen["strategy"]
    weights_npz(record / "final.npz", seen["objective"].model)
    report = {
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "chief": loop.is_chief(strategy),
    }
    (record / "run.json").write_text(json.dumps(report) + "\n")
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
