"""The streaming input pipeline: order, exact resume, worker slices, folders read lazily."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import data
from zoo.data.stream import Examples, batches, first_batch
from zoo.errors import ZooError
from zoo.tasks import objective_for
from zoo.train.config import TrainConfig


def numbered(count: int) -> Examples:
    return Examples.in_memory({"x": np.arange(count, dtype=np.int64)})


def take(dataset, count: int) -> list[np.ndarray]:
    return [batch["x"].numpy() for batch in dataset.take(count)]


def test_each_epoch_is_a_fresh_permutation_of_every_example():
    # 3 epochs of 12 examples in batches of 4: batches do not cross epochs here.
    seen = np.concatenate(take(batches(numbered(12), 4, seed=3), 9)).reshape(3, 12)
    for epoch in seen:
        assert sorted(epoch) == list(range(12))
    assert len({tuple(epoch) for epoch in seen}) == 3, "every epoch has its own order"
    other_seed = np.concatenate(take(batches(numbered(12), 4, seed=4), 3))
    assert not np.array_equal(other_seed, seen[0])


def test_a_pipeline_started_at_step_k_yields_the_batches_from_k_on():
    straight = take(batches(numbered(10), 4, seed=1), 6)
    resumed = take(batches(numbered(10), 4, seed=1, start_step=3), 3)
    np.testing.assert_array_equal(np.stack(resumed), np.stack(straight[3:]))


def test_pipelines_read_disjoint_slices_that_join_into_the_global_batch():
    whole = take(batches(numbered(16), 8, seed=2), 4)
    halves = [take(batches(numbered(16), 8, seed=2, pipeline=i, pipelines=2), 4) for i in (0, 1)]
    for step, batch in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([h[step] for h in halves]), batch)
    # two replicas on one pipeline: consecutive halves of each global batch
    replicas = take(batches(numbered(16), 8, seed=2, replica_batch=4), 8)
    np.testing.assert_array_equal(np.concatenate(replicas[:2]), whole[0])
    with pytest.raises(ZooError, match="does not split"):
        batches(numbered(16), 6, seed=2, pipelines=4)


def write_images(folder: Path, count: int, size: int = 40) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 256, (size, size + index, 3), dtype=np.uint8)
        paths.append(folder / f"image{index:02d}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def objective(name: str, folder: Path, overrides: dict | None = None, **options):
    info = zoo.info(name)
    config = TrainConfig.from_recipe(
        info,
        data=str(folder),
        options={**info.recipe.options, "cache": "stream", **options},
        model_overrides=overrides,
        seed=5,
    )
    return objective_for(info, config)


def test_a_folder_streams_with_degradations_that_resume_bit_for_bit(tmp_path):
    write_images(tmp_path / "images", 6)
    denoise = objective("dae_tiny", tmp_path / "images", crops_per_image=4)
    examples, _ = denoise.data()
    assert examples.arrays is None and examples.count == 6 * 4, "read lazily, 4 crops a file"

    def stream(start_step: int):
        pipeline = batches(examples, 4, 5, start_step=start_step, degrade=denoise.degrade)
        return [{k: v.numpy() for k, v in b.items()} for b in pipeline.take(4 - start_step)]

    straight, resumed = stream(0), stream(2)
    for key in ("noisy", "clean"):
        np.testing.assert_array_equal(resumed[0][key], straight[2][key])
        np.testing.assert_array_equal(resumed[1][key], straight[3][key])
    noise = straight[0]["noisy"] - straight[0]["clean"]
    assert 0.05 < noise.std() < 0.15, "sigma 25 of 255, clipped"
    assert not np.allclose(noise[0], noise[1]), "each example draws its own noise"


def test_a_small_folder_is_prepared_in_memory_and_a_large_one_streams(tmp_path, monkeypatch):
    from zoo.tasks import objective as objective_module

    write_images(tmp_path / "images", 3)
    small, _ = objective("cae_tiny", tmp_path / "images", cache="auto").data()
    assert small.arrays is not None and small.count == 3, "3 images of 16x16 fit"
    monkeypatch.setattr(objective_module, "MEMORY_CACHE_BYTES", 3 * 16 * 16 * 4 - 1)
    large, _ = objective("cae_tiny", tmp_path / "images", cache="auto").data()
    assert large.arrays is None and large.count == 3
    with pytest.raises(ZooError, match=r"cache='ram'.*auto, stream, memory, disk"):
        objective("cae_tiny", tmp_path / "images", cache="ram").data()


def test_unreadable_and_vanished_files_are_skipped_and_named_once(tmp_path):
    paths = write_images(tmp_path / "images", 4)
    paths[1].write_bytes(b"not an image")
    examples, _ = objective("cae_tiny", tmp_path / "images").data()
    paths[2].unlink()  # listed, then gone before the pipeline reads it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = first_batch(examples, 8, seed=0)
    assert first["image"].shape[0] == 8 and np.isfinite(first["image"]).all()
    assert examples.skipped == {str(paths[1]), str(paths[2])}
    named = [str(w.message) for w in caught if "skipped unreadable" in str(w.message)]
    assert len(named) == 2, named


@pytest.mark.filterwarnings("ignore:skipped")
def test_a_streamed_run_skips_a_bad_file_and_counts_it(tmp_path):
    from zoo.train import train

    paths = write_images(tmp_path / "images", 5)
    paths[3].write_bytes(b"not an image")
    run = train(
        "cae_tiny",
        data=str(tmp_path / "images"),
        options={"cache": "stream"},
        epochs=1,
        steps_per_epoch=2,  # 8 examples: the whole 5-file epoch is read
        batch_size=4,
        out=tmp_path / "run",
        quiet=True,
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["finished"] and summary["unreadable_files_skipped"] == 1


def test_super_resolution_crops_follow_the_evaluation_protocol(tmp_path):
    (path,) = write_images(tmp_path / "images", 1, size=60)
    sr = objective("fsrcnn_tiny", tmp_path / "images", rescales=[1.0], augment=False, patch_size=16)
    examples, _ = sr.data()
    batch = first_batch(examples, 6, seed=0)
    whole = data.rgb_to_y(data.read_image(path))
    (lr_whole,), (hr_whole,) = data.super_resolution_pairs([whole], 2)
    for lr, hr in zip(batch["lr"], batch["hr"], strict=True):
        # find the crop in the whole image; the low-resolution crop is the whole image's
        # MATLAB-style bicubic downscale at the same place (no crop-edge effects)
        matches = [
            (top, left)
            for top in range(0, hr_whole.shape[0] - 15, 2)
            for left in range(0, hr_whole.shape[1] - 15, 2)
            if np.array_equal(hr_whole[top : top + 16, left : left + 16], hr)
        ]
        assert len(matches) == 1
        top, left = matches[0]
        np.testing.assert_array_equal(
            lr, lr_whole[top // 2 : top // 2 + 8, left // 2 : left // 2 + 8]
        )


def test_streamed_class_folders_and_masks_keep_their_labels(tmp_path):
    for label, name in enumerate(("cats", "dogs")):
        folder = tmp_path / "classes" / name
        folder.mkdir(parents=True)
        Image.fromarray(np.full((32, 32, 3), 60 + 120 * label, np.uint8)).save(folder / "a.png")
    examples, _ = objective("cgan_tiny", tmp_path / "classes", {"num_classes": 2}).data()
    batch = first_batch(examples, 4, seed=0)
    for image, label in zip(batch["image"], batch["label"], strict=True):
        assert np.argmax(label) == (image.mean() > 0)  # dogs are brighter, in [-1, 1]

    (tmp_path / "seg" / "images").mkdir(parents=True)
    (tmp_path / "seg" / "masks").mkdir()
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 2
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "seg/images/a.png")
    Image.fromarray(mask).save(tmp_path / "seg/masks/a.png")
    examples, _ = objective("unet_tiny", tmp_path / "seg").data()
    batch = first_batch(examples, 2, seed=0)
    assert batch["mask"].dtype == np.int32 and set(np.unique(batch["mask"])) == {0, 2}


@pytest.mark.parametrize(
    "name",
    [
        "dcgan_tiny",
        "dae_tiny",
        pytest.param("pix2pix_tiny", marks=pytest.mark.slow),
        pytest.param("vae_tiny", marks=pytest.mark.slow),
    ],
)
def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(name, tmp_path):
    """The GAN's latents and instance noise, and the denoiser's noise, are drawn from the
    seed and the example's position; dropout's and the VAE sampler's generator states are
    checkpointed: 1 epoch + resume equals 2 epochs, bit for bit."""
    from zoo.train import train

    settings = {"steps_per_epoch": 3, "batch_size": 4, "quiet": True, "seed": 3}
    options = {"instance_noise": 0.1} if name.startswith("dcgan") else None
    straight = train(name, epochs=2, out=tmp_path / "straight", options=options, **settings)
    first = train(name, epochs=1, out=tmp_path / "resumed", options=options, **settings)
    train(name, epochs=2, resume=True, out=first, quiet=True)
    uninterrupted, resumed = zoo.get(name, weights=straight), zoo.get(name, weights=first)
    for a, b in zip(uninterrupted.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def fake_tfds(monkeypatch, records: list[dict], *, indexable: bool = True):
    """A tensorflow_datasets stand-in holding ``records`` (a list reads by index), whose
    builder gives them as a tf.data.Dataset with the images PNG-encoded."""
    import io
    import sys
    import types

    import tensorflow as tf

    info = types.SimpleNamespace(
        features={"label": types.SimpleNamespace(names=["dark", "light"], num_classes=2)},
        splits={"train": types.SimpleNamespace(num_examples=len(records))},
    )

    class Source(list):
        dataset_info = info

    def data_source(name, split, data_dir):
        if not indexable:
            raise ValueError(f"{name} has no ArrayRecord files")
        return Source(records)

    def encoded(image: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        return buffer.getvalue()

    class Builder:
        def __init__(self, name, data_dir):
            self.info = info

        def as_dataset(self, split, shuffle_files, decoders):
            assert not shuffle_files and "image" in decoders  # raw bytes, in a fixed order
            columns = {
                "image": [encoded(r["image"]) for r in records],
                "label": [r["label"] for r in records],
            }
            return tf.data.Dataset.from_tensor_slices(columns)

    module = types.ModuleType("tensorflow_datasets")
    module.data_source, module.builder = data_source, Builder
    module.decode = types.SimpleNamespace(SkipDecoding=lambda: "skip")
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)


@pytest.mark.parametrize("indexable", [True, False], ids=["by index", "tfrecord"])
def test_a_tfds_set_streams_with_its_labels(monkeypatch, indexable):
    records = [
        {"image": np.full((20, 24, 3), 40 + 160 * (i % 2), np.uint8), "label": i % 2}
        for i in range(10)
    ]
    fake_tfds(monkeypatch, records, indexable=indexable)
    info = zoo.info("cgan_tiny")
    config = TrainConfig.from_recipe(
        info, data="tfds:toy", options={**info.recipe.options, "cache": "stream"},
        model_overrides={"num_classes": 2},
    )  # fmt: skip
    examples, _ = objective_for(info, config).data()
    assert examples.arrays is None and examples.count == 10 and examples.name == "tfds:toy"
    assert (examples.records is None) == indexable
    batches_seen = [first_batch(examples, 10, seed=0) for _ in range(2)]
    np.testing.assert_array_equal(batches_seen[0]["image"], batches_seen[1]["image"])
    batch = batches_seen[0]
    assert batch["image"].shape == (10, 16, 16, 1)
    assert sorted(np.argmax(batch["label"], axis=1)) == [0] * 5 + [1] * 5, "each record once"
    for image, label in zip(batch["image"], batch["label"], strict=True):
        assert np.argmax(label) == (image.mean() > 0)
    if not indexable:  # resumed: the pipeline from step 2 is the straight one's steps 2 and 3
        straight = [b["image"].numpy() for b in batches(examples, 4, 5).take(4)]
        resumed = [b["image"].numpy() for b in batches(examples, 4, 5, start_step=2).take(2)]
        np.testing.assert_array_equal(np.stack(resumed), np.stack(straight[2:]))
        halves = [batches(examples, 4, 5, pipeline=i, pipelines=2).take(4) for i in (0, 1)]
        joined = [np.concatenate([a["image"], b["image"]]) for a, b in zip(*halves, strict=True)]
        np.testing.assert_array_equal(np.stack(joined), np.stack(straight))


@pytest.mark.slow
def test_the_streaming_benchmark_writes_its_figures(tmp_path, run_benchmark):
    result = run_benchmark(
        "data_streaming", "--sizes", "12,30", "--steps", "2", "--repeats", "1",
        "--decode-batches", "2", "--root", str(tmp_path / "folders"),
        "--results", str(tmp_path / "results"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "data_streaming.json").read_text())
    assert [row["files"] for row in report["folders"]] == [12, 30]
    assert all(row["peak_rss_mb"] > 100 for row in report["folders"])
    assert report["throughput"]["ratio"] > 0 and report["decode_images_per_second"] > 0
    assert (tmp_path / "results" / "data_streaming.md").read_text() in result.stdout


def test_a_disk_cache_keeps_decoded_pixels_and_gives_the_same_batches(tmp_path):
    write_images(tmp_path / "images", 5)
    streamed, _ = objective("dae_tiny", tmp_path / "images", crops_per_image=2).data()
    cache = tmp_path / "cache"
    cached = objective(
        "dae_tiny", tmp_path / "images", crops_per_image=2, cache="disk", cache_dir=str(cache)
    )
    first, _ = cached.data()
    expected = first_batch(streamed, 10, seed=1)["clean"]
    np.testing.assert_array_equal(first_batch(first, 10, seed=1)["clean"], expected)
    stored = sorted(cache.glob("*.npy"))
    assert len(stored) == 5 and not list(cache.glob(".partial-*")), "one file per image"
    for path in (tmp_path / "images").iterdir():  # garbage of the same size and time:
        times = path.stat()  # only the cache can give the pixels now
        path.write_bytes(b"\0" * times.st_size)
        os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    again = cached.streamed(str(tmp_path / "images"), "train")  # the training examples
    np.testing.assert_array_equal(first_batch(again, 10, seed=1)["clean"], expected)
