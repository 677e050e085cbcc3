"""Every rule declares named input/output, log, benchmark, threads, resources (gpu where due) and conda.

The rules are read as Snakemake builds them (tests/workflow_rules.py), so the rules generated for the views
(rules/views.smk: one view_<name> and one <name> per entry of xaibench.views.VIEWS, and views for all of them)
are checked like the others; what only the text shows (threads:, no lambdas) is read from rules/*.smk.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_rules import workflow_rules

from xaibench.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]
# training, explanation, evaluation and the views that want one (registry: gpu=True) ask for a GPU, and so
# does views (every view of a pair in one job) when one of its views does; data, aggregation, figures and the
# other views do not
GPU_RULES = {"train_model", "explain", "evaluate", "meta_evaluate"}
GPU_RULES |= {f"view_{v}" for v in VIEWS if VIEWS.get(v).gpu}
GPU_RULES |= {"views"} if any(VIEWS.get(v).gpu for v in VIEWS) else set()
RULES = {name: rule for name, rule in workflow_rules().items() if name != "all"}
RULE_TEXT = {smk.name: smk.read_text() for smk in sorted((ROOT / "rules").glob("*.smk"))}


def test_common_smk_defines_no_rules():
    assert not re.search(r"^\s*(rule|checkpoint)\b.*:$", RULE_TEXT["common.smk"], re.M)
    assert set(RULES) >= GPU_RULES | {"generate_dataset", "aggregate_scores"}


def test_parsing_the_workflow_imports_no_deep_learning_library(heavy_imports):
    """Every `snakemake` call parses the workflow (a dry run, the main process, each SLURM job): the library
    modules rules/common.smk imports are registries and config checks, so torch (~2 s of a 4-s dry run) is
    imported by the jobs that build a model, not by the parse."""
    modules = re.findall(r"^from (xaibench[\w.]*) import", RULE_TEXT["common.smk"], re.M)
    assert {"xaibench.pairs", "xaibench.claims.parts", "xaibench.datasets"} <= set(modules)
    assert heavy_imports(", ".join(modules), ("torch", "torchvision", "captum", "quantus", "zennit")) == []


def test_an_evaluation_job_that_explains_writes_the_explanation_file():
    """With explain.in_evaluation_job (test.yaml, config.yaml) rule explain is not defined and rule evaluate
    writes the explanation file rule explain writes otherwise, as its first named output; the rest of the
    rule is the same (its attributions input then names no file: the DAG tests)."""
    fused = workflow_rules(explain_jobs=False)
    assert "explain" not in fused and set(fused) == set(RULES) - {"explain"} | {"all"}
    evaluate, apart = fused["evaluate"], RULES["evaluate"]
    assert evaluate["output"] == ["attributions", *apart["output"]]
    assert RULES["explain"]["output"] == ["attributions"]
    assert {k: v for k, v in evaluate.items() if k not in ("output", "n_output")} == {
        k: v for k, v in apart.items() if k not in ("output", "n_output")
    }


def test_the_chain_to_the_scores_runs_first():
    """The rules from data to the statistics have a higher priority than every other rule, so that on a few
    cores the side branches (views, figures, claims' inputs) fill the cores the chain leaves idle."""
    chain = {"generate_dataset", "train_model", "explain", "evaluate", "aggregate_scores", "statistics"}
    assert {name for name, rule in RULES.items() if rule["priority"] > 0} == chain
    assert min(RULES[name]["priority"] for name in chain) > max(
        rule["priority"] for name, rule in RULES.items() if name not in chain
    )


def test_every_view_has_its_two_rules():
    """test.yaml switches every view on: a per-pair rule and a gathering rule each, and views (every view of
    a pair in one job), nothing else."""
    view_rules = {name for name in RULES if RULES[name]["script"].endswith(("/view.py", "/view_table.py"))}
    assert view_rules == {f"view_{v}" for v in VIEWS} | set(VIEWS) | {"views"}


def test_views_rule_has_the_outputs_of_every_view_rule():
    """views writes what the view_<name> rules write, its outputs named <view>__<output>, which
    xaibench.views.jobs.outputs_by_view splits back into each view's outputs."""
    from xaibench.views.jobs import outputs_by_view

    grouped = RULES["views"]["output"]
    assert grouped == [f"{v}__{name}" for v in VIEWS for name in RULES[f"view_{v}"]["output"]]
    split = outputs_by_view(dict.fromkeys(grouped, "path"), list(VIEWS))
    assert {v: list(names) for v, names in split.items()} == {v: RULES[f"view_{v}"]["output"] for v in VIEWS}
    # tools/benchmark.py reads the pair from benchmarks/views/<view>/<dataset>/<model>: here <view> is all
    assert RULES["views"]["benchmark"].startswith("benchmarks/views/all/{dataset")


def test_views_rule_asks_for_a_gpu_only_for_a_gpu_view(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    config["views"] = {v: config["views"][v] for v in VIEWS if not VIEWS.get(v).gpu}
    path = tmp_path / "cpu_views.yaml"
    path.write_text(yaml.safe_dump(config))
    rules = workflow_rules(str(path))
    assert "gpu" not in rules["views"]["resources"]
    assert rules["views"]["output"] == [
        f"{v}__{n}" for v in config["views"] for n in rules[f"view_{v}"]["output"]
    ]


def _dry_run(workdir: Path, config: Path, views_per_job: str, *args: str) -> str:
    snakemake = Path(sys.executable).parent / "snakemake"
    command = [snakemake, "--snakefile", ROOT / "Snakefile", "--directory", workdir, "--configfile", config]
    command += ["--config", f"views_per_job={views_per_job}", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_views_per_job_all_runs_one_views_job_per_pair_for_the_same_files(tmp_path):
    """views_per_job: all (config.yaml) builds every view of a pair in one views job, 1 (test.yaml,
    paper.yaml) one view_<name> job per view and pair; both DAGs hold the same files."""
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    config["datasets"]["ts_scale"] = config["datasets"]["ts_rotation"]  # two pairs
    path = tmp_path / "two_pairs.yaml"
    path.write_text(yaml.safe_dump(config))
    stats = _dry_run(tmp_path, path, "all", "-n").split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    assert counts["views"] == 2 and not any(name.startswith("view_") for name in counts)
    assert all(counts[v] == 1 for v in VIEWS)  # the gathering rules stay per view
    rule_of = {}  # mode -> output file -> the rule that makes it
    for mode in ("all", "1"):
        rows = [line.split("\t") for line in _dry_run(tmp_path, path, mode, "--summary").splitlines()]
        rule_of[mode] = {row[0]: row[2] for row in rows[1:] if len(row) > 2}
    assert set(rule_of["all"]) == set(rule_of["1"])
    per_pair = {f for f, rule in rule_of["1"].items() if rule.startswith("view_")}
    assert len(per_pair) == 2 * sum(len(RULES[f"view_{v}"]["output"]) for v in VIEWS)
    assert {rule_of["all"][f] for f in per_pair} == {"views"}
    assert all(rule_of["all"][f] == rule for f, rule in rule_of["1"].items() if f not in per_pair)


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_declares_everything(name):
    rule = RULES[name]
    assert len(rule["output"]) == rule["n_output"] > 0, f"rule {name}: outputs must be named"
    assert rule["log"] and rule["benchmark"] and rule["script"], f"rule {name} lacks log/benchmark/script"
    assert rule["conda"] == "../envs/xaibench.yaml", name
    assert {"mem_mb", "runtime"} <= set(rule["resources"]), name
    gpu = "gpu" in rule["resources"]
    assert gpu == (name in GPU_RULES), f"rule {name}: gpu exactly on {sorted(GPU_RULES)}"
    if name in {"explain", "evaluate"}:  # retries (attempt k) use smaller batches
        assert "batch_divisor" in rule["resources"], name


@pytest.mark.parametrize("smk", sorted(RULE_TEXT))
def test_rule_text_declares_threads_and_uses_no_lambda(smk):
    blocks = re.split(r"^\s*rule( \w+)?:\n", RULE_TEXT[smk], flags=re.M)[2::2]
    assert blocks or smk == "common.smk", f"{smk} defines no rule"
    for body in blocks:
        assert re.search(r"^\s+threads: \d+$", body, re.M), f"{smk}: a rule lacks threads:"
        assert "lambda" not in body, f"{smk}: a rule uses a lambda"


def test_slurm_profile_sends_exactly_the_gpu_rules_to_the_gpu_partition():
    """profiles/slurm names rules: a view registered with gpu=True needs its view_<name> line there (and
    views, the rule of views_per_job: all, its own)."""
    per_rule = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())["set-resources"]
    assert set(per_rule) == GPU_RULES
    assert all(per_rule[name]["gpu"] == 1 for name in GPU_RULES)


def test_view_captions_exist():
    for name in VIEWS:
        spec = VIEWS.get(name)
        assert set(spec.captions) == {*spec.figures, "table"}, name
        for caption in spec.captions.values():
            assert (ROOT / "report" / caption).is_file(), f"view {name}: report/{caption} is missing"


def test_snakefile_holds_only_config_includes_and_all():
    text = (ROOT / "Snakefile").read_text()
    assert re.findall(r"^rule (\w+):", text, flags=re.M) == ["all"]
    assert "configfile:" in text and "include:" in text
