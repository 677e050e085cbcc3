"""Axiomatic metrics: does the explanation satisfy a stated property (completeness, non-sensitivity,
invariance to an input shift)?"""

from __future__ import annotations

from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.quantus_fixes import fixed_input_invariance, fixed_non_sensitivity
from xaibench.metrics.rules import auto_steps

# NonSensitivity's "auto" step size (contiguous pixel groups; see quantus_fixes.fixed_non_sensitivity).
AUTO_NON_SENSITIVITY_STEPS = 64

register(
    "completeness",
    MetricSpec(
        "Completeness",
        {"normalise": False},
        notes=(
            "normalise=False: completeness compares sum(a) with f(x) - f(baseline) (logits), which a "
            "max-normalised map cannot satisfy. Quantus tests exact float equality, so the score is 0 "
            "unless a method is exactly complete."
        ),
    ),
)
register(
    "non_sensitivity",
    MetricSpec(
        "NonSensitivity",
        {"features_in_step": "auto"},
        resolve=(auto_steps("features_in_step", AUTO_NON_SENSITIVITY_STEPS),),
        metric_class=fixed_non_sensitivity,
        notes=(
            "features_in_step 'auto' = smallest divisor of H*W giving <= 64 steps (16 pixels at 32x32). "
            "Quantus 0.6.0 raises a broadcast error for features_in_step > 1; xaibench's subclass fixes "
            "it by giving each pixel its group's verdict (identical to Quantus for features_in_step=1). "
            "Score = number of pixels violating non-sensitivity (lower is better)."
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
            "Quantus defaults (input_shift=-1, normalise=False). Binary score (1 = invariant). Quantus "
            "compares the maps with an absolute tolerance (np.isclose atol=1e-4), so raw gradients of a "
            "small model (~1e-5) always passed; the subclass divides both maps by max|a| of the original "
            "one first (a pure rescaling is still detected). It also fixes two Quantus 0.6.0 bugs that "
            "failed every method: the shift skipped the first pixel of every image, and the compensating "
            "bias went to the model's second named module (a container here: AttributeError; a bias-free "
            "conv: TypeError) and ignored zero padding. The shifted model subtracts the exact response "
            "of the first parametrised layer to the shift (a bias change when it is spatially constant, "
            "otherwise a forward hook)."
        ),
    ),
)
