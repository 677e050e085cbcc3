"""Claims about how explanations react when the input or the model is perturbed: seed 004's adversarial
attacks and maximisation (Chen and Teuscher, "Explanation Methods for Neural Networks", 2019) and Adebayo
et al.'s cascading randomisation ("Sanity Checks for Saliency Maps", NeurIPS 2018). Each is tested on a
view's per-image table (the adversarial view's attack/noise pairs, the maximised images' transfer to another
replicate (:mod:`~xaibench.claims.transfer`), the FGSM growth view's stops, the cascading randomisation
view's similarities); the other claims are in :mod:`~xaibench.claims.catalogue`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xaibench.claims.core import ClaimContext, Evidence, not_tested, register
from xaibench.claims.evidence import paired_difference, share_interval
from xaibench.stats.bootstrap import group_rng

SEED_004 = "Chen and Teuscher, Explanation Methods for Neural Networks (2019)"
ADEBAYO = "Adebayo et al., Sanity Checks for Saliency Maps (NeurIPS 2018)"


# ---- seed 004: heatmaps under adversarial attack, against sign noise of the same size


def _attack_claim(context: ClaimContext, method: str) -> list[Evidence]:
    """Per flipped image: Spearman (|a|) of the noise-control map with the clean map minus that of the
    attacked map (positive = the attack changes the map more than sign noise of the same L-inf norm that
    keeps the prediction), pooled over the attacks of the view."""
    pairs = context.tables["adversarial_noise_pairs"]
    names = context.methods_named(method)
    evidence = []
    for (dataset, model), rows in pairs.groupby(["dataset", "model"], sort=False):
        statistic = f"Spearman |a| with the clean map, noise control minus attack, {method}"
        rows = rows[rows["method"].isin(names[:1])]
        difference = rows["spearman_diff"].to_numpy(float)
        if not np.isfinite(difference).any():
            evidence.append(
                not_tested(dataset, model, statistic, f"no flipped image with a {method} noise pair")
            )
            continue
        means = f"attack {rows['spearman_attack'].mean():.2f}, noise {rows['spearman_noise'].mean():.2f}"
        evidence.append(
            paired_difference(
                difference,
                None,
                dataset=dataset,
                model=model,
                statistic=statistic,
                rng=group_rng(context.seed, "attack", dataset, model, method),
                n_boot=context.n_boot,
                detail=f"{means} (attacks: {', '.join(pd.unique(rows['attack']))})",
            )
        )
    return evidence


@register(
    "s004_gradcam_shifts_under_attack",
    seed="004",
    source=SEED_004 + ", Fig. 7 and Conclusion",
    text="Grad-CAM heatmaps change under an imperceptible adversarial attack, more than under random sign "
    "noise of the same size that keeps the prediction",
    label="Grad-CAM maps change under attack more than under equal noise",
    needs=("adversarial_noise_pairs",),
    figure="results/figures/adversarial",
)
def _gradcam_attack(context: ClaimContext) -> list[Evidence]:
    return _attack_claim(context, "gradcam")


@register(
    "s004_lime_shifts_under_attack",
    seed="004",
    source=SEED_004 + ", Fig. 6",
    text="LIME explanations change under an imperceptible adversarial attack, more than under random sign "
    "noise of the same size that keeps the prediction",
    label="LIME maps change under attack more than under equal noise",
    needs=("adversarial_noise_pairs",),
    figure="results/figures/adversarial",
)
def _lime_attack(context: ClaimContext) -> list[Evidence]:
    return _attack_claim(context, "lime")


IMPERCEPTIBLE = 8 / 255  # L-inf of a perturbation, relative to the data range, that the eye does not see


@register(
    "s004_fgsm_growth_imperceptible",
    seed="004",
    source=SEED_004 + ", Fig. 3",
    text="A targeted FGSM attack grown step by step until the target class's probability passes 0.5 gets "
    "there with an imperceptible perturbation (L-inf at most 8/255 of the data range) on most images",
    label="Targeted FGSM reaches the target within 8/255 L-inf on most images",
    needs=("fgsm_growth_stops",),
    figure="results/figures/fgsm_growth",
)
def _fgsm_growth(context: ClaimContext) -> list[Evidence]:
    stops = context.tables["fgsm_growth_stops"]
    evidence = []
    for (dataset, model), rows in stops.groupby(["dataset", "model"], sort=False):
        within = rows["reached"].astype(bool) & (rows["linf_rel_stop"] <= IMPERCEPTIBLE + 1e-9)
        share, low, high = share_interval(int(within.sum()), len(rows))
        reached = int(rows["reached"].astype(bool).sum())
        median = rows["linf_rel_stop"].median() * 255
        detail = f"{reached} of {len(rows)} reached the threshold; median L-inf at the stop {median:.1f}/255"
        evidence.append(
            Evidence(
                dataset,
                model,
                "share of images reaching the target within 8/255 L-inf (Wilson CI)",
                share,
                low,
                high,
                n=len(rows),
                threshold=0.5,
                detail=detail,
            )
        )
    return evidence


# ---- seed 004: adversarially maximised images, seen by an independently trained replicate


def _transfer_claim(context: ClaimContext, attack: str, control: str, what: str) -> list[Evidence]:
    """Per (image, target class) the source model was pushed to: ``attack`` minus ``control`` (the same
    perturbation with shuffled pixel positions), the interval by a bootstrap over images, then targets."""
    table = context.tables["transfer"]
    evidence = []
    for (dataset, model), rows in table.groupby(["dataset", "model"], sort=False):
        statistic = f"{what}, maximised minus shuffled control (other replicates' models)"
        rows = rows[rows["source_reached"].astype(bool)]
        if rows.empty:
            evidence.append(not_tested(dataset, model, statistic, "no maximised image reached its target"))
            continue
        attacked, controlled = rows[attack].to_numpy(float), rows[control].to_numpy(float)
        evidence.append(
            paired_difference(
                attacked - controlled,
                rows["sample"].to_numpy(),  # the targets of one image are clustered: bootstrap images first
                dataset=dataset,
                model=model,
                statistic=statistic,
                rng=group_rng(context.seed, "transfer", attack, dataset, model),
                n_boot=context.n_boot,
                detail=f"maximised {attacked.mean():.2f}, control {controlled.mean():.2f}; "
                f"{rows['sample'].nunique()} images x targets, replicates {sorted(set(rows['replicate']))}",
            )
        )
    return evidence


@register(
    "s004_maximisation_transfers",
    seed="004",
    source=SEED_004 + ", §3.3 (adversarial maximisation)",
    text="Images adversarially maximised toward a class carry features of that class: an independently "
    "trained replicate model predicts the target class on them more often than on the same perturbation "
    "with its pixels shuffled",
    label="Maximised images transfer to an independent replicate above a shuffled control",
    needs=("transfer",),
    figure="results/figures/adversarial",
)
def _maximisation_transfers(context: ClaimContext) -> list[Evidence]:
    return _transfer_claim(context, "transferred", "control_transferred", "transfer rate")


@register(
    "s004_maximisation_class_means",
    seed="004",
    source=SEED_004 + ", §3.3 (adversarial maximisation)",
    text="The perturbation that maximises a class moves the image toward that class's mean image: its cosine "
    "with (target mean - source mean) exceeds that of the same perturbation with its pixels shuffled",
    label="Maximising perturbations align with the class-mean difference",
    needs=("transfer",),
    figure="results/figures/adversarial",
)
def _maximisation_class_means(context: ClaimContext) -> list[Evidence]:
    return _transfer_claim(context, "alignment", "control_alignment", "cosine with the class-mean difference")


# ---- Adebayo et al.: cascading randomisation of the model's layers


def _cascade_claim(context: ClaimContext, method: str, reference: str = "saliency") -> list[Evidence]:
    """Per image, the mean Spearman correlation (of |a|) with the original map over every step of the
    cascade, ``method`` minus ``reference``: positive = ``method`` changes less as the layers are
    randomised."""
    table = context.tables["cascading_randomisation_similarity"]
    evidence = []
    first, second = context.methods_named(method), context.methods_named(reference)
    for (dataset, model), rows in table.groupby(["dataset", "model"], sort=False):
        statistic = f"mean Spearman |a| over the cascade, {method} minus {reference}"
        cascade = rows[rows["step"] > 0]
        names = set(cascade["method"])
        if not (first and second and first[0] in names and second[0] in names):
            evidence.append(not_tested(dataset, model, statistic, f"the view ran no {method} or {reference}"))
            continue
        per_image = cascade.pivot_table(
            index="sample", columns="method", values="spearman_abs", aggfunc="mean"
        )
        difference = (per_image[first[0]] - per_image[second[0]]).to_numpy(float)
        means = f"{method} {per_image[first[0]].mean():.2f}, {reference} {per_image[second[0]].mean():.2f}"
        evidence.append(
            paired_difference(
                difference,
                None,
                dataset=dataset,
                model=model,
                statistic=statistic,
                rng=group_rng(context.seed, "cascade", dataset, model, method),
                n_boot=context.n_boot,
                detail=f"mean over {cascade['step'].max()} steps: {means}",
            )
        )
    return evidence


@register(
    "lit_adebayo_guided_backprop",
    seed="literature",
    source=ADEBAYO + ", Sec. 3 and Fig. 2 (cascading randomisation)",
    text="Guided backpropagation is insensitive to the model's parameters: as the layers are re-initialised "
    "from the top, its maps stay more similar to the original than the gradient's do",
    label="Guided backprop changes less than the gradient under cascading randomisation",
    needs=("cascading_randomisation_similarity",),
    figure="results/figures/cascading_randomisation",
)
def _adebayo_guided_backprop(context: ClaimContext) -> list[Evidence]:
    return _cascade_claim(context, "guided_backprop")


@register(
    "lit_adebayo_guided_gradcam",
    seed="literature",
    source=ADEBAYO + ", Sec. 3 and Fig. 2 (cascading randomisation)",
    text="Guided Grad-CAM is insensitive to the model's parameters: as the layers are re-initialised from "
    "the top, its maps stay more similar to the original than the gradient's do",
    label="Guided Grad-CAM changes less than the gradient under cascading randomisation",
    needs=("cascading_randomisation_similarity",),
    figure="results/figures/cascading_randomisation",
)
def _adebayo_guided_gradcam(context: ClaimContext) -> list[Evidence]:
    return _cascade_claim(context, "guided_gradcam")
