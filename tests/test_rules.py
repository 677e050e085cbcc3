"""Every rule declares named input/output, log, benchmark, threads, resources (gpu where due) and conda.

The rules are read as Snakemake builds them (tests/workflow_rules.py), so the rules generated for the views
(rules/views.smk: one view_<name> and one <name> per entry of xaibench.views.VIEWS) are checked like the
others; what only the text shows (threads:, no lambdas) is read from rules/*.smk.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from workflow_rules import workflow_rules

from xaibench.views import VIEWS

ROOT = Path(__file__).resolve().parents[1]
# training, explanation, evaluation and the views that want one (registry: gpu=True) ask for a GPU; data,
# aggregation, figures and the other views do not
GPU_RULES = {"train_model", "explain", "evaluate"} | {f"view_{v}" for v in VIEWS if VIEWS.get(v).gpu}
RULES = {name: rule for name, rule in workflow_rules().items() if name != "all"}
RULE_TEXT = {smk.name: smk.read_text() for smk in sorted((ROOT / "rules").glob("*.smk"))}


def test_common_smk_defines_no_rules():
    assert not re.search(r"^\s*(rule|checkpoint)\b.*:$", RULE_TEXT["common.smk"], re.M)
    assert set(RULES) >= GPU_RULES | {"generate_dataset", "aggregate_scores"}


def test_every_view_has_its_two_rules():
    """test.yaml switches every view on: a per-pair rule and a gathering rule each, nothing else."""
    view_rules = {name for name in RULES if RULES[name]["script"].endswith(("/view.py", "/view_table.py"))}
    assert view_rules == {f"view_{v}" for v in VIEWS} | set(VIEWS)


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
    """profiles/slurm names rules: a view registered with gpu=True needs its view_<name> line there."""
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
