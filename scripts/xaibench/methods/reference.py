"""Methods against a reference input (Captum): ``integrated_gradients``, ``deeplift``, ``gradient_shap``,
``deeplift_shap``, and :func:`baseline_distribution`, the reference distribution of the SHAP methods.

``deeplift`` and ``deeplift_shap`` need every non-linearity to be a Captum-supported module used once per
forward pass (:class:`~xaibench.methods.MethodNotApplicable` otherwise). The SHAP methods explain each image
on its own with the same seed, so its map depends on the image and the parameters only, not on its position
in the batch or the chunk size; the batching is over the baselines (and samples) of one image. Noise scales
are fractions of the image's value range (max - min over all channels).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from xaibench.methods.core import activation_types, grad_input, not_applicable, register, without_inplace
from xaibench.methods.params import (
    bad_param,
    nonnegative_float,
    per_image,
    positive_int,
    seed_value,
    separable_gaussian_blur,
    value_range,
)


@register(
    "integrated_gradients",
    library="captum",
    description=(
        "Integrated Gradients from a constant baseline, Gauss-Legendre steps (Sundararajan et al. 2017)"
    ),
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

    n_steps = positive_int("integrated_gradients", "n_steps", n_steps)
    if internal_batch_size is not None:
        internal_batch_size = positive_int("integrated_gradients", "internal_batch_size", internal_batch_size)
        # Captum needs at least one step per example in each internal batch (it warns and uses 2 otherwise).
        internal_batch_size = max(internal_batch_size, 2 * inputs.shape[0])
    return IntegratedGradients(model).attribute(
        grad_input(inputs),
        baselines=float(baseline),
        target=targets,
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
    )


@register(
    "deeplift",
    library="captum",
    description="DeepLIFT (Rescale rule) against a constant baseline (Shrikumar et al. 2017)",
)
def deeplift(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, baseline: float = 0.0
) -> torch.Tensor:
    """Needs distinct activation modules (Captum refuses a ReLU used twice; xaibench's models have them) of
    types Captum has a DeepLIFT rule for: see :func:`_require_deeplift_rules`."""
    from captum.attr import DeepLift

    model = without_inplace(model)
    _require_deeplift_rules(model, inputs)
    return DeepLift(model).attribute(grad_input(inputs), baselines=float(baseline), target=targets)


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
            if isinstance(m, activation_types()) and type(m) not in SUPPORTED_NON_LINEAR
        }
    )
    if unsupported:
        raise not_applicable(
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
        raise not_applicable(
            method,
            model,
            f"module(s) {', '.join(reused)} are called more than once per forward pass (e.g. torchvision's "
            "ResNet blocks reuse self.relu); Captum's DeepLift needs one module per use "
            "(xaibench's resnet builders provide that)",
        )


BASELINE_KINDS = ("zero", "uniform", "blur", "mixed")


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (1, C, H, W) with standard deviation ``sigma`` px (radius 3 sigma), replicated
    borders."""
    return separable_gaussian_blur(image, sigma, max(1, int(np.ceil(3 * sigma))), "replicate")


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
        raise bad_param(method, "baselines", f"must be one of {list(BASELINE_KINDS)}, got {baselines!r}")
    return baselines, positive_int(method, "n_baselines", n_baselines), seed_value(method, seed)


@register(
    "gradient_shap",
    library="captum",
    description=(
        "GradientSHAP: expected gradients x (input - baseline) from a baseline distribution (Lundberg 2017)"
    ),
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
    n_samples = positive_int("gradient_shap", "n_samples", n_samples)
    stdevs = nonnegative_float("gradient_shap", "stdevs", stdevs)
    kind, n_baselines, seed = _baselines_params("gradient_shap", baselines, n_baselines, seed)
    from captum.attr import GradientShap

    explainer = GradientShap(model)
    return per_image(
        inputs,
        seed,
        lambda i, image: explainer.attribute(
            image,
            baselines=baseline_distribution(image, kind, n_baselines, seed),
            n_samples=n_samples,
            stdevs=stdevs * value_range(image),
            target=targets[i : i + 1],
        ),
    )


@register(
    "deeplift_shap",
    library="captum",
    description="DeepLIFT-SHAP: DeepLIFT averaged over a baseline distribution (Lundberg & Lee 2017)",
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
        raise bad_param(
            "deeplift_shap",
            "baselines",
            f"must give at least 2 baselines (got baselines={baselines!r}, n_baselines={n_baselines}); "
            "for a single baseline use method 'deeplift'",
        )
    from captum.attr import DeepLiftShap

    model = without_inplace(model)
    _require_deeplift_rules(model, inputs, "deeplift_shap")
    explainer = DeepLiftShap(model)
    maps = []
    for i in range(inputs.shape[0]):
        image = inputs[i : i + 1].detach()
        reference = baseline_distribution(image, kind, n_baselines, seed)
        maps.append(explainer.attribute(image, baselines=reference, target=targets[i : i + 1]))
    return torch.cat(maps)
