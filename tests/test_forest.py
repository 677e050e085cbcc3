"""Forest plot: one panel per metric, CI segments and the random band drawn where the summary says."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.patches import Rectangle

from xaibench.figures import forest as forest_module
from xaibench.figures.forest import forest_methods, plot_forest
from xaibench.figures.names import METHOD_NAMES, method_label

METRICS = [  # (metric, category, direction), deliberately not in category order
    ("sparseness", "complexity", "higher"),
    ("pixel_flipping", "faithfulness", "lower"),
    ("faithfulness_correlation", "faithfulness", "higher"),
    ("pointing_game", "localisation", "higher"),
    ("avg_sensitivity", "robustness", "lower"),
    ("mprt", "randomisation", "lower"),
    ("completeness", "axiomatic", "none"),
]


def make_summary(methods=tuple(METHOD_NAMES), metrics=METRICS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for metric, category, direction in metrics:
        for method in methods:
            mean = float(rng.normal(1.0, 0.3))
            half = float(rng.uniform(0.02, 0.2))
            rows.append(
                {
                    "dataset": "ts",
                    "model": "small_cnn",
                    "method": method,
                    "metric": metric,
                    "category": category,
                    "direction": direction,
                    "mean": mean,
                    "std": 2 * half,
                    "ci95_low": mean - half,
                    "ci95_high": mean + half,
                    "replicate_sd": half / 2,
                    "n": 12,
                    "n_replicates": 1,
                    "n_nonfinite": 0,
                    "params": "{}",
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture
def captured(monkeypatch):
    figures = []
    monkeypatch.setattr(forest_module, "save_figure", lambda fig, *args, **kwargs: figures.append(fig))
    return figures


def panel_of(fig, title_start: str):
    (ax,) = [ax for ax in fig.axes if ax.get_title(loc="left").startswith(title_start)]
    return ax


def test_forest_writes_png_and_pdf(tmp_path):
    summary = make_summary()
    plot_forest(summary, tmp_path / "f.png", tmp_path / "f.pdf", title="ts / small_cnn")
    image = mpimg.imread(tmp_path / "f.png")
    assert image.ndim == 3 and np.ptp(image[..., :3]) > 0.1
    assert image.shape[0] <= 1.5 * image.shape[1]  # as saved (tight bounding box)
    assert (tmp_path / "f.pdf").read_bytes()[:5] == b"%PDF-"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_forest_one_panel_per_metric_in_category_order(captured, tmp_path):
    plot_forest(make_summary(), tmp_path / "f.png", title="ts / small_cnn")
    fig = captured[0]
    assert len(fig.axes) == len(METRICS)
    titles = [ax.get_title(loc="left").replace("\n", " ") for ax in fig.axes]
    assert titles == [
        "Pixel flipping (AUC) ↓",
        "Faithfulness corr. ↑",
        "Avg. sensitivity ↓",
        "Pointing game ↑",
        "Sparseness (Gini) ↑",
        "MPRT ↓",
        "Completeness (↕)",
    ]
    width, height = fig.get_size_inches()
    assert height <= 1.5 * width
    texts = [t for ax in fig.axes for t in [ax.title, *ax.get_xticklabels(), *ax.get_yticklabels()]]
    texts += fig.texts + fig.legends[0].get_texts()
    assert min(t.get_fontsize() for t in texts) >= 7
    # method names on the left column only, the same rows everywhere, controls last
    labelled = [ax for ax in fig.axes if [t.get_text() for t in ax.get_yticklabels()]]
    assert labelled == [fig.axes[0], fig.axes[5]]  # 5 columns
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert names == [t.get_text() for t in fig.axes[5].get_yticklabels()]
    assert names[-2:] == ["Random", "Sobel"] and sorted(names) == sorted(
        method_label(m) for m in METHOD_NAMES
    )
    assert len({ax.get_ylim() for ax in fig.axes}) == 1


def test_forest_segments_and_random_band_match_the_summary(captured, tmp_path):
    summary = make_summary()
    plot_forest(summary, tmp_path / "f.png")
    fig = captured[0]
    rows = {t.get_text(): k for k, t in enumerate(fig.axes[0].get_yticklabels())}
    for metric, title in (("pointing_game", "Pointing game"), ("mprt", "MPRT")):
        ax = panel_of(fig, title)
        part = summary[summary["metric"] == metric].set_index("method")
        (ci,) = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == "ci95"]
        segments = {float(s[0, 1]): (float(s[0, 0]), float(s[1, 0])) for s in ci.get_segments()}
        assert len(segments) == len(part)
        for method in ("gradcam", "lime", "random", "sobel"):
            low, high = segments[rows[method_label(method)]]
            assert (low, high) == pytest.approx((part.at[method, "ci95_low"], part.at[method, "ci95_high"]))
        (means,) = [c for c in ax.collections if isinstance(c, PathCollection) and c.get_label() == "mean"]
        dots = {float(y): float(x) for x, y in means.get_offsets()}
        assert dots[rows["Grad-CAM"]] == pytest.approx(part.at["gradcam", "mean"])
        (band,) = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_label() == "reference ci95"]
        x0, x1 = sorted((band.get_x(), band.get_x() + band.get_width()))
        assert (x0, x1) == pytest.approx((part.at["random", "ci95_low"], part.at["random", "ci95_high"]))
        low, high = ax.get_xlim()
        assert low <= part["ci95_low"].min() and high >= part["ci95_high"].max()  # nothing clipped


def test_forest_nan_metric_and_nan_method(captured, tmp_path):
    summary = make_summary()
    summary.loc[summary["metric"] == "mprt", ["mean", "ci95_low", "ci95_high"]] = np.nan
    lime = (summary["metric"] == "sparseness") & (summary["method"] == "lime")
    summary.loc[lime, ["mean", "ci95_low", "ci95_high"]] = np.nan
    summary.loc[(summary["metric"] == "sparseness") & (summary["method"] == "cam"), "ci95_high"] = np.inf
    plot_forest(summary, tmp_path / "f.png", tmp_path / "f.pdf")
    fig = captured[0]
    empty = panel_of(fig, "MPRT")
    assert "no scores" in [t.get_text() for t in empty.texts]
    assert not [c for c in empty.collections if c.get_label() in ("ci95", "mean")]
    sparse = panel_of(fig, "Sparseness")
    assert "n/a" in [t.get_text() for t in sparse.texts]
    (ci,) = [c for c in sparse.collections if c.get_label() == "ci95"]
    assert len(ci.get_segments()) == len(METHOD_NAMES) - 2  # lime (NaN) and cam (inf bound) have none
    assert np.isfinite(sparse.get_xlim()).all()


def test_forest_without_random_and_with_specs(captured, tmp_path):
    summary = make_summary(methods=("gradcam", "lrp_box", "sobel"), metrics=METRICS[:2])
    specs = {"lrp_box": {"method": "lrp", "params": {"composite": "epsilon_gamma_box"}}}
    metric_specs = {"sparseness": {"metric": "sparseness"}}
    plot_forest(summary, tmp_path / "f.png", method_specs=specs, metric_specs=metric_specs)
    fig = captured[0]
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["LRP (ε-γ-box)", "Grad-CAM", "Sobel"]
    assert not any(p.get_label() == "reference ci95" for ax in fig.axes for p in ax.patches)
    width, height = fig.get_size_inches()
    assert height <= 1.5 * width
    plot_forest(summary, tmp_path / "g.png", controls=())  # a config without controls: no band, no error
    assert not any(p.get_label() == "reference ci95" for ax in captured[1].axes for p in ax.patches)


def test_forest_method_order_by_family_controls_last():
    order = forest_methods(["sobel", "lime", "random", "my_method", "gradcam", "saliency"])
    assert order == ["saliency", "gradcam", "lime", "my_method", "random", "sobel"]


def test_forest_rejects_bad_summaries(tmp_path):
    summary = make_summary(methods=("gradcam", "random"), metrics=METRICS[:2])
    with pytest.raises(ValueError, match="one \\(dataset, model\\)"):
        plot_forest(pd.concat([summary, summary.assign(model="other")]), tmp_path / "a.png")
    with pytest.raises(ValueError, match="duplicate"):
        plot_forest(pd.concat([summary, summary.head(1)]), tmp_path / "b.png")
    with pytest.raises(ValueError, match="empty"):
        plot_forest(summary.head(0), tmp_path / "c.png")
    with pytest.raises(ValueError, match="ci95_low"):
        plot_forest(summary.drop(columns="ci95_low"), tmp_path / "d.png")
    assert not list(tmp_path.iterdir())
