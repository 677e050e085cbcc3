"""The tiny end-to-end run of config/test.yaml: tables, figures, report, reruns, and every stage's files equal
to what the library computes (lint, dry runs and config checks: tests/test_workflow_config.py)."""

from __future__ import annotations

import copy
import gzip
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_cli import TEST_CONFIG, job_counts, snakemake

from xaibench.explanations import explained_methods, load_explanation
from xaibench.figures.common import SCREEN_PX
from xaibench.views import VIEWS


def explanation_files(workdir: Path, dataset: str, model: str, replicate: int = 0) -> dict[str, Path]:
    """Method -> the explanation file of a run that holds its maps (read from the files, any grouping)."""
    folder = workdir / "results" / "explanations" / dataset / model / f"seed{replicate}"
    files = sorted(folder.glob("*.npz"))
    return {name: path for path in files for name in explained_methods(str(path))}


# ---- tiny end-to-end run -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Run config/test.yaml end to end in a scratch directory (the wall time is printed)."""
    workdir = tmp_path_factory.mktemp("e2e")
    start = time.perf_counter()
    snakemake("--cores", "2", "--directory", str(workdir), "--configfile", str(TEST_CONFIG), timeout=900)
    print(f"\nend-to-end run of config/test.yaml: {time.perf_counter() - start:.0f} s")
    return workdir, yaml.safe_load(TEST_CONFIG.read_text())


@pytest.mark.slow
def test_tables_hold_every_method_and_metric(e2e):
    workdir, config = e2e
    methods, metrics = set(config["explain"]["methods"]), set(config["evaluate"]["metrics"])
    n = config["explain"]["n_samples"]
    scores = pd.read_csv(workdir / "results/tables/scores.tsv", sep="\t")
    assert set(scores["method"]) == methods and set(scores["metric"]) == metrics
    per_cell = scores.groupby(["dataset", "model", "method", "metric"]).size()
    # max_images (config/test.yaml: input_invariance on the first image) leaves that metric fewer rows
    expected = {
        name: min(entry.get("max_images") or n, n) for name, entry in config["evaluate"]["metrics"].items()
    }
    assert 1 in expected.values()
    assert len(per_cell) == len(methods) * len(metrics)
    assert (per_cell.to_numpy() == per_cell.index.get_level_values("metric").map(expected).to_numpy()).all()
    assert {"category", "direction", "params"} <= set(scores.columns)
    assert len(set(scores["category"].str.lower())) == 6

    summary = pd.read_csv(workdir / "results/tables/summary.tsv", sep="\t")
    assert len(summary) == len(methods) * len(metrics)
    assert ((summary["n"] + summary["n_nonfinite"]) == summary["metric"].map(expected)).all()
    nonfinite = pd.read_csv(workdir / "results/tables/nonfinite.tsv", sep="\t")
    assert len(nonfinite) == (summary["n_nonfinite"] > 0).sum()

    timing = pd.read_csv(workdir / "results/tables/timing.tsv", sep="\t")
    assert set(timing.loc[timing["stage"] == "explain", "method"]) == methods
    assert set(timing.loc[timing["stage"] == "evaluate", "metric"]) == metrics


# ---- stages equal their functions: what the jobs wrote is what the library computes ------------------


def _stage_inputs(workdir: Path, config: dict):
    """The first (dataset, model) pair of the run: its dataset, trained model and evaluation subset."""

    from xaibench.pairs import load_pair

    dataset_name, model_name = next(iter(config["datasets"])), next(iter(config["models"]))
    pair = load_pair(
        str(workdir / f"results/data/{dataset_name}/seed{config['seed']}.npz"),
        str(workdir / f"results/models/{dataset_name}/{model_name}/seed{config['seed']}/model.pt"),
        "cpu",
    )
    return dataset_name, model_name, pair.dataset, pair.model


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")  # the rules run with threads: 1 (same kernels, same bits)
def test_training_table_holds_the_models_test_accuracy(e2e):
    """training.tsv's test accuracy is that of the stored model on the dataset's test split."""
    import torch

    workdir, config = e2e
    dataset_name, model_name, dataset, model = _stage_inputs(workdir, config)
    test = dataset.indices("test")
    with torch.no_grad():
        predicted = model(torch.from_numpy(dataset.images[test])).argmax(1).numpy()
    training = pd.read_csv(workdir / "results/tables/training.tsv", sep="\t")
    row = training[(training["dataset"] == dataset_name) & (training["model"] == model_name)]
    assert len(row) == 1 and int(row["n_test"].iloc[0]) == len(test)
    assert row["test_accuracy"].iloc[0] == pytest.approx(
        (predicted == dataset.labels[test]).mean(), abs=1e-12
    )


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")  # the rules run with threads: 1 (same kernels, same bits)
def test_stored_explanations_equal_explain(e2e):
    """Every explanation file of the run holds explain(method, model, images, targets, **params) exactly."""
    import numpy as np
    import torch

    from xaibench.methods import explain

    workdir, config = e2e
    dataset_name, model_name, dataset, model = _stage_inputs(workdir, config)
    files = explanation_files(workdir, dataset_name, model_name)
    assert sorted(files) == sorted(config["explain"]["methods"])
    for name, entry in config["explain"]["methods"].items():
        stored = load_explanation(files[name], name)
        idx = stored["indices"]
        np.testing.assert_array_equal(stored["targets"], dataset.labels[idx])  # explain.target: label
        expected = explain(
            entry["method"],
            model,
            torch.from_numpy(dataset.images[idx]),
            torch.from_numpy(stored["targets"]),
            batch_size=config["explain"]["batch_size"],
            **entry.get("params", {}),
        )
        np.testing.assert_array_equal(stored["attributions"], expected, err_msg=name)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")  # the rules run with threads: 1 (same kernels, same bits)
def test_stored_scores_equal_the_metric(e2e):
    """The aggregated scores of one method, every configured metric, equal evaluate_metric(...) called on the
    stored maps, images and targets (with the config's metric params and seed), row by row."""
    import numpy as np

    from xaibench.evaluation import metric_params
    from xaibench.methods import quantus_explain_func
    from xaibench.metrics import evaluate_metric

    workdir, config = e2e
    dataset_name, model_name, dataset, model = _stage_inputs(workdir, config)
    method = "saliency"
    entry = config["explain"]["methods"][method]
    stored = load_explanation(explanation_files(workdir, dataset_name, model_name)[method], method)
    idx = stored["indices"]
    scores = pd.read_csv(workdir / "results/tables/scores.tsv", sep="\t")
    scores = scores[(scores["dataset"] == dataset_name) & (scores["method"] == method)]
    for name, metric in config["evaluate"]["metrics"].items():
        k = metric.get("max_images") or len(idx)  # the first k images only
        direct = evaluate_metric(
            metric["metric"],
            model,
            dataset.images[idx[:k]],
            stored["targets"][:k],
            stored["attributions"][:k],
            dataset.masks[idx[:k]],
            explain_func=quantus_explain_func,
            explain_func_kwargs={"method": entry["method"], **entry.get("params", {}), "device": "cpu"},
            params=metric_params(name, metric),
            batch_size=config["evaluate"]["batch_size"],
            seed=config["seed"],
        )
        rows = scores[scores["metric"] == name]
        np.testing.assert_array_equal(rows["sample"].to_numpy(), idx[:k], err_msg=name)
        np.testing.assert_allclose(rows["score"].to_numpy(), direct.scores, rtol=1e-12, err_msg=name)


@pytest.mark.slow
def test_target_prediction_runs(e2e, tmp_path):
    """explain.target: prediction runs through the rule and explains each image's predicted class (that
    these differ from the labels' maps where the model errs: tests/test_evaluation.py)."""
    import shutil

    import numpy as np

    workdir, config = e2e
    config = copy.deepcopy(config)  # the fixture's config is shared by the other tests
    for part in ("data", "models"):
        shutil.copytree(workdir / "results" / part, tmp_path / "results" / part)
    config["explain"]["target"] = "prediction"
    # saliency alone, in a job of its own (the other methods would only cost time here)
    config["explain"]["methods"] = {"saliency": config["explain"]["methods"]["saliency"]}
    config["explain"]["methods_per_job"] = config["evaluate"]["methods_per_job"] = 1
    config["figures"]["grid_methods"] = ["saliency"]
    config["views"], config["sweeps"] = {}, {}  # they name other methods
    config["claims"]["checkpoint_method"] = "saliency"  # (the model's training settings stay: no retraining)
    path = tmp_path / "prediction.yaml"
    path.write_text(yaml.safe_dump(config))
    dataset_name, model_name = next(iter(config["datasets"])), next(iter(config["models"]))
    target = Path("results", "explanations", dataset_name, model_name, "seed0", "saliency.npz")
    out = snakemake(str(target), "--cores", "1", "--directory", str(tmp_path), "--configfile", str(path))
    assert "train_model" not in out.stdout + out.stderr  # only the explanation job ran
    stored = load_explanation(tmp_path / target, "saliency")
    np.testing.assert_array_equal(stored["targets"], stored["predictions"])
    assert str(stored["params"]) == "{}"


@pytest.mark.slow
def test_explaining_in_the_evaluation_job_changes_no_map_or_score(e2e, tmp_path):
    """The tiny run explains in its evaluation jobs (explain.in_evaluation_job); explanation jobs of their own
    (the other setting) store the same maps and the evaluation the same scores, bit for bit. Stochastic
    methods (lime, random) and metrics (faithfulness correlation, max sensitivity) are among them."""
    import shutil

    import numpy as np

    workdir, config = e2e
    config = copy.deepcopy(config)
    for part in ("data", "models"):
        shutil.copytree(workdir / "results" / part, tmp_path / "results" / part)
    methods = ["lime", "random", "saliency"]
    metrics = ["faithfulness_correlation", "max_sensitivity", "pixel_flipping", "sparseness"]
    config["explain"]["methods"] = {m: config["explain"]["methods"][m] for m in methods}
    config["evaluate"]["metrics"] = {m: config["evaluate"]["metrics"][m] for m in metrics}
    config["explain"]["methods_per_job"] = config["evaluate"]["methods_per_job"] = "all"
    config["explain"]["in_evaluation_job"] = False
    config["figures"].update(grid_methods=["saliency"], curve_metrics=["pixel_flipping"])
    config["views"], config["sweeps"] = {}, {}  # they name other methods
    config["claims"]["checkpoint_method"] = "saliency"
    path = tmp_path / "apart.yaml"
    path.write_text(yaml.safe_dump(config))
    (dataset,), (model,), run = config["datasets"], config["models"], "seed0"
    scores = Path("results", "scores", dataset, model, run, "group1-of-1.tsv")
    out = snakemake(str(scores), "--cores", "1", "--directory", str(tmp_path), "--configfile", str(path))
    counts = job_counts(out.stdout + out.stderr)
    assert counts["explain"] == counts["evaluate"] == 1 and "train_model" not in counts
    fused = explanation_files(workdir, dataset, model)
    for name in methods:
        mine = load_explanation(
            tmp_path / "results/explanations" / dataset / model / run / "group1-of-1.npz", name
        )
        theirs = load_explanation(fused[name], name)
        for key in set(mine) - {"seconds"}:
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=f"{name}: {key}")
    apart = pd.read_csv(tmp_path / scores, sep="\t")
    together = pd.read_csv(workdir / "results/tables/scores.tsv", sep="\t")
    keys = ["dataset", "model", "replicate", "method", "metric", "sample"]
    together = together[together["method"].isin(methods) & together["metric"].isin(metrics)]
    together = together[together["dataset"] == dataset]
    merged = apart.merge(together, on=keys, suffixes=("", "_fused"), validate="one_to_one")
    assert (
        len(merged)
        == len(apart)
        == len(together)
        == len(methods) * len(metrics) * config["explain"]["n_samples"]
    )
    np.testing.assert_array_equal(merged["score"].to_numpy(), merged["score_fused"].to_numpy())
    assert merged["score"].notna().all()


@pytest.mark.slow
def test_figures_are_non_empty_images(e2e):
    from matplotlib.image import imread

    workdir, config = e2e
    figures = sorted((workdir / "results/figures").rglob("*.png"))
    pairs = len(config["datasets"]) * len(config["models"])
    per_pair = sum(len(VIEWS.get(view).figures) for view in config["views"])  # figures of the views
    categories = pd.read_csv(workdir / "results/tables/summary.tsv", sep="\t")["category"].nunique()
    # training curves, metric agreement, claims, one per sweep; per pair: explanation grid, metric heatmap,
    # curves, per metric category a CD diagram and a forest plot, views, object parts and class regions (the
    # tiny run's only dataset is Triangles & Squares: it has parts and two-class composites)
    expected = (
        3
        + len(config.get("sweeps", {}))
        + (2 + len(config["figures"]["curve_metrics"]) + 2 * categories + per_pair + 2) * pairs
    )
    assert categories == 6 and len(figures) == expected, figures
    for png in figures:
        image = imread(png)
        assert image.shape[0] > 100 and image.shape[1] > 100, png
        assert image[..., :3].std() > 0.01, f"{png} is blank"
        assert image.shape[0] <= SCREEN_PX[1] and image.shape[1] <= SCREEN_PX[0], f"{png}: over a screen"
    # PNGs only, as in config.yaml (figures.pdf: false); the minimal config's run writes the PDFs
    assert not config["figures"]["pdf"] and not list((workdir / "results").rglob("*.pdf"))


@pytest.mark.slow
def test_object_parts_and_claims_equal_the_library_on_the_runs_files(e2e):
    """The parts summary of the run equals summarise_parts of the zone table recomputed from the run's data
    and explanation files, and the corner claim's row is that summary's LRP corner/edge ratio."""
    from xaibench.claims.parts import pair_tables, summarise_parts

    workdir, config = e2e
    (dataset,), (model,) = config["datasets"], config["models"]
    folder = workdir / "results" / "claims" / "parts" / dataset / model
    found = explanation_files(workdir, dataset, model)
    files = {name: str(found[name]) for name in config["explain"]["methods"]}  # config order, as the rule
    runs = {0: (str(workdir / f"results/data/{dataset}/seed0.npz"), files)}
    zones, _ = pair_tables("triangles_squares", runs, {"dataset": dataset, "model": model})
    stored = pd.read_csv(folder / "zones.tsv", sep="\t")
    pd.testing.assert_frame_equal(stored, zones, check_dtype=False)
    n_boot = config.get("statistics", {}).get("n_boot", 2000)  # schema default: test.yaml sets none
    summary = summarise_parts(zones, n_boot=n_boot, seed=config["seed"])
    stored_summary = pd.read_csv(folder / "summary.tsv", sep="\t")
    pd.testing.assert_frame_equal(stored_summary, summary, check_dtype=False)
    claims = pd.read_csv(workdir / "results/tables/claims.tsv", sep="\t", keep_default_na=False)
    corner = claims[claims["claim"] == "s002_lrp_not_corners"].iloc[0]
    ratio = summary[(summary["method"] == "lrp") & (summary["zone"] == "corner/edge")].iloc[0]
    assert float(corner["estimate"]) == pytest.approx(ratio["estimate"], rel=1e-12)
    assert (float(corner["ci_low"]), float(corner["ci_high"])) == pytest.approx(
        (ratio["ci_low"], ratio["ci_high"])
    )
    assert set(claims["verdict"]) <= {"supported", "not supported", "inconclusive", "not tested"}
    assert {"000", "002", "003", "literature"} <= set(claims["seed"].astype(str).str.zfill(3))
    # every tested claim points the reader at a figure the run drew (a file, or the folder of its pairs)
    tested = claims[claims["verdict"] != "not tested"]
    missing = {f for f in tested["figure"] if f and not (workdir / f).exists()}
    assert not missing, missing
    # class discrimination: the claim's estimate is the mean over the composites of the run's regions table
    regions = pd.read_csv(workdir / f"results/claims/class_regions/{dataset}/{model}/regions.tsv", sep="\t")
    gradcam = regions[regions["method"] == "gradcam"]
    per_composite = (gradcam["share_own"] - gradcam["share_other"]).groupby(gradcam["composite"]).mean()
    row = claims[claims["claim"] == "s003_gradcam_class_discriminative"].iloc[0]
    assert float(row["estimate"]) == pytest.approx(per_composite.mean(), rel=1e-12)
    assert int(row["n"]) == config["claims"]["class_samples"] == len(per_composite)


@pytest.mark.slow
def test_outputs_are_complete_and_rerun_is_a_no_op(e2e):
    workdir, _ = e2e
    hidden = [p for p in (workdir / "results").rglob(".*") if p.name != ".snakemake_timestamp"]
    assert not hidden, "temporary files left behind"  # (Snakemake marks a directory output with a timestamp)
    out = snakemake("-n", "--directory", str(workdir), "--configfile", str(TEST_CONFIG))
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_changing_one_method_reruns_only_its_jobs(e2e, tmp_path):
    workdir, config = e2e
    config["explain"]["methods"]["occlusion"]["params"]["window"] = 8
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    counts = job_counts(snakemake("-n", "--directory", str(workdir), "--configfile", str(changed)).stdout)
    assert counts["evaluate"] == 1 and "explain" not in counts  # test.yaml: the evaluation job explains
    assert "train_model" not in counts and "generate_dataset" not in counts
    assert counts["aggregate_scores"] == 1


@pytest.fixture(scope="module")
def report_html(e2e):
    """The tiny run's Snakemake report."""
    workdir, _ = e2e
    report = workdir / "report.html"
    snakemake(
        "--directory", str(workdir), "--configfile", str(TEST_CONFIG), "--report", str(report), timeout=300
    )
    return report


@pytest.mark.slow
def test_report_has_every_figure_and_table(e2e, report_html):
    """Every figure of the run, every readable table page and the overview are results of the report."""
    workdir, _ = e2e
    html = report_html.read_text(errors="replace")
    results = workdir / "results"
    expected = [*(results / "figures").rglob("*.png"), *(results / "report").rglob("*.html")]
    assert len(expected) > 30
    missing = [str(p.relative_to(workdir)) for p in expected if f'"{p.relative_to(workdir)}"' not in html]
    assert not missing, missing
    # the run's tables enter compressed (a raw .tsv would only download, at 6x the bytes)
    for name in ("scores", "summary", "comparisons", "nemenyi", "timing"):
        assert f'"results/report/downloads/{name}.tsv.gz": {{"name"' in html, name
        assert f'"results/tables/{name}.tsv": {{"name"' not in html, name
    with gzip.open(workdir / "results/report/downloads/summary.tsv.gz", "rb") as packed:
        assert packed.read() == (results / "tables/summary.tsv").read_bytes()


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium, installed from Debian packages as the SLURM test installs SLURM (skipped with the
    reason where that is impossible; with CI=true it fails instead)."""
    import subprocess

    from environment import unavailable

    install = subprocess.run(
        ["bash", str(Path(__file__).parents[1] / "tools/chromium/install.sh")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if install.returncode != 0:
        unavailable(f"no headless Chromium (tools/chromium/install.sh): {install.stderr[-800:]}")
    return "chromium"


@pytest.mark.slow
def test_report_opens_in_a_browser_without_script_errors(report_html, chromium):
    """Headless Chromium loads the report: no uncaught script error, and the rendered page lists the overview
    first and every category of results."""
    import re
    import subprocess

    args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
            "--enable-logging=stderr", "--v=0", "--dump-dom", report_html.as_uri()]  # fmt: skip
    browser = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert browser.returncode == 0, browser.stderr[-2000:]
    console = [line for line in browser.stderr.splitlines() if ":CONSOLE" in line]
    errors = [line for line in console if re.search(r"Uncaught|TypeError|ReferenceError|SyntaxError", line)]
    assert not errors, errors
    dom = re.sub(r"<script.*?</script>", "", browser.stdout, flags=re.S)  # the rendered page, not its data
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    assert "Loading Snakemake Report" not in text or "Results" in text
    categories = ["1. Overview", "Claims", "Figures", "Tables", "Views of the model"]
    positions = [text.find(category) for category in categories]
    assert min(positions) >= 0, dict(zip(categories, positions, strict=True))
    assert positions[0] == min(positions)  # the overview is the first category


@pytest.mark.slow
def test_every_figure_is_whole_in_the_report_viewer(e2e, report_html, chromium):
    """tools/report_view.py shows every figure of the report in Snakemake's own viewer, in a 1600 x 1200
    window, beside its category's list: each lies wholly inside the window (the viewer centres a tall image
    so that its top cannot be scrolled to), and each shows at its own size or smaller."""
    from tools_loader import load_tool

    view = load_tool("report_view.py", "report_view")
    data = view.measure(report_html, (1600, 1200))
    workdir, _ = e2e
    assert len(data["rows"]) == len(list((workdir / "results/figures").rglob("*.png"))) > 30
    width, height = data["window"]
    assert width == 1600 and 1000 < height <= 1200
    cut = [(row["path"], row.get("natural"), row.get("box")) for row in data["rows"] if not row["whole"]]
    assert not cut, cut
    for row in data["rows"]:
        left, _, right, _ = row["box"]
        assert right - left <= row["natural"][0] + 0.5  # never enlarged
