"""The workflow as a user runs it: lint, formatting, dry-runs of every config, and a tiny end-to-end run."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xaibench.explanations import explained_methods, load_explanation
from xaibench.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEST_CONFIG = ROOT / "config" / "test.yaml"
MINIMAL_CONFIG = ROOT / "config" / "minimal.yaml"


def run(*args: str, cwd: Path = ROOT, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def snakemake(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run(str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), *args, **kwargs)


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's 'Job stats' table."""
    block = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m[1] != "total"}


def explanation_files(workdir: Path, dataset: str, model: str) -> dict[str, Path]:
    """Method -> the explanation file of a run that holds its maps (read from the files, any grouping)."""
    folder = workdir / "results" / "explanations" / dataset / model
    files = sorted(folder.glob("*.npz"))
    return {name: path for path in files for name in explained_methods(str(path))}


# ---- static checks -----------------------------------------------------------------------------------


def test_ruff_check():
    run(str(BIN / "ruff"), "check", ".")


def test_ruff_format():
    run(str(BIN / "ruff"), "format", "--check", ".")


def test_snakefmt():
    run(str(BIN / "snakefmt"), "--check", "Snakefile", "rules")


def test_snakemake_lint():
    out = snakemake("--lint")
    assert "good condition" in out.stdout + out.stderr


def test_scripts_stay_thin():
    """scripts/*.py translate snakemake.* into library calls; the library never touches snakemake."""
    for path in (ROOT / "scripts").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 60, f"{path.name} is not thin"
    for path in (ROOT / "scripts" / "xaibench").rglob("*.py"):
        text = path.read_text()
        assert not re.search(
            r"^\s*(from|import) snakemake|snakemake\.(input|output|params|wildcards)", text, re.M
        ), f"{path} touches snakemake"


# ---- dry runs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_dry_run_has_one_job_per_dataset_model_and_group_of_methods(name, tmp_path):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(ROOT / "config" / name))
    counts = job_counts(out.stdout)
    pairs = sum(len(entry.get("models") or config["models"]) for entry in config["datasets"].values())
    n_methods = len(config["explain"]["methods"])
    for stage in ("explain", "evaluate"):  # groups of methods_per_job methods
        per_job = config[stage].get("methods_per_job", 1)
        per_job = n_methods if per_job == "all" else per_job
        assert counts[stage] == pairs * -(-n_methods // per_job), stage
    assert counts["train_model"] == pairs
    assert counts["generate_dataset"] == len(config["datasets"])
    assert set(config["views"]) == set(VIEWS)  # the shipped configs run every view
    for view in VIEWS:  # one job per pair (for each view, or for all of them), one gathering job per view
        assert counts[view] == 1
        assert counts.get(f"view_{view}", 0) == (pairs if config.get("views_per_job", 1) == 1 else 0)
    assert counts.get("views", 0) == (pairs if config.get("views_per_job", 1) == "all" else 0)


def test_minimal_config_runs_the_chain_without_views(tmp_path):
    """Datasets, models, methods and metrics are enough: the defaults that name methods or metrics take
    configured ones (else the explanation grid would name gradcam, lime and occlusion), and no view runs."""
    counts = job_counts(
        snakemake("-n", "--directory", str(tmp_path), "--configfile", str(MINIMAL_CONFIG)).stdout
    )
    assert counts == {
        "generate_dataset": 1,
        "train_model": 1,
        "export_onnx": 1,
        "explain": 2,
        "evaluate": 2,
        "aggregate_scores": 1,
        "figure_explanation_grid": 1,
        "figure_metric_heatmap": 1,
        "figure_training_curves": 1,
        "figure_faithfulness_curves": 1,  # pixel_flipping
        "all": 1,
    }


def test_views_are_switched_on_and_off_in_the_config(tmp_path):
    """A view runs when named under views: and not enabled: false; its rules exist only then."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["views"]["adversarial"]["enabled"] = False
    del config["views"]["embeddings"]
    path = tmp_path / "views.yaml"
    path.write_text(yaml.safe_dump(config))
    counts = job_counts(snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path)).stdout)
    on = set(VIEWS) - {"adversarial", "embeddings"}
    view_rules = {name for name in counts if name.removeprefix("view_") in VIEWS}
    per_pair = {"views"} if config["views_per_job"] == "all" else {f"view_{view}" for view in on}
    assert view_rules | ({"views"} & set(counts)) == on | per_pair
    out = snakemake("-n", "embeddings", "--directory", str(tmp_path), "--configfile", str(path), check=False)
    assert out.returncode != 0  # no rule embeddings: the view is off


def test_bad_config_value_stops_with_the_key_named(tmp_path):
    out = snakemake(
        "-n",
        "--directory",
        str(tmp_path),
        "--configfile",
        str(TEST_CONFIG),
        "--config",
        "seed=-1",
        check=False,
    )
    assert out.returncode != 0
    assert "config key seed" in out.stdout + out.stderr


@pytest.mark.parametrize("key", ["figures.grid_methods", "views.adversarial.methods"])
def test_bad_cross_reference_is_named(tmp_path, key):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    section, name = key.rsplit(".", 1)
    parent = config
    for part in section.split("."):
        parent = parent[part]
    parent[name] = ["gradcam", "no_such_method"]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path), check=False)
    assert out.returncode != 0
    assert key in out.stdout + out.stderr and "no_such_method" in out.stdout + out.stderr


def test_models_per_dataset_and_finetune_weights_are_inputs(tmp_path):
    """datasets.<name>.models picks the models trained on it; a local weights file to fine-tune from is an
    input of train_model (missing -> Snakemake names it), never re-read when the trained model is loaded."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    (name, entry), *_ = config["datasets"].items()
    config["models"]["tuned"] = {
        "architecture": "resnet18",
        "params": {"weights": str(tmp_path / "start.pt"), "finetune": "last_layer"},
    }
    entry["models"] = ["tuned"]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path), check=False)
    assert out.returncode != 0 and "start.pt" in out.stdout + out.stderr
    (tmp_path / "start.pt").write_bytes(b"")
    counts = job_counts(snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path)).stdout)
    assert counts["train_model"] == 1
    assert counts["explain"] == -(-len(config["explain"]["methods"]) // config["explain"]["methods_per_job"])
    entry["models"] = ["nope"]
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path), check=False)
    assert out.returncode != 0 and f"datasets.{name}.models" in out.stdout + out.stderr


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
    assert len(per_cell) == len(methods) * len(metrics) and (per_cell == n).all()
    assert {"category", "direction", "params"} <= set(scores.columns)
    assert len(set(scores["category"].str.lower())) == 6

    summary = pd.read_csv(workdir / "results/tables/summary.tsv", sep="\t")
    assert len(summary) == len(methods) * len(metrics)
    assert ((summary["n"] + summary["n_nonfinite"]) == n).all()
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
        str(workdir / f"results/data/{dataset_name}.npz"),
        str(workdir / f"results/models/{dataset_name}/{model_name}/model.pt"),
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
        direct = evaluate_metric(
            metric["metric"],
            model,
            dataset.images[idx],
            stored["targets"],
            stored["attributions"],
            dataset.masks[idx],
            explain_func=quantus_explain_func,
            explain_func_kwargs={"method": entry["method"], **entry.get("params", {}), "device": "cpu"},
            params=metric_params(name, metric),
            batch_size=config["evaluate"]["batch_size"],
            seed=config["seed"],
        )
        rows = scores[scores["metric"] == name]
        np.testing.assert_array_equal(rows["sample"].to_numpy(), idx, err_msg=name)
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
    path = tmp_path / "prediction.yaml"
    path.write_text(yaml.safe_dump(config))
    dataset_name, model_name = next(iter(config["datasets"])), next(iter(config["models"]))
    target = Path(explanation_files(workdir, dataset_name, model_name)["saliency"]).relative_to(workdir)
    out = snakemake(target, "--cores", "1", "--directory", str(tmp_path), "--configfile", str(path))
    assert "train_model" not in out.stdout + out.stderr  # only the explanation job ran
    stored = load_explanation(tmp_path / target, "saliency")
    np.testing.assert_array_equal(stored["targets"], stored["predictions"])
    assert str(stored["params"]) == "{}"


@pytest.mark.slow
def test_figures_are_non_empty_images(e2e):
    from matplotlib.image import imread

    workdir, config = e2e
    figures = sorted((workdir / "results/figures").rglob("*.png"))
    pairs = len(config["datasets"]) * len(config["models"])
    per_pair = sum(len(VIEWS.get(view).figures) for view in config["views"])  # figures of the views
    expected = 3 + len(config["figures"]["curve_metrics"]) * pairs + per_pair * pairs
    assert len(figures) == expected, figures
    for png in figures:
        image = imread(png)
        assert image.shape[0] > 100 and image.shape[1] > 100, png
        assert image[..., :3].std() > 0.01, f"{png} is blank"
        assert png.with_suffix(".pdf").stat().st_size > 1000


@pytest.mark.slow
def test_outputs_are_complete_and_rerun_is_a_no_op(e2e):
    workdir, _ = e2e
    assert not list((workdir / "results").rglob(".*")), "temporary files left behind"
    out = snakemake("-n", "--directory", str(workdir), "--configfile", str(TEST_CONFIG))
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_changing_one_method_reruns_only_its_jobs(e2e, tmp_path):
    workdir, config = e2e
    config["explain"]["methods"]["occlusion"]["params"]["window"] = 8
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    counts = job_counts(snakemake("-n", "--directory", str(workdir), "--configfile", str(changed)).stdout)
    assert counts["explain"] == 1 and counts["evaluate"] == 1
    assert "train_model" not in counts and "generate_dataset" not in counts
    assert counts["aggregate_scores"] == 1


@pytest.mark.slow
def test_report_has_every_figure(e2e):
    workdir, _ = e2e
    report = workdir / "report.html"
    snakemake(
        "--directory", str(workdir), "--configfile", str(TEST_CONFIG), "--report", str(report), timeout=300
    )
    html = report.read_text(errors="replace")
    for name in ("explanation_grid.png", "metric_heatmap.png", "training_curves.png", "pixel_flipping.png"):
        assert name in html, name


@pytest.mark.slow
def test_minimal_config_runs_end_to_end(tmp_path):
    """config/minimal.yaml (datasets, models, methods, metrics: nothing else) runs through (~45 s on 2 cores):
    scores of every configured method and metric, the figures, no view."""
    start = time.perf_counter()
    snakemake("--cores", "2", "--directory", str(tmp_path), "--configfile", str(MINIMAL_CONFIG), timeout=600)
    print(f"\nend-to-end run of config/minimal.yaml: {time.perf_counter() - start:.0f} s")
    config = yaml.safe_load(MINIMAL_CONFIG.read_text())
    scores = pd.read_csv(tmp_path / "results/tables/scores.tsv", sep="\t")
    assert set(scores["method"]) == set(config["explain"]["methods"])
    assert set(scores["metric"]) == set(config["evaluate"]["metrics"])
    figures = {p.relative_to(tmp_path / "results/figures").as_posix() for p in tmp_path.rglob("*.png")}
    pair = f"{next(iter(config['datasets']))}/{next(iter(config['models']))}"
    assert figures == {
        "explanation_grid.png",
        "metric_heatmap.png",
        "training_curves.png",
        f"faithfulness/{pair}/pixel_flipping.png",
    }
    assert not (tmp_path / "results/views").exists()
