"""Seed 000's heatmap metrics (Brodzicki et al.): overlap with the mask (``mask_iou``, ``mask_dice``) and the
label-free Gaussian shape (``gaussian_spread``, ``gaussian_mass_1sigma``/``_2sigma``, ``heatmap_modes``) on
hand-built maps with known values, and through ``evaluate_metric``."""

from __future__ import annotations

import numpy as np
import pytest

from xaibench.metrics import evaluate_metric, metric_info
from xaibench.metrics.gaussian import gaussian_mass, gaussian_moments, gaussian_spread, heatmap_modes
from xaibench.metrics.overlap import mask_overlap

SEED_METRICS = (
    "mask_iou",
    "mask_dice",
    "gaussian_spread",
    "gaussian_mass_1sigma",
    "gaussian_mass_2sigma",
    "heatmap_modes",
)
GAUSS_1SIGMA = 1 - np.exp(-0.5)  # 0.3935: mass of a 2-D Gaussian inside its 1-sigma ellipse
GAUSS_2SIGMA = 1 - np.exp(-2.0)  # 0.8647


def _plain(name: str, a: np.ndarray, s: np.ndarray | None = None, **params) -> np.ndarray:
    """The plain numpy function behind each registered metric, with the metric's defaults."""
    if name in ("mask_iou", "mask_dice"):
        return mask_overlap(a, s, params.get("threshold", 0.5), name.removeprefix("mask_"))
    if name == "gaussian_spread":
        return gaussian_spread(a)
    if name == "heatmap_modes":
        return heatmap_modes(a, params.get("sigma", 1.0), params.get("min_height", 0.5))
    return gaussian_mass(a, {"gaussian_mass_1sigma": 1.0, "gaussian_mass_2sigma": 4.0}[name])


def _gaussian_map(n: int, sigma: float, centre: tuple[float, float]) -> np.ndarray:
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.exp(-((r - centre[0]) ** 2 + (c - centre[1]) ** 2) / (2 * sigma**2))


# --- overlap with the mask ------------------------------------------------------------------------------


def _overlap_maps() -> tuple[np.ndarray, np.ndarray]:
    """Four 8x8 maps and masks: [map = mask, half the mask + an equal area outside, 1 - mask, a signed map
    with 3 pixels exactly at half its maximum outside the mask and 4 just below]."""
    s = np.zeros((4, 8, 8), dtype=bool)
    a = np.zeros((4, 8, 8))
    s[0, 1:4, 1:4] = True
    a[0] = s[0]
    s[1, 4:8, 2:7] = True  # 20 pixels
    a[1, 4:6, 2:7] = 1.0  # 10 inside
    a[1, 2:4, 2:7] = 1.0  # 10 outside
    a[1, 0, :] = 0.2  # below half the maximum: not in the region
    s[2, 0:2, :] = True
    a[2] = 1.0 - s[2]
    s[3, 3:7, 3:6] = True  # 12 pixels
    a[3][s[3]] = -2.0
    a[3, 0, 0:3] = 1.0  # exactly 0.5 * max|a|: in the region
    a[3, 1, 0:4] = 0.999  # just below: not
    return a, s


def test_mask_overlap_of_hand_made_maps():
    a, s = _overlap_maps()
    np.testing.assert_allclose(mask_overlap(a, s, kind="iou"), [1, 1 / 3, 0, 12 / 15], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mask_overlap(a, s, kind="dice"), [1, 1 / 2, 0, 24 / 27], rtol=0, atol=1e-15)
    # Dice = 2 IoU / (1 + IoU) on any map
    iou = mask_overlap(a, s, kind="iou")
    np.testing.assert_allclose(mask_overlap(a, s, kind="dice"), 2 * iou / (1 + iou), rtol=1e-12)


def test_mask_overlap_threshold_includes_pixels_exactly_at_it():
    a, s = _overlap_maps()
    sample = a[3:4], s[3:4]
    # threshold 0.5: the three pixels at exactly half the maximum count, the ones at 0.999 / 2 do not.
    assert mask_overlap(*sample, threshold=0.5)[0] == 12 / 15
    # just below 0.4995: the 0.999 pixels count too; just above 0.5: neither
    assert mask_overlap(*sample, threshold=0.4995)[0] == 12 / 19
    assert mask_overlap(*sample, threshold=0.5000001)[0] == 1.0
    # threshold 1: the maximum pixels only (here the whole mask at -2)
    assert mask_overlap(*sample, threshold=1.0)[0] == 1.0
    for scale in (1e-6, 1e4):  # the comparison is relative to the map's own maximum
        assert mask_overlap(sample[0] * scale, sample[1], threshold=0.5)[0] == 12 / 15


def test_mask_overlap_shapes_channels_and_undefined_cases():
    a, s = _overlap_maps()
    expected = mask_overlap(a, s)
    # (N, 1, H, W) maps and masks, and a 3-channel map whose |a| summed over channels is 3 |a|
    np.testing.assert_array_equal(mask_overlap(a[:, None], s[:, None]), expected)
    signs = np.array([1.0, -1.0, 1.0])[None, :, None, None]
    np.testing.assert_array_equal(mask_overlap(a[:, None] * signs, s[:, None]), expected)
    empty = s.copy()
    empty[1] = False
    zero = a.copy()
    zero[2] = 0.0
    assert np.isnan(mask_overlap(a, empty)[1]) and not np.isnan(mask_overlap(a, empty)[[0, 2, 3]]).any()
    assert np.isnan(mask_overlap(zero, s)[2]) and not np.isnan(mask_overlap(zero, s)[[0, 1, 3]]).any()
    for bad in (0.0, -0.1, 1.5, True, "half"):
        with pytest.raises(ValueError, match="threshold"):
            mask_overlap(a, s, threshold=bad)
    with pytest.raises(ValueError, match="kind"):
        mask_overlap(a, s, kind="jaccard")


def test_random_maps_score_far_below_the_mask_map():
    """A 10x10 object in a 32x32 image: the mask map scores 1; uniform noise maps (the random control)
    threshold to about half the image, IoU ~ 100 / 512."""
    rng = np.random.default_rng(0)
    s = np.zeros((64, 32, 32), dtype=bool)
    for i in range(64):
        r0, c0 = rng.integers(4, 16, size=2)
        s[i, r0 : r0 + 10, c0 : c0 + 10] = True
    noise = rng.uniform(0, 1, s.shape)
    mask_map = s + 0.1 * noise  # the object plus weak noise
    for kind in ("iou", "dice"):
        assert np.all(mask_overlap(mask_map, s, kind=kind) == 1.0)
        random = mask_overlap(noise, s, kind=kind)
        assert random.max() < (0.25 if kind == "iou" else 0.4), random.max()
    assert abs(mask_overlap(noise, s).mean() - 50 / 562) < 0.02  # half the mask in, half the image out


# --- Gaussian shape -------------------------------------------------------------------------------------


def test_moments_and_spread_of_a_uniform_map():
    """An n x n uniform map: the discrete uniform covariance (n^2 - 1)/12 per axis; + 1/12 (a pixel's own
    variance) = n^2/12, so the spread is exactly 1/sqrt(12)."""
    for n in (5, 8, 32):
        a = np.ones((1, n, n))
        p, mu, cov = gaussian_moments(a)
        np.testing.assert_allclose(p, 1 / n**2, rtol=1e-14)
        np.testing.assert_allclose(mu, [[(n - 1) / 2, (n - 1) / 2]], rtol=1e-14)
        np.testing.assert_allclose(cov[0], np.diag([(n**2 - 1) / 12] * 2), rtol=1e-12, atol=1e-12)
        det = ((n**2 - 1) / 12 + 1 / 12) ** 2
        np.testing.assert_allclose(gaussian_spread(a), [np.sqrt(np.sqrt(det)) / n], rtol=1e-12)
        np.testing.assert_allclose(gaussian_spread(a), [1 / np.sqrt(12)], rtol=1e-12)


def test_one_pixel_map():
    """Singular covariance 0: regularised to I/12, spread 1/(n sqrt(12)) (0.00902 at 32x32: the smallest
    possible, not exactly 0), both mass shares 1, one mode."""
    a = np.zeros((3, 32, 32))
    a[0, 7, 20] = 1.0
    a[1, 0, 0] = -5.0  # a corner: still one mode
    a[2, 31, 12] = 1e-3
    _, mu, cov = gaussian_moments(a)
    np.testing.assert_array_equal(cov, 0.0)
    np.testing.assert_array_equal(mu, [[7, 20], [0, 0], [31, 12]])
    np.testing.assert_allclose(gaussian_spread(a), 1 / (32 * np.sqrt(12)), rtol=1e-12)
    assert abs(1 / (32 * np.sqrt(12)) - 0.009021) < 1e-6
    np.testing.assert_array_equal(gaussian_mass(a, 1.0), 1.0)
    np.testing.assert_array_equal(gaussian_mass(a, 4.0), 1.0)
    np.testing.assert_array_equal(heatmap_modes(a), 1.0)
    np.testing.assert_array_equal(heatmap_modes(a, sigma=0.0), 1.0)


def test_singular_covariances_do_not_crash():
    """A line (variance 0 across it) and two points (a rank-1 covariance) have finite, known scores."""
    a = np.zeros((2, 8, 8))
    a[0, 3, :] = 1.0  # a row of 8: variances 0 and 63/12, + 1/12 each
    a[1, 1, 1], a[1, 6, 5] = 1.0, 0.8  # weights p = 5/9, q = 4/9, offset d = (5, 4)
    spread = gaussian_spread(a)
    np.testing.assert_allclose(spread[0], np.sqrt(np.sqrt(1 / 12 * 64 / 12)) / 8, rtol=1e-12)
    # two points: the covariance p q d d^T has eigenvalue p q |d|^2 along d; regularised + 1/12
    p, q, d2 = 5 / 9, 4 / 9, 41.0
    along = p * q * d2 + 1 / 12
    np.testing.assert_allclose(spread[1], (along / 12) ** 0.25 / 8, rtol=1e-12)
    # Mahalanobis distances^2 of the points: q^2 |d|^2 / along = 0.79 (in), p^2 |d|^2 / along = 1.24 (out)
    assert q**2 * d2 / along < 1 < p**2 * d2 / along < 4
    np.testing.assert_allclose(gaussian_mass(a, 1.0), [0.5, p], rtol=1e-12)  # |c - 3.5| <= 2.31: 4 of 8
    np.testing.assert_allclose(gaussian_mass(a, 4.0), [1.0, 1.0], rtol=1e-12)


def test_mass_shares_of_a_discretised_gaussian():
    """sigma = 3 px on 64x64, centred on a pixel. The moments are exact (the sampled Gaussian's variance is
    sigma^2 to 1e-12); the shares are sums over pixel centres, so they differ from the continuous values by
    the lattice: the tolerance is the mass of one pixel on the ellipse's boundary, e^(-r^2/2) / (2 pi
    sigma^2) = 0.0107 at 1 sigma and 0.0024 at 2 sigma (measured: 0.0065 and 0.0007). A uniform map,
    far from Gaussian, has pi/12 = 0.262 at 1 sigma (up to its lattice)."""
    sigma = 3.0
    a = _gaussian_map(64, sigma, (32, 32))[None]
    _, mu, cov = gaussian_moments(a)
    np.testing.assert_allclose(mu, [[32, 32]], atol=1e-12)
    np.testing.assert_allclose(cov[0], np.diag([sigma**2] * 2), atol=1e-10)
    np.testing.assert_allclose(gaussian_spread(a), [np.sqrt(sigma**2 + 1 / 12) / 64], rtol=1e-10)
    one_pixel = np.exp(-np.array([0.5, 2.0])) / (2 * np.pi * sigma**2)
    assert abs(gaussian_mass(a, 1.0)[0] - GAUSS_1SIGMA) < one_pixel[0]
    assert abs(gaussian_mass(a, 4.0)[0] - GAUSS_2SIGMA) < one_pixel[1]
    uniform = np.ones((1, 64, 64))
    assert abs(gaussian_mass(uniform, 1.0)[0] - np.pi / 12) < 20 / 64**2  # lattice: measured 12 pixels
    assert GAUSS_1SIGMA - gaussian_mass(uniform, 1.0)[0] > 10 * one_pixel[0]


def test_moments_recover_a_rotated_anisotropic_gaussian():
    n = 64
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    angle = 0.5
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    cov = rot @ np.diag([2.0**2, 6.0**2]) @ rot.T
    d = np.stack([r - 30, c - 33], axis=-1)
    a = np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, np.linalg.inv(cov), d))[None]
    _, mu, got = gaussian_moments(a)
    np.testing.assert_allclose(mu, [[30, 33]], atol=1e-6)
    np.testing.assert_allclose(got[0], cov, atol=1e-5)  # the cross term is recovered
    det = np.linalg.det(cov + np.eye(2) / 12)
    np.testing.assert_allclose(gaussian_spread(a), [det**0.25 / n], rtol=1e-6)


def test_modes_of_bumps_plateaus_and_shelves():
    n = 32
    one = _gaussian_map(n, 2.0, (10, 12))
    two = one + _gaussian_map(n, 2.0, (22, 20))
    low_second = one + 0.4 * _gaussian_map(n, 2.0, (22, 20))  # second bump below min_height 0.5
    plateau = np.zeros((n, n))
    plateau[8:14, 5:20] = 1.0
    shelf = plateau.copy()
    shelf[8, 5] = 2.0  # a higher pixel on the plateau's corner: the rest of the plateau is a shelf
    corner = np.zeros((n, n))
    corner[0, 0], corner[31, 31] = 1.0, 1.0
    maps = np.stack([one, two, low_second, plateau, shelf, corner])
    for sigma in (0.0, 1.0):
        np.testing.assert_array_equal(heatmap_modes(maps, sigma=sigma), [1, 2, 1, 1, 1, 2], err_msg=sigma)
    # min_height is a fraction of the maximum, a mode exactly at it counts
    steps = np.zeros((3, n, n))
    steps[:, 5, 5] = 1.0
    steps[:, 20, 20] = [0.49, 0.5, 0.51]
    np.testing.assert_array_equal(heatmap_modes(steps, sigma=0.0), [1, 2, 2])
    np.testing.assert_array_equal(heatmap_modes(steps, sigma=0.0, min_height=1.0), [1, 1, 1])
    # uniform noise: many modes, far above any bump
    noise = np.random.default_rng(0).uniform(0, 1, (4, n, n))
    assert heatmap_modes(noise).min() > 20


def test_scores_are_invariant_to_the_maps_scale():
    rng = np.random.default_rng(1)
    a = np.stack([_gaussian_map(32, 3.0, (12, 15)), rng.normal(size=(32, 32)), rng.uniform(size=(32, 32))])
    s = np.zeros(a.shape, dtype=bool)
    s[:, 8:18, 10:20] = True
    for name in SEED_METRICS:
        base = _plain(name, a, s)
        assert np.all(np.isfinite(base)), name
        for scale in (1e-6, 1e4):
            np.testing.assert_allclose(_plain(name, a * scale, s), base, rtol=1e-12, atol=0, err_msg=name)


def test_maps_without_magnitude_are_nan():
    a = np.zeros((2, 8, 8))
    a[1, 2, 3] = 1.0
    s = np.ones((2, 8, 8), dtype=bool)
    for name in SEED_METRICS:
        scores = _plain(name, a, s)
        assert np.isnan(scores[0]) and np.isfinite(scores[1]), name
    with pytest.raises(ValueError, match="sigma"):
        heatmap_modes(a, sigma=-1.0)
    with pytest.raises(ValueError, match="min_height"):
        heatmap_modes(a, min_height=0.0)


# --- through evaluate_metric ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored(tiny_model, tiny_batch):
    """Four maps for the tiny batch: the mask, a Gaussian bump on the object, two bumps, uniform noise."""
    x, y, masks = tiny_batch
    rng = np.random.default_rng(2)
    a = np.zeros(masks.shape)
    a[0] = masks[0]
    rows, cols = np.nonzero(masks[1, 0])
    a[1, 0] = _gaussian_map(32, 3.0, (rows.mean(), cols.mean()))
    a[2, 0] = _gaussian_map(32, 2.0, (6, 6)) - 0.8 * _gaussian_map(32, 2.0, (25, 24))
    a[3] = rng.uniform(size=a[3].shape)
    return tiny_model, x, y, masks, a


@pytest.mark.parametrize("name", SEED_METRICS)
def test_evaluate_metric_equals_the_plain_function(name, scored):
    model, x, y, masks, a = scored
    result = evaluate_metric(name, model, x, y, a, masks)
    np.testing.assert_allclose(result.scores, _plain(name, a, masks), rtol=1e-12, atol=0)
    assert np.all(np.isfinite(result.scores))
    assert result.params["abs"] is True and result.params["normalise"] is False
    info = metric_info(name)
    assert result.category == info["category"] and result.direction == info["direction"]
    assert "Seed 000" in info["notes"]
    # the random control scores far from the mask map where the metric compares with the mask
    if name in ("mask_iou", "mask_dice"):
        assert result.scores[0] == 1.0 and result.scores[3] < 0.3
    if name == "heatmap_modes":
        np.testing.assert_array_equal(result.scores[:3], [1, 1, 2])
        assert result.scores[3] > 20


def test_evaluate_metric_params_and_nan_notes(scored):
    model, x, y, masks, a = scored
    result = evaluate_metric("mask_iou", model, x, y, a, masks, params={"threshold": 0.25})
    assert result.params["threshold"] == 0.25
    np.testing.assert_allclose(result.scores, mask_overlap(a, masks, 0.25, "iou"), rtol=1e-12)
    result = evaluate_metric("heatmap_modes", model, x, y, a, None, params={"sigma": 0.0, "min_height": 0.9})
    assert (result.params["sigma"], result.params["min_height"]) == (0.0, 0.9)
    np.testing.assert_array_equal(result.scores, heatmap_modes(a, 0.0, 0.9))
    assert evaluate_metric("heatmap_modes", model, x, y, a, None).params["sigma"] == 1.0
    with pytest.raises(ValueError, match=r"'mask_dice'.*threshold"):
        evaluate_metric("mask_dice", model, x, y, a, masks, params={"threshold": 0})
    with pytest.raises(ValueError, match=r"'heatmap_modes'.*sigma"):
        evaluate_metric("heatmap_modes", model, x, y, a, None, params={"sigma": -1})
    with pytest.raises(ValueError, match="fixed"):
        evaluate_metric("gaussian_spread", model, x, y, a, None, params={"abs": False})
    with pytest.raises(ValueError, match="needs ground-truth masks"):
        evaluate_metric("mask_iou", model, x, y, a, None)
    zero, empty = a.copy(), masks.copy()
    zero[1] = 0.0
    empty[2] = False
    for name in SEED_METRICS:
        result = evaluate_metric(name, model, x, y, zero, empty)
        assert np.isnan(result.scores[1]) and "1 constant attribution map" in result.note, name
        assert np.isnan(result.scores[2]) == (name in ("mask_iou", "mask_dice")), name  # empty mask
        assert np.isfinite(result.scores[[0, 3]]).all(), name
