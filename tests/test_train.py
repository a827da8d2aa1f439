"""Training: every tiny model trains into a complete run folder; resume, kill, NaN, bad input.

Runs stay tiny (``*_tiny`` models, a few steps, batch 4). Nothing of the zoo is mocked:
each test trains for real and checks the files a user would look at.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner
from PIL import Image

import zoo
from tests.harness import sample_inputs
from zoo import data
from zoo.cli import main
from zoo.data.stream import Examples, first_batch
from zoo.errors import ZooError
from zoo.layers import DepthToSpace
from zoo.smoke import model_feed
from zoo.train import train
from zoo.train.config import TrainConfig

TINY = zoo.list_models("*_tiny")
ZOO_COMMAND = Path(sys.executable).parent / "zoo"  # the console script of this environment


# === Helpers ===


def read_summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def read_metrics(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def checkpoint_numbers(run: Path) -> list[int]:
    """Numbers of the complete checkpoints in ``run/checkpoints`` (those with an index)."""
    return sorted(
        int(p.name[len("ckpt-") : -len(".index")]) for p in run.glob("checkpoints/*.index")
    )


def latest_checkpoint(run: Path) -> str | None:
    return tf.train.latest_checkpoint(str(run / "checkpoints"))


def number_of(checkpoint: str) -> int:
    return int(checkpoint.rsplit("-", 1)[1])


def restore(name: str, checkpoint: str) -> tuple[keras.Model, keras.optimizers.Optimizer, int, int]:
    """A freshly built model, Adam, step and epoch restored from ``checkpoint``."""
    model = zoo.get(name)
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    epoch = tf.Variable(0, dtype=tf.int64)
    status = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step, epoch=epoch).restore(
        checkpoint
    )
    status.expect_partial().assert_existing_objects_matched()
    return model, optimizer, int(step.numpy()), int(epoch.numpy())


def saved_weights(name: str, run: Path) -> list[np.ndarray]:
    model = zoo.get(name)
    model.load_weights(run / "model.weights.h5")
    return model.get_weights()


def assert_weights_close(actual: list[np.ndarray], expected: list[np.ndarray], **tolerance):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, **tolerance)


def write_photo(folder: Path, size: int, count: int = 1) -> Path:
    """A folder holding ``count`` smooth (size, size) RGB PNGs: gradients and a disc each,
    the disc moved from one image to the next."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for index in range(count):
        centre = 0.3 + 0.4 * index / max(count - 1, 1)
        disc = ((yy - centre) ** 2 + (xx - 0.55) ** 2 < 0.2**2).astype(float)
        channels = [
            0.5 + 0.4 * np.sin(2 * np.pi * (xx + c / 3 + index / 5)) * yy + 0.3 * disc
            for c in range(3)
        ]
        image = np.clip(np.stack(channels, -1), 0, 1)
        name = "photo.png" if count == 1 else f"photo{index}.png"
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / name)
    return folder


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message, repr(message)
    return message


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_cli_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


# === Every tiny model trains into a complete run folder ===


@pytest.fixture(scope="module", params=TINY)
def tiny_run(request, tmp_path_factory) -> tuple[str, Path]:
    """One epoch of two steps of batch 4 per tiny model, shared by the tests below."""
    name = request.param
    out = tmp_path_factory.mktemp(name) / "run"
    run = train(name, epochs=1, steps_per_epoch=2, batch_size=4, out=out, quiet=True)
    assert Path(run) == out
    return name, Path(run)


def test_run_folder_holds_config_checkpoint_metrics_and_logs(tiny_run):
    name, run = tiny_run
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == name
    assert (config["epochs"], config["steps_per_epoch"], config["batch_size"]) == (1, 2, 4)

    latest = latest_checkpoint(run)
    assert latest is not None and number_of(latest) == 2

    rows = read_metrics(run)
    assert len(rows) == 1
    assert (int(rows[0]["epoch"]), int(rows[0]["step"])) == (1, 2)

    events = sorted((run / "logs").glob("events.out.tfevents.*"))
    assert events, "no TensorBoard events file"
    tags = {
        value.tag
        for path in events
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for value in event.summary.value
    }
    summary = read_summary(run)
    assert set(summary["metrics"]) <= tags
    assert "samples" in tags


def test_sample_grid_is_an_rgb_png(tiny_run):
    _, run = tiny_run
    with Image.open(run / "samples" / "epoch_001.png") as image:
        image.load()
        assert image.format == "PNG"
        assert image.mode == "RGB"
        pixels = np.asarray(image)
    assert pixels.ndim == 3 and pixels.shape[-1] == 3
    assert pixels.shape[0] > 8 and pixels.shape[1] > 8
    assert pixels.std() > 0, "the sample grid is blank"


def test_summary_reports_the_run(tiny_run):
    name, run = tiny_run
    summary = read_summary(run)
    assert summary["model"] == name
    assert summary["epochs_completed"] == 1
    assert summary["global_step"] == 2
    assert summary["data"] == zoo.info(name).dataset
    assert summary["seconds"] > 0
    assert summary["metrics"], "no metrics"
    for key, value in summary["metrics"].items():
        assert isinstance(value, float) and math.isfinite(value), (key, value)


def test_saved_model_matches_trained_weights_and_checkpoint(tiny_run):
    name, run = tiny_run
    info = zoo.info(name)
    trained = zoo.get(name)
    trained.load_weights(run / "model.weights.h5")
    feed = model_feed(info, sample_inputs(info, batch=2))
    expected = np.asarray(trained(feed, training=False))
    assert np.isfinite(expected).all()

    loaded = keras.saving.load_model(run / "model.keras")
    assert loaded.name == name
    np.testing.assert_allclose(np.asarray(loaded(feed, training=False)), expected, atol=1e-6)

    # the final checkpoint holds the same weights as the saved model
    from_checkpoint, _, step, epoch = restore(name, latest_checkpoint(run))
    assert (step, epoch) == (2, 1)
    assert_weights_close(from_checkpoint.get_weights(), trained.get_weights(), rtol=0, atol=0)


# === Training learns ===


def test_training_reduces_the_loss(tmp_path):
    run = train(
        "fsrcnn_tiny", epochs=3, steps_per_epoch=10, batch_size=8, seed=0, out=tmp_path, quiet=True
    )
    rows = read_metrics(run)
    assert [int(row["step"]) for row in rows] == [10, 20, 30]
    first, last = float(rows[0]["loss"]), float(rows[-1]["loss"])
    assert last < 0.7 * first, (first, last)
    assert float(rows[-1]["psnr"]) > float(rows[0]["psnr"])


# === Resume ===


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A folder of five different 48x48 RGB images, larger than fsrcnn_tiny's 32x32 patches:
    each step's batch depends on the data order and on where the crops fall, so a resumed
    run matches an uninterrupted one only if it reads exactly the same batches.
    """
    return write_photo(tmp_path_factory.mktemp("photo") / "photo", size=48, count=5)


@pytest.fixture(scope="module")
def resumed(photo, tmp_path_factory) -> dict[str, Path]:
    """On a streamed folder whose batches differ from step to step:

    ``straight``: 2 epochs of 3 steps; ``resumed``: 1 epoch, then resumed to 2 epochs;
    ``one_epoch``: a copy of the resumed run before it resumed.
    """
    root = tmp_path_factory.mktemp("resume")
    settings = {"data": str(photo), "steps_per_epoch": 3, "batch_size": 4, "quiet": True}
    settings["options"] = {"cache": "stream"}
    straight = train("fsrcnn_tiny", epochs=2, out=root / "straight", **settings)
    first = train("fsrcnn_tiny", epochs=1, out=root / "resumed", **settings)
    one_epoch = root / "one_epoch"
    shutil.copytree(first, one_epoch)
    resumed = train("fsrcnn_tiny", epochs=2, resume=True, out=first, quiet=True)
    assert resumed == first
    return {"straight": straight, "resumed": resumed, "one_epoch": one_epoch}


def test_resume_continues_the_step_epoch_and_metrics(resumed):
    run = resumed["resumed"]
    summary = read_summary(run)
    assert summary["epochs_completed"] == 2
    assert summary["global_step"] == 6
    rows = read_metrics(run)
    assert [(int(r["epoch"]), int(r["step"])) for r in rows] == [(1, 3), (2, 6)]
    assert read_metrics(resumed["one_epoch"])[0] == rows[0], "the first epoch's row changed"
    assert (run / "samples" / "epoch_002.png").is_file()
    assert TrainConfig.load(resumed["one_epoch"] / "config.json").epochs == 1
    assert TrainConfig.load(run / "config.json").epochs == 2  # the new total is recorded


def test_resume_restores_the_optimizer_state(resumed):
    run = resumed["resumed"]
    _, optimizer, step, epoch = restore("fsrcnn_tiny", latest_checkpoint(run))
    assert (step, epoch) == (6, 2)
    assert int(optimizer.iterations.numpy()) == 6

    # 1 epoch + resume equals 2 epochs straight only if the weights, Adam's moments and
    # iteration count were restored and the second epoch read the same batches.
    straight = saved_weights("fsrcnn_tiny", resumed["straight"])
    assert_weights_close(saved_weights("fsrcnn_tiny", run), straight, rtol=1e-5, atol=1e-7)
    after_one_epoch = saved_weights("fsrcnn_tiny", resumed["one_epoch"])
    moved = max(np.abs(a - b).max() for a, b in zip(after_one_epoch, straight, strict=True))
    assert moved > 1e-4, "the second epoch did not change the weights"


def test_resume_and_new_run_mistakes_are_one_line_errors(resumed, tmp_path):
    run = resumed["one_epoch"]
    config_before = (run / "config.json").read_text()

    with pytest.raises(ZooError, match="--out") as error:
        train("fsrcnn_tiny", epochs=2, resume=True)
    one_line(error.value)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ZooError, match=r"no config\.json") as error:
        train("fsrcnn_tiny", epochs=2, resume=True, out=empty)
    one_line(error.value)

    with pytest.raises(ZooError, match="already holds a run") as error:
        train("fsrcnn_tiny", epochs=1, steps_per_epoch=1, batch_size=4, out=run, quiet=True)
    one_line(error.value)

    with pytest.raises(ZooError, match="fsrcnn_tiny") as error:
        train("cae_tiny", epochs=2, resume=True, out=run, quiet=True)
    one_line(error.value)

    assert (run / "config.json").read_text() == config_before
    assert checkpoint_numbers(run) == [3]

    finished = resumed["resumed"]  # 2 epochs completed
    summary_before = (finished / "summary.json").read_text()
    with pytest.raises(ZooError, match=r"completed 2 epochs; pass --epochs 3 or more") as error:
        train("fsrcnn_tiny", epochs=1, resume=True, out=finished, quiet=True)
    one_line(error.value)
    assert (finished / "summary.json").read_text() == summary_before

    result = invoke("train", "fsrcnn_tiny", "--resume", "--epochs", "2")
    assert "--out" in assert_cli_error(result)


def test_resume_refuses_settings_it_would_ignore(resumed, tmp_path):
    run = shutil.copytree(resumed["one_epoch"], tmp_path / "run")
    with pytest.raises(ZooError, match="--lr"):
        train("fsrcnn_tiny", epochs=2, lr=0.5, resume=True, out=run, quiet=True)
    with pytest.raises(ZooError, match="--batch-size"):
        train("fsrcnn_tiny", epochs=2, batch_size=3, resume=True, out=run, quiet=True)
    # the saved settings themselves are accepted
    saved = json.loads((run / "config.json").read_text())
    train("fsrcnn_tiny", epochs=2, lr=saved["learning_rate"], resume=True, out=run, quiet=True)


# === Kill and resume (the console script in a subprocess) ===


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path, photo):
    run = tmp_path / "run"
    settings = ["--data", str(photo), "--option", "cache=stream", "--epochs", "2"]
    settings += ["--steps-per-epoch", "40"]
    settings += ["--batch-size", "4", "--checkpoint-every", "5", "--out", str(run)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    log = tmp_path / "first.log"

    with log.open("w") as stream:
        process = subprocess.Popen(
            [str(ZOO_COMMAND), "train", "fsrcnn_tiny", *settings, "--quiet"],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + 300
            while process.poll() is None and time.monotonic() < deadline:
                latest = latest_checkpoint(run)
                if latest is not None and number_of(latest) >= 10:
                    process.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.01)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == -signal.SIGKILL, (
        f"the run was not killed mid-way (exit {process.returncode}): {log.read_text()[-2000:]}"
    )

    killed = latest_checkpoint(run)
    killed_step = number_of(killed)
    assert 10 <= killed_step < 80
    _, optimizer, step, epoch = restore("fsrcnn_tiny", killed)
    assert step == killed_step
    # at step 40 the mid-epoch save (epoch 0) precedes the end-of-epoch one (epoch 1)
    assert epoch == killed_step // 40 or (killed_step == 40 and epoch == 0)
    assert int(optimizer.iterations.numpy()) == killed_step
    assert not (run / "summary.json").exists() or read_summary(run)["finished"] is False

    # not --quiet: the progress bar shows where the resumed run starts
    resumed_run = subprocess.run(
        [str(ZOO_COMMAND), "train", "fsrcnn_tiny", "--resume", "--epochs", "2", "--out", str(run)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert resumed_run.returncode == 0, resumed_run.stderr[-3000:]
    assert resumed_run.stdout.strip().splitlines()[-1] == str(run)
    first_progress = re.search(r"(\d+)/40\b", resumed_run.stdout)
    assert first_progress is not None, resumed_run.stdout[-2000:]
    assert int(first_progress.group(1)) == killed_step - 40 * epoch, (
        "did not start at the checkpoint"
    )
    assert "epoch 2/2  step 80" in resumed_run.stdout

    summary = read_summary(run)
    assert summary["global_step"] == 80
    assert summary["epochs_completed"] == 2
    assert summary["finished"] is True
    rows = read_metrics(run)
    assert [(int(r["epoch"]), int(r["step"])) for r in rows] == [(1, 40), (2, 80)]
    assert all(number > killed_step for number in checkpoint_numbers(run))
    _, optimizer, step, epoch = restore("fsrcnn_tiny", latest_checkpoint(run))
    assert (step, epoch, int(optimizer.iterations.numpy())) == (80, 2, 80)

    # Continuing from step k with the restored optimizer gives what an uninterrupted run gives.
    straight = train(
        "fsrcnn_tiny",
        data=str(photo),
        options={"cache": "stream"},
        epochs=2,
        steps_per_epoch=40,
        batch_size=4,
        checkpoint_every=5,
        out=tmp_path / "straight",
        quiet=True,
    )
    assert_weights_close(
        saved_weights("fsrcnn_tiny", run),
        saved_weights("fsrcnn_tiny", straight),
        rtol=1e-4,
        atol=1e-6,
    )


# === Divergence ===


def test_diverging_loss_stops_with_the_step_and_last_good_checkpoint(tmp_path):
    with pytest.raises(ZooError) as error:
        train(
            "fsrcnn_tiny",
            epochs=1,
            steps_per_epoch=20,
            batch_size=4,
            lr=1e12,
            checkpoint_every=1,
            out=tmp_path,
            quiet=True,
        )
    message = one_line(error.value)
    latest = latest_checkpoint(tmp_path)
    assert latest is not None, message
    good = number_of(latest)
    assert f"at step {good + 1}" in message
    assert latest in message
    assert "nan" in message or "inf" in message

    model, _, step, _ = restore("fsrcnn_tiny", latest)
    assert step == good
    assert all(np.isfinite(weights).all() for weights in model.get_weights())
    assert not (tmp_path / "model.keras").exists()


def test_diverging_loss_through_the_cli_is_one_error_line(tmp_path):
    result = invoke(
        "train",
        "fsrcnn_tiny",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "20",
        "--batch-size",
        "4",
        "--lr",
        "1e12",
        "--checkpoint-every",
        "1",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    line = assert_cli_error(result)
    assert "at step" in line and "checkpoint" in line


# === Bad input fails before training writes anything ===


def assert_nothing_written(out: Path) -> None:
    assert not (out / "config.json").exists()
    assert not (out / "checkpoints").exists()
    assert not (out / "metrics.csv").exists()


@pytest.mark.parametrize(
    ("model", "settings", "expected"),
    [
        ("unet_tiny", {"data": "digits"}, "masks"),
        ("unet_tiny", {"options": {"image_size": 18}}, "divisible by 4"),
        ("cgan_tiny", {"data": "photos"}, "labels"),
        ("pix2pix_tiny", {"data": "digits"}, "masks"),
        ("dcgan_tiny", {"options": {"instance_noise": -0.1}}, "instance_noise"),
        ("dcgan_tiny", {"options": {"instance_noise": "high"}}, "instance_noise"),
        ("fsrcnn_tiny", {"data": "no_such_dataset"}, "no_such_dataset"),
        ("fsrcnn_tiny", {"epochs": 0}, "epochs"),
        ("fsrcnn_tiny", {"batch_size": 0}, "batch-size"),
        ("fsrcnn_tiny", {"steps_per_epoch": 0}, "steps-per-epoch"),
        ("fsrcnn_tiny", {"lr": -1.0}, "lr"),
        ("fsrcnn_tiny", {"strategy": "everywhere"}, "strategy"),
    ],
)
def test_bad_settings_fail_before_training(model, settings, expected, tmp_path):
    out = tmp_path / "run"
    values = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 4, **settings}
    with pytest.raises(ZooError, match=expected) as error:
        train(model, out=out, quiet=True, **values)
    one_line(error.value)
    assert_nothing_written(out)


@pytest.mark.filterwarnings("ignore:skipped unreadable:UserWarning")
def test_folder_without_readable_images_fails_before_training(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "run"
    with pytest.raises(ZooError, match="images") as error:
        train("fsrcnn_tiny", data=str(folder), epochs=1, steps_per_epoch=1, out=out, quiet=True)
    one_line(error.value)
    assert_nothing_written(out)


def test_cli_unknown_model_is_one_line_with_closest_names(tmp_path):
    line = assert_cli_error(invoke("train", "fsrcnn_tin", "--out", str(tmp_path / "run")))
    assert "fsrcnn_tiny" in line
    assert "no_such_model" in assert_cli_error(invoke("train", "no_such_model"))
    assert not (tmp_path / "run").exists()


# === CLI happy path ===


def test_cli_trains_and_prints_the_run_folder(tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "train",
        "fsrcnn_tiny",
        "--epochs",
        "1",
        "--steps-per-epoch",
        "2",
        "--batch-size",
        "4",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    summary = read_summary(out)
    assert (summary["epochs_completed"], summary["global_step"]) == (1, 2)
    assert (out / "model.keras").is_file()


def test_cli_passes_recipe_options_and_builder_overrides(tmp_path):
    run = tmp_path / "run"
    args = ["train", "dae_tiny", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4"]
    args += ["--option", "noise_sigma=50", "--set", "upsample=subpixel", "--out", str(run)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"samples: {run / 'samples' / 'epoch_001.png'}" in result.output
    config = json.loads((run / "config.json").read_text())
    assert config["options"]["noise_sigma"] == 50
    assert config["model_overrides"] == {"upsample": "subpixel"}
    model = keras.saving.load_model(run / "model.keras")
    assert any(isinstance(layer, DepthToSpace) for layer in model.layers)
    bad = CliRunner().invoke(main, ["train", "dae_tiny", "--set", "upsample", "--out", str(run)])
    assert bad.exit_code == 1 and bad.output.strip().startswith("Error: expected KEY=VALUE")


def test_xla_compiles_the_step(tmp_path):
    """DeconvNet too: its nearest upsampling is CONCATENATION + DEPTH_TO_SPACE, which XLA
    differentiates (it has no ResizeNearestNeighborGrad kernel on the CPU)."""
    for name in ("fsrcnn_tiny", "deconvnet_tiny"):
        run = train(
            name,
            epochs=1,
            steps_per_epoch=2,
            batch_size=2,
            jit_compile=True,
            out=tmp_path / name,
            quiet=True,
        )
        assert json.loads((run / "summary.json").read_text())["global_step"] == 2


def test_an_xla_compile_failure_is_one_line_naming_the_op():
    """The resize form of nearest upsampling: XLA on the CPU has no kernel for its gradient."""
    import tensorflow as tf

    from zoo.layers import NearestUpsampling2D
    from zoo.train.loop import xla_failure

    inputs = keras.Input((None, None, 3))
    features = keras.layers.Conv2D(2, 3, padding="same")(inputs)  # a gradient to pass back
    model = keras.Model(inputs, NearestUpsampling2D(2, op="resize")(features))

    @tf.function(jit_compile=True)
    def gradients(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        return tape.gradient(loss, model.trainable_variables)

    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        gradients(tf.ones((2, 8, 8, 3)))
    failure = xla_failure("deconvnet", caught.value)
    assert str(failure) == (
        "XLA cannot compile deconvnet's training step "
        "(no XLA kernel for ResizeNearestNeighborGrad); train without --jit"
    )
    assert xla_failure("deconvnet", ValueError("shapes differ")) is None


# === Recipe options: augmentation, learning-rate schedule, separate validation data ===


def test_random_dihedral_draws_each_of_the_eight_symmetries():
    from zoo.data import random_dihedral

    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # no symmetry of its own
    images = np.repeat(image, 200, axis=0)
    out = random_dihedral(images, seed=0)
    distinct = {o.tobytes() for o in out}
    assert len(distinct) == 8
    assert all(sorted(o.ravel()) == sorted(image.ravel()) for o in out[:8])
    np.testing.assert_array_equal(out, random_dihedral(images, seed=0))
    with pytest.raises(ZooError, match="square"):
        random_dihedral(np.zeros((2, 4, 5, 1), np.float32))


def test_cosine_schedule_decays_the_learning_rate_per_epoch():
    from zoo.tasks import objective_for

    info = zoo.info("fsrcnn_tiny")
    config = TrainConfig.from_recipe(info, epochs=4, learning_rate=1e-3)
    assert config.options["lr_schedule"] == "cosine"
    objective = objective_for(info, config)
    objective.build()
    rates = []
    for epoch in range(4):
        objective.start_epoch(epoch)
        rates.append(float(objective.optimizer.learning_rate))
    np.testing.assert_allclose(rates, [1e-3, 8.5355e-4, 5e-4, 1.4645e-4], rtol=1e-4)


@pytest.mark.parametrize("start", [0.0, 0.4])
def test_instance_noise_decays_linearly_per_epoch(start):
    from zoo.tasks import objective_for
    from zoo.train.config import TrainConfig

    info = zoo.info("dcgan_tiny")
    config = TrainConfig.from_recipe(info, epochs=4, options={"instance_noise": start})
    objective = objective_for(info, config)
    objective.build()
    images = np.zeros((64, 16, 16, 1), np.float32)
    batch = first_batch(Examples.in_memory({"image": images}), 64, 0, objective.degrade)
    assert ("noise_real" in batch) == bool(start), "drawn in the pipeline, only when used"
    spreads = []
    for epoch in range(4):
        objective.start_epoch(epoch)
        spreads.append(float(np.std(objective.noisy(images, batch.get("noise_real")))))
    np.testing.assert_allclose(spreads, [start, 0.75 * start, 0.5 * start, 0.25 * start], rtol=0.05)


def test_validation_data_replaces_the_test_split(tmp_path):
    from zoo.tasks import objective_for
    from zoo.train.config import TrainConfig

    folder = tmp_path / "val"
    folder.mkdir()
    for i, level in enumerate((50, 200)):
        Image.fromarray(np.full((40, 40, 3), level, dtype=np.uint8)).save(folder / f"{i}.png")
    info = zoo.info("fsrcnn_tiny")
    options = {**info.recipe.options, "crops_per_image": 3}
    plain = TrainConfig.from_recipe(info, options=options)
    _, photos = objective_for(info, plain).load_data()
    separate = TrainConfig.from_recipe(info, options=options, validation_data=str(folder))
    _, validation = objective_for(info, separate).load_data()
    assert len(photos["hr"]) == len(validation["hr"]) == 64  # patches spread over the images
    levels = data.rgb_to_y(np.array([[50.0], [200.0]]).repeat(3, axis=1) / 255)[:, 0]
    patch_levels = validation["hr"][:, 0, 0, 0]
    np.testing.assert_allclose(validation["hr"] - patch_levels[:, None, None, None], 0, atol=1e-6)
    assert set(np.round(patch_levels, 5)) == set(np.round(levels, 5)), "both folder images"
    assert photos["hr"].std() > 0.05, "the default validation patches are the held-out photos"
    run = train(
        "fsrcnn_tiny",
        validation_data=str(folder),
        epochs=1,
        steps_per_epoch=2,
        batch_size=4,
        options={"crops_per_image": 3},
        out=tmp_path / "run",
        quiet=True,
    )
    assert json.loads((run / "config.json").read_text())["validation_data"] == str(folder)


def test_validation_data_leaves_all_of_data_for_training(tmp_path):
    from zoo.tasks import objective_for
    from zoo.train.config import TrainConfig

    for i in range(20):
        write_photo(tmp_path / "data" / str(i), size=40 + i)
    write_photo(tmp_path / "val", size=40)
    info = zoo.info("fsrcnn_tiny")
    options = {**info.recipe.options, "crops_per_image": 2, "rescales": [1.0], "patch_size": 16}

    def load(**settings):
        config = TrainConfig.from_recipe(
            info, data=str(tmp_path / "data"), options=options, **settings
        )
        return objective_for(info, config).load_data()

    train_arrays, validation = load(validation_data=str(tmp_path / "val"))
    assert train_arrays["lr"].shape == (40, 8, 8, 1), "all 20 images, 2 crops each"
    assert len(validation["hr"]) == 64 and validation["hr"].shape[1:] == (16, 16, 1)
    held_out, _ = load()
    assert len(held_out["lr"]) < 40, "without --val-data a tenth of the images is the test split"


def test_the_step_loop_shows_running_means_and_stops_on_a_non_finite_loss(capsys):
    from zoo.train.loop import progress_bar, run_steps

    losses = iter([1.0, 2.0, 6.0])
    seen = []
    values = run_steps(
        lambda: {"loss": next(losses)}, 3, progress=progress_bar(3), after_step=seen.append
    )
    assert values == {"loss": [1.0, 2.0, 6.0]} and seen == [
        {"loss": 1.0},
        {"loss": 2.0},
        {"loss": 6.0},
    ]
    final = capsys.readouterr().out.replace("\b", "\n").splitlines()[-1]
    assert "loss: 3.0000" in final, final  # the mean of the three steps, not the last one
    broken = iter([0.5, math.nan])
    with pytest.raises(ZooError, match=r"^loss became nan at step 2 of this run$"):
        run_steps(
            lambda: {"loss": next(broken)},
            2,
            stopped=lambda key, value, n: f"{key} became {value} at step {n} of this run",
        )


def test_recipe_options_are_checked_by_name_and_kind():
    from zoo.train.config import check_options

    for name in zoo.list_models():  # every recipe's own options are known and well formed
        check_options(dict(zoo.info(name).recipe.options))
    cases = [
        (
            {"noise_sigm": 50},
            r"^unknown option 'noise_sigm'; did you mean noise_sigma\? \(options: ",
        ),
        ({"nonsense_key": 3}, r"^unknown option 'nonsense_key'; \(options: augment, "),
        ({"noise_sigma": "abc"}, r"^option noise_sigma takes a finite number, got 'abc'$"),
        ({"rescales": []}, r"^option rescales takes a list of numbers, got \[\]$"),
        ({"patch_size": 0}, r"^option patch_size takes a whole number >= 1, got 0$"),
    ]
    for options, message in cases:
        with pytest.raises(ZooError, match=message):
            train("dae_tiny", options=options, epochs=1, quiet=True)
    result = invoke("train", "dae_tiny", "--option", "noise_sigm=50", "--epochs", "1")
    assert result.exit_code == 1 and "did you mean noise_sigma?" in result.output
    assert len(result.output.strip().splitlines()) == 1
    with pytest.raises(ZooError, match="lr must be a positive finite number, got inf"):
        train("dae_tiny", lr=math.inf, epochs=1, quiet=True)


def test_a_folder_that_holds_a_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    from zoo.files import folder_lock

    settings = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 4, "quiet": True}
    run = train("fsrcnn_tiny", out=tmp_path / "run", **settings)
    shutil.rmtree(run / "checkpoints")  # a finished run without its checkpoints is still a run
    (run / "notes.txt").write_text("mine")
    weights = (run / "model.weights.h5").read_bytes()
    with pytest.raises(ZooError, match=r"already holds a run \(config\.json, .*--overwrite"):
        train("fsrcnn_tiny", out=run, lr=0.5, **settings)
    assert (run / "model.weights.h5").read_bytes() == weights, "the refused run wrote nothing"
    old_grid = run / "samples" / "epoch_001.png"
    old_grid.write_bytes(b"stale")
    train("fsrcnn_tiny", out=run, overwrite=True, seed=3, **settings)
    assert json.loads((run / "config.json").read_text())["seed"] == 3
    assert old_grid.read_bytes() != b"stale" and (run / "notes.txt").read_text() == "mine"
    assert not (run / ".lock").exists()

    busy = tmp_path / "busy"
    refused = rf"busy is in use by another zoo train \(pid {os.getpid()}\)"
    # another run holds the folder
    with folder_lock(busy, what="zoo train"), pytest.raises(ZooError, match=refused):
        train("fsrcnn_tiny", out=busy, **settings)
    assert not busy.exists(), "an empty folder the lock made is removed with it"
    result = invoke("train", "fsrcnn_tiny", "--out", str(run), "--epochs", "1")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_resume_clears_what_a_killed_save_left_half_written(tmp_path):
    settings = {"steps_per_epoch": 1, "batch_size": 4, "quiet": True}
    run = train("fsrcnn_tiny", epochs=1, out=tmp_path / "run", **settings)
    stale = [run / ".partial-k3j2.weights.h5", run / "samples" / ".partial-x1.png"]
    for path in stale:  # what kill -9 during a save leaves
        path.write_bytes(b"half")
    train("fsrcnn_tiny", epochs=2, resume=True, out=run, quiet=True)
    assert not any(path.exists() for path in stale)
    assert not list(run.rglob(".partial-*"))
    assert read_summary(run)["epochs_completed"] == 2


def test_keras_callbacks_see_fits_hooks_and_early_stopping_ends_the_run(tmp_path):
    class Recorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple] = []

        def on_train_begin(self, logs=None):
            self.calls.append(("train_begin",))

        def on_epoch_begin(self, epoch, logs=None):
            self.calls.append(("epoch_begin", epoch))

        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(("batch_end", batch, sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(("epoch_end", epoch, logs["psnr"], self.model.name))

        def on_train_end(self, logs=None):
            self.calls.append(("train_end", logs["epoch"]))

    recorder = Recorder()
    # min_delta larger than any change: the second epoch is no improvement, and stops the run
    stopper = keras.callbacks.EarlyStopping(
        monitor="loss", min_delta=1e9, patience=1, restore_best_weights=True
    )
    run = train(
        "cae_tiny",
        epochs=5,
        steps_per_epoch=2,
        batch_size=4,
        out=tmp_path / "run",
        quiet=True,
        callbacks=[recorder, stopper],
    )
    kinds = [call[0] for call in recorder.calls]
    assert kinds == ["train_begin"] + ["epoch_begin", "batch_end", "batch_end", "epoch_end"] * 2 + [
        "train_end"
    ]
    assert recorder.calls[2] == ("batch_end", 0, ["loss"])
    assert recorder.calls[3][1] == 1 and recorder.calls[4][3] == "cae_tiny"
    assert recorder.calls[-1] == ("train_end", 2) and stopper.stopped_epoch == 1
    summary = read_summary(run)
    assert summary["epochs_completed"] == 2 and summary["finished"] is True
    assert summary["stopped_early"] is True and (run / "model.weights.h5").is_file()
    # the best epoch's weights (the first) are restored before the final model is saved
    best, _, _, _ = restore("cae_tiny", str(run / "checkpoints" / "ckpt-2"))
    last, _, _, _ = restore("cae_tiny", str(run / "checkpoints" / "ckpt-4"))
    saved = saved_weights("cae_tiny", run)
    assert_weights_close(saved, best.get_weights(), rtol=0, atol=0)
    assert any(not np.array_equal(a, b) for a, b in zip(saved, last.get_weights(), strict=True))


# === A full disk and a read-only folder (a small tmpfs; needs root) ===


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str, *, read_only: bool = False):
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip() or mount.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def zoo_command(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [str(ZOO_COMMAND), *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.parametrize("size", ["60k", "150k"])
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, size):
    """Neither disk holds the epoch's files: the run stops before writing any of them."""
    with mounted_tmpfs(tmp_path / "disk", size) as disk:
        run = disk / "run"
        result = zoo_command(
            "train", "dae_tiny", "--epochs", "1", "--steps-per-epoch", "2", "--out", str(run)
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "space" in lines[0] and "--resume" in lines[0]
        assert (run / "checkpoints" / "checkpoint").is_file()
        assert not (run / "metrics.csv").exists(), "nothing of the epoch is half-written"
        assert not [p for p in run.rglob("*") if ".partial-" in p.name or "_temp" in p.name]
        assert not (run / "model.weights.h5").exists()


def test_a_read_only_out_is_one_line(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        for args in (
            ["train", "dae_tiny", "--epochs", "1", "--out", str(folder / "run")],
            ["export", "dae_tiny", "--target", "cpu", "--out", str(folder / "bundle")],
        ):
            result = zoo_command(*args)
            assert result.returncode == 1, result.stderr
            (line,) = result.stderr.strip().splitlines()
            assert line.startswith(f"Error: cannot write: {folder}/"), line
            assert line.endswith(": Read-only file system"), line


def test_init_starts_a_run_from_another_models_matching_layers(resumed, tmp_path, capsys):
    """``--init NAME:WEIGHTS``: an x3 model starts from an x2 run's layers wherever names
    and shapes match (all but the last, whose kernel is 9x9 at x3 and 10x10 at x2), as the
    FSRCNN paper starts x2 and x4 from x3. No matching layer at all is a one-line error."""
    from zoo.weights_io import load_run

    source = resumed["straight"]
    settings = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 4, "lr": 1e-9}
    out = train(
        "fsrcnn_tiny",
        init=f"fsrcnn_tiny:{source}",
        overrides={"scale": 3},
        options={"scale": 3},
        out=tmp_path / "x3",
        **settings,
    )
    assert "init: 8 layers from" in capsys.readouterr().out
    before, after = load_run("fsrcnn_tiny", source).model, load_run("fsrcnn_tiny", out).model
    assert after.output_shape[1:] == (None, None, 1)
    for layer in after.layers:
        if not layer.weights:
            continue
        copied = layer.name != "deconv"
        pairs = zip(before.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True)
        for old, new in pairs:
            assert (old.shape == new.shape and np.allclose(old, new, atol=1e-6)) == copied
    assert TrainConfig.load(out / "config.json").init == f"fsrcnn_tiny:{source}"
    with pytest.raises(ZooError, match="no layer of fsrcnn_tiny matches dcgan_tiny"):
        train("dcgan_tiny", init=str(source), out=tmp_path / "gan", **settings)


def test_train_count_draws_that_many_procedural_training_images(tmp_path):
    from zoo.tasks import objective_for
    from zoo.train.config import TrainConfig

    info = zoo.info("deconvnet_tiny")

    def load(data: str = "shapes", **options):
        config = TrainConfig.from_recipe(
            info, data=data, options={**info.recipe.options, **options}
        )
        return objective_for(info, config).load_data()

    (plain, validation), (more, same) = load(), load(train_count=24)
    assert len(plain["image"]) == 1000 and len(more["image"]) == 24
    np.testing.assert_array_equal(validation["image"], same["image"])  # the test split stays
    write_photo(tmp_path / "folder", size=64)
    with pytest.raises(ZooError, match=r"does not take option.*count"):
        load(str(tmp_path), train_count=24)


def test_a_run_refused_before_training_leaves_no_folders(tmp_path):
    out = tmp_path / "runs" / "dae_tiny" / "first"
    with pytest.raises(ZooError, match="lr must be"):
        train("dae_tiny", lr=math.inf, epochs=1, quiet=True, out=out)
    assert list(tmp_path.iterdir()) == []  # not even the parents it made for the run


@pytest.mark.parametrize("name", ["unet_tiny", "pix2pix_tiny"])
def test_freeze_batch_norm_keeps_statistics_and_scales_while_the_rest_trains(tmp_path, name):
    start = tmp_path / "start"
    train(name, epochs=1, steps_per_epoch=1, batch_size=2, out=start, quiet=True)
    run = train(
        name,
        epochs=1,
        steps_per_epoch=3,
        batch_size=2,
        out=tmp_path / "frozen",
        init=f"{name}:{start}",
        options={"freeze_batch_norm": True},
        quiet=True,
    )
    before, after = zoo.get(name, weights=str(start)), zoo.get(name, weights=str(run))
    norms = [
        layer.name for layer in before.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms
    for layer_name in norms:
        for old, new in zip(
            before.get_layer(layer_name).weights, after.get_layer(layer_name).weights, strict=True
        ):
            np.testing.assert_array_equal(np.asarray(old), np.asarray(new))
    kernels = [
        (layer.kernel, after.get_layer(layer.name).kernel)
        for layer in before.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv2DTranspose)
    ]
    assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in kernels)
