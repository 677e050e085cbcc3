"""The cascading-randomisation view's tables (no torch): the per-(dataset, model, method, step) summary of the
similarity scores that :mod:`xaibench.views.randomisation` writes, so that gathering the view's tables
(rule cascading_randomisation) does not import torch (~2 s)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORES = ("spearman_abs", "spearman_signed", "ssim")


def summarise_randomisation(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (dataset, model,) method and step: images scored, and per score its mean with a t confidence
    interval over the images (NaN scores left out; NaN with fewer than two; clipped to [-1, 1]) and the
    notes."""
    from scipy.stats import t

    keys = [k for k in ("dataset", "model", "method", "step", "layer", "layer_type") if k in table.columns]
    rows = []
    for key, part in table.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key, strict=True))
        row["n"] = len(part)
        for score in SCORES:
            values = part[score].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            mean = float(values.mean()) if len(values) else float("nan")
            half = float("nan")
            if len(values) > 1:
                half = float(
                    t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
                )
            row |= {f"{score}_n": len(values), f"{score}_mean": mean}
            # a similarity lies in [-1, 1]: so does its interval
            low, high = np.clip([mean - half, mean + half], -1.0, 1.0)
            row |= {f"{score}_ci_low": float(low), f"{score}_ci_high": float(high)}
        notes = sorted({str(v) for v in part["note"].dropna() if str(v)})
        row["note"] = "; ".join(notes)
        rows.append(row)
    return pd.DataFrame(rows)
