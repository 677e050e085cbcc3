"""Beam profiles (seed 000 §3.3): rendering, anomaly masks, sensor model, balance, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from xaibench.datasets.beam import ANOMALIES, beam_profiles

SMALL = {"n_train": 140, "n_val": 28, "n_test": 42}


@pytest.fixture(scope="module")
def beam():
    return beam_profiles(seed=3, **SMALL)


def _ellipse_q(size, cx, cy, sx, sy, angle):
    """Squared Mahalanobis distance of every pixel centre, one image, written out plainly."""
    rows, cols = np.mgrid[0:size, 0:size]
    x, y = cols + 0.5 - cx, rows + 0.5 - cy
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    return (u / sx) ** 2 + (v / sy) ** 2


def _of(ds, name):
    return np.flatnonzero(ds.params["kind"] == ds.class_names.index(name))


def test_shapes_types_and_range(beam):
    n = sum(SMALL.values())
    assert beam.images.shape == (n, 1, 64, 64) and beam.images.dtype == np.float32
    assert beam.masks.shape == beam.images.shape and beam.masks.dtype == bool
    assert beam.images.min() >= 0.0 and beam.images.max() <= 1.0
    assert beam.class_names == ["normal", *ANOMALIES]
    assert beam.labels.dtype == np.int64 and set(beam.labels) == set(range(7))
    assert [len(beam.indices(s)) for s in ("train", "val", "test")] == [140, 28, 42]
    assert all(len(v) == n for v in beam.params.values())
    assert beam.shape == {"in_channels": 1, "image_size": 64, "num_classes": 7}


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (beam_profiles(seed=s, n_train=30, n_val=5, n_test=5, image_size=32) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.labels, b.labels)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    assert not np.array_equal(a.images, c.images)


def test_classes_are_stratified_per_split():
    ds = beam_profiles(seed=0, n_train=700, n_val=70, n_test=140, image_size=32)
    for split, m in (("train", 700), ("val", 70), ("test", 140)):
        np.testing.assert_array_equal(np.bincount(ds.labels[ds.indices(split)]), [m // 7] * 7)
    weighted = beam_profiles(
        seed=0, n_train=400, n_val=0, n_test=0, image_size=32, anomalies=["blur"], class_weights=[3, 1]
    )
    np.testing.assert_array_equal(np.bincount(weighted.labels), [300, 100])


def test_binary_labels_half_normal():
    ds = beam_profiles(seed=1, n_train=120, n_val=0, n_test=0, image_size=32, binary=True)
    assert ds.class_names == ["normal", "anomaly"]
    np.testing.assert_array_equal(np.bincount(ds.labels), [60, 60])
    np.testing.assert_array_equal(ds.labels, (ds.params["kind"] > 0).astype(int))
    assert set(ds.params["kind"][ds.labels == 1]) == set(range(1, 7))  # every anomaly type occurs


def test_normal_and_blur_masks_are_empty(beam):
    for name in ("normal", "blur"):
        assert not beam.masks[_of(beam, name)].any(), name
    for name in ("elongation", "tilt", "double_spot", "jitter", "saturation"):
        assert beam.masks[_of(beam, name)].any(axis=(1, 2, 3)).all(), name


def test_double_spot_mask_is_the_second_spot(beam):
    p = beam.params
    for i in _of(beam, "double_spot"):
        x, y = p["second_x"][i], p["second_y"][i]
        assert beam.masks[i, 0, int(y), int(x)]  # the pixel holding the second spot's centre
        assert not beam.masks[i, 0, int(p["centre_y"][i]), int(p["centre_x"][i])]  # not the main spot
        q = _ellipse_q(64, x, y, p["sigma_x"][i], p["sigma_y"][i], p["angle"][i])
        np.testing.assert_array_equal(beam.masks[i, 0], q <= 4.0)  # mask_sigma=2: the 2-sigma ellipse
    assert np.isnan(p["second_x"][_of(beam, "normal")]).all()


@pytest.mark.parametrize("name", ["elongation", "tilt", "jitter"])
def test_region_masks_lie_beyond_the_normal_extent(beam, name):
    p = beam.params
    for i in _of(beam, name):
        base = _ellipse_q(
            64, p["centre_x"][i], p["centre_y"][i], p["sigma_x"][i], p["sigma_y"][i], p["angle"][i]
        )
        assert not (beam.masks[i, 0] & (base <= 4.0)).any()
        if name == "elongation":
            sx = p["sigma_x"][i] * p["stretch"][i]
            q = _ellipse_q(64, p["centre_x"][i], p["centre_y"][i], sx, p["sigma_y"][i], p["angle"][i])
            np.testing.assert_array_equal(beam.masks[i, 0], (q <= 4.0) & (base > 4.0))
        if name == "tilt":
            angle = p["angle"][i] + p["tilt"][i]
            q = _ellipse_q(64, p["centre_x"][i], p["centre_y"][i], p["sigma_x"][i], p["sigma_y"][i], angle)
            np.testing.assert_array_equal(beam.masks[i, 0], (q <= 4.0) & (base > 4.0))
        if name == "jitter":  # the union of the copies' ellipses, evenly spread over the smear
            copies = np.linspace(-0.5, 0.5, 5) * p["smear_length"][i]
            union = np.zeros((64, 64), dtype=bool)
            for t in copies:
                x = p["centre_x"][i] + t * np.cos(p["smear_angle"][i])
                y = p["centre_y"][i] + t * np.sin(p["smear_angle"][i])
                union |= _ellipse_q(64, x, y, p["sigma_x"][i], p["sigma_y"][i], p["angle"][i]) <= 4.0
            np.testing.assert_array_equal(beam.masks[i, 0], union & (base > 4.0))


def test_saturation_reaches_the_sensor_max_on_the_mask(beam):
    for i in _of(beam, "saturation"):
        img, mask = beam.images[i, 0], beam.masks[i, 0]
        assert mask.any() and (img[mask] == 1.0).all()
        cy, cx = int(beam.params["centre_y"][i]), int(beam.params["centre_x"][i])
        assert mask[cy, cx]  # the plateau sits on the beam centre
    # normal spots stay below the sensor max (hot pixels aside), so the plateau is what marks saturation
    for i in _of(beam, "normal"):
        cy, cx = int(beam.params["centre_y"][i]), int(beam.params["centre_x"][i])
        assert beam.images[i, 0, cy - 1 : cy + 2, cx - 1 : cx + 2].max() < 1.0


def test_noise_free_image_is_the_analytic_spot():
    quiet = {"photons": None, "dark_noise": 0.0, "hot_pixels": 0.0}
    ds = beam_profiles(seed=2, n_train=40, n_val=0, n_test=0, anomalies=["blur", "saturation"], **quiet)
    p = ds.params
    for i in range(40):
        sx, sy, peak = p["sigma_x"][i], p["sigma_y"][i], p["peak"][i]
        if p["kind"][i] == 1:  # blur: both sigmas wider, same charge
            sx, sy, peak = sx * p["blur"][i], sy * p["blur"][i], peak / p["blur"][i] ** 2
        if p["kind"][i] == 2:
            peak = p["overexposure"][i]
        q = _ellipse_q(64, p["centre_x"][i], p["centre_y"][i], sx, sy, p["angle"][i])
        expected = np.clip(p["pedestal"][i] + peak * np.exp(-0.5 * q), 0, 1)
        np.testing.assert_allclose(ds.images[i, 0], expected, atol=2e-6)
        if p["kind"][i] == 2:
            np.testing.assert_array_equal(ds.masks[i, 0], p["pedestal"][i] + peak * np.exp(-0.5 * q) >= 1.0)


def test_sensor_background_and_noise():
    ds = beam_profiles(seed=4, n_train=200, n_val=0, n_test=0, hot_pixels=0.0, dark_noise=0.02)
    corner = ds.images[:, 0, :8, :8].reshape(200, -1)  # far from the spot: pedestal + dark noise only
    np.testing.assert_allclose(np.median(corner, axis=1), ds.params["pedestal"], atol=0.01)
    assert 0.015 < corner.std(axis=1).mean() < 0.025
    hot = beam_profiles(seed=4, n_train=200, n_val=0, n_test=0, hot_pixels=5.0, dark_noise=0.0)
    assert hot.params["hot_pixels"].mean() == pytest.approx(5.0, rel=0.2)
    # shot noise grows with the signal: residuals around the analytic spot are larger at the peak
    quiet = beam_profiles(
        seed=4, n_train=200, n_val=0, n_test=0, hot_pixels=0.0, dark_noise=0.0, photons=None
    )
    shot = beam_profiles(seed=4, n_train=200, n_val=0, n_test=0, hot_pixels=0.0, dark_noise=0.0, photons=200)
    normal = quiet.params["kind"] == 0
    diff = (shot.images - quiet.images)[normal, 0]
    bright = quiet.images[normal, 0] > quiet.params["pedestal"][normal, None, None] + 0.3
    dim = quiet.images[normal, 0] < quiet.params["pedestal"][normal, None, None] + 0.01
    assert diff[bright].std() > 5 * diff[dim].std()


def test_subset_of_anomalies_and_image_size():
    ds = beam_profiles(
        seed=0, n_train=30, n_val=0, n_test=0, image_size=32, anomalies=["double_spot", "tilt"]
    )
    assert ds.class_names == ["normal", "double_spot", "tilt"]
    assert ds.images.shape == (30, 1, 32, 32)
    assert ds.masks[ds.labels == 1].any(axis=(1, 2, 3)).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"image_size": 8}, "image_size"),
        ({"n_val": -1}, "n_val"),
        ({"anomalies": ["wobble"]}, "anomalies"),
        ({"anomalies": []}, "anomalies"),
        ({"class_weights": [1, 1]}, "class_weights"),
        ({"sigma_x_range": [0.1, 0.05]}, "sigma_x_range"),
        ({"peak_range": [0.5, 1.2]}, "peak_range"),
        ({"anomaly_ranges": {"spin": [1, 2]}}, "anomaly_ranges"),
        ({"anomaly_ranges": {"stretch": [0.5, 2]}}, "anomaly_ranges.stretch"),
        ({"jitter_copies": 1}, "jitter_copies"),
        ({"photons": 0}, "photons"),
        ({"dark_noise": -0.1}, "dark_noise"),
        ({"hot_pixels": -1}, "hot_pixels"),
        ({"mask_sigma": 0}, "mask_sigma"),
        ({"centre_jitter": 0.5}, "centre_jitter"),
    ],
)
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        beam_profiles(seed=0, **{"n_train": 4, "n_val": 0, "n_test": 0, **params})
