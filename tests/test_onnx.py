"""ONNX export (xaibench.onnx_export): onnxruntime reproduces the PyTorch logits, dynamic batch axis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from workflow_cli import fresh_python

from xaibench.models import build_model
from xaibench.onnx_export import check_onnx, export_onnx

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _calibrated(name, in_channels, image_size, **params):
    """A seeded model whose BatchNorm statistics come from data (fresh running stats make deep nets output
    ~0, which would make any comparison pass)."""
    torch.manual_seed(0)
    model = build_model(name, in_channels=in_channels, num_classes=3, image_size=image_size, **params)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one pass sets the batch statistics
    model.train()
    with torch.no_grad():
        model(torch.rand(8, in_channels, image_size, image_size))
    return model.eval()


@pytest.mark.parametrize(
    ("name", "in_channels", "image_size", "params"),
    [("small_cnn", 1, 32, {"width": 4}), ("resnet18", 3, 32, {}), ("small_cnn", 3, 64, {"width": 4})],
)
def test_export_reproduces_logits_with_dynamic_batch(name, in_channels, image_size, params, tmp_path):
    model = _calibrated(name, in_channels, image_size, **params)
    path = tmp_path / "sub" / "model.onnx"
    export_onnx(model, (in_channels, image_size, image_size), path)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no temporary file left behind
    rng = np.random.default_rng(1)
    for batch in (1, 5):
        x = rng.random((batch, in_channels, image_size, image_size), dtype=np.float32)
        diff = check_onnx(model, path, x)  # raises beyond rtol 1e-4, atol 1e-5
        assert 0 <= diff < 1e-3
    assert not model.training


@pytest.mark.parametrize(
    ("name", "shape", "params"),
    [("cnn1d", (2, 1, 64), {"width": 4}), ("mlp", (1, 1, 12), {"hidden": [8]})],
)
def test_series_and_table_models_export(name, shape, params, tmp_path):
    model = build_model(name, in_channels=shape[0], num_classes=3, image_size=shape[-1], **params).eval()
    path = tmp_path / "model.onnx"
    export_onnx(model, shape, path)
    x = np.random.default_rng(2).random((4, *shape), dtype=np.float32)
    assert 0 <= check_onnx(model, path, x) < 1e-4


def test_check_detects_a_different_model(tmp_path):
    model = _calibrated("small_cnn", 1, 16, width=4)
    path = tmp_path / "model.onnx"
    export_onnx(model, (1, 16, 16), path)
    other = _calibrated("small_cnn", 1, 16, width=4)
    with torch.no_grad():
        other.get_submodule("head.3").bias.add_(1.0)
    with pytest.raises(AssertionError, match="max \\|diff\\| = 1"):
        check_onnx(other, path, np.zeros((2, 1, 16, 16), np.float32))


def test_export_keeps_the_model_and_its_mode(tmp_path):
    model = _calibrated("small_cnn", 1, 16, width=4).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(model, (1, 16, 16), tmp_path / "m.onnx", opset=13)
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    import onnx

    assert onnx.load(str(tmp_path / "m.onnx")).opset_import[0].version == 13


def test_import_is_lazy():
    code = "import sys, xaibench.onnx_export; assert not {'onnx', 'onnxruntime'} & set(sys.modules)"
    fresh_python(code)
