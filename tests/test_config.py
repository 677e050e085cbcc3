"""The config schema: complete documentation, registry names in sync, bad values named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from xaibench.config import check_config, config_errors, configured_defaults, load_schema
from xaibench.datasets import DATASETS
from xaibench.models import MODELS
from xaibench.views import VIEWS

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


def _required(node, path="config"):
    """Paths of the keys their object requires (``required:``), at any depth."""
    yield from (f"{path}.{name}" for name in node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        yield from _required(prop, f"{path}.{name}")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _required(extra, f"{path}.<name>")


def test_every_key_has_description_and_default():
    schema = _schema()
    required = set(schema.get("required", []))
    required_keys = set(_required(schema))  # e.g. a sweep's dataset, param and values: no default
    for path, prop in _walk(schema):
        assert prop.get("description"), f"{path} lacks a description"
        if path in required_keys and path.count(".") > 1:
            continue
        top = path.split(".")[1]
        # required keys (datasets/models and the registry name of an entry) need no default
        if path.count(".") == 1 and top in required:
            continue
        if path.rsplit(".", 1)[-1] in {"generator", "architecture", "method", "metric", "preset"}:
            continue
        if path.count(".") == 2 and top == "views":  # a view runs when named: no default
            assert "default" not in prop, f"{path} has a default: it would always run"
            continue
        # a default naming methods or metrics is picked among the configured ones (configured_defaults)
        assert "default" in prop or "x-default-configured" in prop, f"{path} lacks a default"


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


def test_schema_views_are_the_registered_views():
    assert sorted(_schema()["properties"]["views"]["properties"]) == VIEWS.names()


def test_defaults_name_only_configured_methods_and_metrics():
    config = {
        "explain": {"methods": {"sal": {"method": "saliency"}, "rnd": {"method": "random"}}},
        "evaluate": {"metrics": {"sp": {"metric": "sparseness"}}},
        "figures": {"grid_samples": 3},
        "views": {"adversarial": {"n_samples": 4}},
    }
    filled = configured_defaults(config, SCHEMA)
    assert config["figures"]["grid_methods"] == ["sal", "rnd"]  # none of gradcam/lime/occlusion: the first 3
    assert config["figures"]["curve_metrics"] == []  # no pixel_flipping: no curves
    assert config["views"]["adversarial"]["methods"] == ["sal"]  # the preferred one configured
    assert set(filled) == {"figures.grid_methods", "figures.curve_metrics", "views.adversarial.methods"}
    config["explain"]["methods"] |= {"lime_50": {"method": "lime"}, "gc": {"method": "gradcam"}}
    config["explain"]["methods"]["gc2"] = {"method": "gradcam"}
    config["figures"].pop("grid_methods")
    config["views"]["adversarial"]["methods"] = ["rnd"]  # given values stay
    assert configured_defaults(config, SCHEMA) == {"figures.grid_methods": ["gc", "lime_50"]}
    assert config["views"]["adversarial"]["methods"] == ["rnd"] and "occlusion_sweep" not in config["views"]


def test_the_schema_is_read_as_yaml_safe_load_reads_it_and_each_caller_gets_its_own_copy():
    first = load_schema(SCHEMA)
    assert first == _schema()  # libyaml's parser (where PyYAML has it): the same values
    first["properties"].clear()  # a caller changing its copy ...
    assert load_schema(str(SCHEMA)) == _schema()  # ... changes nothing the next one reads


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml", "minimal.yaml"])
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
