"""Model cards and the README's tables: generated from the registry and the measurements."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import zoo
from tools import cards
from zoo import pretrained
from zoo.errors import ZooError


def test_committed_cards_and_readme_are_up_to_date():
    stale = [
        str(path.relative_to(cards.ROOT))
        for path, text in cards.generated_files().items()
        if not path.is_file() or path.read_text() != text
    ]
    assert not stale, f"run `python tools/cards.py`: {stale}"


def test_every_numerics_row_measured_the_weights_shipped_now():
    table = json.loads((cards.RESULTS / "numerics.json").read_text())["models"]
    assert set(table) <= set(pretrained.shipped())
    for name, row in table.items():
        shipped = [file["sha256"] for file in pretrained.manifest(name)["files"]]
        assert row["weights_sha256"] == shipped, f"rerun benchmarks/numerics.py {name}"


def test_every_full_model_has_a_card_and_a_readme_row():
    readme = cards.README.read_text()
    for name in cards.full_models():
        entry = json.loads((cards.DOCS / f"{name}.json").read_text())
        assert entry["name"] == name and entry["num_params"] == zoo.info(name).num_params
        assert f"[card](docs/models/{name}.md)" in readme
        assert not zoo.info(name).tiny


@pytest.mark.parametrize("name", pretrained.shipped())
def test_a_shipped_model_card_states_its_weights_metrics_and_sample(name):
    record = pretrained.manifest(name)
    text = cards.model_card_markdown(cards.card(name))
    assert all(file["sha256"] in text for file in record["files"]) and record["command"] in text
    for key in record["metrics"]:
        assert f"| {key} |" in text
    image = cards.DOCS / "images" / f"{name}.png"
    assert f"(images/{name}.png)" in text and image.is_file()
    assert image.stat().st_size < 200_000
    assert f'src="docs/models/images/{name}.png"' in cards.README.read_text()


def test_a_card_without_weights_says_so_and_how_to_train():
    name = "fsrcnn_tiny"  # every full model ships weights; a tiny one never does
    assert name not in pretrained.shipped()
    entry = cards.card(name, numerics={}, peers={})
    text = cards.model_card_markdown(entry)
    assert entry["weights"] is None and entry["image"] is None
    assert "No shipped weights yet" in text and "zoo train" in text
    for spec in zoo.info(name).inputs:
        assert f"`{spec.name}`" in text
    assert "[0, 1] (256 levels) | low-resolution Y channel |" in text  # an 8-bit image input


def test_precision_rows_reach_the_card_and_the_table():
    name = pretrained.shipped()[0]
    row = {
        "metric": "psnr",
        "higher_is_better": True,
        "data": "digits",
        "qat_steps": 10,
        "metrics": {
            "keras": {"psnr": 30.0},
            "float16": {"psnr": 30.0},
            "dynamic": {"psnr": 29.9},
            "int8": {"psnr": 29.5},
            "int8_qat": {"psnr": 29.8},
        },
        "file_bytes": {"float32": 4000, "float16": 2000, "dynamic": 1000, "int8": 1000},
        "latency_ms": {"float32": 2.0, "int8": 1.0},
        "int8_speedup": 2.0,
        "delegates": {
            "float16": {"gpu": "all ops"},
            "int8": {"nnapi": "all ops", "xnnpack": "all ops", "fully_integer": True},
        },
    }
    entry = cards.card(
        name, numerics={"models": {name: row}}, peers={}, accelerators={}, int8_rounding={}
    )
    text = cards.model_card_markdown(entry)
    assert "| int8 (post-training) | 29.5 |" in text and "int8 QAT (10 steps)" in text
    assert "(2.00x)" in text and "fully integer: yes" in text
    assert "+0.5 / +0.2" in cards.models_table([entry])

    assert "int8 cost by input" not in text  # no int8_rounding row given

    cost = {"GPTQ": {"Set5": 0.107, "Set5, 8-bit LR": 0.05, "unseen": 0.068}}
    rounding = {"models": {name: {"cost": cost, "keras": {"Set5": 36.86}}}}
    entry = cards.card(
        name, numerics={"models": {name: row}}, peers={}, accelerators={}, int8_rounding=rounding
    )
    text = cards.model_card_markdown(entry)
    assert "Set5 +0.107 dB; Set5, 8-bit LR +0.050 dB; unseen +0.068 dB" in text

    del row["metrics"]["int8_qat"]  # measured with --qat-steps 0
    entry = cards.card(name, numerics={"models": {name: row}}, peers={})
    assert "| int8 (post-training) | 29.5 |" in cards.model_card_markdown(entry)
    assert "int8 QAT" not in cards.model_card_markdown(entry)
    assert "+0.5 / no QAT" in cards.models_table([entry])


def test_readme_without_markers_is_a_clear_error():
    with pytest.raises(ZooError, match="markers"):
        cards.replace_between("no markers here", cards.TABLE_MARKERS, "body")
    text = cards.replace_between(
        "a\n<!-- models-table:start -->\nold\n<!-- models-table:end -->\nb",
        cards.TABLE_MARKERS,
        "new",
    )
    assert text == "a\n<!-- models-table:start -->\nnew\n<!-- models-table:end -->\nb"


def test_sample_images_are_small_pngs_drawn_with_the_shipped_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(cards, "DOCS", tmp_path)
    name = pretrained.shipped()[0]
    (written,) = cards.draw_images([name])
    with Image.open(written) as image:
        assert image.format == "PNG" and max(image.size) <= cards.IMAGE_MAX_SIDE
    assert cards.draw_images([name]) == []  # present: not redrawn
    assert cards.draw_images([name], redraw=True) == [written]
    (large,) = cards.draw_images(["pix2pix_256"])  # a 1034x776 grid, shrunk 3x
    with Image.open(large) as image:
        assert cards.IMAGE_MAX_SIDE // 2 < max(image.size) <= cards.IMAGE_MAX_SIDE
    assert large.stat().st_size < 200_000


def test_accelerator_measurements_reach_the_card():
    """benchmarks/accelerators.py's row: latency before and after lowering, and the worst
    error per file and accelerator over the sizes swept, refusals named."""
    name = "fsrcnn_x3"
    run = {"accepted": True, "fully_accelerated": True, "agrees": True, "reason": None}

    def sweep(size: str, lowering: str, gpu: dict) -> dict:
        cpu = {**run, "relative_error": 0.0004}
        return {
            "size": size,
            "mode": "float16",
            "lowering": lowering,
            "gpu_device": "gpu (X)",
            "cpu": cpu,
            "gpu": gpu,
        }

    row = {
        "lowered": 1,
        "latency": {
            "keras": 50.0,
            "float32": {"plain": 80.0, "lowered": 9.0},
            "float16": {"plain": 80.0, "lowered": 9.5},
            "int8": {"plain": 28.0, "lowered": 8.0},
        },
        "gpu_sweep": [
            sweep("16x16", "none", {**run, "relative_error": 1.05}),
            sweep("32x32", "none", {**run, "accepted": False, "reason": "no adapter"}),
            sweep("16x16", "auto", {**run, "relative_error": 0.0005}),
        ],
    }

    def card_text(model: str) -> str:
        accelerators = {"models": {model: row}}
        return cards.model_card_markdown(
            cards.card(model, numerics={}, peers={}, accelerators=accelerators)
        )

    text = card_text(name)
    assert "## On LiteRT's accelerators" in text
    assert "Keras 50 ms; float32 file 9 ms (TRANSPOSE_CONV kept: 80 ms)" in text
    assert "| float16, lowered | 0.04% | 0.05% |" in text
    assert "| float16, TRANSPOSE_CONV kept | 0.04% | refused: no adapter |" in text
    assert "over the sizes 16x16, 32x32:" in text
    assert "## On LiteRT's accelerators" not in cards.model_card_markdown(
        cards.card(name, numerics={}, peers={}, accelerators={})
    )
    assert "real GPU" not in text
    # A replay on a real GPU (benchmarks/gpu_sweep.py merge) adds its column
    for measured, error in zip(row["gpu_sweep"], (0.8, 0.9, 0.006), strict=True):
        measured["gpu_real"] = {**run, "relative_error": error}
        measured["gpu_real_device"] = "gpu (Vulkan driver nvidia_icd.json), NVIDIA H200"
    text = card_text(name)
    assert "| file | CPU (XNNPACK) | GPU (ML Drift) | real GPU |" in text
    assert "| float16, lowered | 0.04% | 0.05% | 0.6% |" in text
    assert "| float16, TRANSPOSE_CONV kept | 0.04% | refused: no adapter | 90% |" in text
    assert "Real GPU: gpu (Vulkan driver nvidia_icd.json), NVIDIA H200" in text
    assert "Needs float32 arithmetic on a GPU" not in text
    # the same measurements under a model that needs float32 arithmetic on a GPU
    assert "**Needs float32 arithmetic on a GPU.**" in card_text("deconvnet")
