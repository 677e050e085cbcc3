"""Complexity metrics: how concentrated (sparse, low-entropy) is a map? Quantus defaults throughout."""

from __future__ import annotations

from xaibench.metrics.core import MetricSpec, register

register("sparseness", MetricSpec("Sparseness", {}, notes="Quantus defaults (Gini index of |a|)."))
register(
    "complexity", MetricSpec("Complexity", {}, notes="Quantus defaults (entropy of the |a| distribution).")
)
register(
    "effective_complexity",
    MetricSpec("EffectiveComplexity", {}, notes="Quantus defaults (count of |a| > eps=1e-5 after max-norm)."),
)
