"""Config validation with short messages that name the offending key (used by rules/common.smk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def config_errors(config: dict[str, Any], schema_path: str | Path) -> list[str]:
    """Every schema violation as 'config key a.b.c: message', sorted by key."""
    from jsonschema import Draft202012Validator

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = Draft202012Validator(schema)
    errors = []
    for error in validator.iter_errors(config):
        key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message
        if len(message) > 300:
            message = message[:300] + "..."
        errors.append(f"config key {key}: {message}")
    return sorted(errors)


def check_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Raise ValueError listing every violation (key named) if ``config`` does not match the schema."""
    errors = config_errors(config, schema_path)
    if errors:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(errors))
