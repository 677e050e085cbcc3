"""Tests of the explanation-method library (xaibench.methods): shapes, dtypes, determinism, parameter
checks, lazy imports, the Quantus adapter and the properties some methods promise (non-negative Grad-CAM,
conserving LRP).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xaibench.methods import (
    METHODS,
    MethodNotApplicable,
    MethodSpec,
    explain,
    method_params,
    quantus_explain_func,
    superpixels,
)
from xaibench.models import build_model

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


@pytest.fixture(scope="module")
def batch(tiny_batch):
    x, y, _ = tiny_batch
    return torch.from_numpy(x), torch.from_numpy(y)


@pytest.fixture(scope="module")
def rgb_model():
    torch.manual_seed(1)
    return build_model("small_cnn", in_channels=3, num_classes=3, image_size=16, width=4).eval()


@pytest.fixture(scope="module")
def rgb_batch():
    gen = torch.Generator().manual_seed(2)
    x = 0.1 * torch.rand(3, 3, 16, 16, generator=gen)
    x[:, :, 4:11, 5:12] += torch.rand(3, 3, 1, 1, generator=gen)
    return x, torch.tensor([0, 1, 2])


class _Scaled(nn.Module):
    """The tiny model with logits scaled up: its untrained logits barely move under perturbation, and LIME's
    Lasso then zeroes every coefficient, which would make determinism tests trivially pass."""

    def __init__(self, model: nn.Module, scale: float) -> None:
        super().__init__()
        self.model = model
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.scale


def _hooks(model: nn.Module) -> list[str]:
    found = []
    for name, module in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            if getattr(module, attr, None):
                found.append(f"{name or '<root>'}.{attr}")
    return found


def test_registry_entries_are_specs():
    expected = {
        "saliency", "integrated_gradients", "input_x_gradient", "guided_backprop", "deconvolution",
        "deeplift", "gradcam", "guided_gradcam", "occlusion", "lime", "kernel_shap", "lrp", "random", "sobel",
    }  # fmt: skip
    assert set(METHODS.names()) == expected
    for name in METHODS.names():
        spec = METHODS.get(name)
        assert isinstance(spec, MethodSpec)
        assert spec.library in {"captum", "zennit", "control"}
        assert spec.description and "\n" not in spec.description
    assert METHODS.get("lrp").library == "zennit"
    assert METHODS.get("random").library == METHODS.get("sobel").library == "control"
    assert method_params("occlusion")["window"] == 4


@pytest.mark.parametrize("name", METHODS.names())
def test_method_gray(name, tiny_model, batch):
    x, y = batch
    x_before = x.clone()
    attr = explain(name, tiny_model, x, y, batch_size=3)  # two chunks: 3 + 1
    assert attr.shape == (4, 1, 32, 32)
    assert attr.dtype == np.float32
    assert np.isfinite(attr).all()
    assert torch.equal(x, x_before) and not x.requires_grad
    assert not tiny_model.training
    assert _hooks(tiny_model) == []


@pytest.mark.parametrize("name", METHODS.names())
def test_method_rgb(name, rgb_model, rgb_batch):
    x, y = rgb_batch
    attr = explain(name, rgb_model, x, y)
    assert attr.shape == (3, 1, 16, 16)
    assert attr.dtype == np.float32
    assert np.isfinite(attr).all()


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("lime", {"n_samples": 60}),
        ("lime", {"n_samples": 60, "segmentation": {"kind": "grid", "cell": 8}}),
        ("kernel_shap", {"n_samples": 60}),
        ("random", {"seed": 3}),
    ],
)
def test_deterministic_and_chunk_independent(name, params, tiny_model, batch):
    model = _Scaled(tiny_model, 1e4).eval()
    x, y = batch
    state = torch.get_rng_state()
    first = explain(name, model, x, y, **params)
    again = explain(name, model, x, y, **params)
    one_by_one = explain(name, model, x, y, batch_size=1, **params)
    assert np.array_equal(first, again)
    assert np.array_equal(first, one_by_one)
    assert np.ptp(first) > 0  # not a constant map
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone


def test_seed_changes_the_map(tiny_model, batch):
    x, y = batch
    assert not np.array_equal(
        explain("random", tiny_model, x, y), explain("random", tiny_model, x, y, seed=1)
    )


@pytest.mark.parametrize(
    ("name", "params", "bad"),
    [
        ("saliency", {"n_steps": 3}, "n_steps"),
        ("occlusion", {"windw": 4}, "windw"),
        ("random", {"seed": 0, "sed": 1}, "sed"),
        ("lrp", {"composite": "epsilon_foo"}, "composite"),
        ("lime", {"segmentation": {"kind": "slic", "segments": 8}}, "segmentation"),
        ("kernel_shap", {"segmentation": {"kind": "voronoi"}}, "segmentation"),
    ],
)
def test_bad_parameter_raises(name, params, bad, tiny_model, batch):
    x, y = batch
    with pytest.raises(ValueError, match=rf"(?s){name}.*{bad}"):
        explain(name, tiny_model, x, y, **params)


def test_unknown_method_lists_known(tiny_model, batch):
    with pytest.raises(KeyError, match="saliency"):
        explain("no_such_method", tiny_model, *batch)


def test_gradcam_nonnegative_and_upsampled(tiny_model, batch):
    x, y = batch
    attr = explain("gradcam", tiny_model, x, y)
    assert attr.shape == (4, 1, 32, 32)
    assert (attr >= 0).all()
    raw = explain("gradcam", tiny_model, x, y, relu_attributions=False)
    assert raw.shape == (4, 1, 32, 32)


def test_sobel_edges(tiny_model, batch):
    x, y = batch
    constant = torch.full((2, 1, 32, 32), 0.7)
    assert np.array_equal(explain("sobel", tiny_model, constant, y[:2]), np.zeros((2, 1, 32, 32), np.float32))
    edges = explain("sobel", tiny_model, x, y)
    square = x.numpy() > 0.5
    r, c = np.argwhere(square[0, 0])[0]  # top-left pixel of image 0's square
    assert edges[0, 0, r, c] > 0.1
    assert edges[0, 0, r - 1, c] > 0.1  # just outside the square
    assert edges[0, 0, r + 4, c + 4] == 0  # inside the square
    from skimage.filters import sobel

    np.testing.assert_allclose(
        edges[1, 0], sobel(x[1, 0].numpy().astype(np.float64), mode="nearest"), atol=1e-6
    )
    three = explain("sobel", tiny_model, x.repeat(1, 3, 1, 1), y)
    np.testing.assert_allclose(three, 3 * edges, rtol=1e-6)  # summed over channels


def test_quantus_adapter_numpy(tiny_model, tiny_batch):
    x, y, _ = tiny_batch
    attr = quantus_explain_func(tiny_model, x, y, method="saliency", batch_size=2, device="cpu", abs=False)
    assert isinstance(attr, np.ndarray)
    assert attr.shape == (4, 1, 32, 32) and attr.dtype == np.float32
    np.testing.assert_allclose(
        attr, explain("saliency", tiny_model, torch.from_numpy(x), torch.from_numpy(y), abs=False)
    )
    lime = quantus_explain_func(tiny_model, x.astype(np.float64), y, method="lime", n_samples=20)
    assert lime.shape == (4, 1, 32, 32) and lime.dtype == np.float32
    with pytest.raises(ValueError, match="method"):
        quantus_explain_func(tiny_model, x, y)


def test_quantus_adapter_randomised_copy(tiny_model, tiny_batch):
    """MPRT passes a deep copy with re-initialised layers: CAM methods must find the copy's layer."""
    x, y, _ = tiny_batch
    original = explain("gradcam", tiny_model, torch.from_numpy(x), torch.from_numpy(y))
    randomised = copy.deepcopy(tiny_model)
    torch.manual_seed(5)
    for module in randomised.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            module.reset_parameters()
    for name in ("gradcam", "guided_gradcam", "lrp", "deeplift"):
        attr = quantus_explain_func(randomised, x, y, method=name, device="cpu")
        assert attr.shape == (4, 1, 32, 32) and np.isfinite(attr).all()
    assert not np.allclose(quantus_explain_func(randomised, x, y, method="gradcam"), original)
    same = quantus_explain_func(randomised, x, y, method="random")
    assert np.array_equal(same, explain("random", tiny_model, torch.from_numpy(x), torch.from_numpy(y)))


def test_lrp_conserves_relevance_and_removes_hooks(tiny_model, batch):
    x, y = batch
    model = copy.deepcopy(tiny_model)
    with torch.no_grad():  # without biases and BN shifts, LRP-epsilon/z+ redistributes the logit exactly
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 2.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        logits = model(x)[torch.arange(4), y].numpy()
    for composite in ("epsilon_plus_flat", "epsilon_gamma_box", "epsilon_plus", "epsilon_alpha2_beta1"):
        relevance = explain("lrp", model, x, y, composite=composite)
        np.testing.assert_allclose(relevance.sum(axis=(1, 2, 3)), logits, rtol=0.05, err_msg=composite)
    one_hot = explain("lrp", model, x, y, output_relevance="one_hot")
    np.testing.assert_allclose(one_hot.sum(axis=(1, 2, 3)), 1.0, rtol=0.05)
    assert _hooks(model) == []
    after = model.state_dict()
    assert after.keys() == state.keys()
    assert all(torch.equal(after[k], state[k]) for k in state)  # the BatchNorm merge was undone
    # On the untrained model with biases the bias terms absorb relevance, but it stays small and finite.
    relevance = explain("lrp", tiny_model, x, y)
    assert np.isfinite(relevance).all() and np.abs(relevance.sum(axis=(1, 2, 3))).max() < 10


def test_superpixels_ids_start_at_zero(tiny_batch):
    x, _, _ = tiny_batch
    masks = superpixels(x, {"kind": "slic", "n_segments": 16})
    assert masks.shape == (4, 1, 32, 32)
    for mask in masks:
        ids = np.unique(mask)
        assert ids[0] == 0 and np.array_equal(ids, np.arange(len(ids))) and len(ids) > 1
    grid = superpixels(x, {"kind": "grid", "cell": 5})
    assert len(np.unique(grid[0])) == 7 * 7
    # SLIC with a low compactness leaves uniform noise in one piece: the grid fallback keeps maps informative.
    noise = np.random.default_rng(0).random((1, 1, 32, 32)).astype(np.float32)
    assert len(np.unique(superpixels(noise))) > 1


def test_import_is_lazy():
    code = (
        "import sys, xaibench.methods as m; "
        "assert not {'captum', 'zennit', 'skimage'} & set(sys.modules); "
        "import torch; m.explain('random', torch.nn.Linear(1, 1), torch.zeros(1, 1, 4, 4), torch.zeros(1)); "
        "m.explain('sobel', torch.nn.Linear(1, 1), torch.zeros(1, 1, 4, 4), torch.zeros(1)); "
        "assert not {'captum', 'zennit'} & set(sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_occlusion_window_as_fraction_of_the_image(tiny_model, tiny_batch):
    x, y, _ = tiny_batch
    inputs, targets = torch.from_numpy(x[:2]), torch.from_numpy(y[:2])
    in_pixels = explain("occlusion", tiny_model, inputs, targets, window=8, stride=4)
    as_fraction = explain("occlusion", tiny_model, inputs, targets, window=0.25, stride=0.125)
    np.testing.assert_array_equal(in_pixels, as_fraction)
    with pytest.raises(ValueError, match="window"):
        explain("occlusion", tiny_model, inputs, targets, window=1.5)


# ----------------------------------------------------------------------------------------------------------
# torchvision architectures (xaibench.models_torchvision)
# ----------------------------------------------------------------------------------------------------------

ARCHITECTURES = ["resnet18", "densenet121", "efficientnet_b0"]  # resnet50: same blocks as resnet18, slower
# The (architecture, method) pairs expected to raise MethodNotApplicable, with a word of the reason; every
# other pair must return a finite map. A change either way is a regression (or a deliberate update here).
NOT_APPLICABLE = {
    ("efficientnet_b0", "guided_backprop"): "SiLU",  # GBP/DeconvNet only modify nn.ReLU gradients
    ("efficientnet_b0", "deconvolution"): "SiLU",
    ("efficientnet_b0", "guided_gradcam"): "SiLU",
    ("efficientnet_b0", "deeplift"): "SiLU",  # no DeepLIFT rule for SiLU (nor the squeeze-excitation product)
    # z+ / alpha-beta rules assume non-negative activations; composite epsilon_gamma_box is applicable
    ("efficientnet_b0", "lrp"): "SiLU",
}
CHEAP = {
    "lime": {"n_samples": 20},
    "kernel_shap": {"n_samples": 20},
    "occlusion": {"window": 16, "stride": 16},
    "integrated_gradients": {"n_steps": 4},
}


def _torchvision_model(arch: str, seed: int = 0) -> nn.Module:
    """A seeded 1-channel, 2-class model for 32x32 inputs whose BatchNorm statistics come from data: with
    fresh statistics a deep net's logits vanish (EfficientNet-B0: ~1e-13), which makes maps degenerate."""
    import xaibench.models_torchvision  # noqa: F401 (registers the architectures)

    torch.manual_seed(seed)
    model = build_model(arch, in_channels=1, num_classes=2, image_size=32)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one pass sets the batch statistics
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


@pytest.fixture
def one_thread():
    """Tiny batches gain little from intra-op threads, and while another process keeps the cores busy two
    OpenMP threads stall each other: measured 20-50x slower on 2 cores (DenseNet-121 LRP, 2 images: 35 s
    with 2 threads, 0.8 s with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def arch_model():
    cache: dict[str, tuple[nn.Module, dict[str, torch.Tensor]]] = {}

    def get(arch: str) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        if arch not in cache:
            model = _torchvision_model(arch)
            cache[arch] = (model, {k: v.clone() for k, v in model.state_dict().items()})
        return cache[arch]

    return get


@pytest.mark.parametrize("name", METHODS.names())
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_method_on_architecture(arch, name, arch_model, tiny_batch, one_thread):
    model, state = arch_model(arch)
    x, y = torch.from_numpy(tiny_batch[0][:2]), torch.from_numpy(tiny_batch[1][:2])
    if (arch, name) in NOT_APPLICABLE:
        with pytest.raises(MethodNotApplicable, match=NOT_APPLICABLE[arch, name]):
            explain(name, model, x, y, **CHEAP.get(name, {}))
    else:
        attr = explain(name, model, x, y, **CHEAP.get(name, {}))
        assert attr.shape == (2, 1, 32, 32) and attr.dtype == np.float32
        assert np.isfinite(attr).all()
        if name == "deeplift":  # summation-to-delta: genuine DeepLIFT on the rewritten ResNet/DenseNet
            with torch.no_grad():
                delta = (model(x) - model(torch.zeros_like(x)))[torch.arange(2), y].numpy()
            np.testing.assert_allclose(attr.sum(axis=(1, 2, 3)), delta, rtol=1e-3, atol=1e-4)
    assert _hooks(model) == []
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)


def _canonized_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Target logits of the canonized model (BatchNorm merged, gates constant): what LRP redistributes."""
    from xaibench.methods import _lrp_canonizers

    instances = [i for c in _lrp_canonizers(model) for i in c.apply(model)]
    try:
        with torch.no_grad():
            return model(x)[torch.arange(len(y)), y].numpy()
    finally:
        for instance in instances:
            instance.remove()


@pytest.mark.parametrize(
    ("arch", "composite"),
    [("resnet18", "epsilon_plus"), ("densenet121", "epsilon_plus"), ("efficientnet_b0", "epsilon_gamma_box")],
)
def test_lrp_conserves_relevance_on_architecture(arch, composite, arch_model, tiny_batch, one_thread):
    """Without biases and BatchNorm shifts, LRP with the architecture's canonizers redistributes the logit
    exactly: residual sums (ResNet, EfficientNet), concatenations and pre-activation BatchNorms (DenseNet)
    and squeeze-excitation gates (EfficientNet) lose no relevance. (EfficientNet's SiLUs rule out z+.)"""
    model = copy.deepcopy(arch_model(arch)[0])
    with torch.no_grad():
        for module in model.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.zero_()
    x, y = torch.from_numpy(tiny_batch[0][:2]), torch.from_numpy(tiny_batch[1][:2])
    relevance = explain("lrp", model, x, y, composite=composite).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(relevance, _canonized_logits(model, x, y), rtol=0.01)
    if arch != "efficientnet_b0":
        # A merged BatchNorm still divides by sqrt(1 + eps); the random, bias-free EfficientNet amplifies
        # that up to ~10% over its 49 BatchNorms, so only the canonized logits are compared there.
        with torch.no_grad():
            logits = model(x)[torch.arange(2), y].numpy()
        np.testing.assert_allclose(relevance, logits, rtol=1e-3)


def test_stock_torchvision_models(one_thread):
    """Models straight from torchvision: reused / in-place ReLUs and unknown structures are handled or
    refused with the reason, never an obscure failure."""
    import torchvision

    x, y = torch.rand(2, 3, 32, 32), torch.tensor([0, 1])
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None, num_classes=2).eval()
    with pytest.raises(MethodNotApplicable, match="more than once"):
        explain("deeplift", resnet, x, y)
    for name in ("guided_backprop", "lrp"):  # in-place ReLUs: run on a non-inplace copy
        assert np.isfinite(explain(name, resnet, x, y)).all()
    assert resnet.relu.inplace and _hooks(resnet) == []
    with pytest.raises(MethodNotApplicable, match="in-place functional ReLU"):
        explain("lrp", torchvision.models.densenet121(weights=None, num_classes=2).eval(), x, y)
    with pytest.raises(MethodNotApplicable, match="no Zennit canonizer"):
        explain("lrp", torchvision.models.mobilenet_v2(weights=None, num_classes=2).eval(), x, y)
