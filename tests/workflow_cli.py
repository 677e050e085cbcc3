"""Running the workflow from tests: the Snakemake command line and its job statistics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


# How a passing fresh interpreter ends: as a job does, without the 1-3 s teardown of the torch-sized module
# graph that it is about to drop (after the checks: importing xaibench.logs then changes nothing they saw).
SKIP_TEARDOWN = "from xaibench.logs import end_job; end_job()"


def fresh_python(code: str) -> None:
    """Run ``code`` in a new interpreter with the library importable (``scripts`` on PYTHONPATH), as a job
    would: for what only a fresh process shows (which modules an import loads); fails with its stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    code += f"\n{SKIP_TEARDOWN}"  # reached only if the code passed
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def snakemake(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return run(str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), *args, **kwargs)


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's 'Job stats' table."""
    block = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m[1] != "total"}
