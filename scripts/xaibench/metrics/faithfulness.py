"""Faithfulness metrics: does removing what a map calls relevant change the model's output?"""

from __future__ import annotations

import numpy as np

from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.rules import auto_steps, count_or_fraction

# Pixel flipping's "auto" step size gives at most this many steps (forward passes per batch).
AUTO_CURVE_STEPS = 32


def auc_x01(curves: np.ndarray) -> np.ndarray:
    """Area under each (N, L) curve by the trapezoid rule on an x axis scaled to [0, 1] (dx = 1/(L-1))."""
    steps = curves.shape[1]
    return np.trapezoid(curves, dx=1.0 / (steps - 1), axis=1) if steps > 1 else curves[:, 0]


def aopc(curves: np.ndarray) -> np.ndarray:
    """AOPC over k = 0..L of curves f(x0) - f(xk), k = 1..L: the k = 0 term is f(x0) - f(x0) = 0."""
    steps = curves.shape[1]
    return curves.sum(axis=1) / (steps + 1)


def aopc_direction(params: dict) -> str:
    """A MoRF order's AOPC is better when higher, a LeRF one when lower; a random order has no direction."""
    order = str(params.get("order", "morf")).lower()
    return {"morf": "higher", "lerf": "lower"}.get(order, "none")


register(
    "faithfulness_correlation",
    MetricSpec(
        "FaithfulnessCorrelation",
        {"nr_runs": 50, "subset_size": 0.2},
        resolve=(count_or_fraction("subset_size", of_channels=True),),
        shared_forward=True,  # the random subsets are drawn from the seed, not from the map
        notes=(
            "nr_runs 100 -> 50 random subsets (one forward pass each per batch). subset_size as a fraction "
            "of the C*H*W features: 0.2 gives 205 pixels at 1x32x32, close to Quantus's absolute "
            "default 224 (which is meant for 224x224 images and exceeds small inputs)."
        ),
    ),
)
register(
    "pixel_flipping",
    MetricSpec(
        "PixelFlipping",
        {"features_in_step": "auto"},
        resolve=(auto_steps("features_in_step", AUTO_CURVE_STEPS),),
        curve=True,
        curve_label="target-class output after k perturbation steps",
        reduce_curve=auc_x01,
        score_label="auc_trapezoid_x01",
        fixed={"return_auc_per_sample": False},
        notes=(
            "features_in_step 'auto' = smallest divisor of H*W giving <= 32 steps (32 pixels per step at "
            "32x32, 128 at 64x64) instead of 1 (one forward pass per pixel). Curve = target-class "
            "probability after each step, most relevant pixels first (black baseline). Score = AUC of the "
            "curve by np.trapezoid on an x axis scaled to [0, 1] (dx = 1/(L-1)); Quantus's own "
            "return_auc_per_sample (dx = 1) equals score * (L-1). Lower is better."
        ),
    ),
)
register(
    "region_perturbation",
    MetricSpec(
        "RegionPerturbation",
        {"patch_size": 4, "regions_evaluation": 32, "order": "morf"},
        curve=True,
        curve_label="f(x⁰) − f(xᵏ): drop of the target-class output",
        reduce_curve=aopc,
        score_label="aopc_samek2017",
        direction=aopc_direction,
        notes=(
            "Non-overlapping patch_size x patch_size regions ranked by summed relevance, perturbed "
            "cumulatively (black baseline by default) for the first regions_evaluation regions; 4x4 "
            "patches and 32 regions (half of a 32x32 image) instead of 8 and 100, so that L = 32 steps. "
            "Curve = f(x0) - f(xk), k = 1..L (Quantus). Score = AOPC = 1/(L+1) * sum_{k=0..L} "
            "(f(x0) - f(xk)) (Samek et al. 2017; the k = 0 term is 0). The AOPC of a MoRF order is better "
            "when higher, so direction is 'higher' for order='morf', 'lower' for 'lerf', 'none' for "
            "'random' (Quantus's class says 'lower' for all). See PRESETS['samek2017']."
        ),
    ),
)
