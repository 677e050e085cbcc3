"""The config schema: complete documentation, registry names in sync, bad values named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from xaibench.config import check_config, config_errors
from xaibench.datasets import DATASETS
from xaibench.models import MODELS

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def _schema():
    return yaml.safe_load(SCHEMA.read_text())


def _walk(node, path="config"):
    """Yield (path, property schema) for every named property, at any depth."""
    for name, prop in node.get("properties", {}).items():
        yield f"{path}.{name}", prop
        yield from _walk(prop, f"{path}.{name}")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{path}.<name>")


def test_every_key_has_description_and_default():
    schema = _schema()
    required = set(schema.get("required", []))
    for path, prop in _walk(schema):
        assert prop.get("description"), f"{path} lacks a description"
        top = path.split(".")[1]
        # required keys (datasets/models and the registry name of an entry) need no default
        if path.count(".") == 1 and top in required:
            continue
        if path.rsplit(".", 1)[-1] in {"generator", "architecture", "method", "metric", "preset"}:
            continue
        assert "default" in prop, f"{path} lacks a default"


def test_registry_names_match_schema_enums():
    from xaibench.methods import METHODS
    from xaibench.metrics import METRICS, PRESETS

    props = _schema()["properties"]
    entry = props["datasets"]["additionalProperties"]["properties"]
    assert entry["generator"]["enum"] == DATASETS.names()
    assert props["models"]["additionalProperties"]["properties"]["architecture"]["enum"] == MODELS.names()
    method = props["explain"]["properties"]["methods"]["additionalProperties"]["properties"]["method"]
    assert sorted(method["enum"]) == METHODS.names()
    metric_props = props["evaluate"]["properties"]["metrics"]["additionalProperties"]["properties"]
    assert sorted(metric_props["metric"]["enum"]) == METRICS.names()
    assert sorted(metric_props["preset"]["enum"]) == sorted(PRESETS)


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    assert config_errors(config, SCHEMA) == []


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda c: c.update(seed=-1), "config key seed"),
        (
            lambda c: c["datasets"]["ts_rotation"].update(generator="mnist_from_hub"),
            "datasets.ts_rotation.generator",
        ),
        (lambda c: c["explain"]["methods"]["lime"].update(method="lime2"), "explain.methods.lime.method"),
        (lambda c: c["explain"].update(n_sample=3), "config key explain"),
        (lambda c: c["models"]["small_cnn"]["training"].update(lr=0), "models.small_cnn.training.lr"),
        (lambda c: c.update(device="gpu"), "config key device"),
    ],
    ids=["seed", "generator", "method", "typo", "lr", "device"],
)
def test_bad_values_name_the_key(mutate, key):
    config = copy.deepcopy(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    mutate(config)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        check_config(config, SCHEMA)
