"""The claims machinery: a claim is one :class:`ClaimSpec` in :data:`CLAIMS`, added by :func:`register`.

A claim is a statement a seed paper (or a paper the field builds on) makes, written so that the workflow's
tables can test it. Its spec says where it comes from (``seed``, ``source``), what it says (``text``), which
tables it reads (``needs``: names of the tables the ``claims`` rule passes, e.g. "comparisons", "scores",
"parts") and how it is tested (``test(context) -> list[Evidence]``: one :class:`Evidence` per dataset or
model it was tested on). Generic code here knows no claim by name: it runs every registered claim, turns a
missing table or a dataset the claim does not apply to into a "not tested" row with the reason, and
builds the long-form claims table (one row per claim x dataset x model).

Verdicts (:func:`verdict`) follow from the estimate's interval and, where a test applies, its p-value:

* ``supported``: the interval lies entirely on the claimed side of the threshold (and p < alpha where a
  test applies);
* ``not supported``: the interval lies entirely on the other side (or on the threshold), i.e. the data
  exclude what the claim says (and p < alpha where a test applies);
* ``inconclusive``: the interval straddles the threshold, the test is not significant, or fewer than
  :data:`MIN_N` paired values were measured (a bootstrap interval of 2 images means nothing);
* ``not tested``: the run has no data for it (the reason is in ``detail``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from xaibench.registry import Registry

_LABEL_LENGTH = 90
MIN_N = 5  # fewer paired values: inconclusive, whatever the interval says
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTED = (
    "supported",
    "not supported",
    "inconclusive",
    "not tested",
)
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE, NOT_TESTED)
CLAIM_COLUMNS = [
    "claim",
    "seed",
    "source",
    "text",
    "label",
    "dataset",
    "model",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
    "threshold",
    "claimed",
    "verdict",
    "figure",
    "detail",
]


@dataclass
class Evidence:
    """The result of testing a claim on one dataset (and model).

    ``statistic`` names what ``estimate`` measures; ``ci_low``/``ci_high`` its 95 % interval; ``p_value``
    the test's (NaN where none applies); ``n`` the number of paired observations (images x replicates);
    ``threshold`` and ``claimed`` ("greater" or "less") say which side of the threshold the claim puts the
    estimate on. ``verdict`` is filled by :func:`verdict` unless given (e.g. "not tested")."""

    dataset: str
    model: str
    statistic: str
    estimate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float = math.nan
    n: int = 0
    threshold: float = 0.0
    claimed: str = "greater"
    verdict: str = ""
    detail: str = ""


@dataclass
class ClaimContext:
    """What a claim's test sees: the tables by name (None where the run has no such table), every
    dataset's generator (config name -> ``generator:``), every method's registry name (config name ->
    ``method:``), every metric's registry name and preset (config name -> (``metric:``, ``preset:`` or
    None)), the significance level, bootstrap size and seed, and every dataset's modality."""

    tables: Mapping[str, pd.DataFrame | None]
    generators: Mapping[str, str]
    methods: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)
    alpha: float = 0.05
    n_boot: int = 2000
    seed: int = 0
    modalities: Mapping[str, str] = field(default_factory=dict)  # dataset -> image | series | table

    def modality(self, dataset: str) -> str:
        """The modality of a dataset of the run (image where the context was given none)."""
        return self.modalities.get(dataset, "image")

    def datasets_of(self, *generators: str) -> list[str]:
        """The run's datasets made by any of ``generators``, in config order."""
        return [name for name, generator in self.generators.items() if generator in generators]

    def methods_named(self, method: str) -> list[str]:
        """Config names of the run's entries of registry method ``method``, in config order."""
        return [name for name, registered in self.methods.items() if registered == method]

    def metrics_named(self, metric: str, preset: str | None = None) -> list[str]:
        """Config names of the run's entries of registry metric ``metric`` with ``preset`` (None: none)."""
        return [name for name, entry in self.metrics.items() if tuple(entry) == (metric, preset)]


Test = Callable[[ClaimContext], list[Evidence]]


@dataclass(frozen=True)
class ClaimSpec:
    """One claim: ``seed`` ("000".."004", or "literature"), ``source`` (authors, title, year, and the
    section or figure), ``text`` (the claim in our words), ``label`` (a few words for figures), ``needs``
    (the tables it reads), ``test`` and ``figure`` (the figure of the run that shows it, a path under
    results/figures, or "")."""

    name: str
    seed: str
    source: str
    text: str
    label: str
    needs: tuple[str, ...]
    test: Test
    figure: str = ""


CLAIMS: Registry[ClaimSpec] = Registry("claim")


def register(
    name: str, *, seed: str, source: str, text: str, label: str, needs: tuple[str, ...], figure: str = ""
) -> Callable[[Test], Test]:
    """Decorator adding its test function to :data:`CLAIMS` as claim ``name``."""
    if not needs:
        raise ValueError(f"claim {name!r}: needs names no table")
    if not label or len(label) > _LABEL_LENGTH:
        raise ValueError(f"claim {name!r}: label must have 1 to {_LABEL_LENGTH} characters, got {label!r}")

    def decorator(test: Test) -> Test:
        CLAIMS.add(name, ClaimSpec(name, seed, source, text, label, tuple(needs), test, figure))
        return test

    return decorator


def verdict(
    ci_low: float,
    ci_high: float,
    *,
    threshold: float = 0.0,
    claimed: str = "greater",
    p_value: float = math.nan,
    alpha: float = 0.05,
    n: int = MIN_N,
) -> str:
    """The verdict of an interval (and a p-value, where a test applies) of ``n`` paired values on a claim
    that the estimate lies above (``claimed="greater"``) or below (``"less"``) ``threshold`` (see the module
    docstring)."""
    if claimed not in ("greater", "less"):
        raise ValueError(f"claimed must be 'greater' or 'less', got {claimed!r}")
    if n < MIN_N or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return INCONCLUSIVE
    above, below = ci_low > threshold, ci_high < threshold
    on_claimed_side, on_other_side = (
        (above, ci_high <= threshold) if claimed == "greater" else (below, ci_low >= threshold)
    )
    significant = math.isnan(p_value) or p_value < alpha
    if on_claimed_side and significant:
        return SUPPORTED
    if on_other_side and significant:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def not_tested(dataset: str, model: str, statistic: str, reason: str) -> Evidence:
    """A row saying why a claim could not be tested on this run."""
    return Evidence(dataset, model, statistic, verdict=NOT_TESTED, detail=reason)


def _rows(spec: ClaimSpec, evidence: list[Evidence], alpha: float) -> list[dict[str, Any]]:
    rows = []
    for item in evidence:
        decided = item.verdict or verdict(
            item.ci_low,
            item.ci_high,
            threshold=item.threshold,
            claimed=item.claimed,
            p_value=item.p_value,
            alpha=alpha,
            n=item.n,
        )
        if decided not in VERDICTS:
            raise ValueError(f"claim {spec.name!r}: verdict {decided!r} is not one of {VERDICTS}")
        rows.append(
            {
                "claim": spec.name,
                "seed": spec.seed,
                "source": spec.source,
                "text": spec.text,
                "label": spec.label,
                "dataset": item.dataset,
                "model": item.model,
                "statistic": item.statistic,
                "estimate": item.estimate,
                "ci_low": item.ci_low,
                "ci_high": item.ci_high,
                "p_value": item.p_value,
                "n": int(item.n),
                "threshold": item.threshold,
                "claimed": item.claimed,
                "verdict": decided,
                "figure": spec.figure,
                "detail": item.detail,
            }
        )
    return rows


def evaluate_claims(context: ClaimContext, names: list[str] | None = None) -> pd.DataFrame:
    """Every registered claim (or those named) tested on the context's tables: the claims table.

    A claim whose tables are missing gives one "not tested" row naming them; a claim that finds no dataset
    it applies to gives one naming what it needs; anything else a test raises propagates (a bug, not a
    verdict)."""
    rows: list[dict[str, Any]] = []
    for name in names if names is not None else claim_order():
        spec = CLAIMS.get(name)
        missing = [table for table in spec.needs if context.tables.get(table) is None]
        if missing:
            evidence = [not_tested("", "", "", "the run has no table " + ", ".join(missing))]
        else:
            evidence = spec.test(context) or [not_tested("", "", "", "no dataset of the run fits this claim")]
        rows.extend(_rows(spec, evidence, context.alpha))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def claim_order() -> list[str]:
    """Registered claims by seed ("000" first, the literature last), then by name."""
    return sorted(
        CLAIMS.names(), key=lambda name: (CLAIMS.get(name).seed == "literature", CLAIMS.get(name).seed, name)
    )


def verdict_counts(claims: pd.DataFrame) -> pd.DataFrame:
    """Rows per seed and verdict (for the report's claims-at-a-glance)."""
    counts = claims.groupby(["seed", "verdict"]).size().unstack(fill_value=0)
    return counts.reindex(columns=[v for v in VERDICTS if v in counts.columns])
