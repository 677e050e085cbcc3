"""Display names of attribution methods and metrics: the one table every figure labels with.

Config entries are named freely (``explain.methods.<entry>: {method, params}``,
``evaluate.metrics.<entry>: {metric, preset, params}``); a figure shows the display name of the entry's
registry method or metric instead, with the parameters that change what is computed (the LRP composite, a
metric preset). Without its spec an entry is taken to be the registry name it spells; an entry that is no
registry name, or a registry name missing here, falls back to the name title-cased (a test keeps this table
equal to the registries). Two entries of one figure that would read the same (one method with two
parameter sets) are told apart by :func:`method_labels` / :func:`metric_labels`, which append the entry name.

Plain Python: this module needs neither matplotlib nor the registries (which import torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from xaibench.stats.rankings import direction_of  # noqa: F401 (re-exported: 'higher', 'lower' or '')

#: Methods treated as baselines: drawn dashed grey/black in curves and listed last in heatmaps.
CONTROL_METHODS: tuple[str, ...] = ("random", "sobel")

#: Registry method -> display name, in registry (alphabetical) order: the order colours are given in.
METHOD_NAMES: dict[str, str] = {
    "cam": "CAM",
    "deconvolution": "Deconvolution",
    "deeplift": "DeepLIFT",
    "deeplift_shap": "DeepLIFT-SHAP",
    "feature_ablation": "Feature ablation",
    "gradcam": "Grad-CAM",
    "gradcam_plus_plus": "Grad-CAM++",
    "gradient_shap": "GradientSHAP",
    "guided_backprop": "Guided Backprop",
    "guided_gradcam": "Guided Grad-CAM",
    "input_x_gradient": "Input × Gradient",
    "integrated_gradients": "Integrated Gradients",
    "kernel_shap": "KernelSHAP",
    "lime": "LIME",
    "lrp": "LRP",  # shown with its composite: LRP_COMPOSITE_NAMES
    "occlusion": "Occlusion",
    "random": "Random",
    "saliency": "Saliency",
    "score_cam": "Score-CAM",
    "shapley_value_sampling": "Shapley sampling",
    "smoothgrad": "SmoothGrad",
    "sobel": "Sobel",
    "vargrad": "VarGrad",
}

#: Registry method -> method family, the panels of the faithfulness curves (controls belong to none: they are
#: drawn in every panel); a registry method missing here goes to :data:`OTHER_FAMILY`.
METHOD_FAMILIES: dict[str, str] = {
    "saliency": "Gradients",
    "input_x_gradient": "Gradients",
    "integrated_gradients": "Gradients",
    "smoothgrad": "Gradients",
    "vargrad": "Gradients",
    "gradient_shap": "Gradients",
    "deeplift": "Gradients",
    "deeplift_shap": "Gradients",
    "guided_backprop": "Modified backprop",
    "deconvolution": "Modified backprop",
    "guided_gradcam": "Modified backprop",
    "lrp": "Modified backprop",
    "gradcam": "CAM",
    "gradcam_plus_plus": "CAM",
    "score_cam": "CAM",
    "cam": "CAM",
    "occlusion": "Perturbation",
    "feature_ablation": "Perturbation",
    "shapley_value_sampling": "Perturbation",
    "lime": "Surrogates",
    "kernel_shap": "Surrogates",
}
#: The family of methods that are in no family of :data:`METHOD_FAMILIES`.
OTHER_FAMILY = "Other"
#: Order of the families in figures (panels, groups of rows).
FAMILY_ORDER: tuple[str, ...] = (
    "Gradients",
    "Modified backprop",
    "CAM",
    "Perturbation",
    "Surrogates",
    OTHER_FAMILY,
)

#: LRP composite (``xaibench.methods.LRP_COMPOSITES``) -> display name; ``lrp`` without one uses the default.
LRP_COMPOSITE_NAMES: dict[str, str] = {
    "epsilon_plus_flat": "LRP (ε-+-flat)",
    "epsilon_gamma_box": "LRP (ε-γ-box)",
    "epsilon_plus": "LRP (ε-+)",
    "epsilon_alpha2_beta1": "LRP (ε-α2β1)",
}
LRP_DEFAULT_COMPOSITE = "epsilon_plus_flat"

#: Registry metric -> display name.
METRIC_NAMES: dict[str, str] = {
    "attribution_localisation": "Attribution localisation",
    "auc": "ROC AUC (mask)",
    "avg_sensitivity": "Avg. sensitivity",
    "completeness": "Completeness",
    "complexity": "Complexity (entropy)",
    "effective_complexity": "Effective complexity",
    "efficient_mprt": "Efficient MPRT",
    "faithfulness_correlation": "Faithfulness corr.",
    "gaussian_mass_1sigma": "Gaussian mass (1σ)",
    "gaussian_mass_2sigma": "Gaussian mass (2σ)",
    "gaussian_spread": "Gaussian spread",
    "heatmap_modes": "Heatmap modes",
    "input_invariance": "Input invariance",
    "mask_dice": "Mask Dice",
    "mask_iou": "Mask IoU",
    "max_sensitivity": "Max. sensitivity",
    "mprt": "MPRT",
    "non_sensitivity": "Non-sensitivity",
    "pixel_flipping": "Pixel flipping (AUC)",
    "pointing_game": "Pointing game",
    "random_logit": "Random logit",
    "region_perturbation": "Region perturbation (AOPC)",
    "relevance_mass_accuracy": "Relevance mass acc.",
    "relevance_rank_accuracy": "Relevance rank acc.",
    "sparseness": "Sparseness (Gini)",
    "top_k_intersection": "Top-k intersection",
}

#: Metric preset (``xaibench.metrics.PRESETS``) -> how it is named after the metric.
PRESET_NAMES: dict[str, str] = {"samek2017": "Samek 2017"}

#: Order of metric categories in every figure; unknown categories follow alphabetically.
CATEGORY_ORDER: tuple[str, ...] = (
    "faithfulness",
    "robustness",
    "localisation",
    "localization",
    "complexity",
    "randomisation",
    "randomization",
    "axiomatic",
)

#: A metric's direction as figures mark it: ↑ higher is better, ↓ lower is better, ↕ neither.
DIRECTION_ARROWS: dict[str, str] = {"higher": "↑", "lower": "↓"}
UNDIRECTED_MARK = "↕"


def category_rank(category: str) -> tuple[int, str]:
    """Sort key of a metric category: its place in :data:`CATEGORY_ORDER`, then alphabetical."""
    key = str(category).strip().lower()
    return (CATEGORY_ORDER.index(key), key) if key in CATEGORY_ORDER else (len(CATEGORY_ORDER), key)


def _title(name: str) -> str:
    """``my_custom_name`` -> ``My Custom Name`` (the fallback for names without a display name)."""
    return " ".join(word[:1].upper() + word[1:] for word in name.split("_") if word) or name


def _known(entry: str, name: str | None, table: Mapping[str, str]) -> str | None:
    """The registry name of an entry: ``name`` when given, else the entry when it is a registry name."""
    if name is not None:
        return name
    return entry if entry in table else None


def registry_method(entry: str, specs: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The registry method of a method entry: its spec's ``method``, else the entry name itself."""
    return str((specs or {}).get(entry, {}).get("method", entry))


def method_label(entry: str, method: str | None = None, params: Mapping[str, Any] | None = None) -> str:
    """Display name of the method entry ``entry`` (registry ``method`` with ``params``, as in the config).

    >>> method_label("lrp_box", "lrp", {"composite": "epsilon_gamma_box"})
    'LRP (ε-γ-box)'
    """
    method = _known(entry, method, METHOD_NAMES)
    if method is None:
        return _title(entry)
    if method == "lrp":
        composite = str((params or {}).get("composite", LRP_DEFAULT_COMPOSITE))
        return LRP_COMPOSITE_NAMES.get(composite, f"LRP ({composite})")
    return METHOD_NAMES.get(method) or _title(method)


def metric_label(
    entry: str,
    metric: str | None = None,
    params: Mapping[str, Any] | None = None,
    preset: str | None = None,
) -> str:
    """Display name of the metric entry ``entry`` (registry ``metric``, ``preset`` and ``params`` as in the
    config; a ``preset`` among ``params``, as in a resolved record, counts too).

    >>> metric_label("region_perturbation_samek", "region_perturbation", preset="samek2017")
    'Region perturbation (AOPC, Samek 2017)'
    """
    metric = _known(entry, metric, METRIC_NAMES)
    if metric is None:
        return _title(entry)
    label = METRIC_NAMES.get(metric) or _title(metric)
    preset = preset or (params or {}).get("preset")
    if preset:
        name = PRESET_NAMES.get(str(preset), str(preset))
        label = f"{label[:-1]}, {name})" if label.endswith(")") else f"{label} ({name})"
    return label


# The keys of a config metric entry that say what is scored; the others (e.g. max_images) say how much.
_METRIC_NAME_KEYS = ("metric", "params", "preset")


def metric_entry_label(entry: str, spec: Mapping[str, Any] | None = None) -> str:
    """:func:`metric_label` of config metric entry ``entry`` with its config ``spec`` (without one, ``entry``
    is read as a registry name)."""
    return metric_label(entry, **{k: v for k, v in (spec or {}).items() if k in _METRIC_NAME_KEYS})


def _unique(labels: dict[str, str]) -> dict[str, str]:
    """``labels`` with every label that several entries share extended by the entry name."""
    count: dict[str, int] = {}
    for label in labels.values():
        count[label] = count.get(label, 0) + 1
    return {entry: f"{label} [{entry}]" if count[label] > 1 else label for entry, label in labels.items()}


def method_labels(
    entries: Iterable[str], specs: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, str]:
    """Entry -> display name for the entries of one figure, distinct; ``specs`` are config method entries
    (``{"method": ..., "params": ...}``), an entry without one is read as a registry name."""
    specs = specs or {}
    return _unique({entry: method_label(entry, **specs.get(entry, {})) for entry in dict.fromkeys(entries)})


def metric_labels(
    entries: Iterable[str], specs: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, str]:
    """Entry -> display name for the entries of one figure, distinct; ``specs`` are config metric entries
    (``{"metric": ..., "preset": ..., "params": ...}``), an entry without one is read as a registry name."""
    specs = specs or {}
    return _unique({entry: metric_entry_label(entry, specs.get(entry)) for entry in dict.fromkeys(entries)})


def method_family(entry: str, specs: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The family of a method entry (:data:`METHOD_FAMILIES` of its registry method, else ``"Other"``)."""
    return METHOD_FAMILIES.get(registry_method(entry, specs), OTHER_FAMILY)


def all_method_labels() -> list[str]:
    """Every display name a registry method can take (LRP once per composite), in registry order."""
    labels: list[str] = []
    for method in METHOD_NAMES:
        labels += list(LRP_COMPOSITE_NAMES.values()) if method == "lrp" else [method_label(method)]
    return labels


__all__ = [
    "CONTROL_METHODS",
    "FAMILY_ORDER",
    "LRP_COMPOSITE_NAMES",
    "LRP_DEFAULT_COMPOSITE",
    "METHOD_FAMILIES",
    "METHOD_NAMES",
    "METRIC_NAMES",
    "OTHER_FAMILY",
    "PRESET_NAMES",
    "all_method_labels",
    "method_family",
    "method_label",
    "method_labels",
    "metric_label",
    "metric_labels",
    "registry_method",
]
