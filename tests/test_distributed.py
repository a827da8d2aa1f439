"""The training loop under tf.distribute: same update on 1 or N replicas, and on N workers.

- MirroredStrategy over two logical CPU devices makes the same update as one device with the
  same global batch (the model's weights, and the Adam moments, which carry the gradients'
  scale that Adam's normalised step hides).
- MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1 finish with identical
  weights, equal to the one-device run; only worker 0 writes the run folder; ``--resume``
  continues on both workers. On a streamed image folder each worker reads its own half of
  every global batch.
- ``--strategy auto`` and ``is_chief`` read TF_CONFIG; a bad TF_CONFIG is a ZooError.

Every training run is a separate process (tests/distributed_worker.py): logical devices and
collective ops must be set up before TensorFlow's first op. Runs are tiny: fsrcnn_tiny (no
BatchNormalization, so per-replica batch statistics play no part), 3 steps of 8 images.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from zoo.errors import ZooError
from zoo.train import strategy as zstrategy

WORKER = Path(__file__).with_name("distributed_worker.py")
MODEL = "fsrcnn_tiny"
SETTINGS = ["--model", MODEL, "--seed", "7", "--steps", "3", "--batch-size", "8", "--epochs", "1"]
TIMEOUT = 300  # seconds per group of processes; a run takes 15-50 s on a busy 2-core machine
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


# === Processes ===


def worker_env(tmp: Path, tf_config: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", TMPDIR=str(tmp))
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    tmp.mkdir(parents=True, exist_ok=True)
    return env


def run_together(jobs: list[tuple[list[str], dict[str, str], Path]]) -> None:
    """Start every (args, env, log) job at once; wait for all; kill what is left; fail loudly."""
    processes = []
    deadline = time.monotonic() + TIMEOUT
    try:
        for args, env, log in jobs:
            with log.open("w") as stream:
                command = [sys.executable, str(WORKER), *args]
                processes.append(
                    subprocess.Popen(command, env=env, stdout=stream, stderr=subprocess.STDOUT)
                )
        for process in processes:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"distributed runs took over {TIMEOUT} s:\n{tails(jobs)}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    failed = [p.returncode for p in processes if p.returncode != 0]
    assert not failed, f"exit codes {[p.returncode for p in processes]}:\n{tails(jobs)}"


def tails(jobs) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]) for *_, log in jobs
    )


def free_ports(count: int) -> list[int]:
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sockets[-1].bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    except OSError as error:
        pytest.skip(f"this platform cannot open loopback ports: {error}")
    finally:
        for s in sockets:
            s.close()


def cluster(ports: list[int], index: int) -> dict:
    workers = [f"127.0.0.1:{port}" for port in ports]
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}


# === Results ===


@dataclass(frozen=True)
class Run:
    """A worker's run folder (``out``) and what it recorded (``record``)."""

    out: Path
    record: Path

    def args(self, strategy: str, *extra: str) -> list[str]:
        """The worker's command line."""
        where = ["--out", str(self.out), "--record", str(self.record)]
        return [*SETTINGS, "--strategy", strategy, *where, *extra]

    @property
    def report(self) -> dict:
        return json.loads((self.record / "run.json").read_text())

    def recorded(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.record / f"{name}.npz") as arrays:
            return dict(arrays)

    def saved_weights(self) -> list[np.ndarray]:
        """``model.weights.h5`` of the run folder, loaded into a fresh model."""
        import zoo

        model = zoo.get(MODEL)
        model.load_weights(self.out / "model.weights.h5")
        return model.get_weights()

    def checkpoint(self) -> dict[str, np.ndarray]:
        """Every tensor of the latest checkpoint: model, optimizer (Adam moments), counters."""
        import tensorflow as tf

        reader = tf.train.load_checkpoint(str(self.out / "checkpoints"))
        names = reader.get_variable_to_shape_map()
        return {n: reader.get_tensor(n) for n in names if n != "_CHECKPOINTABLE_OBJECT_GRAPH"}

    def losses(self) -> list[float]:
        lines = (self.out / "metrics.csv").read_text().splitlines()
        column = lines[0].split(",").index("loss")
        return [float(line.split(",")[column]) for line in lines[1:]]


def as_list(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [arrays[f"arr_{i}"] for i in range(len(arrays))]


def assert_same(first: dict, second: dict, **tolerance) -> None:
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_allclose(first[key], second[key], err_msg=key, **tolerance)


def assert_weights_close(first: list, second: list, **tolerance) -> None:
    assert len(first) == len(second)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        np.testing.assert_allclose(a, b, err_msg=f"weight {i}", **tolerance)


# === One host: MirroredStrategy over two logical CPU devices ===


@pytest.fixture(scope="module")
def single_and_mirrored(tmp_path_factory) -> tuple[Run, Run]:
    """One run on the default strategy (one device) and one on two mirrored CPU replicas."""
    root = tmp_path_factory.mktemp("mirrored")
    single = Run(out=root / "single", record=root / "single-record")
    mirrored = Run(out=root / "mirrored", record=root / "mirrored-record")
    run_together(
        [
            (
                run.args(name, *extra),
                worker_env(root / f"tmp-{name}"),
                root / f"{name}.log",
            )
            for name, run, extra in (
                ("default", single, []),
                ("mirrored", mirrored, ["--logical-cpus", "2"]),
            )
        ]
    )
    return single, mirrored


def test_mirrored_on_two_devices_makes_the_one_device_update(single_and_mirrored):
    single, mirrored = single_and_mirrored
    assert single.report["replicas"] == 1
    assert mirrored.report == {"strategy": "MirroredStrategy", "replicas": 2, "chief": True}
    # The setup first: same initial weights and the same global batches in both runs.
    assert_same(single.recorded("initial"), mirrored.recorded("initial"), rtol=0, atol=0)
    assert_same(single.recorded("batches"), mirrored.recorded("batches"), rtol=0, atol=0)
    # Training moved the weights far more than the tolerance...
    initial, trained = as_list(single.recorded("initial")), single.saved_weights()
    assert max(np.abs(a - b).max() for a, b in zip(initial, trained, strict=True)) > 1e-3
    # ... and both runs moved them the same way: weights, optimizer state, step, losses.
    assert_weights_close(mirrored.saved_weights(), trained, **TOLERANCE)
    assert_same(mirrored.checkpoint(), single.checkpoint(), **TOLERANCE)
    np.testing.assert_allclose(mirrored.losses(), single.losses(), **TOLERANCE)


# === Several hosts: MultiWorkerMirroredStrategy, two workers on 127.0.0.1 ===


def run_workers(root: Path, name: str, outs: list[Path], extra: list[str]) -> list[Run]:
    ports = free_ports(2)
    runs = [Run(out=out, record=root / f"{name}-record{i}") for i, out in enumerate(outs)]
    run_together(
        [
            (
                run.args("multiworker", *extra),
                worker_env(root / f"{name}-tmp{i}", cluster(ports, i)),
                root / f"{name}-worker{i}.log",
            )
            for i, run in enumerate(runs)
        ]
    )
    return runs


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory) -> tuple[Path, list[Run]]:
    root = tmp_path_factory.mktemp("multiworker")
    return root, run_workers(root, "first", [root / "run0", root / "run1"], [])


def test_two_workers_train_identical_weights(two_workers, single_and_mirrored):
    root, (chief, worker) = two_workers
    assert chief.report == {"strategy": "CollectiveAllReduceStrategy", "replicas": 2, "chief": True}
    assert worker.report["replicas"] == 2 and worker.report["chief"] is False
    # Only worker 0 writes the run folder; worker 1's scratch checkpoints are gone.
    assert (chief.out / "model.weights.h5").exists() and (chief.out / "checkpoints").is_dir()
    assert not worker.out.exists() or not any(worker.out.iterdir())
    assert not any((root / "first-tmp1").iterdir())
    # Worker 1's own trained model equals the chief's saved one, bit for bit ...
    chief_weights = chief.saved_weights()
    assert_weights_close(as_list(worker.recorded("final")), chief_weights, rtol=0, atol=0)
    # ... and the one-device run with the same global batch: each worker read its own half.
    single, _ = single_and_mirrored
    halves = chief.recorded("batches"), worker.recorded("batches")
    assert all(len(half) == 4 for halves_of in halves for half in halves_of.values())
    joined = {key: np.concatenate([half[key] for half in halves]) for key in halves[0]}
    assert_same(joined, single.recorded("batches"), rtol=0, atol=0)
    assert_weights_close(chief_weights, single.saved_weights(), **TOLERANCE)
    assert_same(chief.checkpoint(), single.checkpoint(), **TOLERANCE)


@pytest.fixture(scope="module")
def folder_runs(tmp_path_factory) -> tuple[Run, list[Run]]:
    """A streamed image folder: one run on one device, and two workers, started together."""
    from PIL import Image

    root = tmp_path_factory.mktemp("folder")
    folder = root / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(6):
        pixels = rng.integers(0, 256, (40, 44, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")
    data = ["--data", str(folder), "--cache", "stream"]
    single = Run(out=root / "single", record=root / "single-record")
    ports = free_ports(2)
    workers = [Run(out=root / f"run{i}", record=root / f"record{i}") for i in (0, 1)]
    run_together(
        [(single.args("default", *data), worker_env(root / "tmp"), root / "single.log")]
        + [
            (
                run.args("multiworker", *data),
                worker_env(root / f"tmp{i}", cluster(ports, i)),
                root / f"worker{i}.log",
            )
            for i, run in enumerate(workers)
        ]
    )
    return single, workers


def test_two_workers_on_a_folder_each_decode_half_and_train_identical_weights(folder_runs):
    single, (chief, worker) = folder_runs
    halves = chief.recorded("batches"), worker.recorded("batches")
    joined = {key: np.concatenate([half[key] for half in halves]) for key in halves[0]}
    assert_same(joined, single.recorded("batches"), rtol=0, atol=0)
    assert not np.array_equal(halves[0]["hr_0"], halves[1]["hr_0"])
    chief_weights = chief.saved_weights()
    assert_weights_close(as_list(worker.recorded("final")), chief_weights, rtol=0, atol=0)
    assert_weights_close(chief_weights, single.saved_weights(), **TOLERANCE)


def test_two_workers_resume_from_the_chiefs_checkpoint(two_workers):
    """Both workers see the chief's run folder (as on a shared file system) and go on."""
    root, (chief, _) = two_workers
    before = chief.saved_weights()
    shared = [chief.out, chief.out]
    resumed = run_workers(root, "resumed", shared, ["--resume", "--epochs", "2"])
    summary = json.loads((chief.out / "summary.json").read_text())
    assert summary["global_step"] == 6 and summary["epochs_completed"] == 2
    assert summary["finished"] is True
    after = chief.saved_weights()
    assert_weights_close(as_list(resumed[1].recorded("final")), after, rtol=0, atol=0)
    assert max(np.abs(a - b).max() for a, b in zip(before, after, strict=True)) > 1e-3
    assert len(chief.losses()) == 2
    assert not any((root / "resumed-tmp1").iterdir())


# === TF_CONFIG: --strategy auto, the chief, bad values ===


class FakeMultiWorker:
    """Stands in for MultiWorkerMirroredStrategy, which would wait for its peers."""


def test_tf_config_counts_the_cluster_workers(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert zstrategy.tf_config_workers() == 0
    for jobs, count in (
        ({"worker": ["a:1"]}, 1),
        ({"worker": ["a:1", "b:1"]}, 2),
        ({"chief": ["a:1"], "worker": ["b:1"]}, 2),
    ):
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": jobs}))
        assert zstrategy.tf_config_workers() == count


def test_auto_picks_multiworker_when_tf_config_names_several_workers(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", FakeMultiWorker)
    for jobs in ({"worker": ["a:1", "b:1"]}, {"chief": ["a:1"], "worker": ["b:1"]}):
        task = {"type": "worker", "index": 0}
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": jobs, "task": task}))
        assert isinstance(zstrategy.make_strategy("auto"), FakeMultiWorker)


def test_auto_is_the_default_strategy_otherwise(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", FakeMultiWorker)
    several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
    for tf_config in (None, {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker"}}):
        if tf_config is None:
            monkeypatch.delenv("TF_CONFIG", raising=False)
        else:
            monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
        chosen = zstrategy.make_strategy("auto")
        if several_gpus:
            assert isinstance(chosen, tf.distribute.MirroredStrategy)
        else:
            assert chosen is tf.distribute.get_strategy()
            assert chosen.num_replicas_in_sync == 1


@pytest.mark.parametrize(
    "tf_config",
    [
        "{not json",
        '["worker"]',
        '{"cluster": ["127.0.0.1:1"]}',
        '{"cluster": {"worker": 2}}',
        '{"cluster": {"worker": "127.0.0.1:1"}}',
    ],
)
def test_unreadable_tf_config_is_a_zoo_error(monkeypatch, tf_config):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    for name in ("auto", "multiworker"):
        with pytest.raises(ZooError, match="TF_CONFIG"):
            zstrategy.make_strategy(name)


@pytest.mark.parametrize(
    "task",
    [None, {"type": "worker", "index": 5}, {"type": "ps", "index": 0}],
    ids=["no-task", "index-out-of-range", "type-not-in-cluster"],
)
def test_tf_config_task_outside_its_cluster_is_a_zoo_error(monkeypatch, task):
    # TensorFlow validates the task before it opens any port, so nothing waits for peers.
    tf_config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}
    if task is not None:
        tf_config["task"] = task
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    with pytest.raises(ZooError, match="TF_CONFIG"):
        zstrategy.make_strategy("multiworker")


def test_multiworker_without_tf_config_is_a_one_line_cli_error(tmp_path):
    from zoo.cli import main

    args = ["train", MODEL, "--strategy", "multiworker", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(main, args, env={"TF_CONFIG": None})
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --strategy multiworker needs TF_CONFIG naming the cluster's workers"
    )
    assert not (tmp_path / "run").exists()


def test_is_chief_reads_the_cluster_resolver(monkeypatch):
    import tensorflow as tf

    resolvers = tf.distribute.cluster_resolver

    def on(jobs: dict, task_type: str, task_id: int):
        resolver = resolvers.SimpleClusterResolver(
            tf.train.ClusterSpec(jobs), task_type=task_type, task_id=task_id
        )
        return types.SimpleNamespace(cluster_resolver=resolver)

    two = {"worker": ["a:1", "b:1"]}
    with_chief = {"chief": ["a:1"], "worker": ["b:1"]}
    assert zstrategy.is_chief(tf.distribute.get_strategy())
    assert zstrategy.is_chief(on(two, "worker", 0))
    assert not zstrategy.is_chief(on(two, "worker", 1))
    assert zstrategy.is_chief(on(with_chief, "chief", 0))
    assert not zstrategy.is_chief(on(with_chief, "worker", 0))
    monkeypatch.setenv("TF_CONFIG", json.dumps(cluster([1, 2], 1)))
    worker1 = types.SimpleNamespace(cluster_resolver=resolvers.TFConfigClusterResolver())
    assert not zstrategy.is_chief(worker1)
    monkeypatch.delenv("TF_CONFIG")
    alone = types.SimpleNamespace(cluster_resolver=resolvers.TFConfigClusterResolver())
    assert zstrategy.is_chief(alone)
