"""Robustness metrics: how much does the explanation change under small input noise?"""

from __future__ import annotations

from xaibench.metrics.core import MetricSpec, register

_ROBUSTNESS_NOTE = (
    "nr_samples 200 -> 8 noisy copies (each one re-explanation of the batch); noise U(-0.2, 0.2) "
    "(Quantus's lower_bound default). Needs the explain_func that produced a."
)

register(
    "max_sensitivity",
    MetricSpec("MaxSensitivity", {"nr_samples": 8}, needs_explain_func=True, notes=_ROBUSTNESS_NOTE),
)
register(
    "avg_sensitivity",
    MetricSpec("AvgSensitivity", {"nr_samples": 8}, needs_explain_func=True, notes=_ROBUSTNESS_NOTE),
)
