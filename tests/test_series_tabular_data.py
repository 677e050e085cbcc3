"""Series and table datasets: ground truth where the generator put it, real sets read offline, the
common 4-D layout (modality, feature_names) and its storage round trip."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from xaibench.datasets import ImageDataset, load_dataset, make_dataset, save_dataset
from xaibench.datasets.series import motif_templates
from xaibench.datasets.tabular import feature_kinds

SMALL = {"n_train": 60, "n_val": 10, "n_test": 30}


@pytest.fixture(scope="module")
def tsfile():
    """sktime's ``load_from_tsfile`` (sktime is slow to import: once per module)."""
    return pytest.importorskip("sktime.datasets").load_from_tsfile


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---------------------------------------------------------------- motif_series


def test_noise_free_motif_lies_exactly_in_the_mask():
    ds = make_dataset("motif_series", seed=1, noise=0.0, n_distractors=0, **SMALL)
    n, length = len(ds.labels), 128
    assert ds.modality == "series" and ds.images.shape == (n, 1, 1, length) and ds.images.dtype == np.float32
    assert ds.masks.shape == (n, 1, 1, length) and ds.masks.dtype == bool
    assert ds.shape == {"in_channels": 1, "image_size": length, "num_classes": 2}
    x, mask = ds.images[:, 0, 0].astype(np.float64), ds.masks[:, 0, 0]
    start, m = ds.params["motif_start"], ds.params["motif_length"]
    assert (m == 16).all() and start.min() >= 0 and (start + m).max() <= length
    expected_mask = (np.arange(length) >= start[:, None]) & (np.arange(length) < (start + m)[:, None])
    np.testing.assert_array_equal(mask, expected_mask)
    # the baseline (raw 0) is one constant value everywhere outside the mask, and never inside it
    baseline = x[~mask]
    assert np.ptp(baseline) < 1e-6
    base = baseline[0]
    assert (np.abs(x[mask] - base) > 1e-3).all()
    # inside the mask: the class's template, up to the (positive) scale of the min-max scaling
    templates = motif_templates(16, 3.0)
    inside = (x[mask] - base).reshape(n, 16)
    scale = inside / templates[ds.labels]
    np.testing.assert_allclose(scale, scale[0, 0], rtol=1e-5)
    assert scale[0, 0] > 0
    # equal energy: the classes differ in shape, not in the sum of squares
    np.testing.assert_allclose((templates**2).sum(axis=1), 8.0)
    # the train split spans exactly [0, 1]
    train = ds.indices("train")
    assert x[train].min() == 0.0 and x[train].max() == 1.0


def test_distractors_avoid_the_motif_and_carry_their_sign():
    ds = make_dataset("motif_series", seed=2, noise=0.0, n_distractors=3, **SMALL)
    x, mask = ds.images[:, 0, 0].astype(np.float64), ds.masks[:, 0, 0]
    d_start, d_sign = ds.params["distractor_start"], ds.params["distractor_sign"]
    assert d_start.shape == (len(x), 3) and set(np.unique(d_sign)) == {-1.0, 1.0}
    spans = np.zeros_like(mask)
    for j in range(3):
        spans |= (np.arange(128) >= d_start[:, j, None]) & (np.arange(128) < d_start[:, j, None] + 5)
    assert not (spans & mask).any()  # no distractor touches the motif
    clean = x[~(spans | mask)]
    assert np.ptp(clean) < 1e-6  # everything else is the baseline
    base = clean[0]
    off = np.abs(x - base) > 1e-6
    assert not (off & ~(spans | mask)).any()
    n_alone = 0
    for i in range(len(x)):
        for j in range(3):
            if (np.abs(np.delete(d_start[i], j) - d_start[i, j]) >= 5).all():
                # a triangle overlapping no other (overlapping ones may cancel): all of it off the
                # baseline, with the drawn sign
                n_alone += 1
                assert off[i, d_start[i, j] : d_start[i, j] + 5].all()
                assert np.sign(x[i, d_start[i, j] + 2] - base) == d_sign[i, j]
    assert n_alone > 200


def test_class_difference_is_concentrated_in_the_mask():
    ds = make_dataset("motif_series", seed=3, n_train=400, n_val=0, n_test=0)
    x, start = ds.images[:, 0, 0].astype(np.float64), ds.params["motif_start"]
    rows = np.arange(len(x))[:, None]
    aligned = x[rows, start[:, None] + np.arange(16)]
    # a window of the same length that never overlaps the motif
    other = np.where(start >= 16, 0, 128 - 16)
    elsewhere = x[rows, other[:, None] + np.arange(16)]
    y = ds.labels
    gap_in = np.linalg.norm(aligned[y == 0].mean(0) - aligned[y == 1].mean(0))
    gap_out = np.linalg.norm(elsewhere[y == 0].mean(0) - elsewhere[y == 1].mean(0))
    assert gap_in > 10 * gap_out
    # a nearest-template rule on the aligned window is (almost) always right: the classes are separable
    templates = motif_templates(16, 3.0)
    centred = aligned - aligned.mean(axis=1, keepdims=True)
    score = centred @ (templates - templates.mean(axis=1, keepdims=True)).T
    assert (score.argmax(axis=1) == y).mean() > 0.95


def test_motif_series_is_deterministic_and_seeded():
    a = make_dataset("motif_series", seed=5, **SMALL)
    b = make_dataset("motif_series", seed=5, chunk=7, **SMALL)  # chunking does not change the draws
    c = make_dataset("motif_series", seed=6, **SMALL)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    assert not np.array_equal(a.images, c.images)
    assert [len(a.indices(s)) for s in ("train", "val", "test")] == [60, 10, 30]
    assert [np.bincount(a.labels[a.indices(s)]).tolist() for s in ("train", "test")] == [[30, 30], [15, 15]]
    assert a.images.min() >= 0 and a.images.max() <= 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"length": 8}, "length"),
        ({"n_train": -1}, "n_train"),
        ({"motif_length": 2}, "motif_length"),
        ({"noise": -0.1}, "noise"),
        ({"cycles": 9}, "cycles"),
        ({"length": 18, "distractor_length": 5}, "distractor_length"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_motif_series_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        make_dataset("motif_series", seed=0, **{**SMALL, **params})


# ---------------------------------------------------------------- ucr


def test_gunpoint_keeps_the_archive_and_carves_val_from_train(tsfile, offline):
    from xaibench.datasets.series import ucr_archive_path

    ds = make_dataset("ucr", seed=0, name="GunPoint", n_val=12)
    assert ds.modality == "series" and ds.images.shape == (200, 1, 1, 150) and ds.masks is None
    assert ds.class_names == ["1", "2"] and ds.shape["image_size"] == 150
    assert [len(ds.indices(s)) for s in ("train", "val", "test")] == [38, 12, 150]
    assert (ds.split[:50] != 2).all() and (ds.split[50:] == 2).all()  # val comes from the archive's train
    assert ds.images.min() == 0.0 and ds.images.max() <= 1.0 and ds.images[ds.indices("train")].max() == 1.0
    x_train, y_train = tsfile(ucr_archive_path("GunPoint", "TRAIN"), return_data_type="numpy3d")
    x_test, y_test = tsfile(ucr_archive_path("GunPoint", "TEST"), return_data_type="numpy3d")
    np.testing.assert_array_equal(ds.labels, [int(v) - 1 for v in [*y_train, *y_test]])
    raw = np.concatenate([x_train, x_test])[:, 0]
    train = raw[ds.indices("train")]
    lo, hi = train.min(), train.max()
    np.testing.assert_allclose(ds.images[:, 0, 0], np.clip((raw - lo) / (hi - lo), 0, 1), atol=1e-6)
    again = make_dataset("ucr", seed=0, name="GunPoint", n_val=12)
    other = make_dataset("ucr", seed=1, name="GunPoint", n_val=12)
    np.testing.assert_array_equal(again.split, ds.split)
    assert not np.array_equal(other.split, ds.split)
    default = make_dataset("ucr", seed=0, name="GunPoint")
    assert len(default.indices("val")) == 10  # 20% of the 50 archive training series


def test_basic_motions_has_six_channels_scaled_each(tsfile, offline):
    ds = make_dataset("ucr", seed=0, name="BasicMotions")
    assert ds.images.shape == (80, 6, 1, 100) and ds.shape["in_channels"] == 6
    assert ds.class_names == ["badminton", "running", "standing", "walking"]
    train = ds.images[ds.indices("train")]
    np.testing.assert_array_equal(train.min(axis=(0, 2, 3)), 0.0)
    np.testing.assert_array_equal(train.max(axis=(0, 2, 3)), 1.0)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"name": "Coffee"}, "GunPoint"), ({"n_val": 26}, "n_val"), ({"n_val": -1}, "n_val")],
)
def test_ucr_bad_parameters_are_named(tsfile, params, message):
    with pytest.raises(ValueError, match=message):
        make_dataset("ucr", seed=0, **params)


# ---------------------------------------------------------------- informative_table


def test_informative_table_masks_exactly_the_informative_columns():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    ds = make_dataset("informative_table", seed=4, n_train=600, n_val=100, n_test=300)
    n = 1000
    assert ds.modality == "table" and ds.images.shape == (n, 1, 1, 20) and ds.masks.shape == (n, 1, 1, 20)
    assert ds.shape == {"in_channels": 1, "image_size": 20, "num_classes": 2}
    x_raw, y_raw = make_classification(
        n_samples=n, n_features=20, n_informative=5, n_redundant=2, n_classes=2, class_sep=1.0,
        flip_y=0.0, shuffle=False, random_state=4,
    )  # fmt: skip
    offsets = {"informative": 0, "redundant": 5, "noise": 7}
    source_col = [
        offsets[k] + int(name.rsplit("_", 1)[1])
        for k, name in zip(feature_kinds(ds.feature_names), ds.feature_names, strict=True)
    ]
    assert sorted(source_col) == list(range(20))  # a permutation of sklearn's columns
    rows = ds.params["source_index"]
    assert sorted(rows) == list(range(n))
    np.testing.assert_array_equal(ds.labels, y_raw[rows])
    x = x_raw[rows][:, source_col]
    train = ds.indices("train")
    lo, hi = x[train].min(axis=0), x[train].max(axis=0)
    np.testing.assert_allclose(ds.images[:, 0, 0], np.clip((x - lo) / (hi - lo), 0, 1), atol=1e-6)
    # the mask: the same for every sample, True exactly at the informative columns
    assert (ds.masks == ds.masks[:1]).all()
    np.testing.assert_array_equal(ds.masks[0, 0, 0], np.asarray(source_col) < 5)
    assert feature_kinds(ds.feature_names).count("redundant") == 2
    # rows are shuffled: every split holds both classes in similar proportions
    for s in ("train", "val", "test"):
        assert 0.35 < ds.labels[ds.indices(s)].mean() < 0.65
    # the informative columns alone predict as well as all of them; the noise columns do not
    table, test = ds.images[:, 0, 0], ds.indices("test")
    noise = np.asarray(feature_kinds(ds.feature_names)) == "noise"

    def accuracy(columns: np.ndarray) -> float:
        model = LogisticRegression(max_iter=1000).fit(table[train][:, columns], ds.labels[train])
        return model.score(table[test][:, columns], ds.labels[test])

    everything, informative = accuracy(np.ones(20, bool)), accuracy(ds.masks[0, 0, 0])
    assert informative > everything - 0.03 and informative > 0.7
    assert accuracy(noise) < 0.62


def test_informative_table_is_seeded():
    a = make_dataset("informative_table", seed=1, **SMALL)
    b = make_dataset("informative_table", seed=1, **SMALL)
    c = make_dataset("informative_table", seed=2, **SMALL)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.feature_names == b.feature_names and a.feature_names != c.feature_names
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_informative": 1, "n_classes": 3}, "n_classes"),
        ({"n_features": 4}, "n_features"),
        ({"n_informative": 0}, "n_informative"),
        ({"class_sep": 0}, "class_sep"),
        ({"n_test": -2}, "n_test"),
    ],
)
def test_informative_table_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        make_dataset("informative_table", seed=0, **{**SMALL, **params})


# ---------------------------------------------------------------- sklearn_table


def test_breast_cancer_table(offline):
    from sklearn.datasets import load_breast_cancer

    ref = load_breast_cancer()
    ds = make_dataset("sklearn_table", seed=0, name="breast_cancer")
    assert ds.modality == "table" and ds.images.shape == (569, 1, 1, 30) and ds.masks is None
    assert ds.feature_names == list(ref.feature_names) and ds.class_names == ["malignant", "benign"]
    np.testing.assert_array_equal(ds.labels, ref.target)
    train = ds.indices("train")
    lo, hi = ref.data[train].min(axis=0), ref.data[train].max(axis=0)
    np.testing.assert_allclose(ds.images[:, 0, 0], np.clip((ref.data - lo) / (hi - lo), 0, 1), atol=1e-6)
    # stratified: 20% test and 10% val within each class (212 malignant, 357 benign)
    counts = [np.bincount(ds.labels[ds.indices(s)]).tolist() for s in ("train", "val", "test")]
    assert counts == [[149, 250], [21, 36], [42, 71]]
    other = make_dataset("sklearn_table", seed=1, name="breast_cancer")
    assert not np.array_equal(other.split, ds.split)


def test_wine_table_and_bad_parameters():
    ds = make_dataset("sklearn_table", seed=0, name="wine")
    assert ds.images.shape == (178, 1, 1, 13) and ds.class_names == ["class_0", "class_1", "class_2"]
    with pytest.raises(ValueError, match="breast_cancer"):
        make_dataset("sklearn_table", seed=0, name="titanic")
    with pytest.raises(ValueError, match="test_fraction"):
        make_dataset("sklearn_table", seed=0, test_fraction=1.5)


# ---------------------------------------------------------------- the common layout


@pytest.mark.parametrize(
    ("generator", "params"),
    [("motif_series", SMALL), ("informative_table", SMALL), ("sklearn_table", {"name": "wine"})],
)
def test_round_trip_keeps_modality_and_feature_names(tmp_path, generator, params):
    ds = make_dataset(generator, seed=0, **params)
    path = tmp_path / f"{generator}.npz"
    save_dataset(str(path), ds)
    back = load_dataset(str(path))
    assert back.modality == ds.modality and back.feature_names == ds.feature_names
    saved, loaded = ds.to_arrays(), back.to_arrays()
    assert saved.keys() == loaded.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


def test_old_files_without_modality_load_as_images(tmp_path):
    ds = make_dataset("triangles_squares", seed=0, n_train=4, n_val=0, n_test=0)
    arrays = ds.to_arrays()
    assert str(arrays.pop("modality")) == "image" and "feature_names" not in arrays
    old = ImageDataset.from_arrays(arrays)
    assert old.modality == "image" and old.feature_names is None
    from xaibench.io import save_npz

    save_npz(tmp_path / "old.npz", **arrays)
    back = load_dataset(str(tmp_path / "old.npz"))
    assert back.modality == "image" and back.shape == {"in_channels": 1, "image_size": 32, "num_classes": 2}


def _arrays(shape: tuple[int, ...]) -> dict:
    n = shape[0]
    return {
        "images": np.zeros(shape, np.float32),
        "labels": np.zeros(n, np.int64),
        "split": np.zeros(n, np.int8),
        "class_names": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("shape", "extra", "message"),
    [
        ((2, 1, 1, 5), {"modality": "video"}, "video"),
        ((2, 1, 3, 5), {"modality": "series"}, "series"),
        ((2, 2, 1, 5), {"modality": "table"}, "table"),
        ((2, 1, 1, 5), {"modality": "table", "feature_names": ["a", "b"]}, "feature_names"),
        ((2, 3, 1, 5), {"modality": "series", "feature_names": ["x"]}, "feature_names"),
    ],
)
def test_bad_layouts_are_named(shape, extra, message):
    with pytest.raises(ValueError, match=message):
        ImageDataset(**_arrays(shape), **extra)


def test_series_and_table_shapes():
    series = ImageDataset(**_arrays((2, 3, 1, 40)), modality="series", feature_names=["x", "y", "z"])
    table = ImageDataset(**_arrays((2, 1, 1, 7)), modality="table")
    assert series.shape == {"in_channels": 3, "image_size": 40, "num_classes": 2}
    assert table.shape == {"in_channels": 1, "image_size": 7, "num_classes": 2}
    with pytest.raises(ValueError, match="square"):
        _ = ImageDataset(**_arrays((2, 1, 1, 7))).shape  # a flat image is still not square
