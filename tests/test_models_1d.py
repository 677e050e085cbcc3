"""1-D models: ``cnn1d`` for series (N, C, 1, L) and ``mlp`` for tables (N, 1, 1, F).

Their forward passes against the same computation written with ``torch.nn.functional``, the 4-D CAM layer,
every registered explanation method on both (shape, and a value where a known answer is easy), training on
tiny synthetic problems and Zennit LRP's conservation.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from xaibench.datasets import ImageDataset
from xaibench.methods import METHODS, MethodNotApplicable, explain
from xaibench.models import build_model, get_cam_layer, load_model, save_model
from xaibench.training import train

LENGTH, FEATURES = 64, 10


def _randomise_batch_norms(model: nn.Module, seed: int, centred: bool = False) -> nn.Module:
    """BatchNorm statistics and affine parameters as after training (fresh ones are the identity), in place;
    ``centred``: zero running means and shifts, so that the merged convolutions stay bias-free."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            size = module.num_features
            module.running_var.copy_(0.5 + 1.5 * torch.rand(size, generator=gen))
            module.weight.data.copy_(0.5 + torch.rand(size, generator=gen))
            if centred:
                module.running_mean.zero_()
                module.bias.data.zero_()
            else:
                module.running_mean.copy_(0.2 * torch.randn(size, generator=gen))
                module.bias.data.copy_(0.1 * torch.randn(size, generator=gen))
    return model


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = build_model("cnn1d", in_channels=1, num_classes=3, image_size=LENGTH, width=4)
    return _randomise_batch_norms(model, 0).eval()


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    return build_model("mlp", in_channels=1, num_classes=3, image_size=FEATURES).eval()


@pytest.fixture(scope="module")
def series():
    return torch.rand(2, 1, 1, LENGTH, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 1])


@pytest.fixture(scope="module")
def table():
    return torch.rand(2, 1, 1, FEATURES, generator=torch.Generator().manual_seed(2)), torch.tensor([0, 1])


def _by_hand(model: nn.Module, x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """cnn1d's logits with torch.nn.functional on the squeezed input: pairs of (conv1d, batch norm, ReLU)
    per stage, max-pool between stages, mean over positions, linear."""
    convs = [m for m in model.features if isinstance(m, nn.Conv1d)]
    norms = [m for m in model.features if isinstance(m, nn.BatchNorm1d)]
    h = x[:, :, 0, :]
    for i, (conv, norm) in enumerate(zip(convs, norms, strict=True)):
        if i and i % 2 == 0:
            h = F.max_pool1d(h, 2)
        h = F.conv1d(h, conv.weight, conv.bias, padding=kernel_size // 2)
        h = F.batch_norm(
            h, norm.running_mean, norm.running_var, norm.weight, norm.bias, training=False, eps=norm.eps
        )
        h = F.relu(h)
    linear = model.head[-1]
    return F.linear(h.mean(dim=-1), linear.weight, linear.bias)


# --- cnn1d: forward, structure, CAM layer -------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "length", "stages", "kernel"), [(1, 64, None, 7), (3, 40, 3, 5)])
def test_cnn1d_is_conv1d_on_the_squeezed_series(channels, length, stages, kernel):
    torch.manual_seed(3)
    model = build_model("cnn1d", channels, 4, length, width=4, stages=stages, kernel_size=kernel, dropout=0.5)
    model = _randomise_batch_norms(model, 3).eval()
    x = torch.rand(5, channels, 1, length, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits = model(x)
        expected = _by_hand(model, x, kernel)
    assert logits.shape == (5, 4)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    # each sample alone gives the same logits (eval mode: no batch statistics)
    with torch.no_grad():
        torch.testing.assert_close(model(x[2:3]), logits[2:3], rtol=1e-5, atol=1e-6)


def test_cnn1d_structure_and_defaults():
    def n_stages(model):
        return 1 + sum(isinstance(m, nn.MaxPool1d) for m in model.modules())

    # the fewest stages whose receptive field covers half the series (kernel 7)
    assert {n: n_stages(build_model("cnn1d", 1, 2, n)) for n in (8, 24, 64, 128, 256, 4096)} == {
        8: 1,
        24: 1,
        64: 2,
        128: 3,
        256: 4,
        4096: 5,
    }
    model = build_model("cnn1d", 2, 3, 512, width=4, stages=5, batch_norm=False)
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert widths == [4, 4, 8, 8, 16, 16, 32, 32, 32, 32]  # doubling per stage, capped at 8x like small_cnn
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Conv1d))
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert [name for name, _ in model.named_children()] == ["features", "head"]
    # one ReLU module per convolution, each called once per forward pass (DeepLift, Zennit)
    calls: list[int] = []
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    hooks = [m.register_forward_hook(lambda module, _i, _o: calls.append(id(module))) for m in relus]
    model(torch.zeros(1, 2, 1, 512))
    for hook in hooks:
        hook.remove()
    assert len(calls) == 10 and len(set(calls)) == 10
    # a series of length 16 allows 5 stages (4 pools leave 1 sample), not 6; length 5 allows 3
    assert build_model("cnn1d", 1, 2, 16, stages=5).eval()(torch.zeros(1, 1, 1, 16)).shape == (1, 2)
    assert build_model("cnn1d", 1, 2, 5, stages=3).eval()(torch.zeros(1, 1, 1, 5)).shape == (1, 2)
    with pytest.raises(ValueError, match=r"stages must be an integer from 1 to 3 .* got stages=4"):
        build_model("cnn1d", 1, 2, 5, stages=4)
    with pytest.raises(ValueError, match="stages"):
        build_model("cnn1d", 1, 2, 64, stages=0)
    with pytest.raises(ValueError, match="kernel_size"):
        build_model("cnn1d", 1, 2, 64, kernel_size=4)
    with pytest.raises(ValueError, match=r"\(N, C, 1, L\)"):
        build_model("cnn1d", 1, 2, 8)(torch.zeros(1, 1, 8, 8))


def test_cnn1d_is_translation_invariant_away_from_the_borders():
    """Convolutions commute with shifts and the pool forgets positions: a motif moved by a multiple of the
    pooling factor (2 for 2 stages), far enough from the borders that neither position reaches them within
    the receptive field (38 samples), gives the same logits."""
    torch.manual_seed(5)
    model = _randomise_batch_norms(build_model("cnn1d", 1, 3, 128, width=4, stages=2), 5).eval()
    motif = torch.rand(10, generator=torch.Generator().manual_seed(6))
    x = torch.zeros(2, 1, 1, 128)
    x[0, 0, 0, 40:50] = motif
    x[1, 0, 0, 72:82] = motif
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(logits[0], logits[1], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        other = model(torch.roll(x[:1], 1, dims=-1))  # an odd shift changes the pooling grid
    assert not torch.allclose(other[0], logits[0], rtol=1e-5, atol=1e-6)


def test_cnn1d_cam_layer_is_4d(cnn, series):
    x, _ = series
    layer = get_cam_layer(cnn)
    assert cnn.cam_layer_name == f"features.{len(cnn.features) - 1}"
    captured = []
    handle = layer.register_forward_hook(lambda _m, inputs, out: captured.append((inputs[0], out)))
    with torch.no_grad():
        logits = cnn(x)
    handle.remove()
    (before, activation) = captured[0]
    assert activation.shape == (2, 8, 1, LENGTH // 2)  # width 4 doubled once, one max-pool
    assert torch.equal(activation[:, :, 0], before)  # the last ReLU's output, unsqueezed
    assert activation.min() >= 0
    head = cnn.head[-1]
    torch.testing.assert_close(logits, head(activation.mean(dim=(2, 3))))  # GAP -> linear


def test_saved_models_reload(tmp_path, cnn, mlp, series, table):
    for name, model, x, params, shape in [
        ("cnn1d", cnn, series[0], {"width": 4}, LENGTH),
        ("mlp", mlp, table[0], {"hidden": [64, 32]}, FEATURES),
    ]:
        path = tmp_path / f"{name}.pt"
        spec = {"name": name, "shape": {"in_channels": 1, "num_classes": 3, "image_size": shape}}
        save_model(str(path), model, {**spec, "params": params})
        with torch.no_grad():
            torch.testing.assert_close(load_model(str(path))(x), model(x))


# --- mlp ----------------------------------------------------------------------------------------------------


def test_mlp_is_a_chain_of_linear_layers(mlp, table):
    x, _ = table
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 64), (64, 32), (32, 3)]
    h = x.reshape(2, -1)
    for linear in linears[:-1]:
        h = F.relu(linear(h))
    with torch.no_grad():
        torch.testing.assert_close(mlp(x), linears[-1](h))
    assert mlp.cam_layer_name is None
    with pytest.raises(ValueError, match="declares no cam_layer_name"):
        get_cam_layer(mlp)
    # other layouts: a multichannel series (C x L inputs), an image (C x S x S), no hidden layer (linear)
    assert build_model("mlp", 3, 2, 20)(torch.zeros(4, 3, 1, 20)).shape == (4, 2)
    assert build_model("mlp", 3, 2, 8, layout="2d")(torch.zeros(4, 3, 8, 8)).shape == (4, 2)
    linear = build_model("mlp", 1, 2, 5, hidden=[])
    assert [type(m) for m in linear.modules() if not isinstance(m, nn.Sequential | nn.Flatten)] == [nn.Linear]
    names = [n for n, _ in build_model("mlp", 1, 2, 5, dropout=0.3).named_modules()]
    assert names == [n for n, _ in build_model("mlp", 1, 2, 5).named_modules()]  # dropout: same names
    for bad in ({"hidden": [0]}, {"hidden": 8}, {"layout": "3d"}, {"dropout": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            build_model("mlp", 1, 2, 5, **bad)


# --- every registered explanation method --------------------------------------------------------------------

# Small, cheap parameters; occlusion's window must fit a (1, L) input (an int is a square window).
CHEAP: dict[str, dict] = {
    "integrated_gradients": {"n_steps": 8},
    "smoothgrad": {"n_samples": 4},
    "vargrad": {"n_samples": 4},
    "gradient_shap": {"n_samples": 4},
    "deeplift_shap": {"n_baselines": 3},
    "lime": {"n_samples": 24},
    "kernel_shap": {"n_samples": 24},
    "shapley_value_sampling": {"n_samples": 1},
    "occlusion": {"window": [1, 8], "stride": [1, 4]},
    "score_cam": {"perturbations_per_eval": 8},
}
CAM_METHODS = ("cam", "gradcam", "gradcam_plus_plus", "score_cam", "guided_gradcam")


def _cases():
    for kind in ("cnn1d", "mlp"):
        for method in METHODS.names():
            yield pytest.param(kind, method, id=f"{kind}-{method}")


@pytest.mark.parametrize(("kind", "method"), list(_cases()))
def test_every_method_explains_1d_inputs(kind, method, cnn, mlp, series, table):
    model, (x, y) = (cnn, series) if kind == "cnn1d" else (mlp, table)
    if kind == "mlp" and method in CAM_METHODS:
        with pytest.raises(MethodNotApplicable, match="not applicable"):
            explain(method, model, x, y, **CHEAP.get(method, {}))
        return
    maps = explain(method, model, x, y, **CHEAP.get(method, {}))
    assert maps.shape == (2, 1, 1, x.shape[-1]) and maps.dtype == np.float32
    assert np.isfinite(maps).all()


def test_occlusion_default_window_on_series(cnn, series):
    x, y = series
    assert explain("occlusion", cnn, x, y).shape == (2, 1, 1, LENGTH)


def test_occlusion_fraction_window_on_series(cnn, series):
    """The default config's windows are fractions of the image size: 0.125 of a (1, 64) series is (1, 8)."""
    x, y = series
    np.testing.assert_array_equal(
        explain("occlusion", cnn, x, y, window=0.125, stride=0.0625),
        explain("occlusion", cnn, x, y, window=[1, 8], stride=[1, 4]),
    )


def _gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    logits = model(x)
    (grad,) = torch.autograd.grad(logits[torch.arange(len(y)), y].sum(), x)
    return grad


@pytest.mark.parametrize("kind", ["cnn1d", "mlp"])
def test_gradient_methods_are_autograd(kind, cnn, mlp, series, table):
    model, (x, y) = (cnn, series) if kind == "cnn1d" else (mlp, table)
    grad = _gradient(model, x, y).numpy()
    np.testing.assert_allclose(explain("saliency", model, x, y), np.abs(grad), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explain("input_x_gradient", model, x, y), x.numpy() * grad, atol=1e-7)
    # SmoothGrad without noise is the (signed) gradient
    np.testing.assert_allclose(explain("smoothgrad", model, x, y, n_samples=3, stdevs=0.0), grad, atol=1e-7)


def test_gradcam_on_cnn1d_by_hand(cnn, series):
    """Grad-CAM: ReLU(sum_k mean(d logit / d A_k) A_k) at (1, L/2), bilinearly upsampled to (1, L)."""
    x, y = series
    captured = []
    handle = get_cam_layer(cnn).register_forward_hook(lambda _m, _i, out: captured.append(out))
    logits = cnn(x)
    handle.remove()
    activation = captured[0]
    (grads,) = torch.autograd.grad(logits[torch.arange(2), y].sum(), activation)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    low = F.relu((weights * activation).sum(dim=1, keepdim=True)).detach()
    expected = F.interpolate(low, size=(1, LENGTH), mode="bilinear", align_corners=False)
    maps = explain("gradcam", cnn, x, y)
    np.testing.assert_allclose(maps, expected.numpy(), rtol=1e-5, atol=1e-8)
    assert maps.max() > 0  # a non-trivial map (some positive evidence for both targets)
    # CAM: the final layer's weights times the activations; its mean plus the bias is the logit
    linear = cnn.head[-1]
    cam_low = torch.einsum("nk,nkhw->nhw", linear.weight[y], activation).detach()
    torch.testing.assert_close(cam_low.mean(dim=(1, 2)) + linear.bias[y], logits[torch.arange(2), y].detach())
    expected = F.interpolate(cam_low[:, None], size=(1, LENGTH), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(explain("cam", cnn, x, y), expected.numpy(), rtol=1e-5, atol=1e-7)


def test_deeplift_on_cnn1d_sums_to_the_logit_difference(series):
    """DeepLIFT's summation-to-delta, through the squeeze modules, the BatchNorms and the Rescale rule of the
    ReLUs, on a one-stage cnn1d. (With max-pools it holds only approximately, 2-D or 1-D alike: Captum's
    max-pool rule redistributes the pooled differences through the input's argmax positions; 0.3 % off on
    a random two-stage cnn1d and small_cnn.)"""
    x, y = series
    torch.manual_seed(9)
    model = _randomise_batch_norms(build_model("cnn1d", 1, 3, LENGTH, width=8, stages=1), 9).eval()
    with torch.no_grad():
        model.head[-1].weight.mul_(100)  # logit differences far above float32 rounding
        delta = (model(x) - model(torch.zeros_like(x)))[torch.arange(2), y].numpy()
    assert np.abs(delta).min() > 0.1
    maps = explain("deeplift", model, x, y)
    np.testing.assert_allclose(maps.sum(axis=(1, 2, 3)), delta, rtol=1e-4, atol=1e-5)


def test_sobel_on_a_series_is_a_central_difference(cnn, series):
    """With one row, Sobel's vertical gradient is 0 and its horizontal one the central difference (borders
    replicated): |x[i+1] - x[i-1]| / sqrt(2)."""
    x, y = series
    padded = F.pad(x[:, :, 0], (1, 1), mode="replicate")
    expected = (padded[..., 2:] - padded[..., :-2]).abs() / np.sqrt(2)
    np.testing.assert_allclose(explain("sobel", cnn, x, y), expected[:, :, None].numpy(), atol=1e-6)


# On a linear model f(x) = w x + b (an mlp without hidden layers) every method that attributes f(x) - f(0)
# to the features gives w_j x_j for feature j: per-feature superpixels (grid cells of 1 x 1), an occlusion
# window of one feature, zero baselines.
ONE_FEATURE = {"segmentation": {"kind": "grid", "cell": [1, 1]}}
LINEAR_EXACT = {
    "input_x_gradient": {},
    "integrated_gradients": {"n_steps": 4},
    "deeplift": {},
    "gradient_shap": {"n_samples": 3, "baselines": "zero"},
    "occlusion": {"window": 1, "stride": 1},
    "feature_ablation": ONE_FEATURE,
    "shapley_value_sampling": {"n_samples": 2, **ONE_FEATURE},
    "kernel_shap": {"n_samples": 64, **ONE_FEATURE},
    "lime": {"n_samples": 64, "alpha": 0.0, **ONE_FEATURE},
    "lrp": {"composite": "epsilon_plus"},  # the epsilon rule on the (only) linear layer
}


@pytest.mark.parametrize("method", sorted(LINEAR_EXACT))
def test_methods_on_a_linear_table_model_give_w_times_x(method, table):
    x, y = table
    torch.manual_seed(7)
    model = build_model("mlp", 1, 3, FEATURES, hidden=[]).eval()
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([0.5, -0.3, 0.2]))
    expected = (model.head.weight[y] * x[:, 0, 0]).detach().numpy()[:, None, None]
    maps = explain(method, model, x, y, **LINEAR_EXACT[method])
    np.testing.assert_allclose(maps, expected, rtol=1e-3, atol=1e-5)


# --- LRP (Zennit) -------------------------------------------------------------------------------------------

LRP_COMPOSITES = ("epsilon_plus_flat", "epsilon_gamma_box", "epsilon_plus", "epsilon_alpha2_beta1")


def _lrp_cases():
    for kind in ("cnn1d", "mlp"):
        for composite in LRP_COMPOSITES:
            yield pytest.param(kind, composite, id=f"{kind}-{composite}")


@pytest.mark.parametrize(("kind", "composite"), list(_lrp_cases()))
def test_lrp_conserves_the_logit_without_biases(kind, composite, series, table):
    """Every composite conserves relevance in a bias-free ReLU network (Flat, z+, gamma, alpha2-beta1 and
    epsilon rules pass all of it on; max-pool, squeeze and the average pool too): the map sums to the
    target logit (``output_relevance="logit"``, the default)."""
    torch.manual_seed(8)
    if kind == "cnn1d":
        model = build_model("cnn1d", 1, 3, LENGTH, width=4)
        model = _randomise_batch_norms(model, 8, centred=True)  # merged convolutions stay bias-free
        (x, y) = series
    else:
        model, (x, y) = build_model("mlp", 1, 3, FEATURES), table
        for module in model.modules():
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
    with torch.no_grad():
        model.head.bias.zero_() if kind == "mlp" else model.head[-1].bias.zero_()
        model.eval()
        logit = model(x)[torch.arange(2), y].numpy()
    assert np.abs(logit).min() > 1e-4  # a real test: the relevance to conserve is not ~0
    maps = explain("lrp", model, x, y, composite=composite)
    np.testing.assert_allclose(maps.sum(axis=(1, 2, 3)), logit, rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("kind", ["cnn1d", "mlp"])
def test_lrp_with_biases_is_linear_in_the_output_relevance(kind, cnn, mlp, series, table):
    """With biases (and BatchNorms merged into biased convolutions) relevance leaks into the biases, so the
    map does not sum to the logit; what holds is that the rules are linear in the relevance started from:
    the ``logit`` map is the ``one_hot`` map times the logit."""
    model, (x, y) = (cnn, series) if kind == "cnn1d" else (mlp, table)
    with torch.no_grad():
        logit = model(x)[torch.arange(2), y].numpy()
    from_logit = explain("lrp", model, x, y)
    from_one = explain("lrp", model, x, y, output_relevance="one_hot")
    np.testing.assert_allclose(from_logit, from_one * logit[:, None, None, None], rtol=1e-4, atol=1e-9)
    assert not np.allclose(from_logit.sum(axis=(1, 2, 3)), logit, rtol=0.05)  # the leak is real


# --- training -----------------------------------------------------------------------------------------------


def _series_dataset(n: int = 256, length: int = LENGTH, seed: int = 0) -> ImageDataset:
    """Class 0: a Gaussian bump, class 1: a sine burst under the same envelope, at a random position in
    noise; values in [0, 1]. Splits 192 / 32 / 32."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    labels = np.arange(n) % 2
    centres = rng.integers(10, length - 10, size=n)
    envelope = np.exp(-0.5 * ((t[None] - centres[:, None]) / 3.0) ** 2)
    burst = envelope * np.sin(2 * np.pi * (t[None] - centres[:, None]) / 6.0)
    signal = np.where(labels[:, None] == 0, envelope, burst)
    x = np.clip(0.5 + 0.35 * signal + 0.05 * rng.standard_normal((n, length)), 0, 1)
    return ImageDataset(
        images=x.astype(np.float32)[:, None, None, :],
        labels=labels.astype(np.int64),
        split=np.repeat(np.array([0, 1, 2], dtype=np.int8), [192, 32, 32]),
        class_names=["bump", "burst"],
        params={"centre": centres},
        modality="series",
    )


def _table_dataset(n: int = 256, seed: int = 1) -> ImageDataset:
    """Linearly separable with a margin: label = [w (x - 0.5) > 0], samples closer than 0.1 dropped."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(FEATURES)
    x = rng.random((4 * n, FEATURES))
    score = (x - 0.5) @ w
    keep = np.flatnonzero(np.abs(score) > 0.1)[:n]
    return ImageDataset(
        images=x[keep].astype(np.float32)[:, None, None, :],
        labels=(score[keep] > 0).astype(np.int64),
        split=np.repeat(np.array([0, 1, 2], dtype=np.int8), [192, 32, 32]),
        class_names=["negative", "positive"],
        modality="table",
    )


@pytest.fixture(scope="module")
def trained_cnn():
    data = _series_dataset()
    # batch 16: BatchNorm's running statistics need ~30 steps to settle on inputs around 0.5
    result = train(data, "cnn1d", {"width": 8}, epochs=8, batch_size=16, lr=0.003, seed=0)
    return data, result


def test_cnn1d_learns_bump_versus_burst(trained_cnn):
    data, result = trained_cnn
    assert result.spec["shape"] == {"in_channels": 1, "image_size": LENGTH, "num_classes": 2}
    assert result.test_metrics["test_accuracy"] > 0.9
    # the maps of the true class point at the motif (Gaussian envelope of sd 3 samples): the largest
    # |relevance| within 4 samples of its centre for most test series (DeepLIFT against the background level
    # 0.5: from 0 the whole series differs); Grad-CAM's, at half resolution and peaking on the bump's flanks,
    # within its support (4 sd)
    test = data.indices("test")
    x, y = torch.from_numpy(data.images[test]), torch.from_numpy(data.labels[test])
    centres = data.params["centre"][test]
    checks = [("saliency", {}, 4, 0.9), ("lrp", {}, 4, 0.9), ("deeplift", {"baseline": 0.5}, 4, 0.9)]
    for method, params, within, share in [*checks, ("gradcam", {}, 12, 1.0)]:
        peaks = np.abs(explain(method, result.model, x, y, **params)[:, 0, 0]).argmax(axis=1)
        assert np.mean(np.abs(peaks - centres) <= within) >= share, method


def test_mlp_learns_a_separable_table():
    result = train(_table_dataset(), "mlp", {"hidden": [16]}, epochs=20, batch_size=32, lr=0.01, seed=0)
    assert result.spec["shape"] == {"in_channels": 1, "image_size": FEATURES, "num_classes": 2}
    assert result.test_metrics["test_accuracy"] > 0.9


def test_methods_do_not_modify_the_model(trained_cnn, series):
    model = trained_cnn[1].model
    state = copy.deepcopy(model.state_dict())
    x, _ = series
    for method in ("lrp", "gradcam", "deeplift", "guided_gradcam"):
        explain(method, model, x, torch.tensor([0, 1]))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
