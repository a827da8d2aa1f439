"""The data layer: embedded sets offline, folder / keras-cache / TFDS adapters, task pairs."""

from __future__ import annotations

import gzip
import pickle
import socket
import sys
import time
import types
import warnings

import numpy as np
import pytest
from PIL import Image

from zoo import data
from zoo.data import _image
from zoo.errors import ZooError

# === Embedded sets ===


@pytest.fixture(scope="module")
def digits_train():
    return data.load("digits")


def test_list_datasets_names_embedded_and_keras_sets():
    names = data.list_datasets()
    for name in ("digits", "shapes", "photos", "faces", "mnist", "fashion_mnist", "cifar10"):
        assert name in names
        assert data.describe_dataset(name)


def test_digits_shapes_ranges_and_balanced_labels(digits_train):
    test = data.load("digits", split="test")
    assert digits_train.images.shape == (1438, 32, 32, 1)
    assert test.images.shape == (359, 32, 32, 1)
    for s in (digits_train, test):
        assert s.images.dtype == np.float32
        assert s.images.min() >= 0.0 and s.images.max() <= 1.0
        assert s.num_classes == 10 and s.class_names == tuple("0123456789")
    counts = np.bincount(digits_train.labels, minlength=10)
    assert counts.min() >= 135 and counts.max() <= 150
    assert set(np.unique(test.labels)) == set(range(10))
    assert digits_train.one_hot().shape == (1438, 10)


def test_digits_is_deterministic_and_resizes(digits_train):
    again = data.load("digits")
    np.testing.assert_array_equal(again.images, digits_train.images)
    a = data.load("digits", limit=50, seed=1, image_size=16, channels=3)
    b = data.load("digits", limit=50, seed=1, image_size=16, channels=3)
    c = data.load("digits", limit=50, seed=2, image_size=16, channels=3)
    assert a.images.shape == (50, 16, 16, 3)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.labels, c.labels) or not np.array_equal(a.images, c.images)
    np.testing.assert_array_equal(a.images[..., 0], a.images[..., 2])


def test_shapes_shapes_ranges_and_determinism():
    a = data.load("shapes", count=24)
    b = data.load("shapes", count=24)
    other_seed = data.load("shapes", count=24, seed=5)
    test = data.load("shapes", split="test", count=24)
    assert a.images.shape == (24, 64, 64, 3) and a.masks.shape == (24, 64, 64)
    assert a.images.dtype == np.float32 and a.masks.dtype == np.int32
    assert a.images.min() >= 0.0 and a.images.max() <= 1.0
    assert set(np.unique(a.masks)) <= {0, 1, 2, 3} and a.num_classes == 4
    assert a.class_names == ("background", "circle", "square", "triangle")
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, other_seed.images)
    assert not np.array_equal(a.images, test.images)
    # a larger count extends a smaller one
    np.testing.assert_array_equal(data.load("shapes", count=8).images, a.images[:8])
    small = data.load("shapes", count=4, image_size=32, channels=1)
    assert small.images.shape == (4, 32, 32, 1) and small.masks.shape == (4, 32, 32)


def test_shapes_masks_match_the_drawn_objects():
    images, masks = data.render_shapes(60, max_objects=1, noise=0.0, seed=3)
    seen = set()
    for image, mask in zip(images, masks, strict=True):
        classes = set(np.unique(mask)) - {0}
        assert len(classes) == 1
        cls = classes.pop()
        seen.add(cls)
        inside = mask == cls
        ys, xs = np.nonzero(inside)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        fill = inside.sum() / box
        expected = {1: (0.7, 0.86), 2: (0.97, 1.0), 3: (0.3, 0.56)}[cls]
        assert expected[0] <= fill <= expected[1], (cls, fill)
        # every object pixel has the one drawn colour, far from the background's colour
        colours = image[inside]
        assert np.ptp(colours, axis=0).max() < 1e-6
        background = image[mask == 0].mean(axis=0)
        assert np.abs(colours[0] - background).sum() > 0.3
    assert seen == {1, 2, 3}


def test_shapes_pairs_are_colour_coded_masks_and_scenes():
    source, target = data.shapes_pairs(count=6, image_size=32)
    scenes = data.load("shape_scenes", count=6, image_size=32)
    assert source.shape == target.shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(target, scenes.images)
    palette = data.label_palette(4)
    np.testing.assert_array_equal(source, palette[scenes.masks])
    assert len({tuple(c) for c in palette}) == 4


def test_shape_scenes_are_a_function_of_the_mask():
    layout = data.load("shapes", count=8, image_size=48, seed=5)
    scenes = data.load("shape_scenes", count=8, image_size=48, seed=5)
    np.testing.assert_array_equal(scenes.masks, layout.masks)
    assert scenes.images.shape == (8, 48, 48, 3) and scenes.num_classes == 4
    assert scenes.images.min() >= 0.0 and scenes.images.max() <= 1.0
    # the same mask gives the same scene, wherever it came from
    np.testing.assert_array_equal(data.render_scenes(layout.masks[::-1]), scenes.images[::-1])
    masks = layout.masks
    for cls, colour in enumerate(data.SCENE_COLOURS, start=1):
        region = masks == cls
        if not region.any():
            continue
        pixels = scenes.images[region]
        # every object pixel is its class colour, lit between 0.55 (edge) and 1.0 (inside)
        light = pixels / colour
        np.testing.assert_allclose(light, light[:, :1].repeat(3, axis=1), rtol=1e-5)
        assert light.min() >= 0.55 - 1e-6 and light.max() <= 1.0 + 1e-6
        assert light.max() > light.min() + 0.2  # the bevel darkens the edges
    # the background is the sky gradient, darker where an object casts its shadow
    empty = data.render_scenes(np.zeros((1, 48, 48), np.int32))[0]
    background = masks == 0
    ratio = scenes.images[background] / np.broadcast_to(empty, scenes.images.shape)[background]
    shadowed = np.isclose(ratio, 0.6, atol=1e-4)
    assert (shadowed | np.isclose(ratio, 1.0, atol=1e-4)).all()
    assert shadowed.any()


def test_render_scenes_refuses_a_batch_that_is_not_masks():
    with pytest.raises(ZooError, match=r"render_scenes takes masks \(N, H, W\)"):
        data.render_scenes(np.zeros((4, 4)))


@pytest.fixture(scope="module")
def photos_train():
    return data.load("photos", crops_per_image=4)


def test_photos_crops_in_range_and_deterministic(photos_train):
    n_train = len(data.PHOTO_NAMES) - len(data.PHOTO_TEST)
    assert photos_train.images.shape == (n_train * 4, 64, 64, 3)
    assert photos_train.images.min() >= 0.0 and photos_train.images.max() <= 1.0
    assert photos_train.images.std() > 0.05
    again = data.load("photos", crops_per_image=4)
    np.testing.assert_array_equal(again.images, photos_train.images)
    test = data.load("photos", split="test", image_size=(24, 40), channels=1, crops_per_image=2)
    assert test.images.shape == (len(data.PHOTO_TEST) * 2, 24, 40, 1)
    big = data.load("photos", split="test", image_size=256, crops_per_image=1)
    assert big.images.shape == (3, 256, 256, 3)


def test_photo_images_whole_and_channel_conversion():
    train = data.photo_images("train")
    test = data.photo_images("test")
    assert len(train) + len(test) == len(data.PHOTO_NAMES) and len(test) == 3
    assert all(im.ndim == 3 and im.shape[-1] == 3 and im.dtype == np.float32 for im in train)
    assert len({im.shape for im in train}) > 1
    gray = data.photo_images("test", channels=1)
    assert all(im.shape[-1] == 1 for im in gray)
    # chelsea is RGB: gray is its BT.601 luma
    luma = test[0] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    np.testing.assert_allclose(gray[0][..., 0], luma, atol=1e-5)
    coins = test[1]  # a gray photo replicated to RGB
    np.testing.assert_array_equal(coins[..., 0], coins[..., 1])


def test_faces():
    faces = data.load("faces")
    assert faces.images.shape == (80, 25, 25, 1) and faces.labels is None
    both = data.load("faces", split="all", nonfaces=True, image_size=32)
    assert both.images.shape == (200, 32, 32, 1) and both.num_classes == 2
    assert np.bincount(both.labels).tolist() == [100, 100]


# === load() errors and ImageSet helpers ===


def test_load_rejects_bad_arguments_with_one_line_errors(tmp_path):
    cases = [
        (("digitz",), {}, "did you mean digits"),
        (("digits",), {"split": "valid"}, "unknown split"),
        (("digits",), {"channels": 2}, "channels must be 1 or 3"),
        (("digits",), {"limit": 0}, "limit"),
        (("digits",), {"image_size": "big"}, "image_size"),
        (("shapes",), {"crops_per_image": 3}, "does not take option"),
        ((str(tmp_path / "nothing"),), {}, "unknown dataset"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ZooError, match=message) as info:
            data.load(*args, **kwargs)
        assert "\n" not in str(info.value)


def test_imageset_helpers(digits_train):
    held_rest, held = digits_train.split_off(0.25, seed=1)
    assert len(held_rest) + len(held) == len(digits_train)
    assert len(digits_train.take(10)) == 10
    assert digits_train.subset([3, 1]).labels.tolist() == digits_train.labels[[3, 1]].tolist()
    assert sorted(digits_train.shuffled(1).labels.tolist()) == sorted(digits_train.labels.tolist())
    assert "digits/train: 1438 images 32x32x1" in digits_train.summary()
    with pytest.raises(ZooError):
        data.ImageSet(images=np.zeros((2, 4, 4, 2)))
    with pytest.raises(ZooError):
        data.ImageSet(images=np.zeros((2, 4, 4, 1)), masks=np.zeros((2, 4, 5)))


def test_batch_resize_matches_pillow_per_image():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 17, 23, 2)).astype(np.float32)
    for method in ("bilinear", "bicubic"):
        for size in ((8, 9), (40, 31)):
            batch = _image.resize(images, size, method)
            single = np.stack([_image.resize_image(im, size, method) for im in images])
            np.testing.assert_allclose(batch, single, atol=1e-5)


# === Folder ===


def _save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


@pytest.fixture
def mixed_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "mixed"
    _save(root / "gray.png", rng.integers(0, 256, (20, 30), dtype=np.uint8))
    _save(root / "sub" / "rgb.jpg", rng.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    rgba = rng.integers(0, 256, (24, 24, 4), dtype=np.uint8)
    rgba[..., 3] = 0  # fully transparent: white after compositing
    _save(root / "sub" / "deeper" / "rgba.png", rgba)
    _save(root / "palette.gif", rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"junk")
    return root


def test_folder_skips_unreadable_and_converts_sizes_and_channels(mixed_folder):
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        loaded = data.load(str(mixed_folder), split="all", image_size=16)
    assert loaded.images.shape == (4, 16, 16, 3) and loaded.skipped == 1
    assert loaded.images.dtype == np.float32
    assert loaded.images.min() >= 0.0 and loaded.images.max() <= 1.0
    assert loaded.labels is None and loaded.masks is None
    # the transparent RGBA image (sorted after palette.gif and gray.png) composites to white
    np.testing.assert_allclose(loaded.images[2], 1.0)
    with warnings.catch_warnings():  # with a limit, the corrupt file may not be reached
        warnings.simplefilter("ignore")
        gray = data.load(str(mixed_folder), split="all", image_size=(12, 20), channels=1, limit=2)
    assert gray.images.shape == (2, 12, 20, 1)


def test_folder_with_mixed_sizes_needs_image_size(mixed_folder):
    with pytest.warns(UserWarning), pytest.raises(ZooError, match="pass image_size"):
        data.load(str(mixed_folder), split="all")


def test_folder_of_one_size_keeps_it_and_gray_stays_gray(tmp_path):
    for i in range(3):
        _save(tmp_path / f"{i}.png", np.full((10, 12), 60 * i, dtype=np.uint8))
    _save(tmp_path / "wide.png", (np.arange(12, dtype=np.uint16) * 5000)[None].repeat(10, 0))
    loaded = data.load(str(tmp_path))
    assert loaded.images.shape == (4, 10, 12, 1) and loaded.skipped == 0
    np.testing.assert_allclose(loaded.images[2], 120 / 255, atol=1e-6)
    np.testing.assert_allclose(loaded.images[3, 0, -1, 0], 55000 / 65535, atol=1e-6)


def test_empty_or_unreadable_folder_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ZooError, match="no image files"):
        data.load(str(empty))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"garbage")
    (bad / "b.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="skipped 2"), pytest.raises(ZooError, match="no readable"):
        data.load(str(bad))


def test_folder_class_subfolders_give_labels(tmp_path):
    for cls, value in (("cat", 10), ("dog", 200)):
        for i in range(2):
            _save(tmp_path / cls / f"{i}.png", np.full((8, 8, 3), value, dtype=np.uint8))
    loaded = data.load(str(tmp_path), split="all")
    assert loaded.class_names == ("cat", "dog") and loaded.num_classes == 2
    assert loaded.labels.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(loaded.images[loaded.labels == 1], 200 / 255)


def test_folder_images_and_masks(tmp_path):
    for i in range(3):
        image = np.zeros((12, 16, 3), dtype=np.uint8)
        image[2:6, 3:9] = 255
        mask = np.zeros((12, 16), dtype=np.uint8)
        mask[2:6, 3:9] = i + 1
        _save(tmp_path / "images" / f"{i}.jpg", image)
        _save(tmp_path / "masks" / f"{i}.png", mask)
    _save(tmp_path / "images" / "no_mask.png", np.zeros((12, 16, 3), dtype=np.uint8))
    with pytest.warns(UserWarning, match="skipped 1"):
        loaded = data.load(str(tmp_path), image_size=(6, 8))
    assert loaded.masks.shape == (3, 6, 8) and loaded.num_classes == 4
    assert set(np.unique(loaded.masks[2])) == {0, 3}
    images, masks = data.segmentation_pairs(loaded)
    assert images.shape[:3] == masks.shape


def test_folder_split_folders_and_hash_split(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for i in range(n):
            _save(tmp_path / "split" / split / f"{i}.png", np.zeros((5, 5), dtype=np.uint8))
    assert len(data.load(str(tmp_path / "split"))) == 3
    assert len(data.load(str(tmp_path / "split"), split="test")) == 2
    assert len(data.load(str(tmp_path / "split"), split="all")) == 5
    for split, classes in (("train", ("a", "b")), ("test", ("b",))):
        for cls in classes:
            _save(tmp_path / "cls" / split / cls / "0.png", np.zeros((5, 5), dtype=np.uint8))
    assert data.load(str(tmp_path / "cls")).labels.tolist() == [0, 1]
    only_b = data.load(str(tmp_path / "cls"), split="test")
    assert only_b.labels.tolist() == [1] and only_b.class_names == ("a", "b")
    for i in range(40):
        _save(tmp_path / "flat" / f"{i:02d}.png", np.full((4, 4), i, dtype=np.uint8))
    train = data.load(str(tmp_path / "flat"))
    test = data.load(str(tmp_path / "flat"), split="test")
    assert len(train) + len(test) == 40 and 0 < len(test) < 12
    seen = np.concatenate([train.images[:, 0, 0, 0], test.images[:, 0, 0, 0]])
    assert len(np.unique(seen)) == 40


# === keras.datasets cache ===


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _write_cifar_batch(path, images, labels):
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {b"data": images.transpose(0, 3, 1, 2).reshape(len(images), -1), b"labels": labels}
    with open(path, "wb") as f:
        pickle.dump(batch, f)


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home / "datasets"


def test_mnist_from_the_keras_cache(keras_home):
    rng = np.random.default_rng(0)
    keras_home.mkdir(parents=True)
    x_train = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    y_train = np.arange(30, dtype=np.uint8) % 10
    x_test = np.full((5, 28, 28), 255, dtype=np.uint8)
    y_test = np.arange(5, dtype=np.uint8)
    np.savez(
        keras_home / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test
    )
    train = data.load("mnist")
    assert train.images.shape == (30, 28, 28, 1) and train.images.dtype == np.float32
    np.testing.assert_allclose(train.images[..., 0], x_train / 255.0, atol=1e-6)
    assert train.labels.tolist() == y_train.tolist() and train.num_classes == 10
    test = data.load("mnist", split="test", image_size=32, channels=3)
    assert test.images.shape == (5, 32, 32, 3)
    np.testing.assert_allclose(test.images, 1.0, atol=1e-5)
    assert len(data.load("mnist", split="all", limit=7)) == 7


def test_fashion_mnist_from_the_keras_cache(keras_home):
    folder = keras_home / "fashion-mnist"
    images = np.arange(4 * 28 * 28, dtype=np.int64).reshape(4, 28, 28) % 256
    _write_idx(folder / "train-images-idx3-ubyte.gz", images)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.array([9, 0, 3, 3]))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:2])
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([1, 2]))
    train = data.load("fashion_mnist")
    assert train.images.shape == (4, 28, 28, 1) and train.labels.tolist() == [9, 0, 3, 3]
    np.testing.assert_allclose(train.images[..., 0], images / 255.0, atol=1e-6)
    assert train.class_names[9] == "ankle boot"
    assert data.load("fashion_mnist", split="test").labels.tolist() == [1, 2]


@pytest.mark.parametrize(
    "layout", ["cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py"]
)
def test_cifar10_from_the_keras_cache(keras_home, layout):
    rng = np.random.default_rng(0)
    folder = keras_home / layout
    batches = []
    for i in range(1, 6):
        images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
        batches.append(images)
        _write_cifar_batch(folder / f"data_batch_{i}", images, [i, i, i])
    _write_cifar_batch(folder / "test_batch", batches[0][:2], [7, 8])
    train = data.load("cifar10")
    assert train.images.shape == (15, 32, 32, 3)
    np.testing.assert_allclose(train.images, np.concatenate(batches) / 255.0, atol=1e-6)
    assert train.labels.tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]
    gray = data.load("cifar10", split="test", channels=1, image_size=16)
    assert gray.images.shape == (2, 16, 16, 1) and gray.class_names[7] == "horse"


def test_cifar_pickle_refuses_other_globals(keras_home):
    folder = keras_home / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": types.SimpleNamespace(), b"labels": []}, f)
    with pytest.raises(ZooError, match="unreadable"):
        data.load("cifar10", split="test")


def _fake_keras(monkeypatch, load_data):
    fake = types.ModuleType("keras")
    fake.datasets = types.SimpleNamespace(mnist=types.SimpleNamespace(load_data=load_data))
    monkeypatch.setitem(sys.modules, "keras", fake)


def test_uncached_keras_set_offline_fails_fast_with_one_line(keras_home, monkeypatch):
    seen_timeout = []

    def offline():
        seen_timeout.append(socket.getdefaulttimeout())
        raise OSError("[Errno -3] Temporary failure in name resolution\nmore")

    _fake_keras(monkeypatch, offline)
    before = socket.getdefaulttimeout()
    start = time.monotonic()
    with pytest.raises(ZooError) as info:
        data.load("mnist")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "mnist is not cached in" in message and "could not be downloaded (offline?)" in message
    assert "name resolution" in message and "\n" not in message
    assert seen_timeout == [data.keras_datasets.DOWNLOAD_TIMEOUT_S]
    assert socket.getdefaulttimeout() == before
    with pytest.raises(ZooError, match="not cached"):
        data.load("mnist", download=False)


def test_uncached_keras_set_uses_the_download(keras_home, monkeypatch):
    x = np.zeros((3, 28, 28), dtype=np.uint8)
    _fake_keras(monkeypatch, lambda: ((x, np.array([1, 2, 3])), (x[:1], np.array([4]))))
    assert data.load("mnist").labels.tolist() == [1, 2, 3]


# === TFDS ===


def test_tfds_without_the_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ZooError, match="install tensorflow-datasets to use tfds:mnist"):
        data.load("tfds:mnist")


def test_tfds_examples_become_an_imageset(monkeypatch):
    calls = {}

    def fake_load(name, split, with_info, shuffle_files, data_dir):
        calls.update(name=name, split=split)
        examples = [
            {"image": np.full((10, 12, 3), 51 * i, dtype=np.uint8), "label": i} for i in range(3)
        ]
        info = types.SimpleNamespace(
            features={"label": types.SimpleNamespace(names=["a", "b", "c"], num_classes=3)}
        )
        return examples, info

    fake = types.ModuleType("tensorflow_datasets")
    fake.load = fake_load
    fake.as_numpy = lambda dataset: dataset
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)
    loaded = data.load("tfds:toy", image_size=8, limit=3)
    assert calls == {"name": "toy", "split": "train[:3]"}
    assert loaded.images.shape == (3, 8, 8, 3) and loaded.labels.tolist() == [0, 1, 2]
    assert loaded.class_names == ("a", "b", "c") and loaded.name == "tfds:toy"
    np.testing.assert_allclose(loaded.images[2], 102 / 255, atol=1e-6)

    def broken(*args, **kwargs):
        raise RuntimeError("Dataset toy not found in data_dir")

    fake.load = broken
    with pytest.raises(ZooError, match="tfds:toy could not be loaded: Dataset toy not found"):
        data.load("tfds:toy")


# === Task pairs ===


def test_super_resolution_pairs_shapes_and_constant_images():
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 1, (4, 50, 37, 3)).astype(np.float32)
    lr, hr_cropped = data.super_resolution_pairs(hr, 3)
    assert lr.shape == (4, 16, 12, 3) and hr_cropped.shape == (4, 48, 36, 3)
    assert lr.dtype == np.float32 and lr.min() >= 0 and lr.max() <= 1
    np.testing.assert_allclose(lr * 255, np.round(lr * 255), atol=1e-4)  # 8-bit levels
    constant = np.full((2, 24, 24, 1), 0.4, dtype=np.float32)
    lr_c, _ = data.super_resolution_pairs(constant, 4, quantize=False)
    np.testing.assert_allclose(lr_c, 0.4, atol=1e-5)
    lr_list, hr_list = data.super_resolution_pairs([hr[0], hr[1, :20, :31]], 2)
    assert [x.shape for x in lr_list] == [(25, 18, 3), (10, 15, 3)]
    assert [x.shape for x in hr_list] == [(50, 36, 3), (20, 30, 3)]
    with pytest.raises(ZooError):
        data.super_resolution_pairs(hr, 0)


def test_bicubic_downscale_is_antialiased():
    stripes = np.zeros((1, 64, 64, 1), dtype=np.float32)
    stripes[:, :, ::2] = 1.0  # highest frequency: an antialiased x4 reduction gives ~flat gray
    lr, _ = data.super_resolution_pairs(stripes, 4, quantize=False)
    assert abs(lr.mean() - 0.5) < 0.02 and lr.std() < 0.02


def test_ycbcr_conversions():
    rgb = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    y = data.rgb_to_y(rgb)
    np.testing.assert_allclose(y[:2, 0], [16 / 255, 235 / 255], atol=1e-6)
    np.testing.assert_allclose(data.rgb_to_y(np.array([[0.5]])), 16 / 255 + 219 / 255 * 0.5)
    ycbcr = data.rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycbcr[:, 0], y[:, 0], atol=1e-6)
    np.testing.assert_allclose(ycbcr[1, 1:], 128 / 255, atol=1e-5)
    np.testing.assert_allclose(data.ycbcr_to_rgb(ycbcr), rgb, atol=1e-5)


def test_noisy_pairs_noise_level():
    clean = np.full((8, 32, 32, 1), 0.5, dtype=np.float32)
    noisy, same = data.noisy_pairs(clean, 25, seed=1)
    assert same is clean or np.array_equal(same, clean)
    assert abs((noisy - clean).std() - 25 / 255) < 0.003
    assert noisy.min() >= 0 and noisy.max() <= 1
    np.testing.assert_array_equal(noisy, data.noisy_pairs(clean, 25, seed=1)[0])
    assert not np.array_equal(noisy, data.noisy_pairs(clean, 25, seed=2)[0])


def test_blur_kernels_sum_to_one_and_motion_is_a_line():
    for kernel in (
        data.blur_kernel("gaussian", sigma=2.0),
        data.blur_kernel("motion", length=7, angle=30),
        data.blur_kernel("box", size=3),
        data.blur_kernel("disk", radius=2.5),
    ):
        assert kernel.dtype == np.float32 and kernel.shape[0] == kernel.shape[1]
        assert kernel.shape[0] % 2 == 1
        assert abs(kernel.sum() - 1.0) < 1e-6 and kernel.min() >= 0
    gaussian = data.blur_kernel("gaussian", sigma=1.5)
    assert gaussian.shape == (11, 11)
    np.testing.assert_allclose(gaussian, gaussian.T, atol=1e-8)
    horizontal = data.blur_kernel("motion", length=9, angle=0)
    assert horizontal.shape == (9, 9)
    np.testing.assert_allclose(horizontal[4], 1 / 9, atol=1e-6)
    assert np.count_nonzero(horizontal) == 9
    vertical = data.blur_kernel("motion", length=5, angle=90)
    assert np.count_nonzero(vertical) == 5 and np.count_nonzero(vertical[:, 2]) == 5
    diagonal = data.blur_kernel("motion", length=5, angle=45)
    anti = np.fliplr(diagonal)
    assert np.trace(anti) > 0.9 * diagonal.sum()
    with pytest.raises(ZooError, match="unknown blur kernel"):
        data.blur_kernel("swirl")


def test_blurred_pairs_convolve_with_reflected_borders():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 20, 24, 2)).astype(np.float32)
    kernel = np.zeros((5, 5), dtype=np.float32)
    kernel[1, 3], kernel[2, 2], kernel[4, 0] = 0.5, 0.3, 0.2  # asymmetric: checks the flip
    blurred, sharp = data.blurred_pairs(images, kernel)
    expected = ndimage.convolve(images[1, ..., 1], kernel, mode="reflect")
    np.testing.assert_allclose(blurred[1, ..., 1], expected, atol=1e-5)
    np.testing.assert_array_equal(sharp, images)
    constant = np.full((2, 16, 16, 3), 0.3, dtype=np.float32)
    flat, _ = data.blurred_pairs(constant, data.blur_kernel("motion", length=9, angle=20))
    np.testing.assert_allclose(flat, 0.3, atol=1e-5)
    kernels = [data.blur_kernel("gaussian", sigma=1), data.blur_kernel("motion", length=5)]
    noisy, _, chosen = data.blurred_pairs(
        images, kernels, noise_sigma=5, seed=3, return_kernels=True
    )
    assert chosen.shape == (3,) and set(chosen) <= {0, 1}
    assert noisy.min() >= 0 and noisy.max() <= 1


def test_segmentation_pairs_need_masks(digits_train):
    with pytest.raises(ZooError, match="dataset digits has no masks; segmentation needs"):
        data.segmentation_pairs(digits_train)
    shapes = data.load("shapes", count=3, image_size=16)
    images, masks = data.segmentation_pairs(shapes)
    assert images.shape == (3, 16, 16, 3) and masks.shape == (3, 16, 16)
    labels, targets = data.translation_pairs(shapes)
    assert labels.shape == targets.shape


def test_random_crops_deterministic():
    image = np.random.default_rng(0).uniform(0, 1, (30, 40, 3)).astype(np.float32)
    a = data.random_crops([image, image[:10]], 12, 3, seed=4)
    b = data.random_crops([image, image[:10]], 12, 3, seed=4)
    assert a.shape == (6, 12, 12, 3)
    np.testing.assert_array_equal(a, b)


def test_random_crops_warn_when_an_image_is_far_smaller_than_the_crop():
    image = np.random.default_rng(0).uniform(0, 1, (30, 40, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.random_crops([image[:7]], 12, 1)  # under 2x: no word
    with pytest.warns(UserWarning, match=r"image of 1x1 was enlarged over 2x .* 12x12 crops"):
        crops = data.random_crops([image[:1, :1]], 12, 1)
    assert np.ptp(crops, axis=(1, 2)).max() < 1e-6, "a 1x1 image gives flat crops"


def test_super_resolution_crops_are_cut_from_the_whole_image_pair():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (60, 75, 1)).astype(np.float32)
    lr, hr = data.super_resolution_crops([image], 3, 24, 6, seed=0)
    assert lr.shape == (6, 8, 8, 1) and hr.shape == (6, 24, 24, 1)
    (whole_lr,), (whole_hr,) = data.super_resolution_pairs([image], 3)
    windows = np.lib.stride_tricks.sliding_window_view(whole_lr[..., 0], (8, 8))
    for lr_crop, hr_crop in zip(lr, hr, strict=True):
        found = np.argwhere((windows == lr_crop[..., 0]).all(axis=(2, 3)))
        assert len(found) == 1, "each low-resolution crop is a window of the whole image's"
        top, left = found[0] * 3
        np.testing.assert_array_equal(hr_crop, whole_hr[top : top + 24, left : left + 24])
    # Downscaling a crop on its own gets its border pixels wrong; the whole-image pair does not.
    alone, _ = data.super_resolution_pairs(hr, 3)
    np.testing.assert_array_equal(alone[:, 2:-2, 2:-2], lr[:, 2:-2, 2:-2])
    assert np.abs(alone - lr).max() > 2 / 255


def test_super_resolution_crops_rescale_copies_and_small_images():
    rng = np.random.default_rng(2)
    images = [rng.uniform(0, 1, (40, 50, 1)).astype(np.float32), np.full((10, 12, 1), 0.5)]
    lr, hr = data.super_resolution_crops(images, 2, 16, 5, rescales=(1.0, 0.5), seed=3)
    assert lr.shape == (10, 8, 8, 1) and hr.shape == (10, 16, 16, 1)
    np.testing.assert_allclose(hr[5:], 0.5, atol=1e-6)  # the small image, enlarged to cover
    again = data.super_resolution_crops(images, 2, 16, 5, rescales=(1.0, 0.5), seed=3)
    np.testing.assert_array_equal(again[0], lr)
    for bad in ({"patch_size": 1}, {"per_image": 0}, {"rescales": ()}, {"rescales": (0.0,)}):
        arguments = {"patch_size": 16, "per_image": 5, **bad}
        with pytest.raises(ZooError, match="super-resolution crops"):
            data.super_resolution_crops(
                images,
                2,
                arguments["patch_size"],
                arguments["per_image"],
                rescales=bad.get("rescales", (1.0,)),
            )


def test_whole_images_of_a_folder_split_and_of_a_dataset(tmp_path):
    for i in range(40):
        _save(tmp_path / "flat" / f"{i:02d}.png", np.full((4 + i, 5, 3), i, dtype=np.uint8))
    train, train_names = data.whole_images(str(tmp_path / "flat"), split="train")
    test, test_names = data.whole_images(str(tmp_path / "flat"), split="test")
    every, _ = data.whole_images(str(tmp_path / "flat"))
    assert len(train) + len(test) == len(every) == 40 and 0 < len(test) < 12
    assert sorted(train_names + test_names) == [f"{i:02d}.png" for i in range(40)]
    assert {im.shape[0] for im in every} == set(range(4, 44)), "each image keeps its size"
    assert data.image_files(tmp_path / "flat", "test") == [
        tmp_path / "flat" / n for n in test_names
    ]
    photos, names = data.whole_images("photos", split="test", limit=2)
    assert names == list(data.PHOTO_TEST[:2]) and photos[0].ndim == 3
    (tmp_path / "flat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ZooError, match=r"cannot read image .*broken\.png"):
        data.whole_images(str(tmp_path / "flat"))


def test_whole_images_of_a_folder_decode_one_at_a_time(tmp_path):
    for i in range(3):
        _save(tmp_path / f"{i}.png", np.full((8, 8 + i, 3), 40 * i, dtype=np.uint8))
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    _save(tmp_path / "1.png", noise)
    complete = (tmp_path / "1.png").read_bytes()
    (tmp_path / "1.png").write_bytes(complete[: len(complete) // 2])  # header intact, data cut
    images, names = data.whole_images(str(tmp_path))
    assert isinstance(images, data.ImageFiles) and len(images) == 3, "nothing decoded yet"
    assert images[2].shape == (8, 10, 3) and images[0].max() == 0
    assert len(images[1:]) == 2 and names == ["0.png", "1.png", "2.png"]
    with pytest.raises(ZooError, match=r"cannot read image .*1\.png"):
        images[1]


def test_iter_folder_gives_load_folders_images_a_chunk_at_a_time(tmp_path):
    for i in range(7):
        _save(tmp_path / "images" / f"{i}.png", np.full((10 + i, 12, 3), 30 * i, dtype=np.uint8))
        _save(tmp_path / "masks" / f"{i}.png", np.full((10 + i, 12), i % 3, dtype=np.uint8))
    (tmp_path / "images" / "7.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="skipped 1"):
        whole = data.load_folder(tmp_path, split="all", image_size=8, channels=3)
    with pytest.warns(UserWarning, match="skipped 1"):
        chunks = list(data.iter_folder(tmp_path, split="all", image_size=8, channels=3, chunk=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([c.images for c in chunks]), whole.images)
    np.testing.assert_array_equal(np.concatenate([c.masks for c in chunks]), whole.masks)
