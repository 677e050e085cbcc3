"""The claims of the seed papers (and three from the literature they build on), tested on the run's tables.

One :func:`~xaibench.claims.core.register` entry per claim. A claim names methods and metrics by their
registry names (``lrp``, ``region_perturbation`` with preset ``samek2017``) and datasets by generator
(``synthetic_ct``, ``triangles_squares``); the context maps them to the run's config names, so a claim is
tested wherever the run has what it needs, whatever the entries are called.

The claims of seed 004 and of Adebayo et al. (perturbed inputs and models) are in
:mod:`~xaibench.claims.perturbations`. The papers (README, References):

* seed 000: Brodzicki, Kucharski, Piekarski, Kostuch, Jaworek-Korjakowska, "Deep Neural Network
  Interpretability Methods for Supervised and Unsupervised Problems" (2021);
* seed 002: Rangelova, "Exploring deep neural network explanation technologies potential for research
  using scientific image datasets" (Netherlands eScience Center);
* seed 003: Fang, "Convolutional Neural Network Interpretability Analysis for Image Classification" (2023);
* seed 004: Chen and Teuscher, "Explanation Methods for Neural Networks" (PSU Student Research Symposium,
  2019);
* Adebayo, Gilmer, Muelly, Goodfellow, Hardt, Kim, "Sanity Checks for Saliency Maps" (NeurIPS 2018);
* Selvaraju, Cogswell, Das, Vedantam, Parikh, Batra, "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization" (ICCV 2017);
* Clark, Wilming, Haufe, "XAI-TRIS: non-linear image benchmarks to quantify false positive post-hoc
  attribution of feature importance" (Machine Learning, 2024).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xaibench.claims.checkpoints import accuracy_correlation
from xaibench.claims.class_regions import discrimination
from xaibench.claims.core import ClaimContext, Evidence, not_tested, register
from xaibench.claims.evidence import (
    against_control,
    between_methods,
    mean_interval,
    paired_difference,
)
from xaibench.stats.bootstrap import group_rng

CT = ("synthetic_ct", "luna16")
OBJECT_DOMAINS = (*CT, "beam_profiles")  # seed 000's domains whose masks mark the deciding object
SHAPES = ("triangles_squares",)

SEED_000 = (
    "Brodzicki et al., Deep Neural Network Interpretability Methods for Supervised and Unsupervised Problems "
    "(2021)"
)
SEED_002 = (
    "Rangelova, Exploring deep neural network explanation technologies potential for research (eScience)"
)
SEED_003 = "Fang, Convolutional Neural Network Interpretability Analysis for Image Classification (2023)"
XAI_TRIS = "Clark, Wilming and Haufe, XAI-TRIS (Machine Learning, 2024)"
SELVARAJU = "Selvaraju et al., Grad-CAM: Visual Explanations from Deep Networks (ICCV 2017)"


def _models(table: pd.DataFrame, dataset: str) -> list[str]:
    return list(pd.unique(table.loc[table["dataset"] == dataset, "model"]))


def _on_object(context: ClaimContext, method: str) -> list[Evidence]:
    """``method`` puts more relevance inside the object mask than the random control (relevance mass
    accuracy), on seed 000's domains with object masks."""
    comparisons = context.tables["comparisons"]
    evidence = []
    if not context.datasets_of(*OBJECT_DOMAINS):
        return [not_tested("", "", "", "the run has no dataset of " + ", ".join(OBJECT_DOMAINS))]
    for dataset in context.datasets_of(*OBJECT_DOMAINS):
        for model in _models(comparisons, dataset):
            names, metrics = context.methods_named(method), context.metrics_named("relevance_mass_accuracy")
            if not names or not metrics:
                evidence.append(
                    not_tested(dataset, model, "", f"the run has no {method} or relevance mass accuracy")
                )
                continue
            evidence.append(against_control(comparisons, dataset, model, metrics[0], names[0]))
    return evidence


_ON_OBJECT = "relevance inside the object mask beats the random control"


@register(
    "s000_gradcam_on_object",
    seed="000",
    source=SEED_000 + ", Sec. 3.2-3.3 and Fig. 1",
    text="Grad-CAM's attention lies on the object that decides the class (the nodule, the beam spot): "
    + _ON_OBJECT,
    label="Grad-CAM puts relevance on the object (nodule, beam spot)",
    needs=("comparisons",),
    figure="results/figures/explanation_grid",
)
def _gradcam_on_object(context: ClaimContext) -> list[Evidence]:
    return _on_object(context, "gradcam")


@register(
    "s000_lime_on_object",
    seed="000",
    source=SEED_000 + ", Sec. 3.2 and Fig. 1",
    text="LIME's attention lies on the object that decides the class: " + _ON_OBJECT,
    label="LIME puts relevance on the object (nodule, beam spot)",
    needs=("comparisons",),
    figure="results/figures/explanation_grid",
)
def _lime_on_object(context: ClaimContext) -> list[Evidence]:
    return _on_object(context, "lime")


@register(
    "s000_occlusion_on_object",
    seed="000",
    source=SEED_000 + ", Sec. 3.2 and Fig. 1",
    text="Occluding the object lowers the prediction more than occluding the rest: " + _ON_OBJECT,
    label="Occlusion puts relevance on the object (nodule, beam spot)",
    needs=("comparisons",),
    figure="results/figures/explanation_grid",
)
def _occlusion_on_object(context: ClaimContext) -> list[Evidence]:
    return _on_object(context, "occlusion")


@register(
    "s002_lrp_beats_saliency",
    seed="002",
    source=SEED_002 + ", citing Samek et al. 2017",
    text="On Triangles & Squares, LRP heatmaps are of better quality than sensitivity (gradient) maps: "
    "a higher AOPC under region perturbation (Samek et al.'s own measure)",
    label="LRP beats the gradient on region perturbation (T&S)",
    needs=("scores",),
    figure="results/figures/critical_differences",
)
def _lrp_beats_saliency(context: ClaimContext) -> list[Evidence]:
    return _lrp_beats(context, "saliency")


@register(
    "s002_lrp_beats_deconvolution",
    seed="002",
    source=SEED_002 + ", citing Samek et al. 2017",
    text="On Triangles & Squares, LRP heatmaps are of better quality than deconvolution maps: a higher AOPC "
    "under region perturbation",
    label="LRP beats deconvolution on region perturbation (T&S)",
    needs=("scores",),
    figure="results/figures/critical_differences",
)
def _lrp_beats_deconvolution(context: ClaimContext) -> list[Evidence]:
    return _lrp_beats(context, "deconvolution")


def _lrp_beats(context: ClaimContext, other: str) -> list[Evidence]:
    scores = context.tables["scores"]
    metrics = context.metrics_named("region_perturbation", preset="samek2017") or context.metrics_named(
        "region_perturbation"
    )
    lrp, others = context.methods_named("lrp"), context.methods_named(other)
    evidence = []
    for dataset in context.datasets_of(*SHAPES):
        for model in _models(scores, dataset):
            if not (metrics and lrp and others):
                evidence.append(
                    not_tested(dataset, model, "", f"the run has no lrp, {other} or region perturbation")
                )
                continue
            evidence.append(
                between_methods(
                    scores,
                    dataset,
                    model,
                    metrics[0],
                    lrp[0],
                    others[0],
                    seed=context.seed,
                    n_boot=context.n_boot,
                )
            )
    return evidence


@register(
    "lit_xaitris_edge_detector",
    seed="literature",
    source=XAI_TRIS,
    text="A model-free edge detector (Sobel) competes with attribution methods on localisation: on a typical "
    "image it scores at least as well as half of them",
    label="A Sobel edge map matches half the attribution methods on localisation",
    needs=("scores",),
    figure="results/figures/metric_heatmap",
)
def _edge_detector(context: ClaimContext) -> list[Evidence]:
    scores = context.tables["scores"]
    sobel = context.methods_named("sobel")
    controls = set(context.methods_named("sobel") + context.methods_named("random"))
    local = scores[
        (scores["category"] == "Localisation")
        & scores["direction"].isin(["higher", "lower"])
        & np.isfinite(scores["score"].to_numpy(float))
    ]
    evidence = []
    for dataset in pd.unique(local["dataset"]):
        for model in _models(local, dataset):
            rows = local[(local["dataset"] == dataset) & (local["model"] == model)]
            statistic = "share of attribution methods Sobel matches or beats, per image (mean over images)"
            if context.modality(dataset) != "image":
                reason = f"a finding about images; {dataset} is a {context.modality(dataset)} dataset"
                evidence.append(not_tested(dataset, model, statistic, reason))
                continue
            if not sobel or sobel[0] not in set(rows["method"]):
                evidence.append(
                    not_tested(dataset, model, statistic, "no finite localisation score of sobel")
                )
                continue
            share, replicates = _sobel_share(rows, sobel[0], controls)
            mean, low, high, n = mean_interval(
                share,
                replicates,
                rng=group_rng(context.seed, "xaitris", dataset, model),
                n_boot=context.n_boot,
            )
            if n == 0:
                evidence.append(
                    not_tested(dataset, model, statistic, "no image with finite localisation scores")
                )
                continue
            evidence.append(
                Evidence(
                    dataset, model, statistic, mean, low, high, n=n, threshold=0.5, detail=_metric_list(rows)
                )
            )
    return evidence


def _sobel_share(rows: pd.DataFrame, sobel: str, controls: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per (replicate, image): the share of (attribution method, localisation metric) pairs on which Sobel
    scores at least as well (in the metric's direction), over the finite pairs."""
    oriented = rows["score"].where(rows["direction"] == "higher", -rows["score"])
    wide = rows.assign(oriented=oriented).pivot_table(
        index=["replicate", "sample", "metric"], columns="method", values="oriented", aggfunc="first"
    )
    others = [m for m in wide.columns if m not in controls]
    base = wide[sobel].to_numpy(float)[:, None]
    values = wide[others].to_numpy(float)
    finite = np.isfinite(values) & np.isfinite(base)
    wins = ((base >= values) & finite).sum(axis=1)
    per_row = pd.DataFrame({"wins": wins, "pairs": finite.sum(axis=1)}, index=wide.index)
    per_image = per_row.groupby(level=["replicate", "sample"]).sum()
    share = (per_image["wins"] / per_image["pairs"].where(per_image["pairs"] > 0)).to_numpy(float)
    return share, per_image.index.get_level_values("replicate").to_numpy()


def _metric_list(rows: pd.DataFrame) -> str:
    return "localisation metrics: " + ", ".join(sorted(pd.unique(rows["metric"])))


# ---- seed 003: occluders of growing size


@register(
    "s003_occluder_size",
    seed="003",
    source=SEED_003 + ", Sec. 3.2",
    text="An occluder covering part of the object lowers the true-class probability much more than a small "
    "one (largest vs smallest window, the largest drop over positions)",
    label="A larger occluder lowers the true-class probability more",
    needs=("occlusion_sweep",),
    figure="results/figures/occlusion_sweep",
)
def _occluder_size(context: ClaimContext) -> list[Evidence]:
    table = context.tables["occlusion_sweep"]
    single = table[table["kind"] == "single"]
    evidence = []
    for (dataset, model), rows in single.groupby(["dataset", "model"], sort=False):
        stride = rows["stride_px"].min()
        rows = rows[rows["stride_px"] == stride]
        small, large = rows["window_px"].min(), rows["window_px"].max()
        wide = rows.pivot_table(index="index", columns="window_px", values="max_drop", aggfunc="first")
        statistic = f"max drop, {large} px minus {small} px window (stride {stride} px)"
        if small == large:
            evidence.append(not_tested(dataset, model, statistic, "the sweep has one window size"))
            continue
        difference = (wide[large] - wide[small]).to_numpy(float)
        means = f"mean drop {wide[small].mean():.3f} ({small} px), {wide[large].mean():.3f} ({large} px)"
        evidence.append(
            paired_difference(
                difference,
                None,
                dataset=dataset,
                model=model,
                statistic=statistic,
                rng=group_rng(context.seed, "occluder", dataset, model),
                n_boot=context.n_boot,
                detail=means,
            )
        )
    return evidence


# ---- seed 003: class discrimination on two-class composites (rule class_regions)


def _class_claim(context: ClaimContext, method: str, reference: str | None = None) -> list[Evidence]:
    """Per composite: ``method``'s discrimination (share of a class's relevance on its own object minus on
    the other, averaged over the two classes), or its difference from ``reference``'s."""
    table = context.tables["class_regions"]
    summary = discrimination(table)
    names, others = context.methods_named(method), context.methods_named(reference) if reference else []
    evidence = []
    for (dataset, model), rows in summary.groupby(["dataset", "model"], sort=False):
        wide = rows.pivot_table(index="composite", columns="method", values="discrimination", aggfunc="first")
        statistic = f"discrimination, {method}" + (f" minus {reference}" if reference else "")
        if not names or names[0] not in wide or (reference and (not others or others[0] not in wide)):
            wanted = " and ".join(filter(None, (method, reference)))
            evidence.append(not_tested(dataset, model, statistic, f"claims.class_methods lack {wanted}"))
            continue
        values = wide[names[0]].to_numpy(float)
        detail = f"{method} {np.nanmean(values):.2f}"
        if reference:
            detail += f", {reference} {np.nanmean(wide[others[0]]):.2f}"
            values = values - wide[others[0]].to_numpy(float)
        evidence.append(
            paired_difference(
                values,
                None,
                dataset=dataset,
                model=model,
                statistic=statistic,
                rng=group_rng(context.seed, "class_regions", dataset, model, method, str(reference)),
                n_boot=context.n_boot,
                detail=f"mean discrimination: {detail} ({len(values)} composites; objects at a median "
                f"{_median_scale(table, dataset, model):.2f} of their size in the training images)",
            )
        )
    return evidence


def _median_scale(table: pd.DataFrame, dataset: str, model: str) -> float:
    rows = table[(table["dataset"] == dataset) & (table["model"] == model)]
    return float(rows["scale_own"].median())


@register(
    "s003_gradcam_class_discriminative",
    seed="003",
    source=SEED_003 + ", Sec. 3.3, Fig. 3-4",
    text="Grad-CAM is class-discriminative: in an image holding objects of two classes, the map of each "
    "class puts more of its relevance on that class's object than on the other",
    label="Grad-CAM of each class highlights that class's object",
    needs=("class_regions",),
    figure="results/figures/class_regions",
)
def _gradcam_class_discriminative(context: ClaimContext) -> list[Evidence]:
    return _class_claim(context, "gradcam")


@register(
    "s003_guided_gradcam_class_discriminative",
    seed="003",
    source=SEED_003 + ", Sec. 3.3, Fig. 5",
    text="Guided Grad-CAM is class-discriminative (and high-resolution): the map of each class of a "
    "two-class image puts more of its relevance on that class's object than on the other",
    label="Guided Grad-CAM of each class highlights that class's object",
    needs=("class_regions",),
    figure="results/figures/class_regions",
)
def _guided_gradcam_class_discriminative(context: ClaimContext) -> list[Evidence]:
    return _class_claim(context, "guided_gradcam")


@register(
    "lit_selvaraju_guided_backprop",
    seed="literature",
    source=SELVARAJU + ", Sec. 3 and Fig. 1",
    text="Guided backpropagation is not class-discriminative, Grad-CAM is: on two-class images Grad-CAM's "
    "discrimination exceeds guided backpropagation's",
    label="Grad-CAM discriminates classes more than guided backprop",
    needs=("class_regions",),
    figure="results/figures/class_regions",
)
def _selvaraju_guided_backprop(context: ClaimContext) -> list[Evidence]:
    return _class_claim(context, "gradcam", "guided_backprop")


# ---- seed 000: its own overlap metric; seed 002: relevance per part of the object


@register(
    "s000_gradcam_overlaps_mask",
    seed="000",
    source=SEED_000 + ", Sec. 3.1 (the overlap metric of its ref. [2])",
    text="Grad-CAM heatmaps overlap the segmentation ground truth: the IoU of the map's hot region (at least "
    "half its maximum) with the mask beats the random control",
    label="Grad-CAM's hot region overlaps the mask (IoU) more than a random map's",
    needs=("comparisons",),
    figure="results/figures/metric_heatmap",
)
def _gradcam_overlaps_mask(context: ClaimContext) -> list[Evidence]:
    comparisons = context.tables["comparisons"]
    gradcam, iou = context.methods_named("gradcam"), context.metrics_named("mask_iou")
    if not (gradcam and iou):
        return [not_tested("", "", "", "the run has no gradcam or mask_iou")]
    tested = comparisons[(comparisons["metric"] == iou[0]) & (comparisons["n_pairs"] > 0)]
    return [
        against_control(comparisons, dataset, model, iou[0], gradcam[0])
        for dataset, model in dict.fromkeys(zip(tested["dataset"], tested["model"], strict=True))
    ]


@register(
    "s000_gaussian_tracks_accuracy",
    seed="000",
    source=SEED_000 + ", Sec. 3.4 (the Gaussian statistics of its ref. [3], SafeSO)",
    text="The label-free Gaussian statistics of the heatmaps correlate with accuracy: across training "
    "checkpoints (and replicates), the more accurate the model, the more concentrated its Grad-CAM maps "
    "(Spearman's rho of test accuracy with the maps' Gaussian spread below 0)",
    label="More accurate checkpoints give more concentrated Grad-CAM maps (rho < 0)",
    needs=("checkpoints",),
    figure="",  # the table results/claims/checkpoints/<pair>.tsv
)
def _gaussian_tracks_accuracy(context: ClaimContext) -> list[Evidence]:
    table = context.tables["checkpoints"]
    evidence = []
    for (dataset, model), rows in table.groupby(["dataset", "model"], sort=False):
        spread = accuracy_correlation(rows, "gaussian_spread")
        iou = accuracy_correlation(rows, "mask_iou")
        detail = f"accuracy {rows['accuracy'].min():.2f}-{rows['accuracy'].max():.2f}"
        if np.isfinite(iou["rho"]):
            detail += f"; rho with mask IoU {iou['rho']:.2f} (p={iou['p_value']:.2g})"
        evidence.append(
            Evidence(
                dataset,
                model,
                "Spearman rho, checkpoint accuracy vs mean Gaussian spread (Fisher-z CI)",
                estimate=spread["rho"],
                ci_low=spread["ci_low"],
                ci_high=spread["ci_high"],
                p_value=spread["p_value"],
                n=spread["n"],
                claimed="less",
                detail=detail,
            )
        )
    return evidence


def _parts_rows(
    context: ClaimContext, method: str, zone: str, statistic: str
) -> list[tuple[str, str, pd.Series]]:
    parts = context.tables["parts"]
    names = context.methods_named(method)
    rows = parts[(parts["zone"] == zone) & (parts["statistic"] == statistic)]
    rows = rows[rows["method"].isin(names[:1])]
    return [(row["dataset"], row["model"], row) for _, row in rows.iterrows()]


def _summary_evidence(
    row: pd.Series, statistic: str, threshold: float, claimed: str, detail: str = ""
) -> Evidence:
    return Evidence(
        row["dataset"],
        row["model"],
        statistic,
        estimate=float(row["estimate"]),
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
        n=int(row["n"]),
        threshold=threshold,
        claimed=claimed,
        detail=detail,
    )


@register(
    "s002_lrp_not_corners",
    seed="002",
    source=SEED_002 + ", on Rangelova et al. 2018 (LRP on Triangles & Squares)",
    text="LRP heatmaps of Triangles & Squares do not follow the human strategy of counting corners: they "
    "put less relevance per pixel on the corners than along the edges (corner / edge enrichment below 1)",
    label="LRP does not concentrate on corners (corner/edge relevance density < 1)",
    needs=("parts",),
    figure="results/figures/object_parts",
)
def _lrp_not_corners(context: ClaimContext) -> list[Evidence]:
    evidence = []
    for dataset, _model, row in _parts_rows(context, "lrp", "corner/edge", "enrichment_ratio"):
        if dataset in context.datasets_of(*SHAPES):
            evidence.append(_summary_evidence(row, "corner / edge enrichment of lrp", 1.0, "less"))
    return evidence


@register(
    "s002_counting_every_object",
    seed="002",
    source=SEED_002 + " (the counting task it proposes)",
    text="On a counting task the network's relevance (LRP) covers every object, as a human counting "
    "would: on images of at least two objects, most objects get at least half of an equal share "
    "(evenness above 0.5)",
    label="On counting images LRP covers every object (evenness > 0.5)",
    needs=("parts",),
    figure="results/figures/object_parts",
)
def _counting_every_object(context: ClaimContext) -> list[Evidence]:
    evidence = []
    enrichment = {
        (dataset, model): row for dataset, model, row in _parts_rows(context, "lrp", "object", "enrichment")
    }
    for dataset, model, row in _parts_rows(context, "lrp", "objects", "evenness"):
        if dataset not in context.datasets_of("counting"):
            continue
        on = enrichment.get((dataset, model))
        detail = (
            ""
            if on is None
            else f"object enrichment {on['estimate']:.2f} [{on['ci_low']:.2f}, {on['ci_high']:.2f}]"
        )
        evidence.append(_summary_evidence(row, "evenness of lrp over the objects", 0.5, "greater", detail))
    return evidence
