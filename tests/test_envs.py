"""envs/*.yaml pin exactly the versions of requirements.txt (the one place pins live)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_conda_envs_match_requirements():
    required = _pins((ROOT / "requirements.txt").read_text().splitlines())
    assert required["torch"] == "2.14.1" and required["torchvision"] == "0.29.1"
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for env_file in envs:
        env = yaml.safe_load(env_file.read_text())
        assert "python=3.11" in env["dependencies"], env_file
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        assert _pins(pip) == required, f"{env_file} disagrees with requirements.txt"


def test_every_rule_env_exists():
    for smk in (ROOT / "rules").glob("*.smk"):
        for line in smk.read_text().splitlines():
            if line.strip().startswith('"../envs/'):
                assert (ROOT / "rules" / line.strip().strip('",')).resolve().exists(), line
