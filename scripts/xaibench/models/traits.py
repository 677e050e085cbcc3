"""What explanation methods must know about an architecture, kept with the models: which Zennit canonizers
(:func:`lrp_canonizers`) make LRP follow a model's real structure (residual sums, concatenations, BatchNorms,
multiplicative gates).

:mod:`xaibench.methods.lrp` calls :func:`lrp_canonizers` and turns :class:`ArchitectureNotSupported` into a
``MethodNotApplicable``. torchvision and zennit are imported only when a canonizer is built.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = ["ArchitectureNotSupported", "lrp_canonizers"]


class ArchitectureNotSupported(Exception):
    """The model's structure is not one this module knows how to handle, for the reason in the message."""


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


def lrp_canonizers(model: nn.Module) -> list[Any]:
    """Zennit canonizers for ``model``'s architecture; :class:`ArchitectureNotSupported` for unknown
    structures.

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
        raise ArchitectureNotSupported(
            f"no Zennit canonizer is known for the torchvision module(s) {', '.join(unknown)}"
        )
    if "resnet" in families:
        from zennit.torchvision import ResNetCanonizer

        return [ResNetCanonizer()]
    if "densenet" in families:
        return [_densenet_canonizer(model)]
    if "efficientnet" in families:
        return [SequentialMergeBatchNorm(), *_efficientnet_canonizers()]
    return [SequentialMergeBatchNorm()]


def _densenet_canonizer(model: nn.Module) -> Any:
    from torch import nn
    from torchvision.models.densenet import DenseNet, _DenseLayer
    from zennit.canonizers import NamedMergeBatchNorm

    pairs = []
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, DenseNet):
            if type(module).forward is DenseNet.forward:
                raise ArchitectureNotSupported(
                    "torchvision's DenseNet.forward applies an in-place functional ReLU to the hooked norm5 "
                    "output; build the model with xaibench's densenet121 (module-based head)"
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
    import torch
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
