"""Evaluation, sampling and prediction: metrics, the digit classifier, zoo eval / sample / predict.

Tiny models are trained for two steps (zoo.train.train) once per module, on demand, so
``-k`` selections train only what they use.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import zoo
from zoo import classifier, metrics
from zoo import data as zdata
from zoo.cli import main
from zoo.errors import ZooError
from zoo.evaluate import default_data, evaluate, evaluate_model
from zoo.inference import bicubic_upscale, pad_to_multiple, size_multiple
from zoo.predict import predict
from zoo.samples import sample
from zoo.tasks.base import whole_images
from zoo.tasks.super_resolve import sr_pair
from zoo.weights_io import load_run, load_trained

SET5 = Path(__file__).resolve().parents[2] / "shared" / "data" / "sr" / "Set5"
if not SET5.is_dir():
    SET5 = Path("/work/shared/data/sr/Set5")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """trained(name) -> the run folder of ``name`` after 2 training steps (cached)."""
    from zoo.train import train

    root = tmp_path_factory.mktemp("runs")
    runs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in runs:
            runs[name] = train(
                name, epochs=1, steps_per_epoch=2, batch_size=4, out=root / name, quiet=True
            )
        return runs[name]

    return get


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """PNG files: an odd-sized RGB image, a gray one, and a file that is not an image."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 45, 3), dtype=np.uint8)).save(root / "rgb.png")
    Image.fromarray(rng.integers(0, 256, (30, 21), dtype=np.uint8)).save(root / "gray.png")
    (root / "broken.png").write_bytes(b"not a png")
    return {"rgb": root / "rgb.png", "gray": root / "gray.png", "broken": root / "broken.png"}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


# === Metrics ===


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (2, 24, 24, 3))
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 0.1, image.shape), 0, 1)
    assert metrics.ssim(noisy, image) < 0.95
    assert metrics.ssim(image[0, ..., 0], image[0, ..., 0]) == pytest.approx(1.0)  # (H, W)
    assert metrics.ssim(image[:, :8, :8], image[:, :8, :8]) == pytest.approx(1.0)  # small window


def test_sr_protocol_identity_upscale_of_a_constant_image_is_exact():
    image = np.full((30, 42, 3), 0.4, np.float32)
    lr, hr = sr_pair(image, 3, channels=1)
    assert lr.shape == (10, 14, 1) and hr.shape == (30, 42, 1)
    scores = metrics.super_resolution_metrics(bicubic_upscale(lr, 3), hr, scale=3)
    assert math.isinf(scores["psnr"]) and scores["ssim"] == pytest.approx(1.0)


def test_sr_protocol_rounds_the_low_resolution_input_only_when_asked():
    """The paper's protocol keeps lr unrounded; ``lr_8bit`` gives it 8-bit levels, as an
    int8 file's input (and a phone's image) has them, and leaves hr as it was."""
    image = np.random.default_rng(2).uniform(0, 1, (30, 36, 3)).astype(np.float32)
    lr, hr = sr_pair(image, 3, channels=1)
    lr8, hr8 = sr_pair(image, 3, channels=1, lr_8bit=True)
    np.testing.assert_array_equal(hr8, hr)
    assert not np.allclose(lr * 255, np.round(lr * 255), atol=1e-3)
    np.testing.assert_allclose(lr8 * 255, np.round(lr8 * 255), atol=1e-3)
    assert np.abs(lr8 - lr).max() <= 0.5 / 255 + 1e-6


def test_sr_protocol_shaves_scale_pixels_from_every_border():
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 1, (24, 24, 3)).astype(np.float32)
    scale = 3
    border = target.copy()
    border[:scale] = 1 - border[:scale]
    border[:, -scale:] = 0.0
    assert math.isinf(metrics.super_resolution_metrics(border, target, scale=scale)["psnr"])
    inside = target.copy()
    inside[scale] = 1 - inside[scale]  # first row kept by the shave
    assert metrics.super_resolution_metrics(inside, target, scale=scale)["psnr"] < 40
    assert metrics.shave(np.zeros((2, 10, 12, 1)), 2).shape == (2, 6, 8, 1)
    with pytest.raises(ZooError):
        metrics.shave(np.zeros((4, 4, 1)), 2)


@pytest.mark.skipif(not SET5.is_dir(), reason="Set5 is not available")
def test_sr_protocol_reproduces_the_published_bicubic_numbers_on_set5():
    images, names = whole_images(str(SET5))
    assert len(images) == 5 and names[0].startswith("baby")
    psnrs, ssims = [], []
    for image in images:
        lr, hr = sr_pair(image, 3, channels=1)
        scores = metrics.super_resolution_metrics(bicubic_upscale(lr, 3), hr, scale=3)
        psnrs.append(scores["psnr"])
        ssims.append(scores["ssim"])
    assert np.mean(psnrs) == pytest.approx(30.39, abs=0.01)  # Set5 x3 bicubic, as published
    assert np.mean(ssims) == pytest.approx(0.8682, abs=0.001)


def test_mean_iou_and_pixel_accuracy_on_a_known_confusion():
    labels = np.array([[0, 0, 1, 1], [2, 2, 2, 2]])
    predicted = np.array([[0, 1, 1, 1], [2, 2, 0, 2]])
    confusion = metrics.confusion_matrix(labels, predicted, 3)
    np.testing.assert_array_equal(confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 3]])
    # IoU: class 0: 1 / (2 + 2 - 1) = 1/3, class 1: 2 / 3, class 2: 3 / 4
    assert metrics.mean_iou(labels, predicted, 3) == pytest.approx((1 / 3 + 2 / 3 + 3 / 4) / 3)
    np.testing.assert_allclose(metrics.class_iou(confusion), [1 / 3, 2 / 3, 3 / 4])
    assert metrics.pixel_accuracy(labels, predicted) == pytest.approx(6 / 8)


def test_frechet_distance_is_zero_for_equal_sets_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 8))
    assert metrics.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    distances = [metrics.frechet_distance(features, features + s) for s in (0.5, 1.0, 2.0)]
    assert distances == sorted(distances)
    assert distances[1] == pytest.approx(8.0, rel=1e-6)  # |mu shift|^2 = 8 * 1^2
    scaled = metrics.frechet_distance(features, features * 2)
    assert scaled > 1.0
    dead = np.concatenate([features, np.zeros((500, 4))], axis=1)  # singular covariances
    assert metrics.frechet_distance(dead, dead) == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ZooError):
        metrics.frechet_distance(features, features[:, :4])


# === The digit classifier ===


def test_shipped_classifier_matches_its_manifest_and_reaches_95_percent():
    record = classifier.manifest()
    assert classifier.sha256_of(classifier.WEIGHTS) == record["sha256"]
    assert classifier.WEIGHTS.stat().st_size < 500_000
    assert "python tools/train_classifier.py" in record["command"]
    test = zdata.load("digits", split="test")
    model = classifier.load_classifier()
    accuracy = float(np.mean(classifier.predict_labels(test.images, model=model) == test.labels))
    assert accuracy >= 0.95
    features = classifier.features(test.images[:5], model=model)
    assert features.shape == (5, classifier.FEATURE_DIM) and (features >= 0).all()
    # 16x16 and RGB inputs are brought to 32x32 gray
    small = zdata.load("digits", split="test", image_size=16, channels=3, limit=4)
    assert classifier.features(small.images, model=model).shape == (4, classifier.FEATURE_DIM)


def test_tampered_or_missing_classifier_weights_are_refused(tmp_path):
    copy = tmp_path / "digit_classifier.weights.h5"
    shutil.copy(classifier.WEIGHTS, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="hash check") as error:
        classifier.load_classifier(copy)
    assert "\n" not in str(error.value)
    with pytest.raises(ZooError, match="not found"):
        classifier.load_classifier(tmp_path / "missing.weights.h5")


def test_frechet_distance_separates_real_digits_from_noise():
    model = classifier.load_classifier()
    train = classifier.features(zdata.load("digits", split="train").images, model=model)
    test = classifier.features(zdata.load("digits", split="test").images, model=model)
    noise = np.random.default_rng(0).uniform(0, 1, (len(train), 32, 32, 1))
    floor = metrics.frechet_distance(train, test)
    noisy = metrics.frechet_distance(classifier.features(noise, model=model), test)
    assert floor < 0.05 * noisy


# === Loading trained models ===


def test_load_trained_from_a_run_its_files_and_refusals(trained, tmp_path):
    run = trained("dae_tiny")
    model = load_trained("dae_tiny", run)
    assert model.name == "dae_tiny"
    x = np.random.default_rng(0).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    expected = np.asarray(model(x))
    for path in (run / "model.weights.h5", run / "model.keras"):
        np.testing.assert_allclose(
            np.asarray(load_trained("dae_tiny", path)(x)), expected, atol=1e-6
        )
    assert load_run("dae_tiny", run).options["noise_sigma"] == 25.0

    # an unfinished run: the latest checkpoint
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished)
    (unfinished / "model.weights.h5").unlink()
    (unfinished / "model.keras").unlink()
    np.testing.assert_allclose(np.asarray(load_trained("dae_tiny", unfinished)(x)), expected)

    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(run / "model.keras", lone / "other.keras")
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes((run / "model.weights.h5").read_bytes()[:500])
    cases = {
        tmp_path / "missing": "not found",
        tmp_path: "not a run folder",
        corrupt: "cannot load",
        lone / "other.keras": "holds model dae_tiny, not cae_tiny",
    }
    for path, message in cases.items():
        name = "cae_tiny" if path.suffix == ".keras" else "dae_tiny"
        with pytest.raises(ZooError, match=message) as error:
            load_trained(name, path)
        assert "\n" not in str(error.value)
    with pytest.raises(ZooError, match="is a run of dae_tiny, not deblur_tiny"):
        load_trained("deblur_tiny", run)
    shutil.copy(run / "model.weights.h5", lone / "dae.weights.h5")
    with pytest.raises(ZooError, match="cannot load"):  # weights of another architecture
        load_trained("deblur_tiny", lone / "dae.weights.h5")
    with pytest.raises(ZooError, match="is a run of dae_tiny"):  # a config.json beside it
        load_trained("deblur_tiny", run / "model.weights.h5")


# === zoo eval ===

EXPECTED_KEYS = {
    "fsrcnn_tiny": {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic"},
    "dae_tiny": {"psnr", "ssim", "psnr_input", "ssim_input"},
    "deblur_tiny": {"psnr", "ssim", "psnr_input", "ssim_input"},
    "deblur_nonblind_tiny": {"psnr", "ssim", "psnr_input", "ssim_input"},
    "cae_tiny": {"mse", "psnr", "ssim"},
    "vae_tiny": {"mse", "psnr", "ssim", "elbo", "reconstruction_nll", "kl"},
    "unet_tiny": {"miou", "pixel_accuracy"},
    "pix2pix_tiny": {"l1", "psnr", "ssim"},
    "dcgan_tiny": {"frechet_distance", "frechet_distance_train_vs_test"},
    "cgan_tiny": {"frechet_distance", "frechet_distance_train_vs_test", "class_accuracy"},
}


@pytest.mark.parametrize("name", sorted(EXPECTED_KEYS))
def test_eval_reports_the_task_metrics(trained, name):
    limit = None if name in ("dcgan_tiny", "cgan_tiny") else 2
    result = evaluate(name, trained(name), limit=limit)
    assert set(result.metrics) == EXPECTED_KEYS[name]
    assert all(math.isfinite(v) for v in result.metrics.values()), result.metrics
    assert result.samples >= 2
    if name.startswith(("dcgan", "cgan")):
        floor = result.metrics["frechet_distance_train_vs_test"]
        assert floor < result.metrics["frechet_distance"]  # 2 training steps are no generator
        assert result.details["generated"] == result.details["train_images"]
    if name == "cgan_tiny":
        assert set(result.details["class_accuracy"]) == {str(c) for c in range(10)}
    if name == "vae_tiny":
        assert result.metrics["elbo"] == pytest.approx(
            -(result.metrics["reconstruction_nll"] + result.metrics["kl"])
        )
    if name == "unet_tiny":
        assert 0.0 <= result.metrics["miou"] <= 1.0
    json.loads(result.to_json())


def test_eval_super_resolution_on_a_folder_uses_every_image_whole(trained, tmp_path, images):
    folder = tmp_path / "set"
    folder.mkdir()
    for key in ("rgb", "gray"):
        shutil.copy(images[key], folder / images[key].name)
    result = evaluate("fsrcnn_tiny", trained("fsrcnn_tiny"), data=str(folder))
    assert result.samples == 2 and set(result.details["per_image"]) == {"gray.png", "rgb.png"}
    assert result.metrics["psnr_bicubic"] > 10


def test_eval_gives_a_non_blind_model_the_kernel_of_each_case(trained):
    from zoo.tasks import deblur, restoration
    from zoo.tasks.deblur import kernel_input

    run = load_run("deblur_nonblind_tiny", trained("deblur_nonblind_tiny"))
    for layer in run.model.layers:  # biases far from zero: each kernel changes the output
        if layer.name.endswith("_kernel_bias"):
            layer.set_weights([w + 0.3 for w in layer.get_weights()])
    result = evaluate_model(run, limit=1)
    kernels = deblur.kernels(run.options)
    images, _ = whole_images(default_data(run), limit=1)
    multiple, psnrs = size_multiple(run.model, run.options), []
    for _, k, clean, blurred in restoration.cases(run, images, 0, kernels, deblur.degrade):
        padded, _ = pad_to_multiple(blurred, multiple)
        restored = run.model([padded[None], kernel_input(kernels[k], 19)[None]])[0]
        restored = np.clip(restored[: blurred.shape[0], : blurred.shape[1]], 0, 1)
        psnrs.append(metrics.psnr(restored, clean))
    assert result.details["kernels"] == len(kernels) == 15
    assert result.metrics["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-4)


# === zoo sample ===


def grid_size(columns: int, rows: int, side: int, *, labelled: bool) -> tuple[int, int]:
    """(width, height) of an image_grid of side x side cells, enlarged to MIN_CELL."""
    from zoo.train.grid import LABEL_WIDTH, MIN_CELL

    cell = side * -(-MIN_CELL // side) + 2  # a whole enlargement, and 2-pixel gaps
    return (LABEL_WIDTH if labelled else 0) + columns * cell + 2, rows * cell + 2


def test_sample_writes_grids_of_the_expected_size(trained, tmp_path):
    out = sample("dcgan_tiny", trained("dcgan_tiny"), tmp_path / "dcgan.png", count=12)
    assert Image.open(out).size == grid_size(8, 2, 16, labelled=False)  # rows of 8
    out = sample("cgan_tiny", trained("cgan_tiny"), tmp_path / "cgan.png", count=3)
    assert Image.open(out).size == grid_size(3, 10, 16, labelled=False)  # a row per class
    out = sample("dae_tiny", trained("dae_tiny"), tmp_path / "dae.png", count=4)
    assert Image.open(out).size == grid_size(4, 3, 32, labelled=True)  # noisy/denoised/clean
    with Image.open(out) as image:
        label_column = np.asarray(image.convert("L"))[:, :80]
    assert (label_column < 128).sum() > 50, "the rows are labelled"
    out = sample("fsrcnn_tiny", trained("fsrcnn_tiny"), tmp_path / "sr.png", count=2)
    patch = zoo.info("fsrcnn_tiny").recipe.options["patch_size"]  # the recipe's patches
    assert Image.open(out).size == grid_size(2, 3, patch, labelled=True)
    with pytest.raises(ZooError, match=r"\.png"):
        sample("dcgan_tiny", trained("dcgan_tiny"), tmp_path / "grid.jpg")


# === zoo predict ===


def test_predict_writes_one_png_per_input_for_each_image_task(trained, tmp_path, images):
    inputs = [images["rgb"], images["gray"]]
    sizes = {"rgb": (45, 37), "gray": (21, 30)}  # PIL (width, height)
    written = predict("fsrcnn_tiny", trained("fsrcnn_tiny"), inputs, tmp_path / "sr")
    assert [p.name for p in written] == ["rgb.png", "gray.png"]
    for path in written:
        with Image.open(path) as image:
            w, h = sizes[path.stem]
            assert image.size == (2 * w, 2 * h) and image.mode == "RGB"
    for name in ("dae_tiny", "unet_tiny"):
        for path in predict(name, trained(name), inputs, tmp_path / name):
            with Image.open(path) as image:
                assert image.size == sizes[path.stem] and image.mode == "RGB"
    (path,) = predict("pix2pix_tiny", trained("pix2pix_tiny"), inputs[:1], tmp_path / "p2p")
    assert Image.open(path).size == (32, 32)


def test_predict_refuses_generators_and_unreadable_inputs(trained, tmp_path, images):
    with pytest.raises(ZooError, match="zoo sample dcgan_tiny"):
        predict("dcgan_tiny", "unused", [images["rgb"]], tmp_path / "gen")
    out = tmp_path / "bad"
    with pytest.raises(ZooError, match=r"cannot read image .*broken\.png"):
        predict("dae_tiny", trained("dae_tiny"), [images["rgb"], images["broken"]], out)
    assert not out.exists()  # nothing half-written
    with pytest.raises(ZooError, match="no such file"):
        predict("dae_tiny", trained("dae_tiny"), [tmp_path / "missing.png"], out)


def test_predict_gives_a_non_blind_model_the_kernel_it_is_told(trained, tmp_path, images):
    run = trained("deblur_nonblind_tiny")
    out = tmp_path / "nonblind"
    result = invoke(
        "predict", "deblur_nonblind_tiny", images["rgb"], "--weights", run, "--out", out
    )
    assert_one_line_error(result, "is non-blind", "--kernel gaussian:SIGMA")
    assert not out.exists()
    written = {}
    for spec in ("gaussian:1", "motion:15:90"):
        folder = tmp_path / spec.replace(":", "_")
        args = ("predict", "deblur_nonblind_tiny", images["rgb"], "--weights", run)
        result = invoke(*args, "--out", folder, "--kernel", spec)
        assert result.exit_code == 0, result.output
        with Image.open(folder / "rgb.png") as image:
            written[spec] = np.asarray(image)
    assert written["gaussian:1"].shape == (37, 45, 3)
    blind = ("predict", "deblur_tiny", images["rgb"], "--weights", trained("deblur_tiny"))
    assert_one_line_error(invoke(*blind, "--out", out, "--kernel", "gaussian:1"), "is blind")
    dae = ("predict", "dae_tiny", images["rgb"], "--weights", trained("dae_tiny"))
    assert_one_line_error(invoke(*dae, "--out", out, "--kernel", "gaussian:1"), "--kernel is for")
    args = ("predict", "deblur_nonblind_tiny", images["rgb"], "--weights", run, "--out", out)
    assert_one_line_error(invoke(*args, "--kernel", "gaussian:9"), "wider than 19x19")
    assert not out.exists()


# === CLI ===


def test_cli_eval_sample_and_predict(trained, tmp_path, images):
    run = trained("unet_tiny")
    result = invoke("eval", "unet_tiny", "--weights", run, "--limit", 2, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["task"] == "segment" and set(report["metrics"]) == {"miou", "pixel_accuracy"}
    result = invoke("eval", "unet_tiny", "--weights", run, "--limit", 2)
    assert result.exit_code == 0 and "miou" in result.output and "class_iou" in result.output

    grid = tmp_path / "grid.png"
    result = invoke("sample", "unet_tiny", "--weights", run, "--out", grid, "--count", 2)
    assert result.exit_code == 0, result.output
    assert grid.is_file() and result.output.strip() == str(grid)

    out = tmp_path / "overlays"
    result = invoke("predict", "unet_tiny", images["rgb"], "--weights", run, "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "rgb.png").is_file()


def test_cli_eval_options_replace_the_runs(trained):
    """``--option lr_8bit=true`` gives a super-resolution model 8-bit low-resolution input
    (what an int8 file's input holds); options are checked like training's."""
    run = trained("fsrcnn_tiny")
    args = ("eval", "fsrcnn_tiny", "--weights", run, "--limit", 1, "--json")
    plain = json.loads(invoke(*args).output)
    rounded = json.loads(invoke(*args, "--option", "lr_8bit=true").output)
    assert "(8-bit)" in rounded["details"]["protocol"]
    assert "(8-bit)" not in plain["details"]["protocol"]
    assert rounded["metrics"]["psnr_bicubic"] != plain["metrics"]["psnr_bicubic"]
    assert_one_line_error(invoke(*args, "--option", "lr_8bits=true"), "did you mean lr_8bit")
    assert_one_line_error(invoke(*args, "--option", "lr_8bit=3"), "true or false")


def test_cli_errors_are_one_line(trained, tmp_path, images):
    missing = tmp_path / "no_run"
    assert_one_line_error(invoke("eval", "dae_tiny", "--weights", missing), "not found")
    assert_one_line_error(
        invoke("sample", "dae_tiny", "--weights", missing, "--out", tmp_path / "g.png"),
        "not found",
    )
    run = trained("dae_tiny")
    assert_one_line_error(
        invoke("predict", "dae_tiny", images["broken"], "--weights", run, "--out", tmp_path),
        "cannot read image",
    )
    assert_one_line_error(
        invoke("predict", "dcgan_tiny", images["rgb"], "--weights", run, "--out", tmp_path),
        "zoo sample",
    )
    assert_one_line_error(invoke("eval", "unet_tiny", "--weights", run), "run of dae_tiny")


def test_get_loads_trained_weights(tmp_path):
    from zoo.train import train

    run = train(
        "fsrcnn_tiny", epochs=1, steps_per_epoch=2, batch_size=4, out=tmp_path / "r", quiet=True
    )
    trained = zoo.get("fsrcnn_tiny", weights=run)
    fresh = zoo.get("fsrcnn_tiny")
    fresh.load_weights(run / "model.weights.h5")
    x = np.random.default_rng(0).uniform(size=(1, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(np.asarray(trained(x)), np.asarray(fresh(x)))
    with pytest.raises(zoo.ZooError, match="not found"):
        zoo.get("fsrcnn_tiny", weights=tmp_path / "missing")


def test_the_classifier_trainer_writes_weights_and_a_manifest_that_load(tmp_path):
    """tools/train_classifier.py, one epoch: the weights load through the manifest's hash."""
    out = tmp_path / "digit_classifier.weights.h5"
    script = Path(__file__).resolve().parents[1] / "tools" / "train_classifier.py"
    command = [sys.executable, str(script), "--out", str(out), "--epochs", "1"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    record = json.loads(out.with_name("digit_classifier.json").read_text())
    assert record["sha256"] == classifier.sha256_of(out)
    assert record["command"].endswith("--epochs 1 --seed 0")
    assert 0.3 < record["test_accuracy"] <= 1.0
    model = classifier.build_classifier()
    model.load_weights(out)
    labels = classifier.predict_labels(
        zdata.load("digits", split="test", limit=8).images, model=model
    )
    assert labels.shape == (8,)
    with pytest.raises(ZooError, match="hash check"):  # not the shipped file's hash
        classifier.load_classifier(out)
    bad = subprocess.run([*command[:3], str(tmp_path / "x.h5")], capture_output=True, text=True)
    assert bad.returncode != 0 and "--out must end in .weights.h5" in bad.stderr
