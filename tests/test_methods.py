"""Tests of the explanation-method library (xaibench.methods): shapes, dtypes, determinism, parameter
checks, lazy imports, the Quantus adapter and the properties some methods promise (non-negative Grad-CAM,
conserving LRP).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from tiny_models import ScaledLogits
from torch import nn
from workflow_cli import fresh_python

from xaibench.methods import METHODS, MethodNotApplicable, MethodSpec, explain, method_params
from xaibench.methods.core import quantus_explain_func
from xaibench.methods.perturbation import superpixels
from xaibench.models import build_model


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
        "smoothgrad", "vargrad", "gradient_shap", "deeplift_shap", "feature_ablation",
        "shapley_value_sampling", "cam", "gradcam_plus_plus", "score_cam",
    }  # fmt: skip
    assert set(METHODS.names()) == expected
    for name in METHODS.names():
        spec = METHODS.get(name)
        assert isinstance(spec, MethodSpec)
        assert spec.library in {"captum", "zennit", "grad-cam", "xaibench", "control"}
        assert spec.description and "\n" not in spec.description
    assert METHODS.get("lrp").library == "zennit"
    assert METHODS.get("score_cam").library == METHODS.get("gradcam_plus_plus").library == "grad-cam"
    assert METHODS.get("cam").library == "xaibench"
    assert METHODS.get("random").library == METHODS.get("sobel").library == "control"
    assert method_params("occlusion")["window"] == 4


@pytest.mark.parametrize("name", METHODS.names())
def test_method_gray(name, tiny_model, batch, one_torch_thread):
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
def test_method_rgb(name, rgb_model, rgb_batch, one_torch_thread):
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
        ("smoothgrad", {"n_samples": 5}),
        ("vargrad", {"n_samples": 5, "nt_samples_batch_size": 2}),
        ("gradient_shap", {"n_samples": 5, "stdevs": 0.1}),
        ("deeplift_shap", {"baselines": "uniform", "n_baselines": 3}),
        ("shapley_value_sampling", {"n_samples": 2}),
    ],
)
def test_deterministic_and_chunk_independent(name, params, tiny_model, batch, one_torch_thread):
    model = ScaledLogits(tiny_model, 1e4).eval()
    x, y = batch
    state = torch.get_rng_state()
    first = explain(name, model, x, y, **params)
    again = explain(name, model, x, y, **params)
    one_by_one = explain(name, model, x, y, batch_size=1, **params)
    assert np.array_equal(first, again)
    assert np.array_equal(first, one_by_one)
    assert np.ptp(first) > 0  # not a constant map
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("random", {}),
        ("smoothgrad", {"n_samples": 3}),
        ("vargrad", {"n_samples": 3}),
        ("gradient_shap", {"n_samples": 3}),
        ("deeplift_shap", {"baselines": "uniform", "n_baselines": 2}),
        ("shapley_value_sampling", {"n_samples": 1}),
    ],
)
def test_seed_changes_the_map(name, params, tiny_model, batch, one_torch_thread):
    x, y = batch
    model = ScaledLogits(tiny_model, 1e4).eval()
    assert not np.array_equal(
        explain(name, model, x, y, **params), explain(name, model, x, y, seed=1, **params)
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
        ("smoothgrad", {"stdevs": -0.1}, "stdevs"),
        ("vargrad", {"n_samples": 0}, "n_samples"),
        ("vargrad", {"nt_samples_batch_size": 0}, "nt_samples_batch_size"),
        ("gradient_shap", {"baselines": "gaussian"}, "baselines"),
        ("gradient_shap", {"seed": -1}, "seed"),
        ("deeplift_shap", {"baselines": "zero"}, "baselines"),
        ("deeplift_shap", {"n_baselines": 1}, "baselines"),
        ("feature_ablation", {"perturbations_per_eval": 0}, "perturbations_per_eval"),
        ("feature_ablation", {"segmentation": {"kind": "grid", "size": 4}}, "segmentation"),
        ("shapley_value_sampling", {"n_samples": 1.5}, "n_samples"),
        ("cam", {"interpolate_mode": "cubic"}, "interpolate_mode"),
        ("gradcam_plus_plus", {"interpolate_mode": "linear"}, "interpolate_mode"),
        ("score_cam", {"perturbations_per_eval": 0}, "perturbations_per_eval"),
    ],
)
def test_bad_parameter_raises(name, params, bad, tiny_model, batch):
    x, y = batch
    with pytest.raises(ValueError, match=rf"(?s){name}.*{bad}"):
        explain(name, tiny_model, x, y, **params)


def test_unknown_method_lists_known(tiny_model, batch):
    with pytest.raises(KeyError, match="saliency"):
        explain("no_such_method", tiny_model, *batch)


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


def test_baseline_distribution(batch):
    from xaibench.methods import baseline_distribution

    image = batch[0][:1]  # 0.2 background, 0.9 square
    assert torch.equal(baseline_distribution(image, "zero", 5, 0), torch.zeros_like(image))
    noise = baseline_distribution(image, "uniform", 4, 0)
    assert noise.shape == (4, 1, 32, 32) and noise.min() >= 0.2 and noise.max() <= 0.9
    assert torch.equal(noise, baseline_distribution(image, "uniform", 4, 0))
    assert not torch.equal(noise, baseline_distribution(image, "uniform", 4, 1))
    blurs = baseline_distribution(image, "blur", 3, 0)
    edge = image[0, 0].diff(dim=1).abs().max()
    sharpness = [float(b[0].diff(dim=1).abs().max()) for b in blurs]
    assert sharpness[0] < float(edge) and sharpness == sorted(sharpness, reverse=True)  # sigma grows
    mixed = baseline_distribution(image, "mixed", 6, 0)
    assert mixed.shape == (6, 1, 32, 32)
    assert torch.equal(mixed[0], torch.zeros_like(image[0])) and torch.equal(mixed[3], mixed[0])
    two_blurs = baseline_distribution(image, "blur", 2, 0)  # sigma 4 and 8 px
    assert torch.equal(mixed[1], noise[0]) and torch.equal(mixed[2], two_blurs[0])
    assert torch.equal(mixed[5], two_blurs[1]) and torch.equal(blurs[2], two_blurs[1])
    with pytest.raises(ValueError, match="baselines"):
        baseline_distribution(image, "gaussian", 2, 0)


def test_feature_ablation_is_the_drop_of_each_superpixel(tiny_model, batch, one_torch_thread):
    x, y = batch
    segmentation = {"kind": "grid", "cell": 8}
    attr = explain("feature_ablation", tiny_model, x, y, segmentation=segmentation, baseline=0.5)
    masks = superpixels(x.numpy(), segmentation)
    with torch.no_grad():
        for i, cell in [(0, 0), (1, 5), (3, 15)]:
            inside = torch.from_numpy(masks[i, 0] == cell)
            ablated = x[i : i + 1].clone()
            ablated[0, :, inside] = 0.5
            drop = float(tiny_model(x[i : i + 1])[0, y[i]] - tiny_model(ablated)[0, y[i]])
            np.testing.assert_allclose(attr[i, 0][inside.numpy()], drop, rtol=1e-4, atol=1e-9)
    # The superpixel spans the channels and the map holds its value once (not once per channel).
    rgb = explain(
        "feature_ablation", _three_channel(tiny_model), x.repeat(1, 3, 1, 1), y, segmentation=segmentation
    )
    np.testing.assert_allclose(
        rgb, explain("feature_ablation", tiny_model, x, y, segmentation=segmentation), rtol=1e-4, atol=1e-9
    )


def _three_channel(model: nn.Module) -> nn.Module:
    """``model`` on the mean of three identical channels: the same function of 3-channel copies."""

    class Mean(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return model(x.mean(dim=1, keepdim=True))

    return Mean().eval()


def _cam_factor(model: nn.Module, x: torch.Tensor) -> int:
    """h x w of the CAM layer's feature map: on a GAP -> linear head CAM = h * w * Grad-CAM (without ReLU)."""
    from xaibench.models import get_cam_layer

    shapes = []
    handle = get_cam_layer(model).register_forward_hook(lambda _m, _i, out: shapes.append(out.shape))
    with torch.no_grad():
        model(x[:1])
    handle.remove()
    return shapes[0][2] * shapes[0][3]


def test_cam_is_unrectified_gradcam_times_positions(tiny_model, batch):
    x, y = batch
    cam = explain("cam", tiny_model, x, y)
    gradcam = explain("gradcam", tiny_model, x, y, relu_attributions=False)
    assert _cam_factor(tiny_model, x) == 64  # 8x8 feature map
    np.testing.assert_allclose(cam, 64 * gradcam, rtol=1e-4, atol=1e-6 * np.abs(cam).max())
    assert cam.min() < 0 < cam.max()  # signed, as in the paper
    relu = explain("cam", tiny_model, x, y, relu_attributions=True)  # ReLU at feature resolution
    np.testing.assert_allclose(relu, 64 * explain("gradcam", tiny_model, x, y), atol=1e-6 * np.abs(cam).max())
    assert (relu >= 0).all()


class _Head(nn.Module):
    """small_cnn features with another head: a hidden layer, no pooling, or a softmax output."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = build_model(
            "small_cnn", in_channels=1, num_classes=2, image_size=32, width=4
        ).features
        self.cam_layer_name = f"features.{len(self.features) - 1}"
        self.kind = kind
        if kind == "mlp":
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2)
            )
        elif kind == "flatten":
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 8 * 8, 2))
        else:
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2), nn.Softmax(dim=1)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("mlp", "global average pool of the CAM layer"),
        ("flatten", "no nn.Linear maps"),
        ("softmax", "max logit"),
    ],
)
def test_cam_needs_a_gap_linear_head(kind, reason, batch):
    model = _Head(kind).eval()
    x, y = batch
    with pytest.raises(MethodNotApplicable, match=reason):
        explain("cam", model, x, y)
    assert np.isfinite(explain("gradcam_plus_plus", model, x, y)).all()  # gradient CAMs have no such limit
    assert _hooks(model) == []


@pytest.mark.parametrize("name", ["gradcam_plus_plus", "score_cam"])
def test_package_cams_are_the_packages_maps_unnormalised(name, tiny_model, batch, capfd):
    """Up to the package's per-image min-max scaling (and cv2 vs torch resizing), the maps are
    pytorch_grad_cam's own; the call prints nothing (no progress bars) and leaves no gradients behind."""
    from pytorch_grad_cam import GradCAMPlusPlus, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    from xaibench.models import get_cam_layer

    x, y = batch
    capfd.readouterr()
    ours = explain(name, tiny_model, x, y)[:, 0]
    assert capfd.readouterr().err == ""
    assert all(p.grad is None for p in tiny_model.parameters())
    assert (ours >= 0).all() and ours.max() < 0.1  # not scaled to [0, 1]: raw weighted activations
    explainer = {"gradcam_plus_plus": GradCAMPlusPlus, "score_cam": ScoreCAM}[name](
        tiny_model, [get_cam_layer(tiny_model)]
    )
    try:
        theirs = explainer(x, [ClassifierOutputTarget(int(t)) for t in y])
    finally:
        explainer.activations_and_grads.release()
        tiny_model.zero_grad()
    low, high = ours.min(axis=(1, 2), keepdims=True), ours.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose((ours - low) / (high - low), theirs, atol=5e-3)


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
    for name in ("gradcam", "guided_gradcam", "lrp", "deeplift", "cam", "gradcam_plus_plus", "score_cam"):
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
        "assert not {'captum', 'zennit', 'skimage', 'pytorch_grad_cam', 'cv2'} & set(sys.modules); "
        "import torch; m.explain('random', torch.nn.Linear(1, 1), torch.zeros(1, 1, 4, 4), torch.zeros(1)); "
        "m.explain('sobel', torch.nn.Linear(1, 1), torch.zeros(1, 1, 4, 4), torch.zeros(1)); "
        "from xaibench.models import build_model; "
        "cnn = build_model('small_cnn', in_channels=1, num_classes=2, image_size=8, width=2).eval(); "
        "m.explain('cam', cnn, torch.zeros(1, 1, 8, 8), torch.zeros(1)); "  # CAM needs no library either
        "assert not {'captum', 'zennit', 'pytorch_grad_cam'} & set(sys.modules)"
    )
    fresh_python(code)


def test_import_libraries_imports_what_first_calls_would():
    """After import_libraries(every method), no method's first call imports a package that was not loaded
    yet (else that method's timing would carry the import); every library has its modules listed."""
    code = (
        "import sys, torch, xaibench.methods as m; "
        "from xaibench.methods.core import LIBRARY_MODULES; "
        "libs = {m.METHODS.get(n).library for n in m.METHODS} - {'xaibench', 'control'}; "
        "assert libs <= set(LIBRARY_MODULES), libs; "
        "assert m.import_libraries(m.METHODS.names()) > 0; "
        "top = lambda: {n.split('.')[0] for n in sys.modules if not n.startswith('_')}; before = top(); "
        "from xaibench.models import build_model; "
        "cnn = build_model('small_cnn', in_channels=1, num_classes=2, image_size=16, width=2).eval(); "
        "x, y = torch.rand(2, 1, 16, 16), torch.tensor([0, 1]); "
        "[m.explain(n, cnn, x, y) for n in ('lime', 'kernel_shap', 'feature_ablation', 'gradcam_plus_plus', "
        "'lrp', 'deeplift', 'occlusion')]; "
        "new = top() - before; assert not new, new"
    )
    fresh_python(code)


def test_occlusion_window_as_fraction_of_the_image(tiny_model, tiny_batch):
    x, y, _ = tiny_batch
    inputs, targets = torch.from_numpy(x[:2]), torch.from_numpy(y[:2])
    in_pixels = explain("occlusion", tiny_model, inputs, targets, window=8, stride=4)
    as_fraction = explain("occlusion", tiny_model, inputs, targets, window=0.25, stride=0.125)
    np.testing.assert_array_equal(in_pixels, as_fraction)
    with pytest.raises(ValueError, match="window"):
        explain("occlusion", tiny_model, inputs, targets, window=1.5)


# ----------------------------------------------------------------------------------------------------------
# torchvision architectures (xaibench.models.torchvision_models)
# ----------------------------------------------------------------------------------------------------------

ARCHITECTURES = ["resnet18", "densenet121", "efficientnet_b0"]  # resnet50: same blocks as resnet18, slower
# The (architecture, method) pairs expected to raise MethodNotApplicable, with a word of the reason; every
# other pair must return a finite map. A change either way is a regression (or a deliberate update here).
NOT_APPLICABLE = {
    ("efficientnet_b0", "guided_backprop"): "SiLU",  # GBP/DeconvNet only modify nn.ReLU gradients
    ("efficientnet_b0", "deconvolution"): "SiLU",
    ("efficientnet_b0", "guided_gradcam"): "SiLU",
    ("efficientnet_b0", "deeplift"): "SiLU",  # no DeepLIFT rule for SiLU (nor the squeeze-excitation product)
    ("efficientnet_b0", "deeplift_shap"): "SiLU",
    # z+ / alpha-beta rules assume non-negative activations; composite epsilon_gamma_box is applicable
    ("efficientnet_b0", "lrp"): "SiLU",
}
CHEAP = {
    "lime": {"n_samples": 20},
    "kernel_shap": {"n_samples": 20},
    "occlusion": {"window": 16, "stride": 16},
    "integrated_gradients": {"n_steps": 4},
    "smoothgrad": {"n_samples": 4},
    "vargrad": {"n_samples": 4},
    "gradient_shap": {"n_samples": 4},
    "deeplift_shap": {"n_baselines": 3},
    "feature_ablation": {"segmentation": {"kind": "grid", "cell": 16}},
    "shapley_value_sampling": {"n_samples": 1, "segmentation": {"kind": "grid", "cell": 16}},
}
# Score-CAM runs one forward pass per channel of the CAM layer (512 / 1024 / 1280 here): 8-60 s per image on
# one CPU thread, so it is tested on ResNet-18 at 16x16 only (test_score_cam_on_resnet18).
SEPARATELY = {"score_cam"}


def _torchvision_model(arch: str, seed: int = 0) -> nn.Module:
    """A seeded 1-channel, 2-class model for 32x32 inputs whose BatchNorm statistics come from data: with
    fresh statistics a deep net's logits vanish (EfficientNet-B0: ~1e-13), which makes maps degenerate."""
    torch.manual_seed(seed)
    model = build_model(arch, in_channels=1, num_classes=2, image_size=32)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average: one pass sets the batch statistics
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(seed)))
    return model.eval()


@pytest.fixture(scope="module")
def arch_model():
    cache: dict[str, tuple[nn.Module, dict[str, torch.Tensor]]] = {}

    def get(arch: str) -> tuple[nn.Module, dict[str, torch.Tensor]]:
        if arch not in cache:
            model = _torchvision_model(arch)
            cache[arch] = (model, {k: v.clone() for k, v in model.state_dict().items()})
        return cache[arch]

    return get


@pytest.mark.parametrize("name", [n for n in METHODS.names() if n not in SEPARATELY])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_method_on_architecture(arch, name, arch_model, tiny_batch, one_torch_thread):
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
        if name == "deeplift_shap":  # sums to f(x) - mean f(baseline) (no max-pooling in these networks)
            from xaibench.methods import baseline_distribution

            with torch.no_grad():
                delta = [
                    float(
                        model(x[i : i + 1])[0, y[i]]
                        - model(baseline_distribution(x[i : i + 1], "mixed", 3, 0))[:, y[i]].mean()
                    )
                    for i in range(2)
                ]
            np.testing.assert_allclose(attr.sum(axis=(1, 2, 3)), delta, rtol=1e-3, atol=1e-4)
        if name == "cam":  # every torchvision head here is GAP -> (dropout ->) linear: CAM = h w Grad-CAM
            gradcam = explain("gradcam", model, x, y, relu_attributions=False)
            np.testing.assert_allclose(
                attr, _cam_factor(model, x) * gradcam, rtol=1e-3, atol=1e-5 * np.abs(attr).max()
            )
    assert _hooks(model) == []
    after = model.state_dict()
    assert after.keys() == state.keys() and all(torch.equal(after[k], state[k]) for k in state)


def test_score_cam_on_resnet18(one_torch_thread):
    model = _torchvision_model("resnet18")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    attr = explain("score_cam", model, x, torch.tensor([1]), perturbations_per_eval=128)
    assert attr.shape == (1, 1, 16, 16) and np.isfinite(attr).all() and (attr >= 0).all() and attr.max() > 0
    assert _hooks(model) == [] and all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def _canonized_logits(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Target logits of the canonized model (BatchNorm merged, gates constant): what LRP redistributes."""
    from xaibench.models.traits import lrp_canonizers

    instances = [i for c in lrp_canonizers(model) for i in c.apply(model)]
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
def test_lrp_conserves_relevance_on_architecture(arch, composite, arch_model, tiny_batch, one_torch_thread):
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


def test_stock_torchvision_models(one_torch_thread):
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
