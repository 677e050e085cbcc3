"""Modified back-propagation (Captum): ``guided_backprop``, ``deconvolution``, ``guided_gradcam``.

All three need a ReLU network (:class:`~xaibench.methods.MethodNotApplicable` otherwise): they only modify
the backward pass of ``nn.ReLU`` modules, and would pass e.g. EfficientNet's SiLU gradients through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from xaibench.methods.core import (
    activation_types,
    cam_layer,
    grad_input,
    named,
    not_applicable,
    register,
    without_inplace,
)

# Normalising output layers: Guided Backprop/DeconvNet are unaffected by them.
_OUTPUT_ACTIVATIONS = (nn.Softmax, nn.LogSoftmax, nn.Softmax2d)


def _require_relu_network(method: str, model: nn.Module) -> None:
    """Guided Backprop and DeconvNet are defined for ReLU networks; Captum modifies nn.ReLU modules only."""
    others = sorted(
        {
            type(m).__name__
            for m in model.modules()
            if isinstance(m, activation_types()) and not isinstance(m, (nn.ReLU, *_OUTPUT_ACTIVATIONS))
        }
    )
    if others:
        raise not_applicable(
            method,
            model,
            "it is defined for ReLU networks and overrides the gradients of nn.ReLU modules only; the "
            f"model's {', '.join(others)} activations would back-propagate plain gradients",
        )
    if not any(isinstance(m, nn.ReLU) for m in model.modules()):
        raise not_applicable(
            method, model, "the model has no nn.ReLU module (functional ReLUs are invisible to Captum)"
        )


def _relu_backprop_method(method: str, captum_class: str) -> Callable[..., torch.Tensor]:
    """Method ``method``: Captum's ``captum_class`` (GuidedBackprop or Deconvolution) on a ReLU network."""

    def explain(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import captum.attr

        _require_relu_network(method, model)
        explainer = getattr(captum.attr, captum_class)(without_inplace(model))
        return explainer.attribute(grad_input(inputs), target=targets)

    return named(explain, method, "Needs a ReLU network (:class:`MethodNotApplicable` otherwise).")


guided_backprop = register(
    "guided_backprop",
    library="captum",
    description="Guided Backpropagation: ReLU gradients clipped at zero (Springenberg 2015)",
)(_relu_backprop_method("guided_backprop", "GuidedBackprop"))

deconvolution = register(
    "deconvolution",
    library="captum",
    description="Deconvolution (DeconvNet): ReLU applied to the backward signal (Zeiler 2014)",
)(_relu_backprop_method("deconvolution", "Deconvolution"))


@register(
    "guided_gradcam",
    library="captum",
    description="Guided Grad-CAM: Guided Backprop times upsampled Grad-CAM (Selvaraju 2017)",
)
def guided_gradcam(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, interpolate_mode: str = "nearest"
) -> torch.Tensor:
    """Needs a ReLU network (:class:`MethodNotApplicable` otherwise), like Guided Backprop."""
    from captum.attr import GuidedGradCam

    _require_relu_network("guided_gradcam", model)
    model = without_inplace(model)
    return GuidedGradCam(model, cam_layer("guided_gradcam", model)).attribute(
        grad_input(inputs), target=targets, interpolate_mode=interpolate_mode
    )
