"""Classical baselines and their fair tuning (zoo.classical), the comparison rows
(benchmarks/peer_comparisons.py) and the script that writes them (benchmarks/peers.py).

Tiny models at their initial weights (saved as .weights.h5 files, loaded as any user's
weights are) on small crops of the held-out test photos; the classical methods must really
restore, and the learned rows must equal what `zoo eval` measures on the same inputs.
"""

from __future__ import annotations

import json
import math

import keras
import numpy as np
import pytest

import zoo
from benchmarks import peer_comparisons as peers
from benchmarks import peers as script
from zoo import classical, metrics
from zoo import data as zdata
from zoo.arithmetic import model_macs
from zoo.errors import ZooError
from zoo.evaluate import evaluate
from zoo.files import write_png

RL_GRID = (2, 5, 10)
WIENER_GRID = (0.001, 0.01, 0.1, 1.0)
TV_GRID = (0.02, 0.05, 0.1, 0.2)
SMALL = {"tune_images": 2, "tune_size": 48, "seed": 0}
TRAIN_PHOTOS = {n for n in zdata.PHOTO_NAMES if n not in zdata.PHOTO_TEST}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two 64x64 crops of the held-out test photos, as PNG files (the test images)."""
    path = tmp_path_factory.mktemp("images")
    chelsea, _, flower = zdata.photo_images("test")
    write_png(path / "chelsea.png", chelsea[100:164, 150:214])
    write_png(path / "flower.png", flower[200:264, 300:364])
    return path


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """weights(name) -> a .weights.h5 file of ``name``'s initial weights (cached)."""
    root = tmp_path_factory.mktemp("weights")
    files = {}

    def get(name: str):
        if name not in files:
            keras.utils.set_random_seed(0)
            files[name] = root / f"{name}.weights.h5"
            zoo.get(name).save_weights(files[name])
        return files[name]

    return get


def _test_crop() -> np.ndarray:
    """A 96x96 crop of a held-out test photo (chelsea): never a tuning image."""
    return zdata.photo_images("test")[0][80:176, 120:216]  # chelsea, 96x96


# === Classical baselines and tuning ===


def test_held_out_images_are_train_photos_never_test_images():
    images, names = classical.held_out_images("photos", count=4, size=48, seed=0)
    assert len(images) == len(names) == 4
    for image, name in zip(images, names, strict=True):
        assert name.split("/")[2].split("[")[0] in TRAIN_PHOTOS
        assert image.shape == (48, 48, 3) and image.dtype == np.float32
    assert classical.held_out_images("photos", count=4, size=48, seed=0)[1] == names  # seeded
    _, all_names = classical.held_out_images("photos", size=32)  # default: every train photo
    assert {n.split("/")[2].split("[")[0] for n in all_names} == TRAIN_PHOTOS
    digits, digit_names = classical.held_out_images("digits", count=3, channels=1)
    assert digit_names == ["digits/train/0", "digits/train/1", "digits/train/2"]
    assert digits[0].shape[-1] == 1
    with pytest.raises(ZooError):
        classical.held_out_images("photos", count=0)


def test_tune_picks_the_best_grid_value():
    clean = np.linspace(0, 1, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    pairs = [(clean * 0.5, clean), (clean * 0.5, clean)]
    found = classical.tune("gain", "factor", pairs, (0.5, 1.0, 2.0, 4.0), lambda x, v: x * v)
    assert found.value == 2.0 and found.images == 2 and not found.at_edge
    assert found.scores[1] == max(found.scores[:2]) and math.isinf(found.scores[2])
    assert classical.tune("gain", "factor", pairs, (2.0, 4.0), lambda x, v: x * v).at_edge
    with pytest.raises(ZooError):
        classical.tune("gain", "factor", [], (1.0,), lambda x, v: x)


def test_wiener_and_richardson_lucy_with_the_true_kernel_beat_the_blurred_input():
    kernel = zdata.blur_kernel("gaussian", sigma=2.0)
    held_out, _ = classical.held_out_images("photos", count=3, size=64, seed=0)
    pairs = classical.blurred_tuning_pairs(held_out, kernel, noise_sigma=2.55, seed=0)
    assert all(b.shape == (64, 64, 1) for b, _ in pairs)  # one channel per held-out crop
    wiener = classical.tune_deblur("wiener", kernel, pairs, grid=WIENER_GRID)
    lucy = classical.tune_deblur("richardson_lucy", kernel, pairs, grid=RL_GRID)
    assert wiener.value in WIENER_GRID and lucy.value in RL_GRID
    assert wiener.images == lucy.images == 3

    sharp = _test_crop()  # a test image, never seen by the tuning
    blurred, _ = zdata.blurred_pairs(sharp[None], kernel, noise_sigma=2.55, seed=7)
    blurred = blurred[0]
    before = metrics.psnr(blurred, sharp)
    for method, tuning in (("wiener", wiener), ("richardson_lucy", lucy)):
        restored = classical.classical_deblur(blurred, kernel, method=method, value=tuning.value)
        assert restored.shape == sharp.shape and 0 <= restored.min() <= restored.max() <= 1
        assert metrics.psnr(restored, sharp) > before + 0.5, method
    with pytest.raises(ZooError, match="unknown deblurring method"):
        classical.classical_deblur(blurred, kernel, method="magic", value=1)


def test_wiener_handles_kernels_without_axis_symmetry():
    kernel = zdata.blur_kernel("motion", length=9, angle=45)
    assert not classical.axis_symmetric(kernel)
    assert classical.axis_symmetric(zdata.blur_kernel("motion", length=9, angle=0))
    sharp = _test_crop()
    blurred = zdata.blurred_pairs(sharp[None], kernel, noise_sigma=2.55, seed=3)[0][0]
    restored = classical.wiener_deconvolve(blurred, kernel, 0.1)
    assert metrics.psnr(restored, sharp) > metrics.psnr(blurred, sharp) + 0.5


def test_tv_and_nl_means_beat_the_noisy_input_at_sigma_25():
    held_out, _ = classical.held_out_images("photos", count=3, size=48, seed=1)
    pairs = classical.noisy_tuning_pairs(held_out, sigma=25, seed=0)
    tv = classical.tune_denoise("tv_chambolle", pairs, sigma=25, grid=TV_GRID)
    means = classical.tune_denoise("nl_means", pairs, sigma=25, grid=(0.4, 0.8))
    assert tv.value in TV_GRID and means.value in (0.4, 0.8)
    clean = _test_crop()
    noisy = zdata.noisy_pairs(clean[None], 25, seed=5)[0][0]
    before = metrics.psnr(noisy, clean)
    for method, tuning in (("tv_chambolle", tv), ("nl_means", means)):
        out = classical.classical_denoise(noisy, method=method, value=tuning.value, sigma=25)
        assert out.shape == clean.shape
        assert metrics.psnr(out, clean) > before + 3.0, method


def test_describe_kernel_reads_the_family_and_shape():
    assert classical.describe_kernel(zdata.blur_kernel("gaussian", sigma=2.0)).startswith(
        "gaussian sigma 2.0"
    )
    label = classical.describe_kernel(zdata.blur_kernel("motion", length=9, angle=45))
    assert label.startswith("motion 9 px at 45 deg")


def test_model_macs_counts_convolutions_transposed_convolutions_and_dense():
    # FSRCNN x3's 12,464 weights are its multiply-accumulates per low-resolution pixel
    assert model_macs(zoo.get("fsrcnn_x3"), (16, 16)) == 12464 * 16 * 16
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inputs)  # 4x4x8, 27 taps
    x = keras.layers.Conv2DTranspose(4, 4, strides=2, padding="same")(x)  # 16 * 128 taps
    outputs = keras.layers.Dense(5)(x)  # 8x8 positions x 4 x 5
    model = keras.Model(inputs, outputs)
    assert model_macs(model, (8, 8)) == 16 * 27 * 8 + 16 * 16 * 8 * 4 + 64 * 4 * 5
    with pytest.raises(ValueError, match="size"):
        model_macs(model)


# === Comparisons ===


def check_rows(rows: list[dict], methods: list[str], *models: str) -> None:
    assert [row["method"] for row in rows] == [*methods, *models]
    assert [row["model"] for row in rows[len(methods) :]] == list(models)  # as tools/cards.py
    assert all(row["kind"] == "learned" for row in rows[len(methods) :])
    for row in rows:
        assert row["model"] and row["kind"] in ("input", "classical", "learned")
        assert math.isfinite(row["psnr"]) and 0 < row["ssim"] <= 1, row


def test_deblur_comparison_rows_use_zoo_evals_inputs(folder, weights):
    grids = {"richardson_lucy": RL_GRID, "wiener": WIENER_GRID}
    models = {name: weights(name) for name in ("deblur_tiny", "deblur_nonblind_tiny")}
    result = peers.deblur_comparison(models, data=str(folder), grids=grids, **SMALL)
    rows = result["rows"]
    check_rows(rows, ["blurred", "richardson_lucy", "wiener"], *models)
    assert result["images"] == 2 and result["tuning"]["scope"] == "per kernel"
    assert result["samples"] == 2 * result["kernels"]  # every image under every kernel
    assert all(n.startswith("photos/train/") for n in result["tuning"]["held_out"])
    assert {str(image["kernel"]) for image in result["per_image"]} == set(
        result["tuning"]["by_kernel"]
    )
    for image in result["per_image"]:
        assert image["parameters"]["richardson_lucy"] in RL_GRID
        assert image["parameters"]["wiener"] in WIENER_GRID
    best = max(rows[1:3], key=lambda row: row["psnr"])
    assert result["margin"]["best_classical"] == best["method"]
    for row in rows[3:]:
        assert row["params"] == zoo.info(row["model"]).num_params
        margin = result["margin"]["learned"][row["model"]]
        assert margin["psnr_db"] == pytest.approx(row["psnr"] - best["psnr"])
        # the same degraded inputs (and, non-blind, kernels) and outputs as `zoo eval`
        reference = evaluate(row["model"], models[row["model"]], data=str(folder)).metrics
        assert rows[0]["psnr"] == pytest.approx(reference["psnr_input"], abs=1e-9)
        assert row["psnr"] == pytest.approx(reference["psnr"], abs=1e-6)
    markdown = peers.to_markdown(result)
    assert "| Wiener (true kernel) |" in markdown
    assert "| deblur_tiny | deblur_nonblind_tiny |" in markdown  # a column each per image

    with pytest.raises(ZooError, match="not a deblur model"):
        peers.deblur_comparison({"dae_tiny": weights("dae_tiny")}, data=str(folder))


def test_denoise_comparison_rows_use_zoo_evals_inputs(folder, weights):
    path = weights("dae_tiny")
    result = peers.denoise_comparison(
        path, model="dae_tiny", data=str(folder), grids={"tv_chambolle": TV_GRID}, **SMALL
    )
    rows = result["rows"]
    check_rows(rows, ["noisy", "tv_chambolle", "nl_means"], "dae_tiny")
    assert result["noise_sigma"] == 25 and result["tuning"]["scope"] == "global"
    assert result["tuning"]["methods"]["tv_chambolle"]["value"] in TV_GRID
    assert rows[1]["psnr"] > rows[0]["psnr"] + 3  # TV beats the noisy input at sigma 25
    reference = evaluate("dae_tiny", path, data=str(folder), seed=0).metrics
    assert rows[0]["psnr"] == pytest.approx(reference["psnr_input"], abs=1e-9)
    assert rows[-1]["psnr"] == pytest.approx(reference["psnr"], abs=1e-6)


def test_super_resolution_comparison_rows_costs_and_skips(folder, weights):
    path = weights("fsrcnn_tiny")
    result = peers.super_resolution_comparison(
        folder,
        models=["fsrcnn_tiny", "espcn_tiny"],
        weights={"fsrcnn_tiny": path},
        latency_modes=("float32",),  # int8 conversion is convert.bench's own test
        runs=2,
        warmup=0,
    )
    bicubic, fsrcnn = result["rows"]
    assert (bicubic["model"], bicubic["scale"], fsrcnn["model"]) == ("bicubic", 2, "fsrcnn_tiny")
    assert fsrcnn["kind"] == "learned" and "Y-PSNR" in result["note"]
    assert result["skipped"] == [
        {"model": "espcn_tiny", "reason": "no shipped weights; pass --weights espcn_tiny=RUN"}
    ]
    reference = evaluate("fsrcnn_tiny", path, data=str(folder)).metrics
    assert fsrcnn["psnr"] == pytest.approx(reference["psnr"])
    assert bicubic["psnr"] == pytest.approx(reference["psnr_bicubic"])
    assert bicubic["psnr"] == pytest.approx(peers.bicubic_scores(folder, 2)["psnr"])
    assert fsrcnn["params"] == zoo.info("fsrcnn_tiny").num_params
    height, width = fsrcnn["export_size"]
    assert fsrcnn["macs"] == model_macs(zoo.get("fsrcnn_tiny"), (height, width))
    assert fsrcnn["macs_per_output_pixel"] * height * width * 4 == pytest.approx(fsrcnn["macs"])
    assert set(fsrcnn["latency_ms"]) == {"float32"}
    assert all(v > 0 for v in fsrcnn["latency_ms"].values())
    table = peers.to_markdown(result)
    assert "| x2 | fsrcnn_tiny |" in table and "Skipped (no weights): espcn_tiny" in table
    with pytest.raises(ZooError, match="not a folder"):
        peers.super_resolution_comparison(folder / "missing", models=["fsrcnn_tiny"])


# === The benchmark script ===


def test_main_writes_json_and_markdown_and_notes_a_missing_sr_folder(
    tmp_path, folder, weights, capsys
):
    out = tmp_path / "results"
    out.mkdir()
    (out / "peers.json").write_text("stale")
    script.main(
        [
            "--sr-data",
            str(tmp_path / "no-set5"),
            "--deblur-models",
            "deblur_tiny",
            "--denoise-model",
            "dae_tiny",
            "--weights",
            f"deblur_tiny={weights('deblur_tiny')}",
            "--weights",
            f"dae_tiny={weights('dae_tiny')}",
            "--data",
            str(folder),
            "--tune-images",
            "2",
            "--tune-size",
            "48",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert "note: super-resolution skipped" in printed
    assert sorted(p.name for p in out.iterdir()) == ["peers.json", "peers.md"]  # no temp files
    report = json.loads((out / "peers.json").read_text())
    sections = report["sections"]
    assert "no super-resolution data" in sections["super_resolution"]["skipped"]
    assert sections["deblur"]["rows"][-1]["model"] == "deblur_tiny"
    assert sections["denoise"]["rows"][-1]["model"] == "dae_tiny"
    assert report["machine"] and "--deblur-models deblur_tiny" in report["command"]
    markdown = (out / "peers.md").read_text()
    assert markdown in printed
    assert "## Deblurring" in markdown and "| Richardson-Lucy (true kernel) |" in markdown
    assert "| TV (Chambolle) |" in markdown and "Learned margin" in markdown


def test_main_skips_a_model_without_weights(tmp_path, capsys):
    out = tmp_path / "results"
    script.main(["--sections", "denoise", "--denoise-model", "dae_tiny", "--out", str(out)])
    assert "note: denoise: dae_tiny skipped: dae_tiny has no shipped weights" in (
        capsys.readouterr().out
    )
    report = json.loads((out / "peers.json").read_text())
    assert report["sections"]["denoise"]["skipped"].startswith("dae_tiny: no weights")
    assert "Skipped: dae_tiny: no weights" in (out / "peers.md").read_text()
    # a later run of another section keeps this one, each with the command that measured it
    script.main(["--sections", "deblur", "--deblur-models", "deblur_tiny", "--out", str(out)])
    sections = json.loads((out / "peers.json").read_text())["sections"]
    assert set(sections) == {"denoise", "deblur"}
    assert "--sections denoise" in sections["denoise"]["command"]
    assert "--sections deblur" in sections["deblur"]["command"]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("no_such_model=runs/x", "no_such_model"),
        ("fsrcnn_x3", "NAME=PATH"),
        ("fsrcnn_x3=/no/such/run", "does not exist"),
    ],
)
def test_bad_weights_argument_is_a_one_line_error(tmp_path, argument, message):
    with pytest.raises(SystemExit) as raised:
        script.main(["--weights", argument, "--out", str(tmp_path)])
    text = str(raised.value)
    assert text.startswith("Error: ") and message in text and "\n" not in text
    assert not (tmp_path / "peers.json").exists()
