"""Config validation with short messages that name the offending key (used by rules/common.smk)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml


@functools.cache
def _parsed_schema(path: str) -> dict[str, Any]:
    # libyaml's parser where PyYAML has it: the same values, 0.012 s per parse of the 40 kB schema, not 0.085
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(), Loader=loader)


def load_schema(schema_path: str | Path) -> dict[str, Any]:
    """The schema as ``yaml.safe_load`` reads it, parsed once per process (a workflow parse asks twice); a
    copy, so that a caller cannot change what the next one reads."""
    return copy.deepcopy(_parsed_schema(str(Path(schema_path).resolve())))


def config_errors(config: dict[str, Any], schema_path: str | Path) -> list[str]:
    """Every schema violation as 'config key a.b.c: message', sorted by key."""
    from jsonschema import Draft202012Validator

    schema = load_schema(schema_path)
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


def configured_defaults(config: dict[str, Any], schema_path: str | Path) -> dict[str, list[str]]:
    """Fill in the defaults that name configured methods or metrics, after the schema's own defaults.

    A schema property with ``x-default-configured: {among: <a.b>, key: <k>, prefer: [...], or_first: n}``
    and no value in ``config`` (under a parent that is there) becomes the entries of ``config[a][b]`` whose
    registry name (``entry[k]``) is in ``prefer``, in that order (the first entry of each registry name), or,
    if none is, the first ``or_first`` entries (none without ``or_first``). A config that names other methods
    or metrics than the usual ones thus never defaults to one it lacks. Returns the filled keys and values.
    """
    schema = load_schema(schema_path)
    filled: dict[str, list[str]] = {}

    def walk(node: dict[str, Any], values: dict[str, Any], path: str) -> None:
        for name, prop in node.get("properties", {}).items():
            key = f"{path}.{name}" if path else name
            if name in values:
                if isinstance(values[name], dict):
                    walk(prop, values[name], key)
            elif "x-default-configured" in prop:
                values[name] = filled[key] = _configured(config, **prop["x-default-configured"])

    walk(schema, config, "")
    return filled


def _configured(
    config: dict[str, Any], *, among: str, key: str, prefer: list[str], or_first: int = 0
) -> list[str]:
    entries: dict[str, Any] = config
    for part in among.split("."):
        entries = entries.get(part) or {}
    first_of: dict[str, str] = {}
    for name, entry in entries.items():
        first_of.setdefault(entry[key], name)
    chosen = [first_of[p] for p in prefer if p in first_of]
    return chosen or list(entries)[:or_first]
