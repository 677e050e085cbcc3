"""Figure library: every plot writes a sensible PNG and PDF; score normalisation; edge cases; display names
and method styles."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml

from xaibench.figures import (
    ExplanationPanel,
    is_signed,
    normalise_map,
    normalise_scores,
    plot_explanation_grid,
    plot_faithfulness_curves,
    plot_metric_heatmap,
    plot_training_curves,
    save_figure,
)
from xaibench.figures import curves as curves_module
from xaibench.figures import heatmap as heatmap_module
from xaibench.figures.common import CONTROL_STYLES, method_styles
from xaibench.figures.names import (
    CONTROL_METHODS,
    FAMILY_ORDER,
    LRP_COMPOSITE_NAMES,
    LRP_DEFAULT_COMPOSITE,
    METHOD_FAMILIES,
    METHOD_NAMES,
    METRIC_NAMES,
    OTHER_FAMILY,
    PRESET_NAMES,
    all_method_labels,
    method_label,
    method_labels,
    metric_entry_label,
    metric_label,
    metric_labels,
)

METHODS = ["gradcam", "lime", "occlusion", "integrated_gradients", "random", "sobel"]
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def assert_png(path: Path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 0
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 50 and image.shape[1] > 50
    assert np.ptp(image[..., :3]) > 0.1, "image is (nearly) one colour"
    return image


def assert_pdf(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:5] == b"%PDF-"


def no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def make_panel(tiny_batch, title: str = "ts / small_cnn") -> ExplanationPanel:
    x, y, masks = tiny_batch
    rng = np.random.default_rng(1)
    maps = {
        "gradcam": masks.astype(float) * 3.0,  # non-negative
        "lime": masks.astype(float) - 0.5 * rng.random(masks.shape),  # signed
        "occlusion": rng.normal(size=masks.shape),
        "integrated_gradients": np.where(masks, 1.0, -0.2) * rng.random(masks.shape),
        "random": rng.random(masks.shape),
        "sobel": np.zeros(masks.shape),  # constant map must not crash
    }
    names = ["square", "triangle"]
    return ExplanationPanel(
        title=title,
        images=x,
        maps=maps,
        labels=[names[i] for i in y],
        predictions=[names[1 - i] if k == 0 else names[i] for k, i in enumerate(y)],
        masks=masks,
    )


def make_summary(n_methods: int = 5, metrics=None) -> pd.DataFrame:
    metrics = metrics or [
        ("pixel_flipping", "Faithfulness", "lower"),
        ("faithfulness_correlation", "Faithfulness", "higher"),
        ("sparseness", "Complexity", "higher"),
        ("effective_complexity", "Complexity", ""),
        ("pointing_game", "Localisation", "higher"),
    ]
    rng = np.random.default_rng(0)
    methods = [*METHODS, *[f"method_{k}" for k in range(max(0, n_methods - len(METHODS)))]][:n_methods]
    rows = []
    for dataset, model in [("ts_rotation", "small_cnn"), ("ts_plain", "small_cnn")]:
        for metric, category, direction in metrics:
            for method in methods:
                mean = float(rng.normal(1.0, 0.3))
                rows.append(
                    {
                        "dataset": dataset,
                        "model": model,
                        "method": method,
                        "metric": metric,
                        "category": category,
                        "direction": direction,
                        "mean": mean,
                        "ci95_low": mean - 0.1,
                        "ci95_high": mean + 0.1,
                        "n": 8,
                        "n_nonfinite": 0,
                    }
                )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# explanation grid


def test_explanation_grid_writes_png_and_pdf(tmp_path, tiny_batch):
    panels = [make_panel(tiny_batch, "ts_rotation / small_cnn"), make_panel(tiny_batch, "ts_plain / cnn")]
    del panels[1].maps["lime"]  # a method missing from one panel is an empty cell
    plot_explanation_grid(panels, METHODS, tmp_path / "grid.png", tmp_path / "grid.pdf")
    image = assert_png(tmp_path / "grid.png")
    assert 0.8 < image.shape[0] / image.shape[1] < 1.6  # 8 sample rows x 7 columns, plus headers
    assert_pdf(tmp_path / "grid.pdf")
    no_temp_files(tmp_path)


def test_explanation_grid_accepts_rgb_and_no_masks(tmp_path, tiny_batch):
    panel = make_panel(tiny_batch)
    panel.images = np.repeat(panel.images, 3, axis=1)
    panel.masks = None
    panel.maps = {k: np.repeat(v, 3, axis=1) for k, v in panel.maps.items()}  # channels are summed
    plot_explanation_grid([panel], ["gradcam", "lime"], tmp_path / "rgb.png")
    assert_png(tmp_path / "rgb.png")


def test_explanation_grid_rejects_inconsistent_panel(tmp_path, tiny_batch):
    panel = make_panel(tiny_batch)
    panel.labels = panel.labels[:-1]
    with pytest.raises(ValueError, match="labels"):
        plot_explanation_grid([panel], METHODS, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_map_normalisation_rules():
    assert not is_signed([np.array([[0.0, 1.0], [2.0, 3.0]])])
    assert not is_signed([np.array([[-1e-6, 1.0], [2.0, 3.0]])])  # numerical noise below 1 % of the mass
    assert is_signed([np.array([[-1.0, 1.0], [2.0, 3.0]])])
    assert not is_signed([np.zeros((2, 2))])

    signed = normalise_map(np.array([[-4.0, 2.0], [0.0, np.nan]]), signed=True)
    assert signed.min() >= -1 and signed.max() <= 1 and signed[1, 1] == 0
    assert signed[0, 0] == -1 and 0 < signed[0, 1] < 1
    unsigned = normalise_map(np.array([[-4.0, 2.0], [0.0, 1.0]]), signed=False)
    assert unsigned.min() == 0 and unsigned.max() == 1
    assert np.all(normalise_map(np.zeros((3, 3)), signed=True) == 0)


# --------------------------------------------------------------------------------------------------
# metric heatmap


def test_normalise_scores_best_is_one_and_lower_is_flipped():
    summary = pd.DataFrame(
        {
            "dataset": "d",
            "model": "m",
            "method": ["a", "b", "c"] * 3,
            "metric": ["up"] * 3 + ["down"] * 3 + ["free"] * 3,
            "direction": ["higher"] * 3 + ["lower"] * 3 + [""] * 3,
            "mean": [1.0, 3.0, 2.0, 10.0, 30.0, 20.0, 5.0, 7.0, 6.0],
        }
    )
    scores = normalise_scores(summary).set_index(["metric", "method"])["score"]
    assert scores["up", "b"] == 1.0 and scores["up", "a"] == 0.0 and scores["up", "c"] == 0.5
    assert scores["down", "a"] == 1.0 and scores["down", "b"] == 0.0  # lower is better: flipped
    assert scores["free", "b"] == 1.0 and scores["free", "a"] == 0.0  # no direction: plain min-max
    assert len(normalise_scores(summary)) == len(summary)


def test_normalise_scores_groups_nan_and_ties():
    summary = pd.DataFrame(
        {
            "dataset": ["d1", "d1", "d2", "d2", "d3", "d3"],
            "model": "m",
            "method": ["a", "b"] * 3,
            "metric": "x",
            "direction": "lower",
            "mean": [1.0, 2.0, np.nan, 5.0, 4.0, 4.0],
        }
    )
    score = normalise_scores(summary)["score"].tolist()
    assert score[:2] == [1.0, 0.0]  # normalised within (dataset, model, metric)
    assert np.isnan(score[2]) and score[3] == 0.5  # NaN stays NaN; a single finite value has no spread
    assert score[4:] == [0.5, 0.5]
    with pytest.raises(ValueError, match="mean"):
        normalise_scores(summary.drop(columns="mean"))


def test_metric_heatmap_writes_png_and_pdf(tmp_path):
    plot_metric_heatmap(make_summary(), tmp_path / "heat.png", tmp_path / "heat.pdf", title="scores")
    assert_png(tmp_path / "heat.png")
    assert_pdf(tmp_path / "heat.pdf")
    no_temp_files(tmp_path)


def test_metric_heatmap_with_nan_cells_and_many_columns(tmp_path):
    metrics = [(f"metric_{k}", f"Category{k % 6}", ["higher", "lower", "n/a"][k % 3]) for k in range(20)]
    summary = make_summary(n_methods=16, metrics=metrics)
    summary.loc[::7, "mean"] = np.nan
    summary.loc[::11, "n_nonfinite"] = 3
    summary.loc[summary["metric"] == "metric_3", "mean"] = np.nan  # a whole column of NaN
    summary.loc[summary["metric"] == "metric_4", "mean"] = np.inf
    plot_metric_heatmap(summary, tmp_path / "nan.png")
    assert_png(tmp_path / "nan.png")


def test_metric_heatmap_minimal_columns(tmp_path):
    summary = make_summary()[["method", "metric", "mean"]].drop_duplicates(["method", "metric"])
    plot_metric_heatmap(summary, tmp_path / "minimal.png")
    assert_png(tmp_path / "minimal.png")


def test_metric_heatmap_rejects_duplicates_and_empty(tmp_path):
    summary = make_summary()
    with pytest.raises(ValueError, match="duplicate"):
        plot_metric_heatmap(pd.concat([summary, summary.head(1)]), tmp_path / "dup.png")
    with pytest.raises(ValueError, match="empty"):
        plot_metric_heatmap(summary.head(0), tmp_path / "empty.png")


# --------------------------------------------------------------------------------------------------
# curves


def all_method_curves(n_images: int = 12, steps: int = 20) -> dict[str, np.ndarray]:
    """Noisy decaying curves of every registry method (LRP once), controls included."""
    rng = np.random.default_rng(0)
    return {
        m: np.exp(-0.05 * (k + 1) * np.arange(steps)) + rng.normal(0, 0.05, (n_images, steps))
        for k, m in enumerate(METHOD_NAMES)
    }


def curve_lines(ax) -> dict[str, object]:
    return {line.get_label(): line for line in ax.get_lines()}


def test_faithfulness_curves_write_png_and_pdf_with_nan(tmp_path):
    rng = np.random.default_rng(0)
    curves = {
        m: np.exp(-0.1 * (k + 1) * np.arange(20)) + rng.normal(0, 0.05, (12, 20))
        for k, m in enumerate(METHODS)
    }
    curves["lime"][0, 5:] = np.nan
    curves["occlusion"][:, -1] = np.nan  # a step with no finite value at all
    curves["sobel"] = curves["sobel"][:1]  # a single sample: no CI band
    plot_faithfulness_curves(
        curves, tmp_path / "pf.png", tmp_path / "pf.pdf", title="pixel flipping", ylabel="p(target)"
    )
    assert_png(tmp_path / "pf.png")
    assert_pdf(tmp_path / "pf.pdf")
    no_temp_files(tmp_path)


def test_every_registry_method_has_a_curve_family():
    assert set(METHOD_FAMILIES) | set(CONTROL_METHODS) == set(METHOD_NAMES)
    assert not set(METHOD_FAMILIES) & set(CONTROL_METHODS)
    assert set(METHOD_FAMILIES.values()) | {OTHER_FAMILY} == set(FAMILY_ORDER)


def test_faithfulness_curves_one_panel_per_family_with_the_controls(monkeypatch, tmp_path):
    figures = _capture(monkeypatch, curves_module)
    curves = all_method_curves()
    curves["my_method"] = curves["saliency"] + 0.1  # no family: the "Other" panel
    curves["lime"][0, 5:] = np.nan
    plot_faithfulness_curves(curves, tmp_path / "c.png", title="pixel flipping", ylabel="p(target)")
    fig = figures[0]
    families = list(FAMILY_ORDER)  # every family has a method here, "Other" last
    assert [ax.get_title(loc="left") for ax in fig.axes] == families  # one panel per family, in order
    width, height = fig.get_size_inches()
    assert height <= 1.5 * width
    shown = []
    for ax, family in zip(fig.axes, families, strict=True):
        lines = curve_lines(ax)
        assert {"Random", "Sobel"} <= set(lines)  # the controls in every panel
        members = set(lines) - {"Random", "Sobel"}
        assert members, f"empty panel {family}"
        assert len(ax.get_legend().get_texts()) == len(lines)
        shown += members
    expected = [method_label(m) for m in curves if m not in CONTROL_METHODS]
    assert sorted(shown) == sorted(expected)  # every method exactly once
    for ax in fig.axes:
        assert all(t.get_fontsize() >= 7 for t in ax.get_legend().get_texts())
        assert all(t.get_fontsize() >= 7 for t in ax.get_xticklabels() + ax.get_yticklabels())
    # the plotted mean is the per-step mean over images (NaN-aware), in every panel for the controls
    gradients = curve_lines(fig.axes[0])
    np.testing.assert_allclose(gradients["Saliency"].get_ydata(), curves["saliency"].mean(axis=0))
    surrogates = curve_lines(fig.axes[families.index("Surrogates")])
    np.testing.assert_allclose(surrogates["LIME"].get_ydata(), np.nanmean(curves["lime"], axis=0))
    for ax in fig.axes:
        np.testing.assert_allclose(curve_lines(ax)["Random"].get_ydata(), curves["random"].mean(axis=0))


def test_faithfulness_curve_band_is_a_t_interval():
    rng = np.random.default_rng(1)
    curves = rng.normal(size=(8, 5))
    curves[0, 0] = np.nan  # 7 finite values at step 0
    mean, low, high = curves_module._mean_and_ci(curves)
    column = curves[1:, 0]
    half = 2.4469 * column.std(ddof=1) / np.sqrt(7)  # t(0.975, df=6)
    np.testing.assert_allclose(
        [mean[0], low[0], high[0]], [column.mean(), column.mean() - half, column.mean() + half], rtol=1e-4
    )
    known = {1: 12.7062, 7: 2.3646, 30: 2.0423, 40: 2.0211, 120: 1.9799}
    np.testing.assert_allclose(
        curves_module.t_quantile_975(np.array(list(known))), list(known.values()), atol=2e-4
    )
    assert np.isnan(curves_module._mean_and_ci(curves[:1])[1]).all()  # one image: no band


def test_faithfulness_curves_controls_only_and_single_family(monkeypatch, tmp_path):
    figures = _capture(monkeypatch, curves_module)
    curves = all_method_curves(n_images=3, steps=6)
    plot_faithfulness_curves({m: curves[m] for m in CONTROL_METHODS}, tmp_path / "a.png")
    plot_faithfulness_curves({m: curves[m] for m in ("gradcam", "cam")}, tmp_path / "b.png")
    assert [len(f.axes) for f in figures] == [1, 1]
    assert set(curve_lines(figures[0].axes[0])) == {"Random", "Sobel"}
    assert set(curve_lines(figures[1].axes[0])) == {"Grad-CAM", "CAM"}
    for fig in figures:
        width, height = fig.get_size_inches()
        assert height <= 1.5 * width


def test_faithfulness_curves_length_mismatch_raises(tmp_path):
    curves = {"gradcam": np.zeros((3, 10)), "random": np.zeros((3, 11))}
    with pytest.raises(ValueError, match="same length"):
        plot_faithfulness_curves(curves, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
    with pytest.raises(ValueError):
        plot_faithfulness_curves({}, tmp_path / "none.png")


def test_training_curves_several_runs(tmp_path):
    epochs = np.arange(1, 11)
    frames = [
        pd.DataFrame(
            {
                "run": run,
                "epoch": epochs,
                "train_loss": np.exp(-epochs / (3 + k)),
                "val_loss": np.exp(-epochs / (4 + k)) + 0.05,
                "train_acc": 1 - 0.5 * np.exp(-epochs / 3),
                "val_acc": 1 - 0.5 * np.exp(-epochs / 4) - 0.02,
            }
        )
        for k, run in enumerate(["ts_rotation/small_cnn", "ts_plain/small_cnn"])
    ]
    history = pd.concat(frames, ignore_index=True)
    plot_training_curves(history, tmp_path / "train.png", tmp_path / "train.pdf", title="training")
    assert_png(tmp_path / "train.png")
    assert_pdf(tmp_path / "train.pdf")
    single = frames[0].drop(columns="run")
    single.loc[3, "val_loss"] = np.nan
    plot_training_curves(single, tmp_path / "single.png")
    assert_png(tmp_path / "single.png")


# --------------------------------------------------------------------------------------------------
# saving and imports


def test_save_figure_closes_and_replaces(tmp_path):
    import matplotlib.pyplot as plt

    target = tmp_path / "sub" / "fig.png"
    for value in (1, 2):
        fig = plt.figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [0, value])
        save_figure(fig, target, tmp_path / "sub" / "fig.pdf", dpi=50)
        assert not plt.fignum_exists(fig.number)
    assert_png(target)
    assert_pdf(tmp_path / "sub" / "fig.pdf")
    no_temp_files(tmp_path / "sub")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4.0, 3.0), "dpi"),  # small: its own resolution
        ((6.0, 30.0), "height"),  # tall: the window's height decides
        ((40.0, 5.0), "width"),  # wide: the window's width decides
    ],
)
def test_png_fits_the_report_screen(tmp_path, size, expected):
    """The PNG (the report's copy) is rendered at a lower resolution only where it would not fit the viewer's
    window (SCREEN_PX); then its limiting side is within 1.5 % of the limit."""
    from matplotlib.figure import Figure
    from PIL import Image

    from xaibench.figures.common import SCREEN_PX

    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ax.imshow(np.arange(64.0).reshape(8, 8), interpolation="nearest", aspect="auto")
    ax.set_title("a title")
    save_figure(fig, tmp_path / "f.png", tmp_path / "f.pdf", dpi=150)
    width, height = Image.open(tmp_path / "f.png").size
    assert width <= SCREEN_PX[0] and height <= SCREEN_PX[1]
    if expected == "dpi":  # 150 dpi: within the 4 x 3 in figure, cropped to its tight box
        assert 300 < width <= 4 * 150 and 200 < height <= 3 * 150
    else:
        limit = SCREEN_PX[0] if expected == "width" else SCREEN_PX[1]
        assert 0.985 * limit <= (width if expected == "width" else height) <= limit
    assert_pdf(tmp_path / "f.pdf")


@pytest.mark.parametrize("size", [(4.0, 3.0), (6.0, 30.0), (40.0, 5.0)])
def test_png_is_the_tight_crop_savefig_makes(tmp_path, size):
    """save_figure crops its PNG to the box it measured itself (one layout pass fewer): pixel for pixel the
    image ``savefig(bbox_inches="tight")`` renders at the same resolution, with artists outside the axes
    (a legend beside them, a figure title) and an image axes whose aspect moves it; a box off by a pixel
    changes the size or shifts every line."""
    import io

    from matplotlib.figure import Figure
    from PIL import Image

    from xaibench.figures.common import PAD_INCHES, screen_layout

    def draw() -> Figure:
        fig = Figure(figsize=size)
        left, right = fig.subplots(1, 2)
        left.imshow(np.arange(64.0).reshape(8, 8), interpolation="nearest")
        right.plot([0, 1, 2], [2, 0, 1], label="a line whose label sticks out")
        right.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.suptitle("a title above the axes")
        return fig

    save_figure(draw(), tmp_path / "f.png", dpi=150)
    fig = draw()
    buffer = io.BytesIO()
    resolution, _ = screen_layout(fig, 150)
    fig.savefig(buffer, format="png", dpi=resolution, bbox_inches="tight", pad_inches=PAD_INCHES)
    quantised = Image.open(buffer).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=0)
    expected = np.asarray(quantised.convert("RGB"))
    written = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"))
    assert written.shape == expected.shape
    np.testing.assert_array_equal(written, expected)


def test_import_does_not_pull_heavy_libraries(heavy_imports):
    assert heavy_imports("xaibench.figures", ("torch", "captum", "quantus", "seaborn")) == []


# --------------------------------------------------------------------------------------------------
# display names and method styles

CONFIGS = sorted(p for p in (SCRIPTS.parent / "config").glob("*.yaml") if p.name != "schema.yaml")
LRP_SPECS = {f"lrp_{c}": {"method": "lrp", "params": {"composite": c}} for c in LRP_COMPOSITE_NAMES}


def test_every_registered_method_has_a_display_name():
    import inspect

    from xaibench.methods import LRP_COMPOSITES
    from xaibench.methods import METHODS as REGISTRY

    assert sorted(METHOD_NAMES) == REGISTRY.names(), "add the new method to xaibench.figures.names"
    assert list(METHOD_NAMES) == REGISTRY.names()  # registry order: the order colours are given in
    assert set(LRP_COMPOSITE_NAMES) == set(LRP_COMPOSITES)
    lrp = inspect.signature(REGISTRY.get("lrp").fn).parameters["composite"].default
    assert lrp == LRP_DEFAULT_COMPOSITE


def test_every_registered_metric_has_a_display_name():
    from xaibench.metrics import METRICS as REGISTRY
    from xaibench.metrics import PRESETS

    assert sorted(METRIC_NAMES) == REGISTRY.names(), "add the new metric to xaibench.figures.names"
    assert set(PRESET_NAMES) == set(PRESETS)


def test_display_names_are_unique():
    methods = all_method_labels()
    assert len(methods) == len(set(methods)) == len(METHOD_NAMES) - 1 + len(LRP_COMPOSITE_NAMES)
    metrics = [metric_label(m) for m in METRIC_NAMES]
    metrics += [metric_label(p, "region_perturbation", preset=p) for p in PRESET_NAMES]
    assert len(metrics) == len(set(metrics))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_entries_have_distinct_display_names(path):
    config = yaml.safe_load(path.read_text())
    methods = config.get("explain", {}).get("methods", {})
    labels = method_labels(methods, methods)
    assert set(labels.values()) <= set(all_method_labels())  # none falls back to the entry name
    assert len(set(labels.values())) == len(labels)
    metrics = config.get("evaluate", {}).get("metrics", {})
    labels = metric_labels(metrics, metrics)
    assert len(set(labels.values())) == len(labels) and not any("[" in v for v in labels.values())


def test_labels_from_entries_specs_and_fallbacks():
    assert method_label("gradcam_plus_plus") == "Grad-CAM++"
    assert method_label("lrp") == method_label("lrp", "lrp", {}) == "LRP (ε-+-flat)"
    assert method_label("lrp_alpha2_beta1", "lrp", {"composite": "epsilon_alpha2_beta1"}) == "LRP (ε-α2β1)"
    assert method_label("my_method") == "My Method"  # no registry name: the entry, title-cased
    assert metric_label("pixel_flipping", "pixel_flipping", {"features_in_step": 4}) == "Pixel flipping (AUC)"
    samek = metric_label("region_perturbation_samek", "region_perturbation", preset="samek2017")
    assert samek == "Region perturbation (AOPC, Samek 2017)"
    assert metric_label("x", "region_perturbation", {"preset": "samek2017"}) == samek  # a resolved record
    assert metric_label("region_perturbation_samek") == "Region Perturbation Samek"
    # a config entry: the keys that say how many images are scored (max_images) are not part of the name
    entry = {"metric": "region_perturbation", "preset": "samek2017", "params": {}, "max_images": 12}
    assert metric_entry_label("region_perturbation_samek", entry) == samek
    assert metric_labels(["region_perturbation_samek"], {"region_perturbation_samek": entry}) == {
        "region_perturbation_samek": samek
    }
    specs = {"occlusion": {"method": "occlusion"}, "occlusion_big": {"method": "occlusion", "params": {}}}
    assert method_labels(["saliency", *specs], specs) == {
        "saliency": "Saliency",
        "occlusion": "Occlusion [occlusion]",
        "occlusion_big": "Occlusion [occlusion_big]",
    }


def test_registry_methods_never_share_a_style():
    entries = [m for m in METHOD_NAMES if m != "lrp"] + list(LRP_SPECS)
    styles = method_styles(entries, LRP_SPECS)
    assert len(set(styles.values())) == len(entries) == len(all_method_labels())
    assert styles["random"] == CONTROL_STYLES["random"] and styles["sobel"] == CONTROL_STYLES["sobel"]
    # fixed per method: the same in a figure of two methods
    assert method_styles(["lime", "gradcam"]) == {m: styles[m] for m in ("lime", "gradcam")}
    assert styles["cam"][0] != styles["gradcam"][0]
    # every registry method (controls apart) has a colour of its own, not only a style
    colours = [styles[e][0] for e in entries if e not in ("random", "sobel")]
    assert len(set(colours)) == len(colours)
    # entries sharing a name, or without one, still get styles of their own
    specs = {"occlusion_big": {"method": "occlusion"}}
    extra = method_styles([*entries, "occlusion_big", "new_method", "other_method"], {**LRP_SPECS, **specs})
    assert len(set(extra.values())) == len(extra)
    assert extra["occlusion"] == styles["occlusion"]


def _capture(monkeypatch, module) -> list:
    figures = []
    monkeypatch.setattr(module, "save_figure", lambda fig, *args, **kwargs: figures.append(fig))
    return figures


def test_figures_show_display_names(monkeypatch, tmp_path):
    specs = {**LRP_SPECS, "cam": {"method": "cam"}, "gradcam_pp": {"method": "gradcam_plus_plus"}}
    figures = _capture(monkeypatch, curves_module)
    plot_faithfulness_curves({m: np.ones((2, 5)) for m in specs}, tmp_path / "c.png", method_specs=specs)
    legend = [t.get_text().split("  ")[0] for ax in figures[0].axes for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(["CAM", "Grad-CAM++", *LRP_COMPOSITE_NAMES.values()])

    figures = _capture(monkeypatch, heatmap_module)
    summary = make_summary(n_methods=3)
    summary.loc[summary["metric"] == "pixel_flipping", "metric"] = "pf_samek"
    metric_specs = {"pf_samek": {"metric": "region_perturbation", "preset": "samek2017"}}
    plot_metric_heatmap(summary, tmp_path / "h.png", metric_specs=metric_specs)
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Grad-CAM", "LIME", "Occlusion"]
    columns = [t.get_text() for t in ax.get_xticklabels()]
    assert "Region perturbation (AOPC, Samek 2017) ↓" in columns and "Faithfulness corr. ↑" in columns
