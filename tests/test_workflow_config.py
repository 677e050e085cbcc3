"""The workflow as a user configures it: lint, formatting, dry-runs of every config and bad configs (runs of
the minimal config and a sweep: tests/test_workflow_minimal.py; the tiny end-to-end run of config/test.yaml
and its checks: tests/test_workflow.py)."""

from __future__ import annotations

import re

import pytest
import yaml
from workflow_cli import BIN, MINIMAL_CONFIG, ROOT, TEST_CONFIG, job_counts, run, snakemake

from xaibench.datasets import generator_modality
from xaibench.pairs import dataset_models
from xaibench.views import VIEWS

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
    path = ROOT / "config" / name
    if name == "paper.yaml":  # 5 replicates x one job per method: ~6,000 jobs, 100 s to build the DAG
        assert config["replicates"] == [0, 1, 2, 3, 4]
        config["replicates"] = [0]  # the grouping checks need one
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path))
    counts = job_counts(out.stdout)
    datasets = config["datasets"]
    models = {name: dataset_models(name, entry, config["models"]) for name, entry in datasets.items()}
    pairs = sum(len(chosen) for chosen in models.values())
    default = config.get("replicates") or [config.get("seed", 0)]
    replicates = {name: entry.get("replicates") or default for name, entry in config["datasets"].items()}
    runs = sum(  # (dataset, model, replicate)
        len(models[name]) * len(replicates[name]) for name in config["datasets"]
    )
    n_methods = len(config["explain"]["methods"])
    for stage in ("explain", "evaluate"):  # groups of methods_per_job methods
        per_job = config[stage].get("methods_per_job", "all")
        per_job = n_methods if per_job == "all" else per_job
        # explain.in_evaluation_job: the evaluation jobs explain (config.yaml, test.yaml; not paper.yaml)
        fused = stage == "explain" and config["explain"].get("in_evaluation_job", False)
        assert counts.get(stage, 0) == (0 if fused else runs * -(-n_methods // per_job)), stage
    assert config["explain"].get("in_evaluation_job", False) == (name != "paper.yaml")
    assert counts["train_model"] == runs and counts["export_onnx"] == pairs  # ONNX: first replicate
    assert counts["generate_dataset"] == sum(len(r) for r in replicates.values())
    assert counts["figure_method_ranks"] == counts["figure_forest"] == 1  # every pair: folders of figures
    assert counts["statistics"] == counts["provenance"] == counts["figure_metric_agreement"] == 1
    assert set(config["views"]) == set(VIEWS)  # the shipped configs run every view
    # the views draw image pairs (series and tables have their attribution figure instead)
    images = sum(
        len(models[name])
        for name, entry in datasets.items()
        if generator_modality(entry["generator"]) == "image"
    )
    for view in VIEWS:  # one job per pair (for each view, or for all of them), one gathering job per view
        assert counts[view] == 1
        assert counts.get(f"view_{view}", 0) == (images if config.get("views_per_job", 1) == 1 else 0)
    assert counts.get("views", 0) == (images if config.get("views_per_job", 1) == "all" else 0)
    assert counts.get("figure_attributions", 0) == pairs - images
    # every figure file a job declares is a PNG, with a PDF beside it exactly where figures.pdf asks for PDFs
    # (the schema's default: yes; config.yaml and test.yaml: no; paper.yaml: yes)
    declared = [
        path
        for line in out.stdout.splitlines()
        if line.strip().startswith("output:")
        for path in line.split(":", 1)[1].strip().split(", ")
    ]
    pngs = {path.removesuffix(".png") for path in declared if path.endswith(".png")}
    pdfs = {path.removesuffix(".pdf") for path in declared if path.endswith(".pdf")}
    assert len(pngs) > 10 and pdfs == (pngs if config["figures"].get("pdf", True) else set())
    assert config["figures"].get("pdf", True) == (name == "paper.yaml")


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
        "explain": 1,  # methods_per_job defaults to all: one job per (dataset, model)
        "evaluate": 1,
        "aggregate_scores": 1,
        "statistics": 1,
        "provenance": 1,
        "figure_method_ranks": 1,
        "figure_forest": 1,
        "figure_metric_agreement": 1,
        "figure_explanation_grid": 1,
        "figure_metric_heatmap": 1,
        "figure_training_curves": 1,
        "figure_faithfulness_curves": 1,  # pixel_flipping
        "object_parts": 1,  # Triangles & Squares: relevance per part of the shapes
        "claims": 1,  # the claims table: "not tested" where the run lacks a claim's tables
        "report_pages": 1,  # the report's overview and readable tables
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


def test_explaining_in_the_evaluation_job_needs_the_same_groups(tmp_path):
    """explain.in_evaluation_job with explanation groups that differ from the evaluation groups stops the
    run naming both keys and their values (an evaluation job can only explain its own group)."""
    config = yaml.safe_load(TEST_CONFIG.read_text())
    assert config["explain"]["in_evaluation_job"]
    config["evaluate"]["methods_per_job"] = 1
    path = tmp_path / "unequal.yaml"
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path), check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "config key explain.in_evaluation_job" in text
    assert "explain.methods_per_job (13)" in text and "evaluate.methods_per_job (1)" in text


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
    groups = -(-len(config["explain"]["methods"]) // config["explain"]["methods_per_job"])
    assert (
        counts["evaluate"] == groups and "explain" not in counts
    )  # test.yaml: explained by the evaluate jobs
    entry["models"] = ["nope"]
    path.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--directory", str(tmp_path), "--configfile", str(path), check=False)
    assert out.returncode != 0 and f"datasets.{name}.models" in out.stdout + out.stderr
