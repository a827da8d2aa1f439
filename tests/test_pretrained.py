"""Shipped weights: manifests, hash checks, ``weights="default"``, and shipping a run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from tools import ship_weights
from zoo import pretrained, weights_io
from zoo.cli import main
from zoo.errors import ZooError
from zoo.evaluate import evaluate
from zoo.files import sha256_of
from zoo.train import train
from zoo.train.config import TrainConfig

SHIPPED = pretrained.shipped()
# Shipped models whose manifest metrics were measured on embedded data (CI can re-measure them).
EMBEDDED = [n for n in SHIPPED if "/" not in pretrained.manifest(n)["evaluation"]["data"]]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "cae_tiny"
    return train("cae_tiny", epochs=1, steps_per_epoch=3, batch_size=8, out=out, quiet=True)


@pytest.fixture
def weights_dir(tmp_path, monkeypatch) -> Path:
    """An empty shipped-weights folder in place of the package's."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", folder)
    return folder


def test_every_shipped_manifest_is_complete_and_its_files_verify():
    assert len(SHIPPED) >= 1
    for name in SHIPPED:
        record = pretrained.manifest(name)
        paths = [pretrained.weights_file(name, part) for part in range(1, len(record["files"]) + 1)]
        assert record["model"] == name
        assert [file["file"] for file in record["files"]] == [path.name for path in paths]
        for file, path in zip(record["files"], paths, strict=True):
            assert sha256_of(path) == file["sha256"]
            assert path.stat().st_size == file["bytes"] <= pretrained.MAX_BYTES
        assert record["bytes"] == sum(file["bytes"] for file in record["files"])
        assert record["bytes"] <= pretrained.MAX_MODEL_BYTES
        assert record["command"].startswith(f"zoo train {name}")
        assert record["metrics"] and record["train_seconds"] > 0 and record["epochs"] >= 1
        assert record["storage"] in ("float32", "float16", "int8")
        assert pretrained.verified_files(name) == paths


def test_every_full_model_ships_weights():
    from tools.cards import full_models

    assert sorted(set(full_models()) - set(SHIPPED)) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_get_default_loads_the_shipped_weights(name):
    model = zoo.get(name, weights="default")
    fresh = zoo.get(name)
    assert model.name == name and model.count_params() == zoo.info(name).num_params
    changed = [
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(model.weights, fresh.weights, strict=True)
    ]
    assert sum(changed) > len(changed) // 2  # trained, not the initial weights


@pytest.mark.parametrize("name", EMBEDDED)
def test_shipped_metrics_are_reproduced_by_zoo_eval(name):
    record = pretrained.manifest(name)
    result = evaluate(name, "default", data=record["config"]["data"])
    for key, expected in record["metrics"].items():
        assert result.metrics[key] == pytest.approx(expected, rel=1e-3, abs=1e-3), key


def test_a_tampered_shipped_file_is_refused_in_one_line(weights_dir, tiny_run):
    ship_weights.ship(tiny_run, command="zoo train cae_tiny", out_dir=weights_dir)
    path = weights_dir / "cae_tiny.weights.h5"
    zoo.get("cae_tiny", weights="default")  # intact: loads
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="hash check") as error:
        zoo.get("cae_tiny", weights="default")
    assert "\n" not in str(error.value)
    path.unlink()
    with pytest.raises(ZooError, match="missing"):
        zoo.get("cae_tiny", weights="default")


def test_a_model_without_shipped_weights_is_a_clear_error(weights_dir):
    with pytest.raises(ZooError, match="no shipped weights"):
        zoo.get("unet_tiny", weights="default")
    with pytest.raises(zoo.UnknownModelError):
        zoo.get("no_such_model", weights="default")


def test_ship_writes_weights_and_a_manifest_that_reproduces_them(weights_dir, tiny_run):
    record = ship_weights.ship(
        tiny_run, command="zoo train cae_tiny --epochs 1", out_dir=weights_dir
    )
    saved = json.loads((weights_dir / "cae_tiny.json").read_text())
    assert saved == json.loads(json.dumps(record, default=str))
    assert saved["files"] == [
        {
            "file": "cae_tiny.weights.h5",
            "sha256": sha256_of(weights_dir / "cae_tiny.weights.h5"),
            "bytes": saved["bytes"],
        }
    ]
    assert saved["storage"] == "float32" and saved["config"]["model"] == "cae_tiny"
    assert set(saved["metrics"]) >= {"psnr", "ssim"}
    assert not list(weights_dir.glob(".partial-*"))
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype("float32")
    from_run = zoo.get("cae_tiny", weights=tiny_run)
    shipped = zoo.get("cae_tiny", weights="default")
    np.testing.assert_array_equal(np.asarray(from_run(x)), np.asarray(shipped(x)))
    measured = evaluate("cae_tiny", "default").metrics
    assert measured["psnr"] == pytest.approx(saved["metrics"]["psnr"], abs=1e-3)


def test_large_weights_are_stored_as_float16_and_stay_close(weights_dir, tiny_run, monkeypatch):
    monkeypatch.setattr(pretrained, "FLOAT16_ABOVE", 0)
    record = ship_weights.ship(tiny_run, command="zoo train cae_tiny", out_dir=weights_dir)
    assert record["storage"] == "float16"
    x = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype("float32")
    full = np.asarray(zoo.get("cae_tiny", weights=tiny_run)(x))
    half = np.asarray(zoo.get("cae_tiny", weights="default")(x))
    assert 0 < np.abs(full - half).max() < 1e-2


def test_int8_storage_keeps_kernels_within_half_a_step_and_loads_as_float(tmp_path):
    model = zoo.get("fcn_tiny")
    saved = tmp_path / "saved.weights.h5"
    model.save_weights(saved)
    array_bytes, dtypes = {}, set()
    for storage in ("float16", "int8"):
        path = tmp_path / f"{storage}.weights.h5"
        weights_io.transcode_weights(saved, path, storage)
        assert weights_io.stored_as(path) == storage
        arrays = _arrays(path)
        array_bytes[storage] = sum(values.nbytes for values in arrays)
        dtypes |= {str(values.dtype) for values in arrays} if storage == "int8" else set()
    assert array_bytes["int8"] < 0.6 * array_bytes["float16"]
    assert {"int8", "float16"} <= dtypes and "float32" not in dtypes
    int8 = tmp_path / "int8.weights.h5"
    config = TrainConfig.from_recipe(zoo.info("fcn_tiny"))
    loaded = weights_io.load_weights_into("fcn_tiny", int8, config)
    for original, restored in zip(model.weights, loaded.weights, strict=True):
        original, restored = np.asarray(original), np.asarray(restored)
        if original.ndim >= 2:  # per-slice step: max|w| / 127
            step = np.abs(original).reshape(-1, original.shape[-1]).max(axis=0) / 127
            assert np.all(np.abs(restored - original) <= step / 2 + 1e-7)
        else:
            np.testing.assert_allclose(restored, original, rtol=1e-3, atol=1e-6)
    x = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype("float32")
    agreement = np.mean(np.argmax(model(x), -1) == np.argmax(loaded(x), -1))
    assert agreement > 0.95
    with pytest.raises(ZooError, match="unknown weights storage"):
        weights_io.transcode_weights(saved, tmp_path / "x.weights.h5", "int4")


def _arrays(path: Path) -> list[np.ndarray]:
    """Every dataset of an HDF5 file, as stored."""
    found = []
    with h5py.File(path, "r") as file:
        file.visititems(lambda _, item: found.append(item[()]) if hasattr(item, "dtype") else None)
    return [np.asarray(values) for values in found]


def test_ship_shards_float16_before_it_falls_back_to_int8(weights_dir, tmp_path, monkeypatch):
    run = train("fcn_tiny", epochs=1, steps_per_epoch=2, batch_size=4, out=tmp_path / "fcn")
    half = tmp_path / "half.weights.h5"
    weights_io.transcode_weights(run / "model.weights.h5", half, "float16")
    monkeypatch.setattr(pretrained, "FLOAT16_ABOVE", 0)
    monkeypatch.setattr(pretrained, "MAX_BYTES", half.stat().st_size - 1)
    # float16 over one file but within a model's files: float16 shards
    record = ship_weights.ship(run, command="zoo train fcn_tiny", out_dir=weights_dir)
    assert record["storage"] == "float16" and len(record["files"]) >= 2
    assert all(file["bytes"] <= pretrained.MAX_BYTES for file in record["files"])
    x = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype("float32")
    config = TrainConfig.from_recipe(zoo.info("fcn_tiny"))
    expected = weights_io.load_weights_into("fcn_tiny", half, config)(x)
    np.testing.assert_array_equal(zoo.get("fcn_tiny", weights="default")(x), expected)

    monkeypatch.setattr(pretrained, "MAX_MODEL_BYTES", half.stat().st_size - 1)
    record = ship_weights.ship(run, command="zoo train fcn_tiny", out_dir=weights_dir)
    assert record["storage"] == "int8" and record["bytes"] <= pretrained.MAX_BYTES
    measured = evaluate("fcn_tiny", "default").metrics
    assert measured["miou"] == pytest.approx(record["metrics"]["miou"], abs=1e-4)
    x = np.random.default_rng(0).uniform(size=(1, 32, 32, 3)).astype("float32")
    one_file = np.asarray(zoo.get("fcn_tiny", weights="default")(x))
    # a smaller per-file limit: the same int8 weights in shards, which load as one
    limit, int8 = pretrained.MAX_BYTES, record["bytes"]
    monkeypatch.setattr(pretrained, "MAX_BYTES", int8 // 2)
    monkeypatch.setattr(pretrained, "MAX_MODEL_BYTES", min(2 * int8, half.stat().st_size - 1))
    sharded = ship_weights.ship(run, command="zoo train fcn_tiny", out_dir=weights_dir)
    names = [file["file"] for file in sharded["files"]]
    assert len(names) >= 2 and names[:2] == ["fcn_tiny.weights.h5", "fcn_tiny.part2.weights.h5"]
    assert all(file["bytes"] <= int8 // 2 for file in sharded["files"])
    assert sorted(p.name for p in weights_dir.glob("*.h5")) == sorted(names)
    np.testing.assert_array_equal(np.asarray(zoo.get("fcn_tiny", weights="default")(x)), one_file)
    monkeypatch.setattr(pretrained, "MAX_MODEL_BYTES", int8 // 2)
    with pytest.raises(ZooError, match="MB per model"):
        ship_weights.ship(run, command="zoo train fcn_tiny", out_dir=weights_dir)
    monkeypatch.setattr(pretrained, "MAX_BYTES", limit)
    ship_weights.ship(run, command="zoo train fcn_tiny", out_dir=weights_dir)  # one file again
    assert [p.name for p in weights_dir.glob("*.h5")] == ["fcn_tiny.weights.h5"]


def test_ship_refuses_unfinished_runs_and_oversized_weights(
    weights_dir, tiny_run, tmp_path, monkeypatch
):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_run, unfinished)
    summary = json.loads((unfinished / "summary.json").read_text())
    (unfinished / "summary.json").write_text(json.dumps({**summary, "finished": False}))
    with pytest.raises(ZooError, match="not a finished run"):
        ship_weights.ship(unfinished, command="zoo train cae_tiny", out_dir=weights_dir)
    limit = pretrained.MAX_BYTES
    monkeypatch.setattr(pretrained, "MAX_BYTES", 1000)
    with pytest.raises(ZooError, match="ships at most"):
        ship_weights.ship(tiny_run, command="zoo train cae_tiny", out_dir=weights_dir)
    assert list(weights_dir.iterdir()) == []  # nothing half-written
    monkeypatch.setattr(pretrained, "MAX_BYTES", limit)
    ship_weights.ship(tiny_run, command="zoo train cae_tiny", out_dir=weights_dir)
    shipped = sorted(p.name for p in weights_dir.iterdir())
    with pytest.raises(ZooError, match="unknown dataset"):  # evaluation fails after writing
        ship_weights.ship(tiny_run, command="x", eval_data="no_such_data", out_dir=weights_dir)
    assert sorted(p.name for p in weights_dir.iterdir()) == shipped
    zoo.get("cae_tiny", weights="default")  # the earlier file and manifest still agree


def test_cli_eval_with_default_weights(weights_dir, tiny_run):
    ship_weights.ship(tiny_run, command="zoo train cae_tiny", out_dir=weights_dir)
    result = CliRunner().invoke(main, ["eval", "cae_tiny", "--weights", "default", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["psnr"] > 0
