"""The rules of the workflow as Snakemake builds them for a config (generated ones too), for static tests.

The workflow is parsed in a subprocess (Snakemake's API changes the working directory and logging), which
writes one JSON record per rule: its named inputs and outputs, log, benchmark, conda env, script, resources,
threads and priority.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

_DUMP = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, ResourceSettings

root, config, workdir, out = map(Path, sys.argv[1:])
with SnakemakeApi() as api:
    workflow = api.workflow(
        resource_settings=ResourceSettings(),
        config_settings=ConfigSettings(configfiles=[config]),
        snakefile=root / "Snakefile",
        workdir=workdir,
    )._workflow
    rules = {
        rule.name: {
            "input": list(rule.input._names),
            "output": list(rule.output._names),
            "n_output": len(rule.output),
            "log": [str(f) for f in rule.log],
            "benchmark": None if rule.benchmark is None else str(rule.benchmark),
            "conda": rule.conda_env,
            "script": rule.script,
            "resources": sorted(rule.resources),
            "threads": rule.resources["_cores"].value,
            "priority": rule.priority,
        }
        for rule in workflow.rules
    }
out.write_text(json.dumps(rules))
"""


@cache
def workflow_rules(config: str = "config/test.yaml", explain_jobs: bool = True) -> dict[str, dict]:
    """Rule name -> record (see the module docstring) of the workflow run with ``config`` (relative to the
    repository). ``explain_jobs`` sets explain.in_evaluation_job off, so that rule explain is defined (as in
    config/paper.yaml) and every rule the workflow can have is there; False keeps the config's setting."""
    with tempfile.TemporaryDirectory() as tmp:
        path = ROOT / config
        if explain_jobs:
            settings = yaml.safe_load(path.read_text())
            settings.setdefault("explain", {})["in_evaluation_job"] = False
            path = Path(tmp) / "config.yaml"
            path.write_text(yaml.safe_dump(settings))
        out = Path(tmp) / "rules.json"
        args = [sys.executable, "-c", _DUMP, str(ROOT), str(path), tmp, str(out)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"cannot parse the workflow with {config}:\n{proc.stdout}\n{proc.stderr}")
        return json.loads(out.read_text())
