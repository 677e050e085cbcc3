"""Statistics over the long scores table: replicate-aware intervals, tests against controls, metric health.

Pure numpy/pandas (scipy imported inside the functions that test): no torch, no Quantus, no other xaibench
module, so report and table jobs stay cheap. The modules:

- :mod:`~xaibench.stats.bootstrap`: hierarchical (replicate, then image) bootstrap intervals and
  order-independent per-group generators;
- :mod:`~xaibench.stats.comparisons`: paired Wilcoxon tests of every method against the ``random`` and
  ``sobel`` controls, rank-biserial effect sizes, Holm within (dataset, model, metric, control);
- :mod:`~xaibench.stats.health`: per metric, whether it can tell methods apart at all.
"""

from xaibench.stats.bootstrap import describe_replicated, group_rng, hierarchical_bootstrap
from xaibench.stats.comparisons import (
    BEATS_COLUMNS,
    COMPARISON_COLUMNS,
    beats_control_counts,
    compare_to_controls,
    holm,
    not_better_than,
    paired_scores,
    rank_biserial,
    rank_biserial_interval,
    signed_rank_tests,
)
from xaibench.stats.health import HEALTH_COLUMNS, flagged_metrics, metric_health

__all__ = [
    "BEATS_COLUMNS",
    "COMPARISON_COLUMNS",
    "HEALTH_COLUMNS",
    "beats_control_counts",
    "compare_to_controls",
    "describe_replicated",
    "flagged_metrics",
    "group_rng",
    "hierarchical_bootstrap",
    "holm",
    "metric_health",
    "not_better_than",
    "paired_scores",
    "rank_biserial",
    "rank_biserial_interval",
    "signed_rank_tests",
]
