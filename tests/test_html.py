"""The report's readable pages (xaibench/html.py): the best method per metric, sortable coloured tables and
the overview page, on small tables with known answers."""

from __future__ import annotations

import math
import re

import pandas as pd

from xaibench.html import VERDICT_COLOURS, best_methods, overview_page, table_page


def _summary():
    rows = []
    for metric, direction, means in (
        ("rma", "higher", {"lrp": 0.8, "saliency": 0.6, "random": 0.2, "sobel": 0.9}),
        ("sens", "lower", {"lrp": 0.3, "saliency": 0.1, "random": 0.05, "sobel": 0.0}),
        ("modes", "none", {"lrp": 1.0, "saliency": 2.0, "random": 3.0, "sobel": 4.0}),
    ):
        for method, mean in means.items():
            rows.append(
                dict(dataset="d", model="m", method=method, metric=metric, category="C", direction=direction,
                     mean=mean, ci95_low=mean - 0.1, ci95_high=mean + 0.1)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_best_method_respects_direction_and_skips_controls():
    best = best_methods(_summary(), controls=("random", "sobel")).set_index("metric")
    assert list(best.index) == ["rma", "sens"]  # no direction: no best
    assert best.loc["rma", "best method"] == "lrp" and best.loc["rma", "random"] == 0.2
    assert best.loc["sens", "best method"] == "saliency" and best.loc["sens", "better"] == "↓"
    assert best.loc["rma", "95% CI"] == "[0.7, 0.9]"


def test_table_page_sorts_and_colours_verdicts():
    frame = pd.DataFrame(
        {"claim": ["a", "b"], "estimate": [0.5, math.nan], "verdict": ["supported", "inconclusive"]}
    )
    page = table_page(frame, "Claims", "note <b>escaped</b>", colour_by="verdict")
    assert page.count("<tr>") == 3 and 'class="sortable"' in page and "addEventListener" in page
    assert "note &lt;b&gt;escaped&lt;/b&gt;" in page
    assert f'background:{VERDICT_COLOURS["supported"]}">supported' in page
    assert re.search(r'data-v="0.5"[^>]*>0.5<', page) and ">–<" in page  # NaN shown as a dash


def test_overview_names_accuracy_winners_best_methods_and_claims():
    training = pd.DataFrame({"dataset": ["d", "d"], "model": ["m", "m"], "test_accuracy": [0.9, 0.8]})
    beats = pd.DataFrame({"dataset": ["d"] * 2, "model": ["m"] * 2, "method": ["lrp", "saliency"],
                          "n_metrics": [2, 2], "n_better": [2, 1], "n_worse": [0, 0]})  # fmt: skip
    claims = pd.DataFrame({"claim": ["c1"], "dataset": ["d"], "statistic": ["s"], "estimate": [0.3],
                           "ci_low": [0.1], "ci_high": [0.5], "p_value": [0.01], "n": [8],
                           "verdict": ["supported"]})  # fmt: skip
    page = overview_page(training, _summary(), claims, beats, {"n_samples": 8}, controls=("random", "sobel"))
    assert "1 datasets, 1 (dataset, model) pairs, 4 methods" in page
    assert ">0.85<" in page and ">0.8<" in page  # mean and lowest replicate accuracy
    assert page.index(">lrp<") < page.index(">saliency<")  # the method beating random on more metrics first
    assert "1 supported" in page
