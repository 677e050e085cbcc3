"""What produced a run's results: package versions, the workflow's git commit, the config as run, the
platform and device, and the date (``results/provenance.json``; the report links it).

Standard library only, so the job stays cheap.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

# The distributions whose versions decide the numbers (the rest is pinned in requirements.txt).
PACKAGES = (
    "torch",
    "torchvision",
    "captum",
    "zennit",
    "grad-cam",
    "quantus",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "scikit-image",
    "statsmodels",
    "scikit-posthocs",
    "matplotlib",
    "snakemake",
)


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None if it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Commit and dirty flag of the git checkout holding ``folder`` (the workflow's), or why there is none.

    Dirty means tracked files differ from the commit or untracked files exist outside .gitignore: results
    were then produced by code that no commit holds."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=normal")
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "note": f"not a git checkout or git unavailable: {exc}"}
    return {"commit": commit, "dirty": bool(status), "changed_files": status.splitlines()[:50]}


def device_info(requested: str) -> dict[str, Any]:
    """The configured device and the GPUs the machine shows (``nvidia-smi -L``; no torch import, no CUDA
    context: the device each job used is in its own outputs, e.g. test_metrics.json)."""
    info: dict[str, Any] = {"configured": requested, "gpus": []}
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True)
            info["gpus"] = listing.stdout.strip().splitlines()
        except (OSError, subprocess.SubprocessError) as exc:
            info["note"] = f"nvidia-smi failed: {exc}"
    return info


def provenance(
    config: Mapping[str, Any], *, workflow_dir: str | os.PathLike[str], device: str = "auto"
) -> dict[str, Any]:
    """The provenance record of a run with ``config`` (as Snakemake ran it, defaults filled in)."""
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "workflow": {"dir_name": Path(workflow_dir).name, **git_state(workflow_dir)},
        "python": sys.version.split()[0],
        "platform": {
            "system": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
        },
        "device": device_info(device),
        "packages": package_versions(),
        "config": config,
    }
