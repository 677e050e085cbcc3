"""Localisation metrics: does the relevance lie inside the ground-truth mask? (All need masks.)"""

from __future__ import annotations

from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.rules import count_or_fraction

_LOC_NOTE = (
    "abs=True (Quantus's default for some of them only): localisation asks where the relevance magnitude "
    "lies, so signed maps (IG, DeepLift, LRP) compare with unsigned ones and mass ratios stay in [0, 1]; "
    "otherwise Quantus defaults; a sample with an empty mask scores NaN."
)
_LOC = {"abs": True}

register("pointing_game", MetricSpec("PointingGame", dict(_LOC), needs_mask=True, notes=_LOC_NOTE))
register(
    "attribution_localisation",
    MetricSpec(
        "AttributionLocalisation",
        {},
        needs_mask=True,
        notes=_LOC_NOTE + " Keeps abs=True: with abs=False the inside/total ratio can exceed 1 and Quantus "
        "then returns NaN.",
    ),
)
register(
    "top_k_intersection",
    MetricSpec(
        "TopKIntersection",
        {"k": 0.05, **_LOC},
        resolve=(count_or_fraction("k"),),
        needs_mask=True,
        notes=(
            "k as a fraction of H*W (an int is taken as a pixel count): 0.05 = 51 pixels at 32x32, "
            "smaller than a Triangles & Squares shape (~200-330 px); Quantus's k=1000 is for 224x224 and "
            "is most of a 32x32 image."
        ),
    ),
)
register(
    "relevance_rank_accuracy",
    MetricSpec("RelevanceRankAccuracy", dict(_LOC), needs_mask=True, notes=_LOC_NOTE),
)
register(
    "relevance_mass_accuracy",
    MetricSpec("RelevanceMassAccuracy", dict(_LOC), needs_mask=True, notes=_LOC_NOTE),
)
register(
    "auc",
    MetricSpec("AUC", dict(_LOC), needs_mask=True, notes=_LOC_NOTE + " ROC AUC of |a| against the mask."),
)
