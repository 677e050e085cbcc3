"""Explanation-method registry: ``explain(name, model, inputs, targets, **params)`` -> (N, 1, H, W) maps.

Every entry of :data:`METHODS` is a :class:`MethodSpec` whose ``fn(model, inputs, targets, **params)``
returns a tensor of shape (n, 1, H, W) or (n, C, H, W) for one chunk of inputs. :func:`explain` validates the
parameters against ``fn``'s signature (the config must be exact), runs the chunks with gradients enabled and
the model in eval mode, reduces the channel axis by **summing** it and returns float32 numpy. Non-finite
values are returned as they are: the evaluation counts them, so they are never hidden here.

Libraries are imported lazily inside the methods: importing this module pulls in torch and numpy only, so a
job explaining with ``random`` or ``sobel`` never pays for ``import captum`` (~5 s), zennit or the grad-cam
package (~3 s, it imports OpenCV and matplotlib).

Methods and their library:

* Captum: ``saliency``, ``integrated_gradients``, ``input_x_gradient``, ``smoothgrad``, ``vargrad``,
  ``guided_backprop``, ``deconvolution``, ``deeplift``, ``deeplift_shap``, ``gradient_shap``, ``gradcam``,
  ``guided_gradcam``, ``occlusion``, ``feature_ablation``, ``shapley_value_sampling``, ``lime``,
  ``kernel_shap``;
* Zennit: ``lrp`` (Captum's LRP has no rule for ``nn.Flatten`` and gives ~1e16 on residual networks);
* :mod:`xaibench.methods_cam` (imported at the end of this module): ``cam`` (implemented there: no library
  has the original CAM), ``gradcam_plus_plus`` and ``score_cam`` (the ``grad-cam`` package);
* controls: ``random`` (uniform noise) and ``sobel`` (edge magnitude), the baselines of Adebayo et al. (2018).

A method that cannot handle an architecture raises :class:`MethodNotApplicable` with the reason, before any
computation, instead of failing obscurely or silently computing something else. On xaibench's models:

* ``guided_backprop``, ``deconvolution``, ``guided_gradcam`` need a ReLU network: they only modify the
  backward pass of ``nn.ReLU`` modules, and would pass e.g. EfficientNet's SiLU gradients through unchanged;
* ``deeplift`` and ``deeplift_shap`` need every non-linearity to be a Captum-supported module used once per
  forward pass (so not on EfficientNet: SiLU has no DeepLIFT rule in Captum, nor has the squeeze-excitation
  product);
* ``cam`` needs logits = linear(global average pool of the CAM layer), checked numerically (all of
  xaibench's models qualify);
* ``lrp`` needs a known structure: Zennit canonizers are chosen per architecture (see :func:`lrp`); with
  activations that go negative (EfficientNet's SiLU) only composite ``epsilon_gamma_box`` conserves
  relevance, and the z+ / alpha-beta composites raise.

Stochastic methods (``lime``, ``kernel_shap``, ``smoothgrad``, ``vargrad``, ``gradient_shap``,
``deeplift_shap``'s noise baselines, ``shapley_value_sampling``) explain each image on its own under their
``seed``: a map depends on the image and the parameters, never on the batch, and the caller's torch and numpy
random states are restored.

Hook-based methods (guided ones, deeplift, CAMs, lrp) run on a deep copy with ``inplace=False`` activations
when the model has in-place ones (backward hooks fail on outputs modified in place); xaibench's models have
none.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from xaibench.registry import Registry

__all__ = ["METHODS", "MethodNotApplicable", "MethodSpec", "explain", "quantus_explain_func"]


class MethodNotApplicable(Exception):
    """The method cannot explain this model (its architecture), for the reason given in the message."""


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method: ``fn(model, inputs, targets, **params)`` -> (n, 1|C, H, W) tensor."""

    fn: Callable[..., torch.Tensor]
    library: str  # "captum", "zennit", "grad-cam", "xaibench" (implemented here) or "control"
    description: str  # one line, for the README and the report


METHODS: Registry[MethodSpec] = Registry("method")

# Captum warns on every call that it hooks the activations (and removes the hooks again): noise in job logs.
_QUIET = (
    "Setting forward, backward hooks and attributes on non-linear",
    "Setting backward hooks on ReLU activations",
    "Input Tensor 0 did not already require gradients",
)


def _register(name: str, library: str, description: str) -> Callable[[Callable[..., torch.Tensor]], Any]:
    """Register ``fn`` under ``name``; the stored ``fn`` always runs with gradients enabled."""

    def decorator(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> torch.Tensor:
            with torch.enable_grad(), warnings.catch_warnings():
                for message in _QUIET:
                    warnings.filterwarnings("ignore", message=message)
                return fn(*args, **kwargs)

        METHODS.add(name, MethodSpec(fn=wrapped, library=library, description=description))
        return wrapped

    return decorator


def _grad_input(inputs: torch.Tensor) -> torch.Tensor:
    """A leaf copy of ``inputs`` that requires gradients (the caller's tensor is never touched)."""
    return inputs.detach().clone().requires_grad_(True)


def _bad(method: str, param: str, message: str) -> ValueError:
    return ValueError(f"method {method!r}: parameter {param!r} {message}")


def _pair(method: str, param: str, value: Any, extent: tuple[int, int] | None = None) -> tuple[int, int]:
    """An int or a pair of ints (rows, columns), each >= 1. With ``extent`` (H, W), a float in (0, 1)
    is a fraction of the image size, so one config serves 32x32 and 64x64 datasets alike."""

    def one(v: Any, size: int | None) -> int:
        if isinstance(v, bool):
            raise _bad(method, param, f"must be an int or a fraction, got {value!r}")
        if isinstance(v, int | np.integer):
            return int(v)
        if size is not None and isinstance(v, float) and 0 < v < 1:
            return max(1, round(v * size))
        raise _bad(
            method, param, f"must be an int, a fraction of the image in (0, 1) or a pair, got {value!r}"
        )

    rows, cols = extent if extent is not None else (None, None)
    if isinstance(value, list | tuple) and len(value) == 2:
        pair = (one(value[0], rows), one(value[1], cols))
    else:
        pair = (one(value, rows), one(value, cols))
    if min(pair) < 1:
        raise _bad(method, param, f"must be >= 1, got {value!r}")
    return pair


def _not_applicable(method: str, model: nn.Module, reason: str) -> MethodNotApplicable:
    return MethodNotApplicable(f"method {method!r} is not applicable to {type(model).__name__}: {reason}")


def _without_inplace(model: nn.Module) -> nn.Module:
    """``model``, or a deep copy with ``inplace=False`` everywhere if it has in-place modules (ReLU, SiLU,
    Dropout, ...): backward hooks (Captum's, Zennit's) fail on a module output that is modified in place.
    Names of submodules are kept, so ``cam_layer_name`` resolves in the copy."""
    if not any(getattr(m, "inplace", False) is True for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for module in model.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    return model


def _activation_types() -> tuple[type[nn.Module], ...]:
    from torch.nn.modules import activation

    return tuple(
        cls
        for name in activation.__all__
        if isinstance(cls := getattr(activation, name), type) and issubclass(cls, nn.Module)
    )


# Normalising output layers: Guided Backprop/DeconvNet are unaffected by them.
_OUTPUT_ACTIVATIONS = (nn.Softmax, nn.LogSoftmax, nn.Softmax2d)


def _require_relu_network(method: str, model: nn.Module) -> None:
    """Guided Backprop and DeconvNet are defined for ReLU networks; Captum modifies nn.ReLU modules only."""
    others = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if isinstance(m, _activation_types()) and not isinstance(m, (nn.ReLU, *_OUTPUT_ACTIVATIONS))
        }
    )
    if others:
        raise _not_applicable(
            method,
            model,
            "it is defined for ReLU networks and overrides the gradients of nn.ReLU modules only; the "
            f"model's {', '.join(others)} activations would back-propagate plain gradients",
        )
    if not any(isinstance(m, nn.ReLU) for m in model.modules()):
        raise _not_applicable(
            method, model, "the model has no nn.ReLU module (functional ReLUs are invisible to Captum)"
        )


def _positive_int(method: str, param: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise _bad(method, param, f"must be a positive int, got {value!r}")
    return int(value)


def _nonnegative_float(method: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or value < 0:
        raise _bad(method, param, f"must be a number >= 0, got {value!r}")
    return float(value)


def _seed_value(method: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise _bad(method, "seed", f"must be a non-negative int, got {value!r}")
    return int(value)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators and numpy's global one for the block, then restore the caller's states.

    Captum samples from both (NoiseTunnel: ``torch.normal`` on the input's device; GradientShap: numpy for
    the baseline draws and the path positions; ShapleyValueSampling: ``torch.randperm``)."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    numpy_state = np.random.get_state()  # noqa: NPY002 - Captum draws from numpy's global generator
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            np.random.seed(seed)  # noqa: NPY002
            yield
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002


def _value_range(image: torch.Tensor) -> float:
    """max - min of one image over all its channels (the scale of the noise of SmoothGrad and friends)."""
    return float(image.max() - image.min())


# ----------------------------------------------------------------------------------------------------------
# Gradient-based methods (Captum)
# ----------------------------------------------------------------------------------------------------------


@_register(
    "saliency", "captum", "Saliency: absolute input gradient of the target logit (Simonyan et al. 2014)"
)
def saliency(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, abs: bool = True) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(model).attribute(_grad_input(inputs), target=targets, abs=bool(abs))


@_register(
    "integrated_gradients",
    "captum",
    "Integrated Gradients from a constant baseline, Gauss-Legendre steps (Sundararajan et al. 2017)",
)
def integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_steps: int = 32,
    internal_batch_size: int | None = 128,
    baseline: float = 0.0,
) -> torch.Tensor:
    """``internal_batch_size``: images per forward pass of the n_steps-expanded batch (None: all at once)."""
    from captum.attr import IntegratedGradients

    n_steps = _positive_int("integrated_gradients", "n_steps", n_steps)
    if internal_batch_size is not None:
        internal_batch_size = _positive_int(
            "integrated_gradients", "internal_batch_size", internal_batch_size
        )
        # Captum needs at least one step per example in each internal batch (it warns and uses 2 otherwise).
        internal_batch_size = max(internal_batch_size, 2 * inputs.shape[0])
    return IntegratedGradients(model).attribute(
        _grad_input(inputs),
        baselines=float(baseline),
        target=targets,
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
    )


@_register("input_x_gradient", "captum", "Input x Gradient of the target logit (Shrikumar et al. 2016)")
def input_x_gradient(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(_grad_input(inputs), target=targets)


@_register(
    "guided_backprop", "captum", "Guided Backpropagation: ReLU gradients clipped at zero (Springenberg 2015)"
)
def guided_backprop(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Needs a ReLU network (:class:`MethodNotApplicable` otherwise)."""
    from captum.attr import GuidedBackprop

    _require_relu_network("guided_backprop", model)
    return GuidedBackprop(_without_inplace(model)).attribute(_grad_input(inputs), target=targets)


@_register(
    "deconvolution", "captum", "Deconvolution (DeconvNet): ReLU applied to the backward signal (Zeiler 2014)"
)
def deconvolution(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Needs a ReLU network (:class:`MethodNotApplicable` otherwise)."""
    from captum.attr import Deconvolution

    _require_relu_network("deconvolution", model)
    return Deconvolution(_without_inplace(model)).attribute(_grad_input(inputs), target=targets)


@_register(
    "deeplift", "captum", "DeepLIFT (Rescale rule) against a constant baseline (Shrikumar et al. 2017)"
)
def deeplift(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: float = 0.0
) -> torch.Tensor:
    """Needs distinct activation modules (Captum refuses a ReLU used twice; xaibench's models have them) of
    types Captum has a DeepLIFT rule for: see :func:`_require_deeplift_rules`."""
    from captum.attr import DeepLift

    model = _without_inplace(model)
    _require_deeplift_rules(model, inputs)
    return DeepLift(model).attribute(_grad_input(inputs), baselines=float(baseline), target=targets)


def _require_deeplift_rules(model: nn.Module, inputs: torch.Tensor, method: str = "deeplift") -> None:
    """Raise :class:`MethodNotApplicable` unless Captum's DeepLift handles every non-linearity of ``model``
    (``method``: the name in the message; ``deeplift_shap`` runs DeepLift once per baseline).

    Captum applies the Rescale rule to modules of the exact types in its ``SUPPORTED_NON_LINEAR`` (ReLU, ELU,
    LeakyReLU, Sigmoid, Tanh, Softplus, MaxPool, Softmax); any other activation module (e.g. SiLU) would get
    its plain gradient, and the result would not be DeepLIFT (nor sum to f(x) - f(baseline)). A supported
    module called twice per forward pass makes Captum fail ("module is being used more than once"): one
    forward pass of one input counts the calls.
    """
    from captum.attr._core.deep_lift import SUPPORTED_NON_LINEAR

    unsupported = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if isinstance(m, _activation_types()) and type(m) not in SUPPORTED_NON_LINEAR
        }
    )
    if unsupported:
        raise _not_applicable(
            method,
            model,
            f"Captum's DeepLift has no rule for its {', '.join(unsupported)} activations (they would get "
            "plain gradients; multiplicative gates such as squeeze-excitation have no rule either)",
        )
    calls: dict[str, int] = {}
    handles = []
    try:
        for name, module in model.named_modules():
            if type(module) in SUPPORTED_NON_LINEAR:
                handles.append(
                    module.register_forward_pre_hook(
                        lambda _m, _i, name=name: calls.__setitem__(name, calls.get(name, 0) + 1)
                    )
                )
        with torch.no_grad():
            model(inputs[:1].detach())
    finally:
        for handle in handles:
            handle.remove()
    reused = sorted(name for name, n in calls.items() if n > 1)
    if reused:
        raise _not_applicable(
            method,
            model,
            f"module(s) {', '.join(reused)} are called more than once per forward pass (e.g. torchvision's "
            "ResNet blocks reuse self.relu); Captum's DeepLift needs one module per use "
            "(xaibench's resnet builders provide that)",
        )


@_register(
    "gradcam", "captum", "Grad-CAM on the model's CAM layer, ReLU'd and bilinearly upsampled (Selvaraju 2017)"
)
def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    relu_attributions: bool = True,
    interpolate_mode: str = "bilinear",
) -> torch.Tensor:
    from captum.attr import LayerAttribution, LayerGradCam

    from xaibench.models import get_cam_layer

    model = _without_inplace(model)
    cam = LayerGradCam(model, get_cam_layer(model)).attribute(
        _grad_input(inputs), target=targets, relu_attributions=bool(relu_attributions)
    )
    return LayerAttribution.interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode=interpolate_mode)


@_register(
    "guided_gradcam", "captum", "Guided Grad-CAM: Guided Backprop times upsampled Grad-CAM (Selvaraju 2017)"
)
def guided_gradcam(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, interpolate_mode: str = "nearest"
) -> torch.Tensor:
    """Needs a ReLU network (:class:`MethodNotApplicable` otherwise), like Guided Backprop."""
    from captum.attr import GuidedGradCam

    from xaibench.models import get_cam_layer

    _require_relu_network("guided_gradcam", model)
    model = _without_inplace(model)
    return GuidedGradCam(model, get_cam_layer(model)).attribute(
        _grad_input(inputs), target=targets, interpolate_mode=interpolate_mode
    )


# ----------------------------------------------------------------------------------------------------------
# Sampling gradient methods (Captum): SmoothGrad, VarGrad, GradientSHAP, DeepLIFT-SHAP
# ----------------------------------------------------------------------------------------------------------
#
# Each image is explained on its own with the same seed (like LIME), so its map depends on the image and the
# parameters only, not on its position in the batch or the chunk size; the batching is over the samples of
# one image (n_samples noisy copies, n_baselines baselines in one pass). Noise scales are fractions of the
# image's value range (max - min over all channels), as in Smilkov et al. (2017), so one config serves
# datasets of any intensity scale.


def _noise_tunnel(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int,
    stdevs: float,
    nt_samples_batch_size: int | None,
    abs: bool,
    seed: int,
) -> torch.Tensor:
    from captum.attr import NoiseTunnel, Saliency

    n_samples = _positive_int(method, "n_samples", n_samples)
    stdevs = _nonnegative_float(method, "stdevs", stdevs)
    if nt_samples_batch_size is not None:
        nt_samples_batch_size = min(
            n_samples, _positive_int(method, "nt_samples_batch_size", nt_samples_batch_size)
        )
    seed = _seed_value(method, seed)
    tunnel = NoiseTunnel(Saliency(model))
    maps = []
    for i in range(inputs.shape[0]):
        image = inputs[i : i + 1].detach()
        with _seeded(seed, image.device):
            maps.append(
                tunnel.attribute(
                    image,
                    nt_type=method,
                    nt_samples=n_samples,
                    nt_samples_batch_size=nt_samples_batch_size,
                    stdevs=stdevs * _value_range(image),
                    target=targets[i : i + 1],
                    abs=bool(abs),
                )
            )
    return torch.cat(maps)


@_register(
    "smoothgrad", "captum", "SmoothGrad: input gradient averaged over noisy copies (Smilkov et al. 2017)"
)
def smoothgrad(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 16,
    stdevs: float = 0.15,
    nt_samples_batch_size: int | None = None,
    abs: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """Captum ``NoiseTunnel(Saliency)``, ``nt_type="smoothgrad"``: the mean gradient of the target logit over
    ``n_samples`` copies with Gaussian noise of standard deviation ``stdevs`` x (max - min of the image)
    (Smilkov et al.: 10-20% works best). ``abs=False`` averages the signed gradients (the paper's definition);
    ``abs=True`` their magnitudes. ``nt_samples_batch_size``: noisy copies per forward pass (None: all)."""
    return _noise_tunnel(
        "smoothgrad", model, inputs, targets, n_samples, stdevs, nt_samples_batch_size, abs, seed
    )


@_register(
    "vargrad", "captum", "VarGrad: variance of the input gradient over noisy copies (Adebayo et al. 2018)"
)
def vargrad(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 16,
    stdevs: float = 0.15,
    nt_samples_batch_size: int | None = None,
    abs: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """Captum ``NoiseTunnel(Saliency)``, ``nt_type="vargrad"``: the per-pixel variance of the gradient over
    the noisy copies (non-negative); parameters as :func:`smoothgrad`."""
    return _noise_tunnel(
        "vargrad", model, inputs, targets, n_samples, stdevs, nt_samples_batch_size, abs, seed
    )


BASELINE_KINDS = ("zero", "uniform", "blur", "mixed")


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (1, C, H, W) with standard deviation ``sigma`` px, replicated borders."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    n_channels = image.shape[1]
    x = nn.functional.pad(image, (radius, radius, radius, radius), mode="replicate")
    x = nn.functional.conv2d(x, kernel.view(1, 1, 1, -1).repeat(n_channels, 1, 1, 1), groups=n_channels)
    return nn.functional.conv2d(x, kernel.view(1, 1, -1, 1).repeat(n_channels, 1, 1, 1), groups=n_channels)


def baseline_distribution(image: torch.Tensor, kind: str, n: int, seed: int) -> torch.Tensor:
    """Baselines (m, C, H, W) for one image (1, C, H, W), the reference distribution of the SHAP methods.

    * ``zero``: one black image (m = 1 whatever ``n``);
    * ``uniform``: ``n`` images of i.i.d. uniform noise between the image's minimum and maximum, from a CPU
      generator seeded with ``seed`` (so the same on every device);
    * ``blur``: ``n`` Gaussian blurs of the image, sigma_k = k / n x max(H, W) / 4 px for k = 1..n (8 px for
      the strongest at 32x32), the "blurred" baselines of Sturmfels et al. (2020);
    * ``mixed``: ``n`` baselines, round robin zero, uniform, blur (a third each).

    No training data reach an explanation job, so the distribution is built from the image itself.
    """
    if kind not in BASELINE_KINDS:
        raise ValueError(f"baselines must be one of {list(BASELINE_KINDS)}, got {kind!r}")
    if kind == "zero":
        return torch.zeros_like(image)
    kinds = [kind] * n if kind != "mixed" else [("zero", "uniform", "blur")[j % 3] for j in range(n)]
    n_uniform, n_blur = kinds.count("uniform"), kinds.count("blur")
    lo, hi = float(image.min()), float(image.max())
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand((n_uniform, *image.shape[1:]), generator=generator, dtype=torch.float32)
    noise = (lo + (hi - lo) * noise).to(image.device, image.dtype)
    extent = max(image.shape[2], image.shape[3]) / 4
    blurs = [_blur(image, k / n_blur * extent) for k in range(1, n_blur + 1)]
    picked: dict[str, list[torch.Tensor]] = {
        "zero": [torch.zeros_like(image)] * kinds.count("zero"),
        "uniform": list(noise.split(1)),
        "blur": blurs,
    }
    return torch.cat([picked[k].pop(0) for k in kinds])


def _baselines_params(method: str, baselines: str, n_baselines: int, seed: int) -> tuple[str, int, int]:
    if baselines not in BASELINE_KINDS:
        raise _bad(method, "baselines", f"must be one of {list(BASELINE_KINDS)}, got {baselines!r}")
    return baselines, _positive_int(method, "n_baselines", n_baselines), _seed_value(method, seed)


@_register(
    "gradient_shap",
    "captum",
    "GradientSHAP: expected gradients x (input - baseline) from a baseline distribution (Lundberg 2017)",
)
def gradient_shap(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 16,
    stdevs: float = 0.0,
    baselines: str = "mixed",
    n_baselines: int = 6,
    seed: int = 0,
) -> torch.Tensor:
    """Captum ``GradientShap``: for each of ``n_samples`` draws, a baseline b from
    :func:`baseline_distribution` (``baselines``, ``n_baselines``), a point b + t (x + noise - b) with
    t ~ U(0, 1) and noise ~ N(0, (``stdevs`` x (max - min of the image))^2), and (x - b) times the gradient
    there; the map is their mean (Expected Gradients, Erion et al. 2021, with SHAP's optional smoothing).
    The ``n_samples`` points of one image go through the model in one pass."""
    n_samples = _positive_int("gradient_shap", "n_samples", n_samples)
    stdevs = _nonnegative_float("gradient_shap", "stdevs", stdevs)
    kind, n_baselines, seed = _baselines_params("gradient_shap", baselines, n_baselines, seed)
    from captum.attr import GradientShap

    explainer = GradientShap(model)
    maps = []
    for i in range(inputs.shape[0]):
        image = inputs[i : i + 1].detach()
        reference = baseline_distribution(image, kind, n_baselines, seed)
        with _seeded(seed, image.device):
            maps.append(
                explainer.attribute(
                    image,
                    baselines=reference,
                    n_samples=n_samples,
                    stdevs=stdevs * _value_range(image),
                    target=targets[i : i + 1],
                )
            )
    return torch.cat(maps)


@_register(
    "deeplift_shap",
    "captum",
    "DeepLIFT-SHAP: DeepLIFT averaged over a baseline distribution (Lundberg & Lee 2017)",
)
def deeplift_shap(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    baselines: str = "mixed",
    n_baselines: int = 6,
    seed: int = 0,
) -> torch.Tensor:
    """Captum ``DeepLiftShap``: the mean of the DeepLIFT (Rescale) maps against each baseline of
    :func:`baseline_distribution`; it sums to f(x) - mean_b f(b). The ``n_baselines`` copies of one image go
    through the model in one pass. Same applicability as ``deeplift``; ``baselines="zero"`` is a single
    baseline (that is ``deeplift``) and is refused."""
    kind, n_baselines, seed = _baselines_params("deeplift_shap", baselines, n_baselines, seed)
    if kind == "zero" or n_baselines < 2:
        raise _bad(
            "deeplift_shap",
            "baselines",
            f"must give at least 2 baselines (got baselines={baselines!r}, n_baselines={n_baselines}); "
            "for a single baseline use method 'deeplift'",
        )
    from captum.attr import DeepLiftShap

    model = _without_inplace(model)
    _require_deeplift_rules(model, inputs, "deeplift_shap")
    explainer = DeepLiftShap(model)
    maps = []
    for i in range(inputs.shape[0]):
        image = inputs[i : i + 1].detach()
        reference = baseline_distribution(image, kind, n_baselines, seed)
        maps.append(explainer.attribute(image, baselines=reference, target=targets[i : i + 1]))
    return torch.cat(maps)


# ----------------------------------------------------------------------------------------------------------
# Perturbation-based methods (Captum)
# ----------------------------------------------------------------------------------------------------------


@_register(
    "occlusion", "captum", "Occlusion: logit drop when a sliding window is set to a baseline (Zeiler 2014)"
)
def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    window: float | tuple[float, float] = 4,
    stride: float | tuple[float, float] = 2,
    baseline: float = 0.0,
    perturbations_per_eval: int = 4,
) -> torch.Tensor:
    """The window spans all channels. A forward pass holds n x perturbations_per_eval images (Captum's
    meaning): the default 4 gives 256-image passes at batch_size 64; 64 (4096-image passes) was 1.2-2x slower
    on 2 CPU cores (small_cnn, 32x32). On a GPU raise it.

    ``window`` and ``stride`` are pixels (int) or fractions of the image size (float in (0, 1)): 0.125 and
    0.0625 give 4/2 px at 32x32 and 8/4 px at 64x64. Captum places windows at 0, stride, 2 stride, ... and,
    when (H - window) is not a multiple of stride, one more window clipped at the border: every pixel is
    covered, and each gets the mean drop of the windows covering it.
    """
    from captum.attr import Occlusion

    n_channels = inputs.shape[1]
    extent = (inputs.shape[2], inputs.shape[3])
    win = _pair("occlusion", "window", window, extent)
    step = _pair("occlusion", "stride", stride, extent)
    if win[0] > inputs.shape[2] or win[1] > inputs.shape[3]:
        raise _bad("occlusion", "window", f"{window!r} is larger than the image {tuple(inputs.shape[2:])}")
    with torch.no_grad():
        return Occlusion(model).attribute(
            inputs.detach(),
            sliding_window_shapes=(n_channels, *win),
            strides=(n_channels, *step),
            baselines=float(baseline),
            target=targets,
            perturbations_per_eval=_positive_int(
                "occlusion", "perturbations_per_eval", perturbations_per_eval
            ),
        )


_SEGMENTATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "slic": {"kind": "slic", "n_segments": 32, "compactness": 0.1},
    "grid": {"kind": "grid", "cell": 4},
}


def _segmentation_spec(method: str, segmentation: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge a config's segmentation with the defaults of its kind; unknown kinds or keys are errors."""
    if segmentation is None:
        return dict(_SEGMENTATION_DEFAULTS["slic"])
    if not isinstance(segmentation, Mapping):
        raise _bad(method, "segmentation", f"must be a mapping with a 'kind', got {segmentation!r}")
    kind = segmentation.get("kind", "slic")
    if kind not in _SEGMENTATION_DEFAULTS:
        raise _bad(
            method, "segmentation", f"kind must be one of {sorted(_SEGMENTATION_DEFAULTS)}, got {kind!r}"
        )
    spec = dict(_SEGMENTATION_DEFAULTS[kind])
    unknown = sorted(set(segmentation) - set(spec))
    if unknown:
        raise _bad(
            method, "segmentation", f"has unknown key(s) {unknown} for kind {kind!r}; allowed: {sorted(spec)}"
        )
    spec.update(segmentation)
    return spec


def superpixels(
    images: np.ndarray, segmentation: Mapping[str, Any] | None = None, method: str = "lime"
) -> np.ndarray:
    """Per-image feature masks (N, 1, H, W) int64 for (N, C, H, W) images; each image's ids are 0..k-1.

    ``slic``: skimage SLIC on each image min-max scaled to [0, 1] (so ``compactness`` means the same for every
    dataset and channel count; no Lab conversion, the channels may not be RGB). ``grid``: square cells of
    ``cell`` pixels (the last row/column of cells may be smaller). An image that SLIC leaves in one piece (low
    compactness on noise) gets a grid of about ``n_segments`` cells instead.
    """
    spec = _segmentation_spec(method, segmentation)
    n, n_channels, height, width = images.shape
    masks = np.zeros((n, 1, height, width), dtype=np.int64)
    if spec["kind"] == "grid":
        cell = _pair(method, "segmentation.cell", spec["cell"])
        rows = np.arange(height) // cell[0]
        cols = np.arange(width) // cell[1]
        n_cols = -(-width // cell[1])
        masks[:] = (rows[:, None] * n_cols + cols[None, :])[None, None]
        return masks

    from skimage.segmentation import slic

    n_segments = _positive_int(method, "segmentation.n_segments", spec["n_segments"])
    compactness = float(spec["compactness"])
    if compactness <= 0:
        raise _bad(method, "segmentation.compactness", f"must be > 0, got {compactness}")
    for i in range(n):
        img = np.asarray(images[i], dtype=np.float64)
        lo, hi = np.nanmin(img), np.nanmax(img)
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        if n_channels == 1:
            labels = slic(
                img[0], n_segments=n_segments, compactness=compactness, channel_axis=None, start_label=0
            )
        else:
            labels = slic(
                np.moveaxis(img, 0, -1),
                n_segments=n_segments,
                compactness=compactness,
                channel_axis=-1,
                convert2lab=False,
                start_label=0,
            )
        labels = np.unique(labels, return_inverse=True)[1].reshape(height, width)
        if labels.max() == 0 and n_segments > 1:
            # SLIC with a low compactness on a noisy image merges everything into one segment (connectivity
            # enforcement); a one-feature surrogate gives a constant map, which Quantus rejects. Fall back to
            # the grid with about n_segments cells.
            side = max(1, round(n_segments**0.5))
            cell = (-(-height // side), -(-width // side))
            labels = superpixels(images[i : i + 1], {"kind": "grid", "cell": list(cell)}, method)[0, 0]
        masks[i, 0] = labels  # consecutive ids from 0: Captum sizes its surrogate by the largest id
    return masks


def _surrogate_attribution(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int,
    perturbations_per_eval: int,
    baseline: float,
    seed: int,
    segmentation: Mapping[str, Any] | None,
    alpha: float | None = None,
) -> torch.Tensor:
    """Lime / KernelShap over superpixels, one image at a time, each seeded with ``seed``.

    We loop ourselves (Captum would loop too, but sizes every image's surrogate by the batch's largest segment
    id): each image gets its own (1, 1, H, W) mask broadcast over the channels, and the same seed, so a map
    depends on the image and the parameters only, not on its position in the batch or the chunk size. The
    torch RNG state of the caller is restored afterwards. Returns (n, 1, H, W): one coefficient per
    superpixel.
    """
    from captum.attr import KernelShap, Lime

    n_samples = _positive_int(method, "n_samples", n_samples)
    perturbations_per_eval = _positive_int(method, "perturbations_per_eval", perturbations_per_eval)
    seed = _seed_value(method, seed)
    masks = _superpixel_masks(method, inputs, segmentation)
    if method == "lime":
        from captum._utils.models.linear_model import SkLearnLasso, SkLearnLinearRegression

        if alpha is None or float(alpha) < 0:
            raise _bad(method, "alpha", f"must be >= 0, got {alpha!r}")
        surrogate = SkLearnLasso(alpha=float(alpha)) if float(alpha) > 0 else SkLearnLinearRegression()
        explainer: Any = Lime(model, interpretable_model=surrogate)
    else:
        explainer = KernelShap(model)
    maps = []
    with torch.no_grad():
        for i in range(inputs.shape[0]):
            mask = masks[i : i + 1]
            if method == "kernel_shap" and int(mask.max()) == 0:
                # One player: its Shapley value is exact, f(x) - f(baseline); Captum's sampler fails on it.
                pair = torch.cat([inputs[i : i + 1], torch.full_like(inputs[i : i + 1], float(baseline))])
                logits = model(pair)[:, int(targets[i])]
                maps.append((logits[0] - logits[1]).to(torch.float32).expand(mask.shape).clone())
                continue
            with _seeded(seed, inputs.device):
                coefs = explainer.attribute(
                    inputs[i : i + 1].detach(),
                    target=int(targets[i]),
                    baselines=float(baseline),
                    feature_mask=mask,
                    n_samples=n_samples,
                    perturbations_per_eval=perturbations_per_eval,
                    return_input_shape=False,
                )
            maps.append(coefs.reshape(-1).to(mask.device, torch.float32)[mask])
    return torch.cat(maps)


@_register("lime", "captum", "LIME: sparse linear surrogate (Lasso) over superpixels (Ribeiro et al. 2016)")
def lime(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 200,
    perturbations_per_eval: int = 64,
    baseline: float = 0.0,
    seed: int = 0,
    segmentation: Mapping[str, Any] | None = None,
    alpha: float = 0.01,
) -> torch.Tensor:
    """``alpha``: Lasso penalty of the surrogate (Captum's default 0.01; 0 gives ordinary least squares)."""
    return _surrogate_attribution(
        "lime", model, inputs, targets, n_samples, perturbations_per_eval, baseline, seed, segmentation, alpha
    )


@_register("kernel_shap", "captum", "Kernel SHAP: Shapley-kernel weighted linear surrogate over superpixels")
def kernel_shap(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 200,
    perturbations_per_eval: int = 64,
    baseline: float = 0.0,
    seed: int = 0,
    segmentation: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    return _surrogate_attribution(
        "kernel_shap", model, inputs, targets, n_samples, perturbations_per_eval, baseline, seed, segmentation
    )


def _superpixel_masks(
    method: str, inputs: torch.Tensor, segmentation: Mapping[str, Any] | None
) -> torch.Tensor:
    """(n, 1, H, W) int64 superpixel ids on the inputs' device (see :func:`superpixels`)."""
    return torch.from_numpy(superpixels(inputs.detach().cpu().numpy(), segmentation, method)).to(
        inputs.device
    )


@_register(
    "feature_ablation",
    "captum",
    "Feature ablation: logit drop when one superpixel at a time is set to a baseline",
)
def feature_ablation(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    baseline: float = 0.0,
    perturbations_per_eval: int = 16,
    segmentation: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Captum ``FeatureAblation`` with each image's own superpixel mask (``segmentation`` as for LIME): every
    pixel of a superpixel gets f(x) - f(x with the superpixel set to ``baseline``), all channels at once.
    Deterministic; one forward pass holds n x ``perturbations_per_eval`` images (Captum's meaning)."""
    from captum.attr import FeatureAblation

    perturbations_per_eval = _positive_int(
        "feature_ablation", "perturbations_per_eval", perturbations_per_eval
    )
    masks = _superpixel_masks("feature_ablation", inputs, segmentation)
    with torch.no_grad():
        attr = FeatureAblation(model).attribute(
            inputs.detach(),
            baselines=float(baseline),
            target=targets,
            feature_mask=masks,
            perturbations_per_eval=perturbations_per_eval,
        )
    return attr[:, :1]  # the mask spans the channels: every channel holds the superpixel's value


@_register(
    "shapley_value_sampling",
    "captum",
    "Shapley value sampling over superpixels: marginal logit changes along random orders (Castro 2009)",
)
def shapley_value_sampling(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 4,
    perturbations_per_eval: int = 16,
    baseline: float = 0.0,
    seed: int = 0,
    segmentation: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Captum ``ShapleyValueSampling`` with each image's superpixel mask: ``n_samples`` random orders of the
    superpixels, each adding them one at a time from the ``baseline`` image, so (k + 1) x n_samples forward
    evaluations for k superpixels, ``perturbations_per_eval`` per pass. Each image is explained on its own
    with the same ``seed`` (map independent of the batch); the caller's RNG state is restored."""
    from captum.attr import ShapleyValueSampling

    n_samples = _positive_int("shapley_value_sampling", "n_samples", n_samples)
    perturbations_per_eval = _positive_int(
        "shapley_value_sampling", "perturbations_per_eval", perturbations_per_eval
    )
    seed = _seed_value("shapley_value_sampling", seed)
    masks = _superpixel_masks("shapley_value_sampling", inputs, segmentation)
    explainer = ShapleyValueSampling(model)
    maps = []
    with torch.no_grad():
        for i in range(inputs.shape[0]):
            with _seeded(seed, inputs.device):
                attr = explainer.attribute(
                    inputs[i : i + 1].detach(),
                    baselines=float(baseline),
                    target=targets[i : i + 1],
                    feature_mask=masks[i : i + 1],
                    n_samples=n_samples,
                    perturbations_per_eval=perturbations_per_eval,
                )
            maps.append(attr[:, :1])
    return torch.cat(maps)


# ----------------------------------------------------------------------------------------------------------
# LRP (Zennit)
# ----------------------------------------------------------------------------------------------------------

LRP_COMPOSITES = ("epsilon_plus_flat", "epsilon_gamma_box", "epsilon_plus", "epsilon_alpha2_beta1")

# torchvision model classes whose structure the canonizers below handle (plain feed-forward ones need only the
# Sequential BatchNorm merge); any other torchvision.models class may hide residual sums from Zennit.
_TV_SEQUENTIAL = {"VGG", "AlexNet"}
_TV_RESNET = {"ResNet", "BasicBlock", "Bottleneck"}
_TV_DENSENET = {"DenseNet", "_DenseBlock", "_DenseLayer", "_Transition"}
_TV_EFFICIENTNET = {"EfficientNet", "MBConv", "FusedMBConv"}


def _torchvision_classes(model: nn.Module) -> dict[str, set[str]]:
    """{family: class names} of the torchvision.models classes (and their subclasses) in ``model``."""
    found: dict[str, set[str]] = {}
    for module in model.modules():
        for cls in type(module).__mro__:
            if cls.__module__.startswith("torchvision.models."):
                found.setdefault(cls.__module__.rsplit(".", 1)[-1], set()).add(cls.__name__)
                break
    return found


def _lrp_canonizers(model: nn.Module) -> list[Any]:
    """Zennit canonizers for ``model``'s architecture; :class:`MethodNotApplicable` for unknown structures.

    * any model: ``SequentialMergeBatchNorm`` merges each BatchNorm into the convolution right before it, in
      the order the children are registered (xaibench's models register them in forward order);
    * ResNet (torchvision blocks): Zennit's ``ResNetCanonizer``: the BatchNorm merge, plus a ``Sum`` module
      for each residual sum so that it gets the Norm rule (a plain ``+`` would hand the whole relevance to
      both branches);
    * DenseNet: BatchNorms are pre-activations (BN-ReLU-conv) of concatenations, so the sequential merge would
      fuse a BN into an unrelated earlier convolution (the one registered before it). Only the true pairs are
      merged (``features.conv0``/``norm0`` and each layer's ``conv1``/``norm2``); the other BNs get Zennit's
      default Pass rule (relevance passed through unchanged: conserving, like the concatenations). Needs the
      module-based head of xaibench's ``densenet121`` (torchvision's forward ends in an in-place functional
      ReLU that hooks cannot see);
    * EfficientNet: the BatchNorm merge (sequential there), a ``Sum`` module for each MBConv residual, and the
      squeeze-excitation gate ``s(x) * x`` treated as a constant scaling of ``x`` whose relevance passes to
      ``x`` unchanged (the "signal-take-all" rule for multiplicative gates, Arras et al. 2017); SiLU gets the
      Pass rule of all Zennit activations.
    """
    from zennit.canonizers import SequentialMergeBatchNorm

    if "torchvision" not in sys.modules:  # then the model holds no torchvision class
        return [SequentialMergeBatchNorm()]
    families = _torchvision_classes(model)
    known = _TV_SEQUENTIAL | _TV_RESNET | _TV_DENSENET | _TV_EFFICIENTNET
    unknown = sorted(set().union(*families.values()) - known) if families else []
    if unknown:
        raise _not_applicable(
            "lrp", model, f"no Zennit canonizer is known for the torchvision module(s) {', '.join(unknown)}"
        )
    if "resnet" in families:
        from zennit.torchvision import ResNetCanonizer

        return [ResNetCanonizer()]
    if "densenet" in families:
        return [_densenet_canonizer(model)]
    if "efficientnet" in families:
        return [SequentialMergeBatchNorm(), *_efficientnet_canonizers()]
    return [SequentialMergeBatchNorm()]


# Activations whose outputs are never negative (the inputs the z+ and alpha-beta rules are designed for).
_NONNEGATIVE_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.Sigmoid,
    nn.Softplus,
    nn.Hardsigmoid,
    nn.Softmax,
    nn.Softmax2d,
)


def _require_conserving_rules(model: nn.Module, composite: str) -> None:
    """The z+ rule (``epsilon_plus``, ``epsilon_plus_flat``) and the alpha2-beta1 rule split contributions by
    sign assuming non-negative layer inputs (ReLU networks). Where activations go negative (SiLU, GELU, ...)
    a neuron whose contributions all have the "wrong" sign loses its relevance (z+) or the split overshoots
    (alpha-beta): on a bias-free EfficientNet-B0 the map summed to 84-100% (z+) and 98-148% (alpha2-beta1) of
    the logit. The gamma rule of ``epsilon_gamma_box`` stays conserving (100%), so it is the one allowed."""
    if composite == "epsilon_gamma_box":
        return
    negative = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if isinstance(m, _activation_types()) and not isinstance(m, _NONNEGATIVE_ACTIVATIONS)
        }
    )
    if negative:
        raise _not_applicable(
            "lrp",
            model,
            f"composite {composite!r} uses rules (z+, alpha-beta) that assume non-negative activations, but "
            f"the model's {', '.join(negative)} activations go negative, so relevance is not conserved; "
            "composite 'epsilon_gamma_box' conserves it",
        )


def _densenet_canonizer(model: nn.Module) -> Any:
    from torchvision.models.densenet import DenseNet, _DenseLayer
    from zennit.canonizers import NamedMergeBatchNorm

    pairs = []
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, DenseNet):
            if type(module).forward is DenseNet.forward:
                raise _not_applicable(
                    "lrp",
                    model,
                    "torchvision's DenseNet.forward applies an in-place functional ReLU to the hooked norm5 "
                    "output; build the model with xaibench's densenet121 (module-based head)",
                )
            features = module.features
            if isinstance(getattr(features, "conv0", None), nn.Conv2d) and isinstance(
                getattr(features, "norm0", None), nn.BatchNorm2d
            ):
                pairs.append(([f"{prefix}features.conv0"], f"{prefix}features.norm0"))
        elif isinstance(module, _DenseLayer):
            pairs.append(([f"{prefix}conv1"], f"{prefix}norm2"))
    return NamedMergeBatchNorm(pairs)


def _efficientnet_canonizers() -> list[Any]:
    from torchvision.models.efficientnet import FusedMBConv, MBConv
    from torchvision.ops.misc import SqueezeExcitation
    from zennit.canonizers import AttributeCanonizer
    from zennit.layer import Sum

    def residual_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = self.canonizer_sum(torch.stack([x, self.stochastic_depth(result)], dim=-1))
        return result

    def gate_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
        # the value of s(x) * x, the gradient (hence the relevance) of x alone: the gate is a constant
        return x + (self._scale(x) * x - x).detach()

    def residual_map(name: str, module: nn.Module) -> dict[str, Any] | None:
        if isinstance(module, MBConv | FusedMBConv):
            return {"forward": residual_forward.__get__(module), "canonizer_sum": Sum()}
        return None

    def gate_map(name: str, module: nn.Module) -> dict[str, Any] | None:
        if isinstance(module, SqueezeExcitation):
            return {"forward": gate_forward.__get__(module)}
        return None

    return [AttributeCanonizer(residual_map), AttributeCanonizer(gate_map)]


@_register("lrp", "zennit", "Layer-wise Relevance Propagation with a Zennit composite (Bach et al. 2015)")
def lrp(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    composite: str = "epsilon_plus_flat",
    low: float = 0.0,
    high: float = 1.0,
    epsilon: float = 1e-6,
    output_relevance: str = "logit",
) -> torch.Tensor:
    """Relevance of the target class, propagated with ``zennit.attribution.Gradient`` and a composite.

    ``output_relevance``: ``logit`` starts from one-hot(target) x logit, so the map sums to about the target
    logit (conservation, exact without biases); ``one_hot`` starts from one-hot(target), so it sums to about
    1. ``low``/``high`` are the input range for the ZBox rule of ``epsilon_gamma_box`` (ignored otherwise).
    Canonizers per architecture: see :func:`_lrp_canonizers` (``SequentialMergeBatchNorm`` for plain CNNs, a
    no-op without BatchNorm). The hooks and canonizers are removed on exit, also on errors.
    """
    from zennit import composites as zc
    from zennit.attribution import Gradient

    if composite not in LRP_COMPOSITES:
        raise _bad("lrp", "composite", f"must be one of {list(LRP_COMPOSITES)}, got {composite!r}")
    if output_relevance not in ("logit", "one_hot"):
        raise _bad("lrp", "output_relevance", f"must be 'logit' or 'one_hot', got {output_relevance!r}")
    model = _without_inplace(model)
    canonizers = _lrp_canonizers(model)
    _require_conserving_rules(model, composite)
    eps = float(epsilon)
    if composite == "epsilon_gamma_box":
        if not float(low) < float(high):
            raise _bad("lrp", "low", f"must be below high, got low={low!r}, high={high!r}")
        comp: Any = zc.EpsilonGammaBox(
            low=torch.full_like(inputs, float(low)),
            high=torch.full_like(inputs, float(high)),
            epsilon=eps,
            canonizers=canonizers,
        )
    elif composite == "epsilon_plus_flat":
        comp = zc.EpsilonPlusFlat(epsilon=eps, canonizers=canonizers)
    elif composite == "epsilon_plus":
        comp = zc.EpsilonPlus(epsilon=eps, canonizers=canonizers)
    else:
        comp = zc.EpsilonAlpha2Beta1(epsilon=eps, canonizers=canonizers)

    def start(output: torch.Tensor) -> torch.Tensor:
        one_hot = torch.zeros_like(output)
        one_hot[torch.arange(output.shape[0], device=output.device), targets] = 1.0
        return one_hot * output.detach() if output_relevance == "logit" else one_hot

    with Gradient(model=model, composite=comp) as attributor:
        _, relevance = attributor(_grad_input(inputs), start)
    return relevance.detach()


# ----------------------------------------------------------------------------------------------------------
# Controls
# ----------------------------------------------------------------------------------------------------------


@_register(
    "random", "control", "Control: uniform random map, a deterministic function of the seed and the image"
)
def random(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """U(0, 1) per pixel, from a generator seeded with (seed, hash of the image's bytes).

    Model-independent by construction (MPRT must find it unchanged); identical for an image whatever its
    position in the batch or the chunk size.
    """
    del model, targets
    seed = _seed_value("random", seed)
    images = inputs.detach().to("cpu", torch.float32).numpy()
    maps = np.empty((images.shape[0], 1, *images.shape[2:]), dtype=np.float32)
    for i, image in enumerate(images):
        digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=8).digest()
        rng = np.random.default_rng([seed, int.from_bytes(digest, "little")])
        maps[i, 0] = rng.random(image.shape[1:], dtype=np.float32)
    return torch.from_numpy(maps).to(inputs.device)


@_register(
    "sobel", "control", "Control: Sobel edge magnitude of the input, summed over channels (model-free)"
)
def sobel(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per channel the same as ``skimage.filters.sobel(image, mode="nearest")``: sqrt((gx^2 + gy^2) / 2)
    with kernels scaled by 1/4 and replicated borders. Computed separably in torch (smooth with [1, 2, 1],
    then take differences) so that flat regions give exact zeros and skimage need not be imported.
    """
    del model, targets
    x = inputs.detach().to(torch.float32)
    n, n_channels, height, width = x.shape
    p = nn.functional.pad(x.reshape(n * n_channels, 1, height, width), (1, 1, 1, 1), mode="replicate")[:, 0]
    smooth_rows = p[:, :-2, :] + 2 * p[:, 1:-1, :] + p[:, 2:, :]  # (m, H, W + 2)
    smooth_cols = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]  # (m, H + 2, W)
    gx = (smooth_rows[:, :, 2:] - smooth_rows[:, :, :-2]) / 4
    gy = (smooth_cols[:, 2:, :] - smooth_cols[:, :-2, :]) / 4
    magnitude = torch.sqrt((gx * gx + gy * gy) / 2)
    return magnitude.reshape(n, n_channels, height, width).sum(dim=1, keepdim=True)


# ----------------------------------------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------------------------------------


def method_params(name: str) -> dict[str, Any]:
    """The parameters of method ``name`` and their defaults (for docs, configs and provenance records)."""
    signature = inspect.signature(METHODS.get(name).fn)
    return {p.name: p.default for p in list(signature.parameters.values())[3:]}


def _check_params(name: str, params: Mapping[str, Any]) -> None:
    allowed = method_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        listed = ", ".join(repr(p) for p in unknown)
        raise ValueError(
            f"method {name!r}: unknown parameter(s) {listed}; allowed: {sorted(allowed) or '(none)'}"
        )


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in model.parameters():
        return tensor.device, tensor.dtype
    for tensor in model.buffers():
        return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def explain(
    name: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int = 64,
    **params: Any,
) -> np.ndarray:
    """Explain ``inputs`` (N, C, H, W) for class indices ``targets`` (N,) -> float32 (N, 1, H, W).

    Inputs are processed in chunks of ``batch_size``; channels are reduced by summing over the channel axis;
    non-finite values are kept. The model is put in eval mode for the call (its previous mode is restored) and
    never modified. Unknown parameters raise ``ValueError`` naming the method and the parameter; an unknown
    method raises ``KeyError`` listing the known ones.
    """
    spec = METHODS.get(name)
    _check_params(name, params)
    batch_size = _positive_int(name, "batch_size", batch_size)
    device, dtype = _model_device_dtype(model)
    x = torch.as_tensor(inputs).to(device=device, dtype=dtype)
    if x.ndim != 4:
        raise ValueError(f"method {name!r}: inputs must be (N, C, H, W), got shape {tuple(x.shape)}")
    y = torch.as_tensor(targets).to(device=device, dtype=torch.long).reshape(-1)
    if y.numel() == 1 and x.shape[0] != 1:
        y = y.expand(x.shape[0])
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"method {name!r}: {x.shape[0]} inputs but {y.shape[0]} targets")
    out = np.empty((x.shape[0], 1, *x.shape[2:]), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start : start + batch_size]
            attr = spec.fn(model, chunk, y[start : start + batch_size], **params)
            if attr.ndim != 4 or attr.shape[0] != chunk.shape[0] or attr.shape[2:] != chunk.shape[2:]:
                raise RuntimeError(
                    f"method {name!r} returned shape {tuple(attr.shape)} for inputs {tuple(chunk.shape)}"
                )
            attr = attr.detach().to(torch.float32)
            if attr.shape[1] != 1:
                attr = attr.sum(dim=1, keepdim=True)
            out[start : start + chunk.shape[0]] = attr.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def quantus_explain_func(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
    """Quantus ``explain_func``: numpy (or tensor) inputs/targets -> float32 numpy (N, 1, H, W).

    ``kwargs``: ``method`` (registry name, required), optional ``batch_size`` (64), optional ``device``
    (accepted because Quantus injects it, but the inputs always go to the device of the ``model`` passed in:
    under MPRT that is Quantus's randomised copy), and the method's own parameters. A Quantus
    ``ModelInterface`` is unwrapped to its torch model.
    """
    params = dict(kwargs)
    name = params.pop("method", None)
    if name is None:
        raise ValueError("quantus_explain_func needs explain_func_kwargs['method'] (a registry name)")
    batch_size = params.pop("batch_size", 64)
    params.pop("device", None)
    if not isinstance(model, nn.Module) and hasattr(model, "get_model"):
        model = model.get_model()
    x = torch.from_numpy(np.asarray(inputs)) if not isinstance(inputs, torch.Tensor) else inputs
    y = torch.from_numpy(np.asarray(targets)) if not isinstance(targets, torch.Tensor) else targets
    return explain(name, model, x, y, batch_size=batch_size, **params)


# CAM-family methods (CAM, Grad-CAM++, Score-CAM) register themselves from their own module.
from xaibench import methods_cam  # noqa: E402, F401
