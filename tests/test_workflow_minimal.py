"""End-to-end runs besides the tiny one (tests/test_workflow.py): config/minimal.yaml with two replicates, run
through once and once killed and resumed (the same results, bit for bit), and a difficulty sweep. A file of
their own so that pytest-xdist gives them a worker while the dry runs of tests/test_workflow_config.py run on
another."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tools_loader import load_tool
from workflow_cli import BIN, MINIMAL_CONFIG, ROOT, TEST_CONFIG, job_counts, snakemake


@pytest.mark.slow
def test_a_difficulty_sweep_runs_end_to_end(tmp_path):
    """A sweep of config/test.yaml's dataset over min_contrast: one job per level and one for the sweep, none
    of the main chain's; the summary holds every level x method x metric, the levels' accuracies and
    Spearman trends, and the figure is whole (library values: tests/test_sweeps.py)."""
    from matplotlib.image import imread

    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["sweeps"] = {
        "contrast": {
            "dataset": "ts_rotation",
            "param": "min_contrast",
            "values": [0.0, 0.5],
            "params": {"n_train": 200, "n_val": 32, "n_test": 32},
            "training": {"epochs": 1},
            "methods": ["saliency", "random"],
            "metrics": ["relevance_mass_accuracy", "sparseness"],
            "n_samples": 4,
        }
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    targets = ["results/tables/sweeps/contrast.tsv", "results/figures/sweep_contrast.png"]
    args = ("--directory", str(tmp_path), "--configfile", str(path))
    run = snakemake(*targets, "--cores", "2", *args, timeout=300)
    assert job_counts(run.stdout + run.stderr) == {"sweep_level": 2, "sweep": 1}  # the run's own job stats
    summary = pd.read_csv(tmp_path / targets[0], sep="\t")
    assert sorted(summary["value"].unique()) == [0.0, 0.5]
    assert len(summary) == 2 * 2 * 2 and set(summary["method"]) == {"saliency", "random"}
    assert summary["accuracy"].between(0, 1).all() and summary["n"].eq(4).all()
    levels = [pd.read_csv(tmp_path / f"results/sweeps/contrast/level{i}.tsv", sep="\t") for i in (0, 1)]
    for level, table in zip(summary.groupby("level"), levels, strict=True):
        means = table.groupby(["method", "metric"])["score"].mean()
        got = level[1].set_index(["method", "metric"])["mean"]
        pd.testing.assert_series_equal(got.sort_index(), means.sort_index(), check_names=False)
    height, width = imread(tmp_path / targets[1]).shape[:2]
    assert height <= 1.5 * width


# ---- the minimal config, end to end ---------------------------------------------------------------------


def _minimal_with_replicates(folder: Path) -> tuple[Path, dict]:
    """config/minimal.yaml with two replicates (seeds 0 and 1) of 8 images each (default 32), written to
    ``folder``."""
    config = yaml.safe_load(MINIMAL_CONFIG.read_text())
    config["replicates"] = [0, 1]
    config["explain"]["n_samples"] = 8
    # the MetaQuantus protocol on the one dataset, at its smallest: 1 perturbation per test and mode
    config["meta_evaluation"] = {"datasets": list(config["datasets"]), "k": 1, "n_samples": 8}
    path = folder / "minimal_replicates.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory):
    """config/minimal.yaml with two replicates, run through once, uninterrupted."""
    folder = tmp_path_factory.mktemp("minimal")
    path, config = _minimal_with_replicates(folder)
    start = time.perf_counter()
    snakemake("--cores", "2", "--directory", str(folder), "--configfile", str(path), timeout=600)
    print(f"\nend-to-end run of config/minimal.yaml, 2 replicates: {time.perf_counter() - start:.0f} s")
    return folder, path, config


@pytest.mark.slow
def test_minimal_config_runs_end_to_end(minimal_run):
    """config/minimal.yaml (datasets, models, methods, metrics: nothing else; here with two replicates of 8
    images) runs: scores of every method, metric and replicate, the figures and statistics, no view."""
    folder, _, config = minimal_run
    scores = pd.read_csv(folder / "results/tables/scores.tsv", sep="\t")
    assert set(scores["method"]) == set(config["explain"]["methods"])
    assert set(scores["metric"]) == set(config["evaluate"]["metrics"])
    assert set(scores["replicate"]) == {0, 1}
    figures = {p.relative_to(folder / "results/figures").as_posix() for p in folder.rglob("*.png")}
    pair = f"{next(iter(config['datasets']))}/{next(iter(config['models']))}"
    categories = ("faithfulness", "complexity")  # pixel flipping, sparseness
    assert figures == {
        f"explanation_grid/{pair}.png",
        f"metric_heatmap/{pair}.png",
        "metric_agreement.png",
        "training_curves.png",
        f"faithfulness/{pair}/pixel_flipping.png",
        # one figure per metric category: pixel flipping (faithfulness), sparseness (complexity)
        *(f"{kind}/{pair}/{c}.png" for kind in ("critical_differences", "forest") for c in categories),
        f"object_parts/{pair}/parts.png",
        "claims.png",
    }
    # figures.pdf defaults to true: a PDF (a real one, one page) beside every PNG, in the folder outputs too
    assert "pdf" not in config.get("figures", {})
    pdfs = {p.relative_to(folder / "results/figures").as_posix() for p in folder.rglob("*.pdf")}
    assert pdfs == {figure.removesuffix(".png") + ".pdf" for figure in figures}
    for pdf in pdfs:
        text = (folder / "results/figures" / pdf).read_bytes()
        assert text.startswith(b"%PDF-") and len(re.findall(rb"/Type /Page\b", text)) == 1, pdf
    assert not (folder / "results/views").exists()


@pytest.mark.slow
def test_replicates_differ_and_the_summary_pools_them(minimal_run):
    """Each replicate has its own data and model (its seed); the summary counts both replicates' images."""
    folder, _, config = minimal_run
    dataset = next(iter(config["datasets"]))
    data = [np.load(folder / f"results/data/{dataset}/seed{r}.npz")["images"] for r in (0, 1)]
    assert data[0].shape == data[1].shape and not np.array_equal(data[0], data[1])
    scores = pd.read_csv(folder / "results/tables/scores.tsv", sep="\t")
    summary = pd.read_csv(folder / "results/tables/summary.tsv", sep="\t")
    row = summary[(summary["method"] == "saliency") & (summary["metric"] == "pixel_flipping")].iloc[0]
    cell = scores[(scores["method"] == "saliency") & (scores["metric"] == "pixel_flipping")]
    assert row["n_replicates"] == 2 and row["n"] == len(cell) == 2 * 8  # 8 images each
    assert row["mean"] == pytest.approx(cell["score"].mean(), rel=1e-12)
    by_replicate = cell.groupby("replicate")["score"].mean()
    assert row["replicate_sd"] == pytest.approx(by_replicate.std(ddof=1), rel=1e-12)
    assert by_replicate[0] != by_replicate[1]
    provenance = json.loads((folder / "results/provenance.json").read_text())
    assert provenance["config"]["replicates"] == [0, 1]
    assert provenance["packages"]["torch"] == "2.14.1"


@pytest.mark.slow
def test_meta_evaluation_rule_writes_every_criterion_of_every_metric(minimal_run):
    """meta_evaluation.datasets switches the rule on: per metric and test (IPT, MPT, their mean) the four
    MetaQuantus criteria in [0, 1] and MC, their mean (the library's tests check the values)."""
    folder, _, config = minimal_run
    table = pd.read_csv(folder / "results/tables/meta_evaluation.tsv", sep="\t")
    assert set(table["metric"]) == set(config["evaluate"]["metrics"])
    assert set(table["test"]) == {"IPT", "MPT", "mean"} and set(table["replicate"]) == {0}
    wide = table.pivot_table(index=["metric", "test"], columns="criterion", values="value", dropna=False)
    values = wide[["IAC_NR", "IAC_AR", "IEC_NR", "IEC_AR"]]
    assert (values.isna() | ((values >= 0) & (values <= 1))).all().all()
    assert values.notna().any(axis=1).all()  # NaN only where a mode kept no image (no flip, no pair)
    per_test = wide.index.get_level_values("test") != "mean"
    np.testing.assert_allclose(wide["MC"][per_test], values[per_test].mean(axis=1), rtol=1e-12)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_results(minimal_run, tmp_path):
    """kill -9 of the whole Snakemake process group mid-run (jobs in flight), then what README says to do:
    the next run stops on the lock, --unlock, rerun. Every result equals the uninterrupted run's, bit for bit
    (tools/compare_runs.py: every table, array and model). Both runs here ask for the scores table only: the
    chain where jobs are killed in flight (the jobs after it, figures and statistics, start afresh either
    way and would only double this test's time)."""
    reference, path, config = minimal_run
    dataset, model = next(iter(config["datasets"])), next(iter(config["models"]))
    target = "results/tables/scores.tsv"
    command = [
        str(BIN / "snakemake"), target, "--snakefile", str(ROOT / "Snakefile"), "--cores", "2",
        "--directory", str(tmp_path), "--configfile", str(path),
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started = tmp_path / f"logs/explain/{dataset}/{model}/seed0"  # training done, explanation running
    deadline = time.monotonic() + 300
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / target).exists()

    args = ("--directory", str(tmp_path), "--configfile", str(path))
    locked = snakemake(target, "--cores", "2", *args, check=False)
    assert locked.returncode != 0 and "cannot be locked" in locked.stdout + locked.stderr
    snakemake("--unlock", *args)
    snakemake(target, "--cores", "2", *args, timeout=600)
    compare_runs = load_tool("compare_runs.py", "compare_runs_resume")
    differences = compare_runs.compare(reference, tmp_path, figures=False)
    assert [line for line in differences if not line.endswith(f"only in {reference}")] == []
    resumed = {p.relative_to(tmp_path).as_posix() for p in (tmp_path / "results").rglob("*.*")}
    for seed in ("seed0", "seed1"):  # what was compared: each replicate's data, model and scores
        run = f"{dataset}/{model}/{seed}"
        for part in (f"data/{dataset}/{seed}.npz", f"models/{run}/model.pt", f"scores/{run}/group1-of-1.tsv"):
            assert f"results/{part}" in resumed, part
    assert target in resumed
