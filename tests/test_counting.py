"""Counting (seed 002's proposal): exact disc masks, k components, balance, determinism, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from xaibench.datasets.counting import counting

SMALL = {"n_train": 300, "n_val": 50, "n_test": 100}


@pytest.fixture(scope="module")
def count_ds():
    return counting(seed=3, **SMALL)


def test_shapes_types_and_range(count_ds):
    n = sum(SMALL.values())
    assert count_ds.images.shape == (n, 1, 32, 32) and count_ds.images.dtype == np.float32
    assert count_ds.masks.shape == count_ds.images.shape and count_ds.masks.dtype == bool
    assert count_ds.images.min() >= 0.0 and count_ds.images.max() <= 1.0
    assert count_ds.class_names == ["1", "2", "3", "4", "5"]
    np.testing.assert_array_equal(count_ds.params["k"], count_ds.labels + 1)
    assert [len(count_ds.indices(s)) for s in ("train", "val", "test")] == [300, 50, 100]
    assert count_ds.params["object_x"].shape == (n, 5)
    assert count_ds.shape == {"in_channels": 1, "image_size": 32, "num_classes": 5}


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (counting(seed=s, n_train=40, n_val=5, n_test=5) for s in (9, 9, 10))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.params["object_x"], b.params["object_x"])
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("structure", [None, np.ones((3, 3))], ids=["4-connected", "8-connected"])
def test_mask_has_exactly_k_components(count_ds, structure):
    n_components = [ndimage.label(m[0], structure=structure)[1] for m in count_ds.masks]
    np.testing.assert_array_equal(n_components, count_ds.params["k"])


def test_mask_area_matches_the_discs(count_ds):
    r = count_ds.params["object_radius"]
    area = count_ds.masks.sum(axis=(1, 2, 3))
    expected = np.nansum(np.pi * r**2, axis=1)
    # pixel-centre sampling of a disc errs by at most about its perimeter band; on average it is unbiased
    assert (np.abs(area - expected) <= np.nansum(2 * r + 1, axis=1)).all()
    assert area.sum() == pytest.approx(expected.sum(), rel=0.02)


def test_mask_is_the_union_of_the_discs_and_the_image_is_drawn_from_it(count_ds):
    p = count_ds.params
    rows, cols = np.mgrid[0:32, 0:32]
    for i in range(0, len(count_ds.images), 7):
        ref = np.zeros((32, 32), dtype=bool)
        for x, y, r in zip(p["object_x"][i], p["object_y"][i], p["object_radius"][i], strict=True):
            if not np.isnan(r):
                ref |= (cols + 0.5 - x) ** 2 + (rows + 0.5 - y) ** 2 <= r**2
        np.testing.assert_array_equal(count_ds.masks[i, 0], ref)
        img, mask = count_ds.images[i, 0], count_ds.masks[i, 0]
        np.testing.assert_allclose(img[mask], p["foreground"][i], rtol=1e-6)
        np.testing.assert_allclose(img[~mask], p["background"][i], rtol=1e-6)


def test_discs_are_similar_separate_and_inside(count_ds):
    p = count_ds.params
    x, y, r = p["object_x"], p["object_y"], p["object_radius"]
    present = ~np.isnan(r)
    np.testing.assert_array_equal(present.sum(axis=1), p["k"])
    assert (r[present] >= 2.0 * 0.9 - 1e-9).all() and (r[present] <= 3.5 * 1.1 + 1e-9).all()
    assert (np.abs(r / p["radius"][:, None] - 1)[present] <= 0.1 + 1e-9).all()
    assert (x - r >= 1.0)[present].all() and (x + r <= 31.0)[present].all()  # edge_margin = 1
    assert (y - r >= 1.0)[present].all() and (y + r <= 31.0)[present].all()
    for i in range(len(r)):
        k = p["k"][i]
        d = np.hypot(x[i, :k, None] - x[i, None, :k], y[i, :k, None] - y[i, None, :k])
        gap = d - r[i, :k, None] - r[i, None, :k]
        assert (gap[~np.eye(k, dtype=bool)] >= 2.0 - 1e-9).all()  # min_gap = 2


def test_classes_are_stratified_per_split():
    ds = counting(seed=0, n_train=500, n_val=50, n_test=100, k_min=2, k_max=6)
    assert ds.class_names == ["2", "3", "4", "5", "6"]
    for split, m in (("train", 500), ("val", 50), ("test", 100)):
        np.testing.assert_array_equal(np.bincount(ds.labels[ds.indices(split)], minlength=5), [m // 5] * 5)
    n_components = [ndimage.label(m[0])[1] for m in ds.masks]
    np.testing.assert_array_equal(n_components, ds.labels + 2)


def test_zero_objects_allowed():
    ds = counting(seed=0, n_train=30, n_val=0, n_test=0, k_min=0, k_max=2)
    empty = ds.params["k"] == 0
    assert empty.sum() == 10 and not ds.masks[empty].any()
    np.testing.assert_allclose(
        ds.images[empty],
        np.broadcast_to(ds.params["background"][empty, None, None, None], ds.images[empty].shape),
        rtol=1e-6,
    )


def test_grey_levels_contrast_and_noise():
    ds = counting(seed=1, n_train=400, n_val=0, n_test=0, min_contrast=0.3)
    assert (np.abs(ds.params["contrast"]) >= 0.3).all()
    np.testing.assert_allclose(ds.params["contrast"], ds.params["foreground"] - ds.params["background"])
    assert (ds.params["contrast"] > 0).any() and (ds.params["contrast"] < 0).any()  # both polarities
    noisy = counting(seed=1, n_train=400, n_val=0, n_test=0, min_contrast=0.3, noise=0.05)
    np.testing.assert_array_equal(noisy.masks, ds.masks)  # noise is drawn after the geometry
    assert noisy.images.min() >= 0.0 and noisy.images.max() <= 1.0
    assert 0.03 < np.abs(noisy.images - ds.images).mean() < 0.05


def test_larger_images():
    ds = counting(seed=2, n_train=50, n_val=0, n_test=0, image_size=48, radius_range=[3, 5], k_max=8)
    assert ds.images.shape == (50, 1, 48, 48) and len(ds.class_names) == 8
    np.testing.assert_array_equal([ndimage.label(m[0])[1] for m in ds.masks], ds.params["k"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"image_size": 4}, "image_size"),
        ({"n_test": 1.5}, "n_test"),
        ({"k_min": -1}, "k_min"),
        ({"k_max": 1, "k_min": 1}, "k_max"),
        ({"radius_range": [3, 2]}, "radius_range"),
        ({"radius_range": [0.5, 2]}, "radius_range"),
        ({"radius_range": [10, 20]}, "radius_range"),
        ({"radius_jitter": 1.2}, "radius_jitter"),
        ({"min_gap": 1.0}, "min_gap"),
        ({"edge_margin": -1}, "edge_margin"),
        ({"min_contrast": 1.0}, "min_contrast"),
        ({"noise": -0.1}, "noise"),
        ({"k_max": 20, "radius_range": [4, 5]}, "cannot place"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        counting(seed=0, **{"n_train": 20, "n_val": 0, "n_test": 0, **params})
