"""Every rule declares named outputs, log, benchmark, threads, resources (gpu where due) and conda."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# training, explanation, evaluation and gradient-heavy views ask for a GPU; data, aggregation, figures do not
GPU_RULES = {
    "train_model",
    "explain",
    "evaluate",
    "view_feature_visualisation",
    "view_adversarial",
    "view_occlusion_sweep",
    "view_guided_gradcam_composite",
}


def _rules() -> dict[str, str]:
    rules = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        blocks = re.split(r"^rule (\w+):\n", smk.read_text(), flags=re.M)
        rules.update(dict(zip(blocks[1::2], blocks[2::2], strict=True)))
    return rules


RULES = _rules()


def test_common_smk_defines_no_rules():
    assert "rule " not in (ROOT / "rules" / "common.smk").read_text()
    assert set(RULES) >= GPU_RULES | {"generate_dataset", "aggregate_scores"}


@pytest.mark.parametrize("name", sorted(RULES))
def test_rule_declares_everything(name):
    body = RULES[name]
    for directive in ("output:", "log:", "benchmark:", "threads:", "resources:", "conda:", "script:"):
        assert f"    {directive}" in body, f"rule {name} lacks {directive}"
    outputs = body.split("    output:\n", 1)[1].split("\n    ", 1)[0]
    assert re.match(r"\s+\w+=", outputs), f"rule {name}: outputs must be named"
    resources = body.split("    resources:\n", 1)[1].split("\n    conda:", 1)[0]
    assert "mem_mb=" in resources and "runtime=" in resources, name
    assert ("gpu=" in resources) == (name in GPU_RULES), f"rule {name}: gpu exactly on {sorted(GPU_RULES)}"
    if name in {"explain", "evaluate"}:  # retries (attempt k) use smaller batches
        assert "batch_divisor=batch_divisor" in resources, name
    assert "lambda" not in body, f"rule {name} uses a lambda"
    assert '"../envs/xaibench.yaml"' in body


def test_snakefile_holds_only_config_includes_and_all():
    text = (ROOT / "Snakefile").read_text()
    assert re.findall(r"^rule (\w+):", text, flags=re.M) == ["all"]
    assert "configfile:" in text and "include:" in text
