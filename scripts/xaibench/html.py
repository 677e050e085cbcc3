"""Readable HTML pages for the Snakemake report: the overview (what ran, the best methods per dataset with
their intervals, the claims, where to look next) and the main tables as sortable, colour-coded HTML.

A ``.tsv`` in the report only downloads; these pages open in the report's viewer. Each page is one
self-contained file (inline style and a few lines of script to sort a column by clicking its header): no
network, no external assets. Only pandas, so the job is light.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["best_methods", "overview_page", "readable_tables", "table_page"]

VERDICT_COLOURS = {
    "supported": "#c7e9c0",
    "not supported": "#fcbba1",
    "inconclusive": "#fee8c8",
    "not tested": "#eeeeee",
    "better": "#c7e9c0",
    "worse": "#fcbba1",
}

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1.2em; color: #222; }
h1 { font-size: 1.35em; } h2 { font-size: 1.1em; margin-top: 1.4em; }
p.note { color: #555; max-width: 70em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; cursor: pointer; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""
_SORT = """
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
  const up = th.dataset.up !== "1"; th.dataset.up = up ? "1" : "0";
  const key = r => { const t = r.cells[col].dataset.v ?? r.cells[col].textContent; const n = parseFloat(t);
                     return isNaN(n) ? t : n; };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
    return order * (up ? 1 : -1); });
  rows.forEach(r => body.appendChild(r));
}));
"""


def _cell(value: object, colour: str | None = None) -> str:
    style = f' style="background:{colour}"' if colour else ""
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return f'<td class="num" data-v=""{style}>–</td>'
        text = f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
        return f'<td class="num" data-v="{value!r}"{style}>{text}</td>'
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f'<td class="num"{style}>{value}</td>'
    return f"<td{style}>{html.escape(str(value))}</td>"


def _table(frame: pd.DataFrame, colour_by: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        values = dict(zip(frame.columns, record, strict=True))
        colour = VERDICT_COLOURS.get(str(values.get(colour_by, ""))) if colour_by else None
        rows.append("<tr>" + "".join(_cell(v, colour if c == colour_by else None) for c, v in values.items()))
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
        f"<script>{_SORT}</script></body></html>"
    )


def table_page(frame: pd.DataFrame, title: str, note: str, colour_by: str | None = None) -> str:
    """One table as a page: ``note`` (plain text) above it, columns sortable by a click on the header,
    ``colour_by`` a column whose values (verdicts: supported, better, ...) colour its cells."""
    body = f'<p class="note">{html.escape(note)}</p>' + _table(frame, colour_by)
    return _page(title, body)


def best_methods(summary: pd.DataFrame, controls: Sequence[str] = ()) -> pd.DataFrame:
    """Per (dataset, model, metric) with a direction: the best attribution method (controls excluded) by
    mean score, with its 95 % interval, and the random control's mean for comparison."""
    rows = []
    directed = summary[summary["direction"].isin(["higher", "lower"])]
    for (dataset, model, metric), group in directed.groupby(["dataset", "model", "metric"], sort=False):
        methods = group[~group["method"].isin(controls)].dropna(subset=["mean"])
        if methods.empty:
            continue
        higher = group["direction"].iloc[0] == "higher"
        best = methods.loc[methods["mean"].idxmax() if higher else methods["mean"].idxmin()]
        random = group.loc[group["method"] == "random", "mean"]
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "metric": metric,
                "category": best["category"],
                "better": "↑" if higher else "↓",
                "best method": best["method"],
                "mean": float(best["mean"]),
                "95% CI": f"[{best['ci95_low']:.3g}, {best['ci95_high']:.3g}]",
                "random": float(random.iloc[0]) if len(random) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def overview_page(
    training: pd.DataFrame,
    summary: pd.DataFrame,
    claims: pd.DataFrame,
    beats_random: pd.DataFrame,
    config: Mapping[str, object],
    controls: Sequence[str] = (),
) -> str:
    """The report's first page: what ran, each model's test accuracy, how often each method beats the random
    control, the claims' verdicts, the best method per metric, and where to look next."""
    datasets = sorted(set(training["dataset"]))
    accuracy = training.groupby(["dataset", "model"], sort=False)["test_accuracy"].agg(
        ["mean", "min", "count"]
    )
    accuracy = accuracy.reset_index().rename(
        columns={"mean": "test accuracy (mean)", "min": "lowest replicate", "count": "replicates"}
    )
    methods = sorted(set(summary["method"]))
    metrics = sorted(set(summary["metric"]))
    counts = claims["verdict"].value_counts()
    verdicts = ", ".join(f"{counts[v]} {v}" for v in VERDICT_COLOURS if v in counts)
    ran = (
        f"{len(datasets)} datasets, {len(accuracy)} (dataset, model) pairs, {len(methods)} methods (with the "
        f"controls {', '.join(controls) or 'none'}), {len(metrics)} metrics, "
        f"{config.get('n_samples', '?')} explained test images per pair and replicate."
    )
    wins = beats_random.assign(
        share=beats_random["n_better"] / beats_random["n_metrics"].where(lambda n: n > 0)
    )
    top = (
        wins[wins["n_better"] > 0]
        .sort_values("share", ascending=False)
        .groupby(["dataset", "model"], sort=False)
        .head(3)[["dataset", "model", "method", "n_better", "n_worse", "n_metrics"]]
        .sort_values(["dataset", "model"])
    )
    claim_rows = claims[claims["dataset"].fillna("") != ""][
        ["claim", "dataset", "statistic", "estimate", "ci_low", "ci_high", "p_value", "n", "verdict"]
    ]
    body = [
        f'<p class="note">{html.escape(ran)}</p>',
        "<h2>Models</h2>",
        _table(accuracy),
        "<h2>Which methods beat the random control</h2>",
        '<p class="note">Per pair, the three methods better than the random map on the most metrics '
        "(Wilcoxon signed-rank on per-image scores, Holm-corrected; a pair without a row: no method is); "
        "the full list: table beats_random.</p>",
        _table(top),
        f"<h2>Claims of the papers ({html.escape(verdicts)})</h2>",
        _table(claim_rows, colour_by="verdict"),
        "<h2>Best method per metric</h2>",
        '<p class="note">Controls excluded; "random" is the random map\'s mean for scale. A best method '
        "whose interval overlaps others is not reliably best: see the comparisons and the "
        "critical-difference figures.</p>",
        _table(best_methods(summary, controls)),
        "<h2>Where to look next</h2>",
        "<ul><li>Figures: the claims at a glance, the metric heatmap and explanation grid per (dataset, "
        "model), the attribution figures of series and tables, the faithfulness curves, and per metric "
        "category the rank diagrams and forest plots."
        "</li><li>Tables: this report's readable tables (summary, comparisons with the controls, claims, "
        "metric health, timing); every table of the run, the long-form scores included, is a compressed "
        "download under Tables / Downloads.</li>"
        "<li>Views: adversarial attacks, occlusion sweeps, cascading randomisation and more, per pair.</li>"
        "</ul>",
    ]
    return _page("xaibench: results overview", "".join(body))


def readable_tables(
    tables: Mapping[str, pd.DataFrame],
) -> dict[str, tuple[pd.DataFrame, str, str, str | None]]:
    """The report's readable tables from the run's tables (``summary``, ``comparisons``, ``beats_random``,
    ``health``, ``timing``, ``claims``, ``training``): name -> (frame, title, note, column to colour by).
    Columns say their units and directions; the long-form scores are not among them (a download)."""
    summary = tables["summary"].drop(columns=["params"], errors="ignore")
    comparisons = tables["comparisons"][
        ["dataset", "model", "metric", "direction", "method", "control", "n_pairs", "median_difference",
         "effect_size", "effect_ci_low", "effect_ci_high", "p_holm", "verdict"]
    ].rename(columns={"effect_size": "rank-biserial r", "p_holm": "p (Holm)"})  # fmt: skip
    timing = (
        tables["timing"]
        .groupby(["dataset", "model", "stage", "method"], sort=False)
        .agg(seconds=("seconds", "sum"), images=("n", "max"))
        .reset_index()
        .assign(**{"ms per image": lambda t: 1000 * t["seconds"] / t["images"].where(t["images"] > 0)})
    )
    claims = tables["claims"].drop(columns=["label", "threshold", "claimed"], errors="ignore")
    return {
        "summary": (
            summary, "Summary: mean score per dataset, model, method and metric",
            "Mean over the explained images and replicates with its hierarchical-bootstrap 95% interval; "
            "direction: which way is better; n_nonfinite: images whose score was NaN or infinite.", None,
        ),
        "comparisons": (
            comparisons, "Every method against the random and Sobel controls",
            "Wilcoxon signed-rank on per-image scores, Holm-corrected per dataset, model, metric and "
            "control; rank-biserial r > 0: the method is better in the metric's direction (interval: "
            "bootstrap 95%).",
            "verdict",
        ),
        "beats_random": (
            tables["beats_random"], "How often each method beats the random control",
            "Per dataset, model and method: the metrics on which it is significantly better (and worse) than "
            "the random map.", None,
        ),
        "claims": (
            claims, "The papers' claims, tested",
            "One row per claim and dataset: the statistic, its estimate with 95% interval, the p-value where "
            "a test applies, the number of paired values and the verdict (detail: why).", "verdict",
        ),
        "metric_health": (
            tables["health"], "Metric health: which metrics carry information here",
            "A flagged metric is constant, saturated, mostly non-finite or cannot tell methods apart on this "
            "dataset: read its scores with care.", None,
        ),
        "timing": (
            timing, "Time per stage and method",
            "Seconds of explanation and evaluation (all metrics together) per dataset, model and method, "
            "summed over replicates, and milliseconds per explained image.", None,
        ),
        "training": (
            tables["training"], "Training: accuracy per dataset, model and replicate",
            "Final training loss and accuracy, validation and test accuracy (fractions).", None,
        ),
    }  # fmt: skip
