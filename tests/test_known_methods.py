"""A known answer for every explanation method of ``xaibench.methods.METHODS``.

Each case ``_name(explain)`` calls the method through the ``explain`` it is given and compares the map with a
value computed independently of the library (by hand in numpy, from a closed form, with torch.autograd on a
float64 copy of the model, or from the definition in the paper / the wrapped package), never with the
method's own output. ``test_known_answer_detects_fault`` runs every case again with the method's map
scaled by 1.5, negated, offset by 1e-3 x max|map| or rolled by one pixel (tests/faults.py): each case must
fail under each fault, so the models and images are chosen to give maps that are non-zero, not constant and
not invariant under a one-column roll (``_assert_map`` checks that on every expected map), and the
tolerances (rtol 1e-5, atol 1e-6 x max|map| unless noted) are far below the faults.

Models: ``linear`` = Flatten -> Linear(36, 3) with a seeded weight w and a non-zero bias on 1x6x6 images;
``mlp`` = 1x2x3 -> Linear(6, 4) -> ReLU -> Linear(4, 2) with hand-chosen weights whose hidden units take
every (forward sign, backward sign) combination; ``softplus_cnn`` = conv -> Softplus -> linear; ``cam_cnn``
= conv-ReLU-maxpool-conv-ReLU(layer "4")-conv-ReLU(layer "6")-GAP-linear on 1x8x8; ``lrp_net`` = two
bias-free 3x3 convs (with or without BatchNorm) -> ReLU -> linear; ``quadratic`` f_k(x) = sum(a_k x^2) / 2.

Known answers, per method:

* saliency: linear: |w_t| (abs=True), w_t (abs=False); mlp: |W1^T diag[z > 0] w2_t| by hand;
* input_x_gradient: linear: x w_t; mlp: x times the hand-computed gradient;
* integrated_gradients: linear: x w_t (baseline 0) and (x - b) w_t (baseline 0.3); softplus_cnn: the
  path integral per pixel by Simpson's rule on a float64 copy (401 points), and completeness
  sum = f(x) - f(b);
* deeplift: linear: (x - b) w_t for b = 0 and 0.3; mlp: the Rescale rule by hand,
  (x - b) W1^T (w2_t * (relu(z) - relu(z_b)) / (z - z_b));
* deeplift_shap: linear: (x - mean of the baselines) w_t; mlp: the mean of the hand-computed DeepLIFT maps
  over the baselines; the "uniform" baselines re-drawn independently (seeded CPU generator);
* gradient_shap: linear, baselines "zero": x w_t (any path point, any number of samples);
* smoothgrad: quadratic: mean over Captum's noise draws (reproduced: torch.manual_seed(seed), then
  torch.normal with std = stdevs x (max - min)) of the gradient a_t (x + noise), also abs=True;
  softplus_cnn with stdevs=0: the autograd gradient;
* vargrad: quadratic: the population variance over the same draws of a_t (x + noise);
* guided_backprop / deconvolution: mlp by hand: the ReLU passes g [z > 0] [g > 0] / max(g, 0) (the three
  rules differ on these weights);
* guided_gradcam: cam_cnn (layer "4", 4x4): a float64 guided backprop (custom autograd ReLU) times the
  nearest-upsampled ReLU(Grad-CAM) computed with autograd;
* gradcam: cam_cnn layer "4": ReLU(sum_k mean_ij(dy_t/dA_k) A_k), bilinear upsampling by hand
  (align_corners=False), also relu_attributions=False;
* cam: cam_cnn layer "6" (GAP -> linear head): sum_k w_tk A_k upsampled bilinearly by hand, also
  interpolate_mode="nearest";
* gradcam_plus_plus: cam_cnn layer "4": pytorch_grad_cam 1.5.7's closed form
  alpha = g^2 / (2 g^2 + sum_ij(A) g^3 + 1e-6) (0 where g = 0), weights sum_ij alpha relu(g), from autograd
  gradients, then ReLU and bilinear upsampling by hand;
* score_cam: cam_cnn layer "4": pytorch_grad_cam's ScoreCAM: each A_k upsampled bilinearly with
  align_corners=True (torch.nn.UpsamplingBilinear2d), min-max normalised (+1e-8), the target logit of
  x * mask_k, softmax over k, ReLU(sum_k w_k A_k) upsampled with align_corners=False (xaibench's);
* occlusion: a model reading one pixel and the linear model: per pixel, the mean over the windows covering it
  of sum_{i in window} (x_i - b) w_i (windows at multiples of the stride, the last one clipped at the border
  as Captum places it);
* feature_ablation, shapley_value_sampling, kernel_shap, lime (alpha=0: least squares): linear, grid cells
  3x2, baseline 0.25: every pixel of cell k gets sum_{i in k} (x_i - 0.25) w_i (exact for a linear model);
* lrp: lrp_net with and without BatchNorm (zero running mean, eps=0, merged by hand), every composite, both
  output_relevance values: the rules of zennit's composites computed by hand with float64 convolutions
  (Epsilon on the linear layer, Pass on ReLU; first conv Flat / z+ / ZBox(-1, 2) / alpha2-beta1, second conv
  z+ / z+ / Gamma(0.25) / alpha2-beta1), and conservation: the map sums to the target logit (to 1 for
  "one_hot") to rtol 1e-5; also epsilon=0.5 (not conserving, by hand);
* random: U(0, 1) from np.random.default_rng([seed, blake2b-64 of the image's float32 bytes]), seeds 0 and
  7, the same for two different models;
* sobel: sum over channels of skimage.filters.sobel(channel, mode="nearest") on an asymmetric 2-channel
  image.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from collections.abc import Callable

import numpy as np
import pytest
import torch
from faults import known_answer_tests
from torch import nn
from torch.nn import functional as F

from xaibench.methods import LRP_COMPOSITES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

Explain = Callable[..., np.ndarray]


# ----------------------------------------------------------------------------------------------------------
# Comparison
# ----------------------------------------------------------------------------------------------------------


def _assert_map(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """``actual`` (float32, N x 1 x H x W) equals ``expected`` to ``rtol`` and ``atol`` x max|expected|.

    Also checks the expected map itself (the choice of model and images): non-zero and not invariant under a
    one-column roll, so that the faults of tests/faults.py cannot pass unnoticed."""
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.dtype == np.float32 and actual.shape == expected.shape, (actual.dtype, actual.shape)
    scale = float(np.abs(expected).max())
    assert scale > 0, "degenerate known answer: all zero"
    assert np.abs(np.roll(expected, 1, axis=-1) - expected).max() > 1e-2 * scale, "roll-invariant answer"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * scale)


# ----------------------------------------------------------------------------------------------------------
# Models and images (module-level caches: the cases take only ``explain``)
# ----------------------------------------------------------------------------------------------------------


def _images(shape: tuple[int, ...] = (2, 1, 6, 6), seed: int = 1) -> torch.Tensor:
    """Seeded images, values in [0.2, 1) (strictly positive: the z+ and alpha-beta rules assume it)."""
    return 0.2 + 0.8 * torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` in eval mode with torch's global generator seeded, the caller's random state kept."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build().eval()


@functools.cache
def _linear() -> nn.Module:
    """f(x) = W flatten(x) + b, 1x6x6 -> 3 logits (Linear's default init: non-zero bias)."""
    return _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(36, 3)), 0)


LINEAR_TARGETS = torch.tensor([2, 0])
TARGETS = torch.tensor([1, 0])  # for the two-class models


def _linear_w() -> np.ndarray:
    """w_t of each image's target, shaped like the maps (N, 1, 6, 6), float64."""
    return _linear()[1].weight.detach().double()[LINEAR_TARGETS].reshape(-1, 1, 6, 6).numpy()


# The MLP: 1x2x3 -> Linear(6, 4) -> ReLU -> Linear(4, 2). On the images below units 0, 1 are active (z > 0)
# and units 2, 3 inactive; w2 gives each target both signs on both kinds of unit, so the plain gradient,
# guided backprop and deconvolution all differ; b1 puts the zero baseline on the other side of the ReLU for
# units 1, 2, 3 (DeepLIFT's multipliers then differ from the gradient).
MLP_W1 = np.array(
    [
        [0.9, 0.2, 0.5, 0.1, 0.7, 0.3],
        [0.3, 0.8, 0.1, 0.6, 0.2, 0.9],
        [-0.4, -0.9, -0.2, -0.7, -0.1, -0.5],
        [-0.8, -0.1, -0.6, -0.3, -0.9, -0.2],
    ]
)
MLP_B1 = np.array([0.05, -0.1, 0.4, 0.1])
MLP_W2 = np.array([[1.0, -2.0, 3.0, -1.0], [-1.0, 2.0, 1.5, 0.5]])
MLP_B2 = np.array([0.1, -0.2])
MLP_X = torch.tensor([[[[0.5, 1.0, 0.3], [0.8, 0.4, 0.6]]], [[[0.9, 0.3, 0.7], [0.4, 1.0, 0.5]]]])
MLP_TARGETS = torch.tensor([0, 1])


@functools.cache
def _mlp() -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        for layer, (w, b) in zip((model[1], model[3]), ((MLP_W1, MLP_B1), (MLP_W2, MLP_B2)), strict=True):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    return model.eval()


def _mlp_backward(rule: str) -> np.ndarray:
    """d logit_t / d x of the MLP on MLP_X by hand (N, 1, 2, 3), the ReLU's backward pass by ``rule``:
    "gradient" (g [z > 0]), "guided" (g [z > 0] [g > 0]) or "deconv" (max(g, 0))."""
    out = []
    for image, t in zip(MLP_X.numpy().astype(np.float64), MLP_TARGETS.numpy(), strict=True):
        z = MLP_W1 @ image.ravel() + MLP_B1
        assert ((z > 0) == [True, True, False, False]).all(), z  # the sign pattern the comment promises
        g = MLP_W2[t]
        g = {"gradient": g * (z > 0), "guided": g * (z > 0) * (g > 0), "deconv": np.maximum(g, 0)}[rule]
        out.append((MLP_W1.T @ g).reshape(image.shape))
    return np.stack(out)


def _mlp_deeplift(baselines: np.ndarray) -> np.ndarray:
    """DeepLIFT-Rescale of the MLP by hand against per-image baselines (N, 1, 2, 3): multiplier
    (relu(z) - relu(z_b)) / (z - z_b) for each hidden unit (the gradient [z > 0] where z = z_b)."""
    out = []
    for image, base, t in zip(MLP_X.numpy().astype(np.float64), baselines, MLP_TARGETS.numpy(), strict=True):
        z, zb = MLP_W1 @ image.ravel() + MLP_B1, MLP_W1 @ base.ravel() + MLP_B1
        dz = z - zb
        safe = np.where(np.abs(dz) > 1e-10, dz, 1.0)
        m = np.where(np.abs(dz) > 1e-10, (np.maximum(z, 0) - np.maximum(zb, 0)) / safe, z > 0)
        out.append((image - base) * (MLP_W1.T @ (MLP_W2[t] * m)).reshape(image.shape))
    return np.stack(out)


@functools.cache
def _softplus_cnn() -> nn.Module:
    return _seeded(
        lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Softplus(), nn.Flatten(), nn.Linear(72, 2)), 2
    )


class _Quadratic(nn.Module):
    """f_k(x) = sum(a_k * x^2) / 2, so the input gradient of logit k is a_k * x."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.rand((2, 1, 6, 6), generator=torch.Generator().manual_seed(4)) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.a[None] * x[:, None] ** 2).flatten(2).sum(-1)


@functools.cache
def _quadratic() -> nn.Module:
    return _Quadratic().eval()


@functools.cache
def _cam_cnn(layer: str) -> nn.Module:
    """conv-ReLU-maxpool-conv-ReLU ("4", 4x4x4)-conv-ReLU ("6", 3x4x4)-GAP-linear on 1x8x8 images; layer "4"
    has spatially varying gradients (Grad-CAM family), "6" the GAP -> linear head CAM needs."""

    def build() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(1, 3, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 3, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(3, 2),
        )

    model = _seeded(build, 9)  # seed 9: maps with positive and negative parts, no dead channel (checked)
    model.cam_layer_name = layer
    return model


CAM_X = _images((2, 1, 8, 8), seed=8)


class _GuidedReLU(torch.autograd.Function):
    """ReLU whose backward pass is guided backprop's: g [z > 0] [g > 0]."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z)
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        (z,) = ctx.saved_tensors
        return g * (z > 0) * (g > 0)


def _forward64(model: nn.Sequential, x: torch.Tensor, relu: Callable = torch.relu, keep: str | None = None):
    """A float64 forward pass of the Sequential ``model`` (its ReLU modules replaced by ``relu``) from a leaf
    copy of ``x`` that requires grad: (input, logits, output of the submodule named ``keep``)."""
    inputs = x.detach().double().requires_grad_(True)
    h, kept = inputs, None
    for name, module in model.named_children():
        h = relu(h) if isinstance(module, nn.ReLU) else copy.deepcopy(module).double()(h)
        kept = h if name == keep else kept
    return inputs, h, kept


def _target_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return logits[torch.arange(len(targets)), targets].sum()


def _gradient64(model: nn.Sequential, x: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    inputs, logits, _ = _forward64(model, x)
    return torch.autograd.grad(_target_sum(logits, targets), inputs)[0].numpy()


def _axis_weights(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """(n_out, n_in) interpolation matrix of torch's ``nearest`` / linear (align_corners False or True)."""
    out = np.arange(n_out)
    if mode == "nearest":
        return np.eye(n_in)[np.floor(out * n_in / n_out).astype(int)]
    if mode == "align_corners":
        src = out * (n_in - 1) / (n_out - 1)
    else:  # half-pixel centres, clamped at the first pixel
        src = np.maximum((out + 0.5) * n_in / n_out - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(int), n_in - 1)
    frac = src - low
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (out, low), 1 - frac)
    np.add.at(weights, (out, np.minimum(low + 1, n_in - 1)), frac)
    return weights


def _upsample(maps: np.ndarray, size: int, mode: str = "bilinear") -> np.ndarray:
    """(..., h, w) -> (..., size, size) by hand: separable interpolation (``mode``: "bilinear" with
    align_corners=False, "align_corners" or "nearest")."""
    rows, cols = (_axis_weights(n, size, mode) for n in maps.shape[-2:])
    return np.einsum("Hh,...hw,Ww->...HW", rows, maps, cols)


def _layer_and_gradient(layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Activations A and gradients dy_t/dA of ``_cam_cnn``'s ``layer`` on CAM_X (float64, detached)."""
    _, logits, acts = _forward64(_cam_cnn(layer), CAM_X, keep=layer)
    grads = torch.autograd.grad(_target_sum(logits, TARGETS), acts)[0]
    return acts.detach(), grads


def _weighted(weights: torch.Tensor, acts: torch.Tensor) -> np.ndarray:
    """sum_k weights[n, k] A[n, k] -> (N, 1, h, w)."""
    return (weights[:, :, None, None] * acts).sum(1, keepdim=True).numpy()


def _gradcam_raw() -> np.ndarray:
    """Grad-CAM at layer "4" before the ReLU: sum_k mean_ij(dy_t/dA_k) A_k, (N, 1, 4, 4)."""
    acts, grads = _layer_and_gradient("4")
    return _weighted(grads.mean((2, 3)), acts)


# ----------------------------------------------------------------------------------------------------------
# Gradient methods
# ----------------------------------------------------------------------------------------------------------


def _saliency(explain: Explain) -> None:
    x, w = _images(), _linear_w()
    _assert_map(explain("saliency", _linear(), x, LINEAR_TARGETS), np.abs(w))
    _assert_map(explain("saliency", _linear(), x, LINEAR_TARGETS, abs=False), w)
    _assert_map(explain("saliency", _mlp(), MLP_X, MLP_TARGETS), np.abs(_mlp_backward("gradient")))


def _input_x_gradient(explain: Explain) -> None:
    x = _images()
    _assert_map(explain("input_x_gradient", _linear(), x, LINEAR_TARGETS), x.numpy() * _linear_w())
    expected = MLP_X.numpy() * _mlp_backward("gradient")
    _assert_map(explain("input_x_gradient", _mlp(), MLP_X, MLP_TARGETS), expected)


def _integrated_gradients(explain: Explain) -> None:
    x, w = _images(), _linear_w()
    for b in (0.0, 0.3):
        got = explain("integrated_gradients", _linear(), x, LINEAR_TARGETS, baseline=b, n_steps=8)
        _assert_map(got, (x.numpy() - b) * w)
    # Non-linear: the path integral per pixel by composite Simpson (401 points, float64) and completeness.
    model, b, targets = _softplus_cnn(), 0.1, TARGETS
    t = np.linspace(0.0, 1.0, 401)
    simpson = np.where(np.arange(401) % 2 == 1, 4.0, 2.0)
    simpson[[0, -1]] = 1.0
    simpson /= 3 * 400
    expected = []
    for image, target in zip(x, targets, strict=True):
        path = b + torch.from_numpy(t).reshape(-1, 1, 1, 1) * (image.double() - b)
        grads = _gradient64(model, path, target.repeat(len(t)))
        expected.append((image.numpy() - b) * np.tensordot(simpson, grads, axes=1))
    got = explain("integrated_gradients", model, x, targets, baseline=b)
    _assert_map(got, np.stack(expected))
    logits = [_forward64(model, inputs)[1].detach() for inputs in (x, torch.full_like(x, b))]
    gap = (logits[0] - logits[1])[torch.arange(2), targets].numpy()
    np.testing.assert_allclose(got.sum(axis=(1, 2, 3)), gap, rtol=1e-5)


def _deeplift(explain: Explain) -> None:
    x, w = _images(), _linear_w()
    for b in (0.0, 0.3):
        _assert_map(explain("deeplift", _linear(), x, LINEAR_TARGETS, baseline=b), (x.numpy() - b) * w)
    expected = _mlp_deeplift(np.zeros_like(MLP_X.numpy(), dtype=np.float64))
    assert np.abs(expected - MLP_X.numpy() * _mlp_backward("gradient")).max() > 0.1  # not input x gradient
    _assert_map(explain("deeplift", _mlp(), MLP_X, MLP_TARGETS), expected)


def _uniform_baselines(image: torch.Tensor, n: int, seed: int) -> np.ndarray:
    """baseline_distribution(image, "uniform", n, seed), re-drawn: U(min, max) from a seeded CPU generator."""
    noise = torch.rand((n, *image.shape[1:]), generator=torch.Generator().manual_seed(seed))
    lo, hi = float(image.min()), float(image.max())
    return (lo + (hi - lo) * noise).double().numpy()


def _deeplift_shap(explain: Explain) -> None:
    x, n, seed = _images(), 4, 3
    means = np.stack([_uniform_baselines(image[None], n, seed).mean(0) for image in x])
    got = explain(
        "deeplift_shap", _linear(), x, LINEAR_TARGETS, baselines="uniform", n_baselines=n, seed=seed
    )
    _assert_map(got, (x.numpy() - means) * _linear_w())
    draws = [_uniform_baselines(image[None], n, seed) for image in MLP_X]  # per image (n, 1, 2, 3)
    expected = np.mean([_mlp_deeplift(np.stack([d[k] for d in draws])) for k in range(n)], axis=0)
    got = explain("deeplift_shap", _mlp(), MLP_X, MLP_TARGETS, baselines="uniform", n_baselines=n, seed=seed)
    _assert_map(got, expected)


def _gradient_shap(explain: Explain) -> None:
    x = _images()
    got = explain("gradient_shap", _linear(), x, LINEAR_TARGETS, baselines="zero", n_samples=5)
    _assert_map(got, x.numpy() * _linear_w())


def _noise_draws(image: torch.Tensor, n_samples: int, stdevs: float, seed: int) -> torch.Tensor:
    """The noisy copies Captum's NoiseTunnel makes of one image (1, C, H, W) after torch.manual_seed(seed):
    one torch.normal draw of std stdevs x (max - min of the image) for all n_samples copies."""
    std = stdevs * float(image.max() - image.min())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        noise = torch.normal(0.0, torch.tensor(std).repeat((n_samples, *image.shape[1:])))
    return image + noise  # float32, like the copies the gradients are taken at


NOISE = {"n_samples": 8, "stdevs": 1.0, "seed": 5}  # noise of std 1 x (max - min): E[g^2] ~ 2 var(g)


def _quadratic_gradients() -> np.ndarray:
    """a_t (x + noise) per image and noisy copy (N, n_samples, 1, 6, 6), float64, with NOISE's draws."""
    a = _quadratic().a.detach().double()
    return np.stack(
        [
            (a[t] * _noise_draws(image[None], **NOISE).double()).numpy()
            for image, t in zip(_images(), TARGETS, strict=True)
        ]
    )


def _smoothgrad(explain: Explain) -> None:
    x, grads = _images(), _quadratic_gradients()
    _assert_map(explain("smoothgrad", _quadratic(), x, TARGETS, **NOISE), grads.mean(1))
    _assert_map(explain("smoothgrad", _quadratic(), x, TARGETS, abs=True, **NOISE), np.abs(grads).mean(1))
    gradient = _gradient64(_softplus_cnn(), x, TARGETS)
    _assert_map(explain("smoothgrad", _softplus_cnn(), x, TARGETS, stdevs=0.0, n_samples=3), gradient)


def _vargrad(explain: Explain) -> None:
    got = explain("vargrad", _quadratic(), _images(), TARGETS, **NOISE)
    _assert_map(got, _quadratic_gradients().var(axis=1))  # the population variance, as Captum's


def _guided_backprop(explain: Explain) -> None:
    guided, plain = _mlp_backward("guided"), _mlp_backward("gradient")
    assert np.abs(guided - plain).max() > 0.1 and np.abs(guided - _mlp_backward("deconv")).max() > 0.1
    _assert_map(explain("guided_backprop", _mlp(), MLP_X, MLP_TARGETS), guided)


def _deconvolution(explain: Explain) -> None:
    deconv, plain = _mlp_backward("deconv"), _mlp_backward("gradient")
    assert np.abs(deconv - plain).max() > 0.1 and np.abs(deconv - _mlp_backward("guided")).max() > 0.1
    _assert_map(explain("deconvolution", _mlp(), MLP_X, MLP_TARGETS), deconv)


# ----------------------------------------------------------------------------------------------------------
# CAM family
# ----------------------------------------------------------------------------------------------------------


def _relu_map(raw: np.ndarray) -> np.ndarray:
    """ReLU of a feature-resolution map, checked to keep a positive part in every image."""
    assert all((m > 0).any() for m in raw), "choose a model whose maps are not all zero after the ReLU"
    return np.maximum(raw, 0)


def _gradcam(explain: Explain) -> None:
    model, raw = _cam_cnn("4"), _gradcam_raw()
    assert (raw < 0).any(), "choose a model where Grad-CAM's ReLU matters"
    _assert_map(explain("gradcam", model, CAM_X, TARGETS), _upsample(_relu_map(raw), 8))
    got = explain("gradcam", model, CAM_X, TARGETS, relu_attributions=False)
    _assert_map(got, _upsample(raw, 8))


def _guided_gradcam(explain: Explain) -> None:
    model = _cam_cnn("4")
    inputs, logits, _ = _forward64(model, CAM_X, relu=_GuidedReLU.apply)
    guided = torch.autograd.grad(_target_sum(logits, TARGETS), inputs)[0].numpy()
    expected = guided * _upsample(_relu_map(_gradcam_raw()), 8, "nearest")
    _assert_map(explain("guided_gradcam", model, CAM_X, TARGETS), expected)


def _cam(explain: Explain) -> None:
    model = _cam_cnn("6")
    _, _, acts = _forward64(model, CAM_X, keep="6")
    raw = _weighted(model[-1].weight.detach().double()[TARGETS], acts.detach())
    _assert_map(explain("cam", model, CAM_X, TARGETS), _upsample(raw, 8))
    got = explain("cam", model, CAM_X, TARGETS, interpolate_mode="nearest")
    _assert_map(got, _upsample(raw, 8, "nearest"))


def _gradcam_plus_plus(explain: Explain) -> None:
    acts, grads = _layer_and_gradient("4")
    alpha = grads**2 / (2 * grads**2 + acts.sum((2, 3), keepdim=True) * grads**3 + 1e-6)
    alpha = torch.where(grads != 0, alpha, 0.0)
    raw = _weighted((alpha * grads.clamp(min=0)).sum((2, 3)), acts)
    got = explain("gradcam_plus_plus", _cam_cnn("4"), CAM_X, TARGETS)
    _assert_map(got, _upsample(_relu_map(raw), 8))


def _score_cam(explain: Explain) -> None:
    model = _cam_cnn("4")
    acts, _ = _layer_and_gradient("4")
    masks = _upsample(acts.numpy(), 8, "align_corners")  # (N, K, 8, 8)
    lo, hi = masks.min((2, 3), keepdims=True), masks.max((2, 3), keepdims=True)
    assert (hi - lo > 1e-2).all(), "choose a model whose channels all vary"
    masks = (masks - lo) / (hi - lo + 1e-8)
    scores = []
    for image, image_masks, t in zip(CAM_X.double(), masks, TARGETS, strict=True):
        _, logits, _ = _forward64(model, image[None] * torch.from_numpy(image_masks)[:, None])
        scores.append(logits[:, t].detach())
    raw = _weighted(torch.softmax(torch.stack(scores), dim=1), acts)
    _assert_map(explain("score_cam", model, CAM_X, TARGETS), _upsample(_relu_map(raw), 8))


# ----------------------------------------------------------------------------------------------------------
# Perturbation methods
# ----------------------------------------------------------------------------------------------------------


def _occlusion_reference(
    w: np.ndarray, x: np.ndarray, window: tuple[int, int], stride: tuple[int, int], b: float
) -> np.ndarray:
    """Occlusion of a linear model by hand: each window's drop sum_{i in window} (x_i - b) w_i, averaged
    over the windows covering each pixel. Captum places windows at multiples of the stride up to
    ceil((H - window) / stride) strides, the last one clipped at the border, so every pixel is covered."""
    height, width = x.shape[-2:]
    contribution = (x - b) * w
    total, count = np.zeros_like(contribution), np.zeros(x.shape[-2:])
    for r in range(0, -(-(height - window[0]) // stride[0]) * stride[0] + 1, stride[0]):
        for c in range(0, -(-(width - window[1]) // stride[1]) * stride[1] + 1, stride[1]):
            rows, cols = slice(r, r + window[0]), slice(c, c + window[1])
            total[..., rows, cols] += contribution[..., rows, cols].sum(axis=(-2, -1), keepdims=True)
            count[rows, cols] += 1
    return total / count


def _occlusion(explain: Explain) -> None:
    x, b = _images(), 0.1
    # f(x) = 2 x[4, 3]: the drop is 2 (x[4, 3] - b) for the windows covering pixel (4, 3), 0 elsewhere.
    one_pixel = nn.Sequential(nn.Flatten(), nn.Linear(36, 1, bias=False))
    with torch.no_grad():
        one_pixel[1].weight.zero_()
        one_pixel[1].weight[0, 4 * 6 + 3] = 2.0
    pixel_w = one_pixel[1].weight.detach().double().reshape(1, 1, 6, 6).numpy()
    for model, targets, w, window, stride in [
        (one_pixel, torch.tensor([0, 0]), pixel_w, (3, 3), (2, 2)),
        (_linear(), LINEAR_TARGETS, _linear_w(), (2, 3), (2, 1)),
    ]:
        got = explain("occlusion", model, x, targets, window=list(window), stride=list(stride), baseline=b)
        _assert_map(got, _occlusion_reference(w, x.numpy(), window, stride, b))


CELL = (3, 2)  # grid cells of 3 rows x 2 columns: 2 x 3 segments on a 6x6 image


def _segment_sums(values: np.ndarray) -> np.ndarray:
    """Every pixel of each grid cell gets the sum of ``values`` over the cell."""
    out = np.empty_like(values)
    for r in range(0, values.shape[-2], CELL[0]):
        for c in range(0, values.shape[-1], CELL[1]):
            block = values[..., r : r + CELL[0], c : c + CELL[1]]
            out[..., r : r + CELL[0], c : c + CELL[1]] = block.sum(axis=(-2, -1), keepdims=True)
    return out


def _check_segments(explain: Explain, name: str, **params) -> None:
    """On the linear model every segment's value is sum_{i in segment} (x_i - b) w_i (b = 0.25)."""
    x, b = _images(), 0.25
    segmentation = {"kind": "grid", "cell": list(CELL)}
    got = explain(name, _linear(), x, LINEAR_TARGETS, baseline=b, segmentation=segmentation, **params)
    _assert_map(got, _segment_sums((x.numpy() - b) * _linear_w()))


def _feature_ablation(explain: Explain) -> None:
    _check_segments(explain, "feature_ablation")


def _shapley_value_sampling(explain: Explain) -> None:
    _check_segments(explain, "shapley_value_sampling", n_samples=2)


def _kernel_shap(explain: Explain) -> None:
    _check_segments(explain, "kernel_shap", n_samples=40)


def _lime(explain: Explain) -> None:
    _check_segments(explain, "lime", n_samples=40, alpha=0.0)


# ----------------------------------------------------------------------------------------------------------
# LRP
# ----------------------------------------------------------------------------------------------------------

# zennit's rules per composite: (first conv, other convs); nn.Linear gets Epsilon, ReLU and BatchNorm Pass.
LRP_RULES = {
    "epsilon_plus_flat": ("flat", "z+"),
    "epsilon_plus": ("z+", "z+"),
    "epsilon_gamma_box": ("zbox", "gamma"),
    "epsilon_alpha2_beta1": ("alpha2beta1", "alpha2beta1"),
}
LRP_BOX = (-1.0, 2.0)  # low and high of the ZBox rule


@functools.cache
def _lrp_net(batch_norm: bool) -> nn.Module:
    """Two bias-free 3x3 convs (1 -> 2 -> 2, optionally BatchNorm with zero running mean and zero shift, which
    LRP merges into the conv) with ReLUs, then a bias-free linear layer: relevance is conserved exactly.

    The BatchNorms have eps=0: Zennit's merge leaves each BatchNorm in place as x / sqrt(1 + eps) (running
    statistics reset to 0 and 1), so with the default eps=1e-5 the map sums to the logit times
    (1 + eps)^(-1/2) per BatchNorm, a 1e-5 deficit here, the size of the tolerance."""

    def build() -> nn.Module:
        layers: list[nn.Module] = []
        for c_in in (1, 2):
            bn = [nn.BatchNorm2d(2, eps=0.0)] if batch_norm else []
            layers += [nn.Conv2d(c_in, 2, 3, padding=1, bias=False), *bn, nn.ReLU()]
        model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(72, 2, bias=False))
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.Conv2d):  # large activations: the stabilisers (1e-6) barely matter
                    module.weight.uniform_(-10.0, 10.0)
                if isinstance(module, nn.Linear):
                    module.weight.uniform_(-0.5, 1.0)
                if isinstance(module, nn.BatchNorm2d):
                    module.running_var.uniform_(0.5, 2.0)
                    module.weight.uniform_(0.5, 2.0)
            # The first conv: positive weights around a small negative centre, so that on images in [0.2, 1)
            # every unit is active and every unit of the second conv sees contributions of both signs (else
            # alpha2-beta1 is not conserving: a unit without negative contributions passes on 2x its
            # relevance).
            model[0].weight.uniform_(5.0, 10.0)[..., 1, 1] *= -0.2
        return model

    return _seeded(build, 5)


def _stabilized(z: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """zennit's stabiliser: z + epsilon x sign(z), the sign of 0 taken as +1."""
    return z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z)


def _conv_rule(rule: str, a: torch.Tensor, w: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """Relevance of a 3x3, padding 1, bias-free conv's input ``a`` (>= 0) by ``rule`` (as in zennit.rules;
    ``relevance`` is zero where the conv's output is not positive, so Gamma needs only its positive half)."""

    def conv(inputs, weight):
        return F.conv2d(inputs, weight, padding=1)

    def back(signal, weight):
        return F.conv_transpose2d(signal, weight, padding=1)

    pos, neg = w.clamp(min=0), w.clamp(max=0)
    if rule == "flat":
        ones = torch.ones_like(w)
        return back(relevance / _stabilized(conv(torch.ones_like(a), ones)), ones)
    if rule == "z+":
        return a * back(relevance / _stabilized(conv(a, pos)), pos)
    if rule == "gamma":
        gamma = w + 0.25 * pos
        return a * back(relevance / _stabilized(conv(a, gamma)), gamma)
    if rule == "alpha2beta1":
        positive = back(relevance / _stabilized(conv(a, pos)), pos)
        return a * (2 * positive - back(relevance / _stabilized(conv(a, neg)), neg))
    assert rule == "zbox"
    low, high = (torch.full_like(a, v) for v in LRP_BOX)
    signal = relevance / _stabilized(conv(a, w) - conv(low, pos) - conv(high, neg))
    return a * back(signal, w) - low * back(signal, pos) - high * back(signal, neg)


def _lrp_reference(model: nn.Module, composite: str, epsilon: float = 1e-6, one_hot: bool = False):
    """(relevance map (N, 1, 6, 6), target logits) by hand, BatchNorm merged into the convs by hand."""
    convs, modules = [], list(model)
    for i, module in enumerate(modules):
        if isinstance(module, nn.Conv2d):
            w = module.weight.detach().double()
            if isinstance(bn := modules[i + 1], nn.BatchNorm2d):  # y = gamma x / sqrt(var + eps): no shift
                w = w * (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().double().reshape(
                    -1, 1, 1, 1
                )
            convs.append(w)
    w_out = modules[-1].weight.detach().double()
    acts = [_images().double()]
    for w in convs:
        acts.append(torch.relu(F.conv2d(acts[-1], w, padding=1)))
    logits = acts[-1].flatten(1) @ w_out.T
    z = logits[torch.arange(2), TARGETS]
    start = torch.ones_like(z) if one_hot else z
    relevance = acts[-1] * (w_out[TARGETS] * (start / _stabilized(z, epsilon))[:, None]).reshape(
        acts[-1].shape
    )
    first, other = LRP_RULES[composite]
    for i in reversed(range(len(convs))):
        relevance = _conv_rule(first if i == 0 else other, acts[i], convs[i], relevance)
    return relevance.numpy(), z.numpy()


def _lrp(explain: Explain) -> None:
    assert set(LRP_RULES) == set(LRP_COMPOSITES)
    x, low, high = _images(), *LRP_BOX
    for batch_norm in (False, True):
        model = _lrp_net(batch_norm)
        for composite in LRP_COMPOSITES:
            for start in ("logit", "one_hot"):
                expected, logits = _lrp_reference(model, composite, one_hot=start == "one_hot")
                got = explain(
                    "lrp", model, x, TARGETS, composite=composite, low=low, high=high, output_relevance=start
                )
                _assert_map(got, expected)
                conserved = logits if start == "logit" else np.ones(2)
                np.testing.assert_allclose(got.sum(axis=(1, 2, 3)), conserved, rtol=1e-5, err_msg=composite)
    model = _lrp_net(True)
    expected, _ = _lrp_reference(model, "epsilon_plus_flat", epsilon=0.5)  # not conserving: z / (z + 0.5)
    _assert_map(explain("lrp", model, x, TARGETS, epsilon=0.5), expected)


# ----------------------------------------------------------------------------------------------------------
# Controls
# ----------------------------------------------------------------------------------------------------------


def _random(explain: Explain) -> None:
    x = _images()
    for seed in (0, 7):
        expected = []
        for image in x.numpy().astype(np.float32):
            digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=8).digest()
            rng = np.random.default_rng([seed, int.from_bytes(digest, "little")])
            expected.append(rng.random(image.shape[1:], dtype=np.float32)[None])
        for model in (_linear(), _softplus_cnn()):  # model-independent
            _assert_map(explain("random", model, x, TARGETS, seed=seed), np.stack(expected), rtol=0, atol=0)


def _sobel(explain: Explain) -> None:
    from skimage.filters import sobel

    x = _images((2, 2, 6, 7), seed=9)
    x[:, 0, 2:, 3:] += 1.0  # a step edge in channel 0 (x is a fresh tensor)
    expected = [[sum(sobel(channel, mode="nearest") for channel in image.double().numpy())] for image in x]
    _assert_map(explain("sobel", nn.Identity(), x, torch.tensor([0, 0])), np.array(expected))


# ----------------------------------------------------------------------------------------------------------
# Tests
# ----------------------------------------------------------------------------------------------------------

CASES: dict[str, Callable[[Explain], None]] = {
    "saliency": _saliency,
    "integrated_gradients": _integrated_gradients,
    "input_x_gradient": _input_x_gradient,
    "guided_backprop": _guided_backprop,
    "deconvolution": _deconvolution,
    "deeplift": _deeplift,
    "deeplift_shap": _deeplift_shap,
    "gradient_shap": _gradient_shap,
    "smoothgrad": _smoothgrad,
    "vargrad": _vargrad,
    "gradcam": _gradcam,
    "guided_gradcam": _guided_gradcam,
    "cam": _cam,
    "gradcam_plus_plus": _gradcam_plus_plus,
    "score_cam": _score_cam,
    "occlusion": _occlusion,
    "feature_ablation": _feature_ablation,
    "shapley_value_sampling": _shapley_value_sampling,
    "kernel_shap": _kernel_shap,
    "lime": _lime,
    "lrp": _lrp,
    "random": _random,
    "sobel": _sobel,
}


test_every_method_has_a_known_answer, test_known_answer, test_known_answer_detects_fault = known_answer_tests(
    "method", CASES
)
