"""The adversarial view's tables (no torch): map similarity, the per-pair summary, the pairing of every attack
row with its noise-control row, and the rows the heatmap figure draws (see :mod:`xaibench.views.adversarial`
for the method)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

NOISE_PREFIX = "noise_"  # the similarity rows of the noise control of attack A are the "attack" noise_A


def _unit_abs(a: np.ndarray) -> np.ndarray:
    a = np.abs(a.astype(np.float64))
    top = a.max()
    return a / top if top > 0 else a


def map_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """SSIM and Spearman ρ of two maps (H, W) on ``|a| / max |a|``; NaN for non-finite or constant maps."""
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan"), float("nan")
    ua, ub = _unit_abs(a), _unit_abs(b)
    side = min(ua.shape)
    win = min(7, side if side % 2 else side - 1)
    ssim = float(structural_similarity(ua, ub, data_range=1.0, win_size=win)) if win >= 3 else float("nan")
    if ua.std() == 0 or ub.std() == 0:
        return ssim, float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(ua.ravel(), ub.ravel()).statistic)
    return ssim, rho


def heatmap_rows(result: dict[str, Any], n_show: int) -> dict[str, Any]:
    """What :func:`xaibench.figures.plot_adversarial_heatmaps` draws: per attack, ``n_show``
    samples (flipped ones first, in sample order), their clean/attacked images and maps, and one row of
    metadata each (with ``ssim:<method>`` and ``spearman:<method>`` columns)."""
    arrays, flips, sim = result["arrays"], result["flips"], result["similarity"]
    methods = list(dict.fromkeys(sim["method"]))
    position = {int(s): i for i, s in enumerate(arrays["indices"])}
    rows, clean, adversarial = [], [], []
    before: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    after: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for attack, part in flips.groupby("attack", sort=False):
        part = part.sort_values(["flipped", "sample"], ascending=[False, True]).head(n_show)
        for rec in part.to_dict("records"):
            i = position[int(rec["sample"])]
            clean.append(arrays["images"][i])
            adversarial.append(arrays[f"{attack}_adversarial"][i])
            scores = sim[(sim["attack"] == attack) & (sim["sample"] == rec["sample"])].set_index("method")
            for m in methods:
                before[m].append(arrays[f"{attack}_{m}_before"][i])
                after[m].append(arrays[f"{attack}_{m}_after"][i])
                rec[f"ssim:{m}"], rec[f"spearman:{m}"] = scores.at[m, "ssim"], scores.at[m, "spearman"]
            rows.append(rec)
    return {
        "clean": np.stack(clean),
        "adversarial": np.stack(adversarial),
        "maps_before": {m: np.stack(v) for m, v in before.items()},
        "maps_after": {m: np.stack(v) for m, v in after.items()},
        "rows": pd.DataFrame(rows),
    }


def summarise_similarity(similarity: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, attack, method): samples, flips, median ε at the flip, and the mean / median SSIM
    and Spearman ρ over the flipped samples (NaN where none flipped or the method was not applicable).

    The noise controls are "attacks" of their own (``noise_<attack>``): their rows are the samples that attack
    flipped, so ``n`` = ``n_flipped`` = the attack's ``n_flipped`` and ``median_epsilon`` is the attack's."""
    keys = [k for k in ("dataset", "model", "attack", "method") if k in similarity.columns]
    rows = []
    for key, part in similarity.groupby(keys, sort=False):
        flipped = part[part["flipped"].astype(bool)]
        notes = sorted({str(n) for n in part["note"].dropna() if str(n)})
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n": len(part),
                "n_flipped": len(flipped),
                "median_epsilon": float(flipped["epsilon"].median()) if len(flipped) else float("nan"),
                "ssim_mean": float(flipped["ssim"].mean()),
                "ssim_median": float(flipped["ssim"].median()),
                "spearman_mean": float(flipped["spearman"].mean()),
                "spearman_median": float(flipped["spearman"].median()),
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows)


def attack_vs_noise(similarity: pd.DataFrame) -> pd.DataFrame:
    """Each flipped sample's attack row beside its noise-control row, per (dataset, model,) sample, method and
    attack: ``epsilon``, ``spearman_attack``, ``spearman_noise``, ``ssim_attack``, ``ssim_noise``, the
    differences ``spearman_diff`` and ``ssim_diff`` (noise − attack: positive = the attack changes the map
    more than sign noise of the same L∞ size), ``noise_draws`` and ``note`` (both rows' notes; NaN scores
    where a method was not applicable or every noise draw flipped the prediction).

    ``similarity``: the view's table (one pair's or the gathered one); a noise row pairs with the attack named
    in its ``matched_attack`` (or, without that column, its ``attack`` less the ``noise_`` prefix).
    """
    keys = [k for k in ("dataset", "model") if k in similarity.columns] + ["sample", "method"]
    is_noise = similarity["attack"].astype(str).str.startswith(NOISE_PREFIX)
    noise = similarity[is_noise].copy()
    if "matched_attack" in noise.columns:
        noise["matched"] = noise["matched_attack"].astype(str)
    else:
        noise["matched"] = noise["attack"].astype(str).str.removeprefix(NOISE_PREFIX)
    attacked = similarity[~is_noise & similarity["flipped"].astype(bool)]
    scores = ["spearman", "ssim"]
    left = attacked[[*keys, "attack", "epsilon", *scores, "note"]]
    right = noise[[*keys, "matched", *scores, "note", *(["noise_draws"] if "noise_draws" in noise else [])]]
    pairs = left.merge(
        right.rename(columns={"matched": "attack"}),
        on=[*keys, "attack"],
        how="inner",
        suffixes=("_attack", "_noise"),
        validate="one_to_one",
    )
    for score in scores:
        pairs[f"{score}_diff"] = pairs[f"{score}_noise"] - pairs[f"{score}_attack"]
    notes = pairs[["note_attack", "note_noise"]].fillna("").astype(str)
    pairs["note"] = [
        "; ".join(dict.fromkeys(t for t in row if t)) for row in notes.itertuples(index=False, name=None)
    ]
    columns = [*keys, "attack", "epsilon", "spearman_attack", "spearman_noise", "spearman_diff"]
    columns += ["ssim_attack", "ssim_noise", "ssim_diff"]
    columns += ["noise_draws"] if "noise_draws" in pairs else []
    return pairs[[*columns, "note"]].reset_index(drop=True)
