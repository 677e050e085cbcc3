"""Layer-wise Relevance Propagation (Zennit): ``lrp``.

Captum's LRP has no rule for ``nn.Flatten`` and gives ~1e16 on residual networks, hence Zennit. Canonizers
come from the model's architecture (:func:`xaibench.models.traits.lrp_canonizers`); with activations that go
negative (EfficientNet's SiLU) only composite ``epsilon_gamma_box`` conserves relevance, and the z+ /
alpha-beta composites raise :class:`~xaibench.methods.MethodNotApplicable`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xaibench.methods.core import activation_types, grad_input, not_applicable, register, without_inplace
from xaibench.methods.params import bad_param
from xaibench.models.traits import ArchitectureNotSupported, lrp_canonizers

LRP_COMPOSITES = ("epsilon_plus_flat", "epsilon_gamma_box", "epsilon_plus", "epsilon_alpha2_beta1")


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
            if isinstance(m, activation_types()) and not isinstance(m, _NONNEGATIVE_ACTIVATIONS)
        }
    )
    if negative:
        raise not_applicable(
            "lrp",
            model,
            f"composite {composite!r} uses rules (z+, alpha-beta) that assume non-negative activations, but "
            f"the model's {', '.join(negative)} activations go negative, so relevance is not conserved; "
            "composite 'epsilon_gamma_box' conserves it",
        )


@register(
    "lrp",
    library="zennit",
    description="Layer-wise Relevance Propagation with a Zennit composite (Bach et al. 2015)",
)
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
    Canonizers per architecture: see :func:`xaibench.models.traits.lrp_canonizers`
    (``SequentialMergeBatchNorm`` for plain CNNs, a no-op without BatchNorm). The hooks and canonizers are
    removed on exit, also on errors.
    """
    from zennit import composites as zc
    from zennit.attribution import Gradient

    if composite not in LRP_COMPOSITES:
        raise bad_param("lrp", "composite", f"must be one of {list(LRP_COMPOSITES)}, got {composite!r}")
    if output_relevance not in ("logit", "one_hot"):
        raise bad_param("lrp", "output_relevance", f"must be 'logit' or 'one_hot', got {output_relevance!r}")
    model = without_inplace(model)
    try:
        canonizers = lrp_canonizers(model)
    except ArchitectureNotSupported as exc:
        raise not_applicable("lrp", model, str(exc)) from exc
    _require_conserving_rules(model, composite)
    eps = float(epsilon)
    if composite == "epsilon_gamma_box":
        if not float(low) < float(high):
            raise bad_param("lrp", "low", f"must be below high, got low={low!r}, high={high!r}")
        comp: Any = zc.EpsilonGammaBox(
            low=float(low),  # scalars: Zennit broadcasts them to the first layer's input (a Conv1d's too)
            high=float(high),
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
        _, relevance = attributor(grad_input(inputs), start)
    return relevance.detach()
