"""Complexity metrics: how concentrated (sparse, low-entropy) is a map? Quantus defaults, except effective
complexity's threshold and score (see its notes)."""

from __future__ import annotations

import numbers

from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.quantus_fixes import fixed_effective_complexity
from xaibench.metrics.rules import ResolveContext


def _check_eps(params: dict, context: ResolveContext) -> None:
    """eps is a fraction of max|a|: 0 <= eps < 1 (at 1 or more no feature is counted)."""
    eps = params["eps"]
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 <= eps < 1:
        raise ValueError(f"metric {context.name!r}: eps must be a fraction of max|a| in [0, 1), got {eps!r}")


register("sparseness", MetricSpec("Sparseness", {}, notes="Quantus defaults (Gini index of |a|)."))
register(
    "complexity", MetricSpec("Complexity", {}, notes="Quantus defaults (entropy of the |a| distribution).")
)
register(
    "effective_complexity",
    MetricSpec(
        "EffectiveComplexity",
        {"eps": 0.1},
        metric_class=fixed_effective_complexity,
        resolve=(_check_eps,),
        notes=(
            "Score = share of the features with |a| > eps * max|a| of the sample, in [0, 1], lower is better "
            "(Quantus: their count, so images of different sizes do not compare). eps 1e-5 -> 0.1: after "
            "the per-sample max-normalisation (abs=True, normalise=True) Quantus's eps is this fraction of "
            "max|a|, and at 1e-5 nearly every pixel of every dense map counts (1024 of 1024 for saliency, "
            "IG, random noise alike). The subclass compares with eps * max|a| itself, so eps stays relative "
            "with normalise=False."
        ),
    ),
)
