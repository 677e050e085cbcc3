"""README's "Extending" walkthroughs (and docs/extending.md's), executed literally: they cannot rot.

Every code block in README.md, then docs/extending.md, preceded by a marker comment is a step:

* ``<!-- walkthrough: create PATH -->``: the block is a new file at PATH;
* ``<!-- walkthrough: append PATH -->``: the block is added at the end of PATH;
* ``<!-- walkthrough: enum KEY NAME -->``: (no block) NAME joins the ``enum`` of property KEY in
  config/schema.yaml, as the README tells the reader to do;
* ``<!-- walkthrough: schema KEY -->``: the block (YAML) joins the ``properties`` of top-level key KEY in
  config/schema.yaml;
* ``<!-- walkthrough: config -->``: the block is the config the new entries run with.

The test copies the workflow (Snakefile, rules, scripts, config, report, envs, profiles) to a scratch
directory, applies every step there and runs the config end to end with Snakemake: the new dataset, method,
metric and view are generated, trained on, explained, scored and drawn like the built-in ones.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(
    r"<!-- walkthrough: (create|append|enum|schema|config)\s*(.*?) -->(?:\n```\w*\n(.*?)```)?", re.S
)


def steps() -> list[tuple[str, str, str]]:
    """(action, argument, block) for every marker in README.md and docs/extending.md, in order."""
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "extending.md").read_text()
    return [(m[1], m[2].strip(), m[3] or "") for m in MARKER.finditer(text)]


def add_to_enum(schema: str, key: str, name: str) -> str:
    """``schema`` (YAML text) with ``name`` first in the ``enum: [...]`` that follows the line ``key:``."""
    match = re.search(rf"^(\s*){key}:\s*\n(?:\1\s+.*\n)*?\1\s+enum: (&\w+ )?\[", schema, re.M)
    assert match, f"no enum under {key!r} in config/schema.yaml"
    return schema[: match.end()] + f"{name}, " + schema[match.end() :]


def add_to_properties(schema: str, key: str, block: str) -> str:
    """``schema`` with the YAML ``block`` first under ``properties:`` of the top-level property ``key``."""
    match = re.search(rf"^  {key}:\s*\n(?:    .*\n)*?    properties:\s*\n", schema, re.M)
    assert match, f"no properties under {key!r} in config/schema.yaml"
    indented = "".join(f"      {line}\n" if line else "\n" for line in block.splitlines())
    return schema[: match.end()] + indented + schema[match.end() :]


def test_readme_walks_through_every_extension_point():
    actions = [(action, arg.split()[0] if arg else "") for action, arg, _ in steps()]
    written = {arg for action, arg in actions if action in ("create", "append")}
    for package in ("datasets", "methods", "metrics", "views"):
        assert any(f"scripts/xaibench/{package}/" in path for path in written), package
    assert ("config", "") in actions


@pytest.mark.slow
def test_walkthroughs_run_end_to_end(tmp_path):
    work = tmp_path / "xaibench"
    work.mkdir()
    for part in ("Snakefile", "rules", "scripts", "config", "report", "envs", "profiles"):
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, work / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / part)
    config = None
    for action, arg, block in steps():
        if action == "create":
            (work / arg).write_text(block)
        elif action == "append":
            path = work / arg
            path.write_text(path.read_text() + "\n" + block)
        elif action == "enum":
            key, name = arg.split()
            schema = work / "config" / "schema.yaml"
            schema.write_text(add_to_enum(schema.read_text(), key, name))
        elif action == "schema":
            schema = work / "config" / "schema.yaml"
            schema.write_text(add_to_properties(schema.read_text(), arg, block))
        else:
            config = work / "walkthrough.yaml"
            config.write_text(block)
    assert config is not None, "README has no walkthrough config"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = [str(Path(sys.executable).parent / "snakemake"), "--cores", "2", "--configfile", str(config)]
    run = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    scores = pd.read_csv(work / "results/tables/scores.tsv", sep="\t")
    written = [arg for action, arg, _ in steps() if action in ("create", "append")]
    for name in ("bars", "my_methods", "my_metrics", "view_confidence", "catalogue"):
        assert any(name in path for path in written), name
    assert set(scores["method"]) == {"gradient_squared", "saliency"}
    assert set(scores["metric"]) == {"selectivity", "sparseness"}
    assert set(scores["dataset"]) == {"bars"} and scores["score"].notna().all()
    view = pd.read_csv(work / "results/tables/views/confidence.tsv", sep="\t")
    assert len(view) == 20 and view["p_true"].between(0, 1).all()
    assert (work / "results/figures/confidence/bars/small_cnn/histogram.png").stat().st_size > 10_000
