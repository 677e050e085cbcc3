"""Axiomatic metrics: does the explanation satisfy a stated property (completeness, non-sensitivity,
invariance to an input shift)?"""

from __future__ import annotations

import numbers

from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.quantus_fixes import (
    COMPLETENESS_SCORES,
    fixed_completeness,
    fixed_input_invariance,
    fixed_non_sensitivity,
)
from xaibench.metrics.rules import ResolveContext, auto_steps

# NonSensitivity's "auto" step size (contiguous pixel groups; see quantus_fixes.fixed_non_sensitivity).
AUTO_NON_SENSITIVITY_STEPS = 64


def _tolerance(params: dict, context: ResolveContext, key: str, optional: bool = False) -> None:
    """``params[key]`` must be a number >= 0 (or None where ``optional``)."""
    value = params[key]
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"metric {context.name!r}: {key} must be a number >= 0, got {value!r}")


def _check_completeness(params: dict, context: ResolveContext) -> None:
    if params["score"] not in COMPLETENESS_SCORES:
        known = list(COMPLETENESS_SCORES)
        raise ValueError(f"metric {context.name!r}: score must be one of {known}, got {params['score']!r}")
    _tolerance(params, context, "rtol")
    _tolerance(params, context, "atol")


def completeness_direction(params: dict) -> str:
    """The errors are better when lower, the pass/fail verdict when higher."""
    return "higher" if params.get("score") == "pass" else "lower"


def _check_non_sensitivity(params: dict, context: ResolveContext) -> None:
    _tolerance(params, context, "eps")
    _tolerance(params, context, "output_eps", optional=True)


register(
    "completeness",
    MetricSpec(
        "Completeness",
        {"normalise": False, "perturb_baseline": 0.0, "score": "symmetric_error", "rtol": 0.05, "atol": 1e-5},
        metric_class=fixed_completeness,
        shared_forward=True,  # f(x) and f(baseline): the same for every map
        direction=completeness_direction,
        resolve=(_check_completeness,),
        notes=(
            "Compares S = sum(a) with D = f(x) - f(baseline) on logits (normalise=False: a max-normalised "
            "map cannot sum to D). perturb_baseline 'black' -> 0.0: the constant baseline of xaibench's "
            "integrated_gradients and deeplift (images are in [0, 1]); Quantus's 'black' is each image's "
            "minimum, against which no method with a zero baseline is complete (set it to the baseline of "
            "the methods compared). Quantus tests S == D exactly, which no method passes (IG is complete "
            "only up to its integration error); xaibench's subclass scores, by score: 'symmetric_error' "
            "(default) |S - D| / (|S| + |D|) in [0, 1], lower is better: 0 = complete, 1/3 = a map scaled by "
            "2 (or 1/2), -> 1 for a wrong sign or a scale off by orders of magnitude; bounded, so the mean "
            "and CI over images are not carried by the few images where D is near 0 (as |S - D| / |D| is). "
            "'relative_error': |S - D| / |D|, lower is better, unbounded (NaN where D = 0 != S). 'pass': 1 "
            "where |S - D| <= rtol * |D| + atol (rtol 0.05, atol 1e-5), else 0, higher is better: a rate; "
            "the summary's mean and CI are the pass rate. rtol = atol = 0 with 'pass' is Quantus's own test."
        ),
    ),
)
register(
    "non_sensitivity",
    MetricSpec(
        "NonSensitivity",
        {"features_in_step": "auto", "eps": 0.1, "output_eps": 0.1},
        resolve=(auto_steps("features_in_step", AUTO_NON_SENSITIVITY_STEPS), _check_non_sensitivity),
        metric_class=fixed_non_sensitivity,
        shared_forward=True,  # pixel groups in raster order, whatever the map
        notes=(
            "features_in_step 'auto' = smallest divisor of H*W giving <= 64 steps (16 pixels at 32x32). "
            "Quantus 0.6.0 raises a broadcast error for features_in_step > 1; xaibench's subclass fixes it "
            "by giving each pixel its group's verdict. Thresholds relative to each sample's own scale "
            "(Quantus uses one absolute eps=1e-5 for both, so every pixel of a max-normalised map is a "
            "feature, and the score was the number of pixels whose group leaves the probability unchanged: a "
            "property of the model and image, equal for almost every method): a pixel is a non-feature when "
            "|a| < eps * max|a| of the sample (eps 1e-5 -> 0.1; Quantus's per-sample max-normalisation "
            "makes its own eps this fraction); a group leaves the output (softmax probability of the target) "
            "unchanged when its change is <= output_eps * the largest change among the sample's groups "
            "(output_eps 0.1, xaibench's; None = Quantus's absolute change < eps). Score = share of the "
            "pixels violating non-sensitivity (a non-feature in a group that changes the output, or a "
            "feature in one that does not), in [0, 1], lower is better (Quantus: their count)."
        ),
    ),
)
register(
    "input_invariance",
    MetricSpec(
        "InputInvariance",
        {},
        needs_explain_func=True,
        metric_class=fixed_input_invariance,
        notes=(
            "Quantus defaults (input_shift=-1, normalise=False). Per-sample score 0/1 (1 = invariant): a "
            "rate; the summary's mean and CI are the pass rate. Quantus compares the maps with an absolute "
            "tolerance (np.isclose atol=1e-4), so raw gradients of a small model (~1e-5) always passed; the "
            "subclass divides both maps by max|a| of the original one first (a pure rescaling is still "
            "detected). It also fixes two Quantus 0.6.0 bugs that failed every method: the shift skipped the "
            "first pixel of every image, and the compensating bias went to the model's second named module "
            "(a container here: AttributeError; a bias-free conv: TypeError) and ignored zero padding. The "
            "shifted model subtracts the exact response of the first parametrised layer to the shift (a bias "
            "change when it is spatially constant, otherwise a forward hook). Caveat: on images with flat "
            "regions, max-pool ties are broken by float rounding, which the shift changes, so a gradient "
            "map can route to another pixel: with the default run's ts_rotation model, saliency and guided "
            "backprop fail on each of the first 12 test images and pass on 11 and 12 of them after 1e-3 "
            "jitter (on beam's noisy images: all pass); read such failures as tie artefacts."
        ),
    ),
)
