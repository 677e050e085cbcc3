"""Label-free Gaussian shape of a heatmap (seed 000): ``gaussian_spread``, ``gaussian_mass_1sigma``,
``gaussian_mass_2sigma`` and ``heatmap_modes``.

Brodzicki et al. ("Deep Neural Network Interpretability Methods for Supervised and Unsupervised Problems")
cite "two new statistical metrics based on the multivariate Gaussian distribution in order to assess
heatmaps without using human-labeled objects" whose values correlate with accuracy (their ref. [3],
SafeSO, Jaworek-Korjakowska, Kostuch & Skruch, CVPR workshops 2021), without formulas. The definitions
chosen here treat a map as a 2-D distribution of relevance and ask how well one Gaussian describes it:

* density: m = |a| summed over channels, p = m / sum(m) over the H x W pixels, pixel (r, c) at its centre
  (:func:`gaussian_moments`); centroid mu = sum p x, covariance S = sum p (x - mu)(x - mu)^T (moments).
* regularised covariance S' = S + I/12. 1/12 is the variance of a uniform distribution over one pixel, so
  S' is exactly the covariance of the piecewise-constant density that spreads each pixel's mass over its
  unit square; it is never singular (a one-pixel map, a line) and a uniform n x n map gets n^2/12 per axis
  (S alone: (n^2 - 1)/12).
* ``gaussian_spread`` = det(S')^(1/4) / sqrt(H W): the geometric mean of the two standard deviations
  relative to the image side. A uniform image scores 1/sqrt(12) = 0.2887 exactly; one pixel
  1/(sqrt(12) sqrt(H W)) (0.0090 at 32x32), the smallest possible (the continuous limit of "a point is 0").
  Lower = relevance more concentrated: direction "lower".
* ``gaussian_mass_1sigma`` / ``gaussian_mass_2sigma``: the share of the mass whose pixel centres lie in the
  Mahalanobis ellipse (x - mu)^T S'^-1 (x - mu) <= 1 resp. <= 4. An exact 2-D Gaussian has
  1 - e^(-1/2) = 0.393 and 1 - e^(-2) = 0.865; a uniform map the share of pixels in the ellipse (a large
  square: pi/12 = 0.262 and 0.926), one pixel 1. Pixel centres form a lattice, so for small blobs the
  shares move by a few hundredths as the ellipse crosses rings of pixels (a sigma = 3 px Gaussian: within
  0.007 of 0.393 when centred on a pixel, 0.04 off when centred between pixels). Higher means
  heavier-tailed (a core plus a diffuse background), lower flatter or multi-modal: neither is "better",
  direction "none".
* ``heatmap_modes`` (:func:`heatmap_modes`): the number of local maxima of m, after a Gaussian smoothing of
  ``sigma`` pixels (default 1.0; 0 = none; scipy's "reflect" border), divided by its maximum and rounded
  to 9 decimals (values within ~1e-9 of each other count as equal, so rounding noise does not split a
  plateau). A mode is a regional maximum: an 8-connected set of equal pixels whose outer 8-neighbours are
  all strictly lower (outside the image counts as lower), at least ``min_height`` (default 0.5) of the
  maximum. A plateau is one mode; a pixel on a shelf beside a higher pixel is none. Lower = closer to one
  Gaussian bump: direction "lower" (1 is the minimum of a map with any magnitude).

A map without magnitude (all zero, or NaN) scores NaN. Through ``evaluate_metric`` any constant map is NaN
with a note (xaibench's rule for every metric). Every score is invariant to scaling the map.

The classes subclass Quantus's Complexity (category Complexity) and replace its batch evaluation;
``abs``/``normalise`` are fixed (True/False): the scores take |a| and normalise it themselves.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from xaibench.compat import load_quantus
from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.rules import ResolveContext

PIXEL_VARIANCE = 1.0 / 12.0  # variance of a uniform distribution over one pixel, per axis
GAUSSIAN_STATISTICS = {"spread": None, "mass_1sigma": 1.0, "mass_2sigma": 4.0}  # -> squared radius
_DECIMALS = 9  # modes: normalised values rounded to this many decimals before comparing neighbours


def _magnitude(a: np.ndarray) -> np.ndarray:
    """|a| summed over the channel axis of (N, C, H, W) maps; (N, H, W) maps as they are; float64."""
    m = np.abs(np.asarray(a, dtype=np.float64))
    return m.sum(axis=1) if m.ndim == 4 else m


def gaussian_moments(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p, mu, cov) of maps ``a`` (N, H, W) or (N, C, H, W): the density p = m / sum(m) of m = |a| summed
    over channels (N, H, W), its centroid mu (N, 2) in (row, column) pixel units and its covariance cov
    (N, 2, 2) -- the plain moments, not regularised. NaN for a map without magnitude."""
    m = _magnitude(a)
    total = m.sum(axis=(1, 2), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(total > 0, m / total, np.nan)
    rows = np.arange(m.shape[1], dtype=np.float64)[None, :, None]
    cols = np.arange(m.shape[2], dtype=np.float64)[None, None, :]
    mu_r = (p * rows).sum(axis=(1, 2))
    mu_c = (p * cols).sum(axis=(1, 2))
    dr = rows - mu_r[:, None, None]
    dc = cols - mu_c[:, None, None]
    var_r = (p * dr**2).sum(axis=(1, 2))
    var_c = (p * dc**2).sum(axis=(1, 2))
    cov_rc = (p * dr * dc).sum(axis=(1, 2))
    cov = np.stack([np.stack([var_r, cov_rc], axis=-1), np.stack([cov_rc, var_c], axis=-1)], axis=-2)
    return p, np.stack([mu_r, mu_c], axis=-1), cov


def gaussian_spread(a: np.ndarray) -> np.ndarray:
    """Per sample, det(cov + I/12)^(1/4) / sqrt(H W) (see the module docstring); (N,) float64."""
    _, _, cov = gaussian_moments(a)
    det = (cov[:, 0, 0] + PIXEL_VARIANCE) * (cov[:, 1, 1] + PIXEL_VARIANCE) - cov[:, 0, 1] ** 2
    h, w = np.shape(a)[-2:]
    return np.sqrt(np.sqrt(det)) / np.sqrt(h * w)


def gaussian_mass(a: np.ndarray, radius2: float) -> np.ndarray:
    """Per sample, the share of p whose pixel centres x satisfy (x - mu)^T (cov + I/12)^-1 (x - mu) <=
    ``radius2`` (1: the 1-sigma ellipse, 4: the 2-sigma ellipse); (N,) float64."""
    p, mu, cov = gaussian_moments(a)
    var_r = cov[:, 0, 0] + PIXEL_VARIANCE
    var_c = cov[:, 1, 1] + PIXEL_VARIANCE
    cov_rc = cov[:, 0, 1]
    det = (var_r * var_c - cov_rc**2)[:, None, None]  # >= 1/144: never singular
    dr = np.arange(p.shape[1], dtype=np.float64)[None, :, None] - mu[:, 0, None, None]
    dc = np.arange(p.shape[2], dtype=np.float64)[None, None, :] - mu[:, 1, None, None]
    d2 = var_c[:, None, None] * dr**2 - 2 * cov_rc[:, None, None] * dr * dc + var_r[:, None, None] * dc**2
    inside = d2 / det <= radius2
    return np.where(np.isfinite(mu[:, 0]), (p * inside).sum(axis=(1, 2)), np.nan)


def _check_modes_params(sigma: Any, min_height: Any, what: str) -> None:
    def real(value: Any) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)

    if not real(sigma) or not sigma >= 0:
        raise ValueError(f"{what}: sigma must be a smoothing width in pixels >= 0, got {sigma!r}")
    if not real(min_height) or not 0 < min_height <= 1:
        raise ValueError(
            f"{what}: min_height must be a fraction of the maximum in (0, 1], got {min_height!r}"
        )


def _neighbours(q: np.ndarray, fill: Any) -> list[np.ndarray]:
    """The 8 neighbours of every pixel of (N, H, W) ``q``, ``fill`` outside the image."""
    h, w = q.shape[1:]
    padded = np.pad(q, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    offsets = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    return [padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr, dc in offsets]


def heatmap_modes(a: np.ndarray, sigma: float = 1.0, min_height: float = 0.5) -> np.ndarray:
    """Per sample, the number of regional maxima of |a| (summed over channels) smoothed by a Gaussian of
    ``sigma`` pixels, normalised by its maximum, that reach ``min_height`` (see the module docstring);
    (N,) float64, NaN for a map without magnitude."""
    from scipy import ndimage

    _check_modes_params(sigma, min_height, "heatmap_modes")
    m = _magnitude(a)
    if sigma > 0:
        m = ndimage.gaussian_filter(m, sigma=(0, sigma, sigma), mode="reflect")
    peak = m.max(axis=(1, 2), keepdims=True)
    valid = peak[:, 0, 0] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.round(np.where(peak > 0, m / peak, 0.0), _DECIMALS)
    values = _neighbours(q, -np.inf)
    local = np.all([q >= v for v in values], axis=0)  # no higher neighbour
    # A local maximum with an equal neighbour that has a higher neighbour lies on a shelf, not a plateau
    # top; adjacent local maxima are equal, so the components of ``local`` are the candidate plateaus.
    shelf = np.any([(q == v) & ~nl for v, nl in zip(values, _neighbours(local, True), strict=True)], axis=0)
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connected within a sample, never across samples
    labels, count = ndimage.label(local, structure=structure)
    if count == 0:
        return np.where(valid, 0.0, np.nan)
    index = np.arange(1, count + 1)
    on_shelf = ndimage.maximum(shelf, labels, index).astype(bool)
    height = ndimage.maximum(q, labels, index)
    sample = ndimage.minimum(np.broadcast_to(np.arange(len(q))[:, None, None], q.shape), labels, index)
    modes = (~on_shelf) & (height >= min_height)
    counts = np.bincount(sample.astype(np.int64)[modes], minlength=len(q)).astype(np.float64)
    return np.where(valid, counts, np.nan)


@functools.cache
def gaussian_shape_class(statistic: str) -> type:
    """Quantus's Complexity scored by ``statistic`` ("spread", "mass_1sigma" or "mass_2sigma")."""
    if statistic not in GAUSSIAN_STATISTICS:
        raise ValueError(
            f"gaussian statistic must be one of {sorted(GAUSSIAN_STATISTICS)}, got {statistic!r}"
        )
    quantus = load_quantus()
    radius2 = GAUSSIAN_STATISTICS[statistic]

    class _GaussianShape(quantus.Complexity):
        """The map's moments scored as ``statistic`` (:func:`gaussian_spread`, :func:`gaussian_mass`)."""

        def evaluate_batch(self, a_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
            return gaussian_spread(a_batch) if radius2 is None else gaussian_mass(a_batch, radius2)

    _GaussianShape.__name__ = _GaussianShape.__qualname__ = f"Gaussian_{statistic}"
    return _GaussianShape


@functools.cache
def heatmap_modes_class() -> type:
    """Quantus's Complexity scored by :func:`heatmap_modes` (``sigma``, ``min_height``)."""
    quantus = load_quantus()

    class _HeatmapModes(quantus.Complexity):
        """The number of regional maxima of the smoothed |a| (:func:`heatmap_modes`)."""

        def __init__(self, sigma: float = 1.0, min_height: float = 0.5, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            _check_modes_params(sigma, min_height, "heatmap modes")
            self.sigma, self.min_height = sigma, min_height

        def evaluate_batch(self, a_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
            return heatmap_modes(a_batch, self.sigma, self.min_height)

    return _HeatmapModes


def _modes_rule(params: dict, context: ResolveContext) -> None:
    """sigma >= 0 pixels, min_height a fraction of the maximum in (0, 1]."""
    _check_modes_params(params["sigma"], params["min_height"], f"metric {context.name!r}")


_NOTE = (
    "Seed 000 (Brodzicki et al.; SafeSO, Jaworek-Korjakowska et al. 2021): a label-free Gaussian "
    "description of the map. p = |a| (summed over channels) / sum|a| as a 2-D density over pixel centres; "
    "centroid mu and covariance S from its moments; S' = S + I/12 (a pixel's own variance: the covariance "
    "of the map as a piecewise-constant density, never singular). abs=True and normalise=False are fixed: "
    "the score takes |a| and normalises it itself; invariant to the map's scale. A map without magnitude "
    "scores NaN."
)
_FIXED = {"abs": True, "normalise": False}


def _register_shape(name: str, statistic: str, direction: str, score: str) -> None:
    register(
        name,
        MetricSpec(
            "Complexity",
            {},
            fixed=dict(_FIXED),
            direction=direction,
            metric_class=functools.partial(gaussian_shape_class, statistic),
            notes=f"{_NOTE} Score: {score}",
        ),
    )


_register_shape(
    "gaussian_spread",
    "spread",
    "lower",
    "det(S')^(1/4) / sqrt(H W), the geometric-mean standard deviation relative to the image side: "
    "1/sqrt(12) = 0.289 for a uniform image, 1/(sqrt(12) sqrt(H W)) for one pixel; lower = more "
    "concentrated.",
)
_MASS = (
    "the share of the mass whose pixel centres lie in the Mahalanobis ellipse "
    "(x - mu)^T S'^-1 (x - mu) <= {r} ({g} for an exact 2-D Gaussian; a uniform map: the share of pixels "
    "inside; one pixel: 1; lattice effects of a few hundredths for small blobs). Higher = heavier-tailed, "
    "lower = flatter or multi-modal: neither is better (direction none)."
)
_register_shape("gaussian_mass_1sigma", "mass_1sigma", "none", _MASS.format(r=1, g="1 - e^-1/2 = 0.393"))
_register_shape("gaussian_mass_2sigma", "mass_2sigma", "none", _MASS.format(r=4, g="1 - e^-2 = 0.865"))
register(
    "heatmap_modes",
    MetricSpec(
        "Complexity",
        {},
        fixed=dict(_FIXED),
        direction="lower",
        metric_class=heatmap_modes_class,
        resolve=(_modes_rule,),
        notes=(
            "Seed 000 (SafeSO's Gaussian view of a heatmap): the number of modes of |a| (summed over "
            "channels) after a Gaussian smoothing of sigma pixels (1.0; 0 = none; reflected border), "
            "normalised by its maximum and rounded to 9 decimals. A mode is a regional maximum: an "
            "8-connected set of equal pixels (a plateau counts once) whose outer neighbours are all strictly "
            "lower, at least min_height (0.5) of the maximum (a mode exactly at it counts). 1 = one bump, "
            "as a Gaussian; lower = more Gaussian-like. abs=True and normalise=False are fixed; invariant "
            "to the map's scale. A map without magnitude scores NaN."
        ),
    ),
)
