"""Overlap of a heatmap's hot region with the ground-truth mask: ``mask_iou`` and ``mask_dice`` (seed 000).

Brodzicki et al. ("Deep Neural Network Interpretability Methods for Supervised and Unsupervised Problems")
cite "a statistical metric, based on the overlap of Grad-CAM heatmaps and the segmentation ground-truth"
(their ref. [2], Jaworek-Korjakowska et al. 2021, Cancers) without a formula. The definition chosen here
(:func:`mask_overlap`), per sample:

1. magnitude m = |a| summed over channels (signed maps -- IG, LRP -- compare with unsigned ones, as the
   other localisation metrics do with ``abs=True``);
2. hot region R = {pixels with m >= ``threshold`` * max m}; a pixel exactly at the threshold belongs to R.
   ``threshold`` defaults to 0.5, half the maximum: the usual way a Grad-CAM heatmap is binarised for an
   overlap with a segmentation (a fixed fraction of the map's own peak, so the region does not depend on
   the map's scale or on the method's units; 0.5 keeps the clearly hot part and is symmetric between "hot"
   and "cold"); it must lie in (0, 1] (1: only the maximum pixels);
3. IoU = |R & M| / |R | M| and Dice = 2 |R & M| / (|R| + |M|) with the mask M. Higher is better; both are
   in [0, 1], Dice >= IoU (Dice = 2 IoU / (1 + IoU)).

An empty mask scores NaN (as every localisation metric; ``evaluate_metric`` does so too), and so does a map
without any magnitude (all zero or NaN): it has no hot region. Through ``evaluate_metric`` any constant map
is NaN with a note (xaibench's rule for every metric).

The share of the relevance mass inside the mask is already ``relevance_mass_accuracy`` (Arras et al.
2021, :mod:`~xaibench.metrics.localisation`); these metrics instead score the binarised region's shape
against the mask's, so they also penalise a region that misses part of the object.

The classes subclass Quantus's RelevanceMassAccuracy (category Localisation, direction higher) and replace
its batch evaluation; ``abs``/``normalise`` are fixed (True/False) because the score takes |a| and
normalises by the map's own maximum itself.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from xaibench.compat import load_quantus
from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.rules import ResolveContext

OVERLAP_KINDS = ("iou", "dice")


def _magnitude(a: np.ndarray) -> np.ndarray:
    """|a| summed over the channel axis of (N, C, H, W) maps; (N, H, W) maps as they are; float64."""
    m = np.abs(np.asarray(a, dtype=np.float64))
    return m.sum(axis=1) if m.ndim == 4 else m


def _check_threshold(threshold: Any, what: str) -> None:
    ok = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool) and 0 < threshold <= 1
    if not ok:
        raise ValueError(f"{what}: threshold must be a fraction of max|a| in (0, 1], got {threshold!r}")


def mask_overlap(a: np.ndarray, s: np.ndarray, threshold: float = 0.5, kind: str = "iou") -> np.ndarray:
    """Per sample, IoU (``kind="iou"``) or Dice (``"dice"``) of the region where |a| (summed over channels)
    is at least ``threshold`` times its maximum with the mask ``s`` (non-zero = inside; a multi-channel mask
    is OR-ed over channels).

    ``a`` is (N, H, W) or (N, C, H, W), ``s`` (N, H, W) or (N, 1|C, H, W). Returns (N,) float64; NaN where
    the mask is empty or the map has no positive maximum (all zero, or NaN).
    """
    _check_threshold(threshold, "mask_overlap")
    if kind not in OVERLAP_KINDS:
        raise ValueError(f"mask_overlap: kind must be one of {OVERLAP_KINDS}, got {kind!r}")
    m = _magnitude(a)
    n = m.shape[0]
    mask = np.asarray(s) != 0
    if mask.ndim == m.ndim + 1:
        mask = mask.any(axis=1)
    if mask.shape != m.shape:
        raise ValueError(f"mask_overlap: masks of shape {np.shape(s)} do not fit maps of shape {np.shape(a)}")
    m, mask = m.reshape(n, -1), mask.reshape(n, -1)
    peak = m.max(axis=1, keepdims=True)
    region = m >= threshold * peak
    inside = (region & mask).sum(axis=1)
    if kind == "iou":
        numerator, denominator = inside, (region | mask).sum(axis=1)
    else:
        numerator, denominator = 2 * inside, region.sum(axis=1) + mask.sum(axis=1)
    undefined = ~(peak[:, 0] > 0) | (mask.sum(axis=1) == 0)
    scores = numerator / np.maximum(denominator, 1)  # the region holds the peak: denominator >= 1
    return np.where(undefined, np.nan, scores).astype(np.float64)


@functools.cache
def mask_overlap_class(kind: str) -> type:
    """Quantus's RelevanceMassAccuracy scored by :func:`mask_overlap` of ``kind`` ("iou" or "dice")."""
    if kind not in OVERLAP_KINDS:
        raise ValueError(f"mask_overlap_class: kind must be one of {OVERLAP_KINDS}, got {kind!r}")
    quantus = load_quantus()

    class _MaskOverlap(quantus.RelevanceMassAccuracy):
        """IoU/Dice of the region |a| >= threshold * max|a| with the mask (:func:`mask_overlap`)."""

        def __init__(self, threshold: float = 0.5, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            _check_threshold(threshold, f"mask {kind}")
            self.threshold = threshold

        def evaluate_batch(self, a_batch: np.ndarray, s_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
            return mask_overlap(a_batch, s_batch, self.threshold, kind)

    _MaskOverlap.__name__ = _MaskOverlap.__qualname__ = f"MaskOverlap{kind.capitalize()}"
    return _MaskOverlap


def _threshold_rule(params: dict, context: ResolveContext) -> None:
    """threshold is a fraction of max|a| in (0, 1]."""
    _check_threshold(params["threshold"], f"metric {context.name!r}")


_NOTE = (
    "Seed 000 (Brodzicki et al.; Jaworek-Korjakowska et al. 2021): overlap of the heatmap's hot region with "
    "the mask. Hot region = pixels with |a| (summed over channels) >= threshold * max|a| of the sample "
    "(threshold 0.5 = half the maximum, the usual binarisation of a Grad-CAM map; a pixel exactly at the "
    "threshold counts). abs=True and normalise=False are fixed: the score takes |a| and divides by the map's "
    "own maximum itself. An empty mask, or a map without magnitude, scores NaN. The share of relevance "
    "inside the mask is relevance_mass_accuracy; this scores the binarised region's overlap instead."
)
_FIXED = {"abs": True, "normalise": False}

register(
    "mask_iou",
    MetricSpec(
        "RelevanceMassAccuracy",
        {},
        needs_mask=True,
        fixed=dict(_FIXED),
        direction="higher",
        metric_class=functools.partial(mask_overlap_class, "iou"),
        resolve=(_threshold_rule,),
        notes=_NOTE + " Score: intersection over union |R & M| / |R | M|, in [0, 1].",
    ),
)
register(
    "mask_dice",
    MetricSpec(
        "RelevanceMassAccuracy",
        {},
        needs_mask=True,
        fixed=dict(_FIXED),
        direction="higher",
        metric_class=functools.partial(mask_overlap_class, "dice"),
        resolve=(_threshold_rule,),
        notes=_NOTE + " Score: Dice 2 |R & M| / (|R| + |M|) = 2 IoU / (1 + IoU), in [0, 1].",
    ),
)
