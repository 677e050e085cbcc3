"""Every view of the workflow: one :func:`~xaibench.views.registry.register` entry each.

An entry names the view's outputs and figures and adapts its computation (in its own module:
:mod:`~xaibench.views.occlusion_sweep`, ...) to the one contract ``compute(pair, settings, seed) ->
ViewOutput``. The workflow imports this module when it is parsed, so the computations, the figure modules
and their libraries (torch, matplotlib) are imported inside the functions, when a job calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xaibench.views.registry import INPUTS, MODEL, Compute, Figure, ViewOutput, register

if TYPE_CHECKING:
    import pandas as pd

    from xaibench.pairs import Pair

# ---- views of inputs and internal activations


def _plot_arrays(function: str) -> Figure:
    """The figure ``xaibench.figures.<function>(arrays, title, png, pdf)`` draws from the arrays alone."""

    def draw(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
        from xaibench import figures

        getattr(figures, function)(out.arrays, title, png, pdf)

    return draw


def _arrays_view(
    name: str, title: str, arrays: str, table: str, *, figure: str, gpu: bool = False
) -> Callable[[Compute], Compute]:
    """:func:`register` for a view of inputs whose result, a dict of arrays, is both its ``.npz`` (file
    ``arrays``) and all that ``xaibench.figures.plot_<name>`` needs to draw its one figure (``figure``), and
    which writes one table (file ``table``)."""
    figures = {figure: _plot_arrays(f"plot_{name}")}
    return register(
        name, title=title, category=INPUTS, arrays=arrays, tables={"table": table}, figures=figures, gpu=gpu
    )


@_arrays_view("occlusion_sweep", "Occlusion sweep", "sweep.npz", "drops.tsv", figure="sweep", gpu=True)
def occlusion_sweep(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Probability drop under occluding windows (sizes x strides, two at once)."""
    from xaibench.views import occlusion_sweep as view

    result = view.occlusion_sweep(pair, **settings, seed=seed)
    table = view.occlusion_table(result)
    note = table.groupby(["kind", "window_px", "stride_px"])[["max_drop", "mean_drop"]].mean()
    return ViewOutput(tables={"table": table}, arrays=result, note=str(note))


@_arrays_view(
    "activation_maps", "Activation maps", "activations.npz", "class_means.tsv", figure="activation_maps"
)
def activation_maps(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Feature maps per stage and mean activation per class and channel."""
    from xaibench.views import activations as view

    result = view.activation_maps(pair, **settings, seed=seed)
    note = f"layers {list(result['layers'])}"
    return ViewOutput(tables={"table": view.activation_table(result)}, arrays=result, note=note)


def _draw_max_activating(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_max_activating

    plot_max_activating(out.tables["table"], out.extra["images"], out.extra["info"], title, png, pdf)


@register(
    "max_activating",
    title="Max/min activating images",
    category=INPUTS,
    tables={"table": "ranking.tsv"},
    figures={"images": _draw_max_activating},
)
def max_activating(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Top-k / bottom-k test images of every class logit and chosen channels."""
    from xaibench.views.max_activating import max_activating as rank

    table, info = rank(pair, **settings, seed=seed)
    extra = {"images": pair.dataset.images, "info": info}
    return ViewOutput(tables={"table": table}, extra=extra, note=str(info))


@_arrays_view(
    "guided_gradcam_composite",
    "Guided Grad-CAM composite",
    "maps.npz",
    "samples.tsv",
    figure="composite",
    gpu=True,
)
def guided_gradcam_composite(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Grad-CAM | Guided Backprop | Guided Grad-CAM."""
    from xaibench.views import composite as view

    result = view.guided_gradcam_composite(pair, **settings, seed=seed)
    note = f"max |Guided Grad-CAM - product| = {result['max_product_error']}"
    return ViewOutput(tables={"table": view.composite_table(result)}, arrays=result, note=note)


# ---- views of what the model has learnt


def _draw_feature_visualisation(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_feature_visualisation

    result, extra = out.extra["result"], out.extra
    plot_feature_visualisation(
        result.images, result.starts, out.tables["table"], extra["class_names"], extra["value_range"],
        title, png, pdf,
    )  # fmt: skip


@register(
    "feature_visualisation",
    title="Feature visualisation",
    category=MODEL,
    arrays="images.npz",
    tables={"table": "values.tsv"},
    figures={"images": _draw_feature_visualisation},
    gpu=True,
)
def feature_visualisation(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Class/channel-maximising images and Deep Dream."""
    from xaibench.views.feature_vis import feature_visualisation_job

    out = feature_visualisation_job(pair, settings, seed)
    extra = {key: out[key] for key in ("result", "class_names", "value_range")}
    note = f"feature visualisation: {out['seconds']} s for {len(out['table'])} images"
    return ViewOutput(tables={"table": out["table"]}, arrays=out["arrays"], extra=extra, note=note)


def _draw_embeddings(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_embeddings

    summary, settings = out.extra["summary"], out.extra["settings"]
    panels = [
        ("tsne", f"t-SNE (perplexity {settings['perplexity']}), silhouette {summary['silhouette_tsne']:.2f}"),
        ("umap", f"UMAP ({settings['n_neighbors']} neighbours), silhouette {summary['silhouette_umap']:.2f}"),
    ]
    title = (
        f"{title}: penultimate features ({summary['feature_dim']}-d, layer {summary['layer']})"
        f" of {summary['n_points']} test images, accuracy {100 * summary['accuracy']:.1f} %"
    )
    plot_embeddings(out.tables["coordinates"], out.extra["class_names"], panels, title, png, pdf)


@register(
    "embeddings",
    title="Embeddings",
    category=MODEL,
    arrays="features.npz",
    tables={"summary": "summary.tsv", "coordinates": "coordinates.tsv"},
    unlabelled=("coordinates",),
    figures={"tsne_umap": _draw_embeddings},
)
def embeddings(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """t-SNE and UMAP of the penultimate features of the test set."""
    import pandas as pd

    from xaibench.views.embeddings import embedding_job

    out = embedding_job(pair, settings, seed)
    tables = {"summary": pd.DataFrame([out["summary"]]), "coordinates": out["table"]}
    extra = {"summary": out["summary"], "settings": settings, "class_names": out["class_names"]}
    return ViewOutput(tables=tables, arrays=out["arrays"], extra=extra, note=str(out["summary"]))


def _adversarial(out: ViewOutput) -> dict[str, Any]:
    """The output as :func:`xaibench.views.adversarial.adversarial_job` returned it."""
    return {**out.tables, "arrays": out.arrays, **out.extra}


def _draw_adversarial_heatmaps(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_adversarial_heatmaps
    from xaibench.views.adversarial import heatmap_rows

    extra = out.extra
    rows = heatmap_rows(_adversarial(out), extra["settings"]["n_show"])
    plot_adversarial_heatmaps(
        rows["clean"], rows["adversarial"], rows["maps_before"], rows["maps_after"], rows["rows"],
        extra["class_names"], extra["value_range"], title, png, pdf, extra["settings"]["methods"],
    )  # fmt: skip


def _draw_adversarial_similarity(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_adversarial_similarity

    settings = out.extra["settings"]
    eps_range = (settings["epsilon_min"], settings["epsilon_max"])
    plot_adversarial_similarity(
        out.tables["similarity"], out.tables["flips"], eps_range, title, png, pdf, settings["methods"]
    )


def _draw_maximisation(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_maximisation

    arrays, extra = out.arrays, out.extra
    n_show = min(len(arrays["maximised"]), int(extra["settings"]["maximise"].get("n_show", 2)))
    table = out.tables["maximisation"].iloc[: n_show * arrays["maximised"].shape[1]]
    plot_maximisation(
        arrays["images"][:n_show], arrays["maximised"][:n_show], table, extra["class_names"],
        extra["value_range"], title, png, pdf,
    )  # fmt: skip


def _summarise_similarity(table: pd.DataFrame) -> pd.DataFrame:
    from xaibench.views.adversarial_tables import summarise_similarity

    return summarise_similarity(table)


@register(
    "adversarial",
    title="Adversarial",
    category=MODEL,
    arrays="arrays.npz",
    tables={
        "similarity": "similarity.tsv",
        "flips": "flips.tsv",
        "maximisation": "maximisation.tsv",
        "noise_pairs": "attack_vs_noise.tsv",
    },
    summarise=_summarise_similarity,
    figures={
        "heatmaps": _draw_adversarial_heatmaps,
        "similarity": _draw_adversarial_similarity,
        "maximisation": _draw_maximisation,
    },
    gpu=True,
)
def adversarial(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Explanations before/after a flipping attack, and adversarial maximisation."""
    from xaibench.views.adversarial import adversarial_job, attack_vs_noise

    out = adversarial_job(pair, settings, settings["methods"], seed)
    tables = {name: out[name] for name in ("similarity", "flips", "maximisation")}
    tables["noise_pairs"] = attack_vs_noise(out["similarity"])  # each attack row beside its noise control
    extra = {"settings": settings, "class_names": out["class_names"], "value_range": out["value_range"]}
    return ViewOutput(tables=tables, arrays=out["arrays"], extra=extra, note=f"seconds: {out['seconds']}")


def _draw_fgsm_growth(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_fgsm_growth

    plot_fgsm_growth(out.arrays, out.tables["trajectory"], out.extra["class_names"], title, png, pdf)


@register(
    "fgsm_growth",
    title="Targeted FGSM growth",
    category=MODEL,
    arrays="growth.npz",
    tables={"trajectory": "trajectory.tsv", "stops": "stops.tsv"},
    figures={"growth": _draw_fgsm_growth},
    gpu=True,
)
def fgsm_growth(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Targeted FGSM grown step by step until the target's probability passes a threshold (seed 004)."""
    from xaibench.views.fgsm_growth import fgsm_growth_job

    out = fgsm_growth_job(pair, settings, seed)
    stops = out["stops"]
    note = (
        f"{int(stops['reached'].sum())}/{len(stops)} reached p(target) >= {settings.get('threshold', 0.5)},"
        f" median stop step {stops['stop_step'].median()}; {out['seconds']} s"
    )
    tables = {"trajectory": out["trajectory"], "stops": stops}
    return ViewOutput(
        tables=tables, arrays=out["arrays"], extra={"class_names": out["class_names"]}, note=note
    )


def _randomisation_summary(table: pd.DataFrame) -> pd.DataFrame:
    from xaibench.views.randomisation_tables import summarise_randomisation

    return summarise_randomisation(table)


def _draw_randomisation_maps(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    import numpy as np

    from xaibench.figures import plot_randomisation_maps

    arrays, extra, table = out.arrays, out.extra, out.tables["similarity"]
    methods, layers = [str(m) for m in arrays["methods"]], [str(s) for s in arrays["layers"]]
    sample, label = int(arrays["indices"][0]), extra["class_names"][int(arrays["labels"][0])]
    scores = np.full(arrays["maps"].shape[:2], np.nan)
    first = table[table["sample"] == sample]
    for m, method in enumerate(methods):
        rows = first[first["method"] == method]
        scores[m, rows["step"].to_numpy()] = rows["spearman_abs"].to_numpy(dtype=float)
    plot_randomisation_maps(
        arrays["images"][0], arrays["maps"][:, :, 0], methods, layers, f"input #{sample}\nlabel {label}",
        extra["value_range"], title, png, pdf, scores=scores, method_specs=extra["settings"]["methods"],
        layer_types=[str(s) for s in arrays["layer_types"]],
    )  # fmt: skip


def _draw_randomisation_curves(out: ViewOutput, title: str, png: str, pdf: str | None) -> None:
    from xaibench.figures import plot_randomisation_curves

    layers, types = ([str(s) for s in out.arrays[key]] for key in ("layers", "layer_types"))
    summary = _randomisation_summary(out.tables["similarity"])
    specs = out.extra["settings"]["methods"]
    plot_randomisation_curves(summary, layers, title, png, pdf, method_specs=specs, layer_types=types)


@register(
    "cascading_randomisation",
    title="Cascading randomisation",
    category=MODEL,
    arrays="maps.npz",
    tables={"similarity": "similarity.tsv"},
    summarise=_randomisation_summary,
    figures={"maps": _draw_randomisation_maps, "curves": _draw_randomisation_curves},
)
def cascading_randomisation(pair: Pair, settings: dict[str, Any], seed: int) -> ViewOutput:
    """Explanations as the layers are re-initialised from the top down (Adebayo et al. 2018)."""
    from xaibench.views.randomisation import randomisation_job

    out = randomisation_job(pair, settings, seed)
    extra = {"settings": settings, "class_names": out["class_names"], "value_range": out["value_range"]}
    last = out["table"][out["table"]["step"] == out["table"]["step"].max()]
    means = last.groupby("method", sort=False)["spearman_abs"].mean().round(3).to_dict()
    note = f"spearman_abs at the last step {means}; seconds: {out['seconds']}"
    return ViewOutput(tables={"similarity": out["table"]}, arrays=out["arrays"], extra=extra, note=note)
