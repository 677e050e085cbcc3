"""torchvision architectures for xaibench: ``resnet18``, ``resnet50``, ``densenet121``, ``efficientnet_b0``.

The package :mod:`xaibench.models` imports this module, which registers them into its ``MODELS`` with the
usual builder signature ``(in_channels, num_classes, image_size, **params)``. Every model is adapted to the
dataset and trained from scratch unless a local weights file is given (no download ever happens: ``weights``
is a path, never a hub name):

* the first convolution takes ``in_channels``; the classifier has ``num_classes`` outputs;
* ``small_input`` (``"auto"``: ``image_size < 96``) swaps the ImageNet stem for a CIFAR-style one, so 32x32
  inputs keep their resolution: ResNet and DenseNet get a 3x3 stride-1 first convolution and no initial
  max-pool, EfficientNet a stride-1 stem and a stride-1 second stage. All three then reduce the input 8x
  (32x32 -> a 4x4 final feature map; the ImageNet stems reduce 32x: 64x64 -> 2x2);
* ``weights``: path of a local ``state_dict`` (a plain one, an xaibench ``model.pt``, or a dict holding it
  under ``state_dict``/``model``/``model_state_dict``) to fine-tune from. First-convolution and classifier
  tensors whose shapes do not fit (other channel count, stem or class count) are skipped with a logged note;
  any other mismatch is an error naming the file;
* ``finetune``: ``"all"`` (default) trains every parameter; ``"last_layer"`` (seed 003: only the last layer
  of a ResNet was fine-tuned) freezes everything but the classifier: ``requires_grad=False`` and the frozen
  body stays in eval mode under ``model.train()``, so its BatchNorm statistics, dropout and stochastic depth
  are frozen too; only the classifier changes when training.

Explainability-friendly rewrites, all numerically identical to torchvision's forward passes and with the same
``state_dict`` keys (so torchvision checkpoints load): every activation is its own, non-inplace module, used
once (Captum's DeepLift refuses a reused ReLU; backward hooks fail on in-place outputs; Guided Backprop only
guides ``nn.ReLU`` modules). ResNet blocks get a second ReLU module for the output of the residual sum
(torchvision reuses ``self.relu``); DenseNet's final functional ReLU / pooling / flatten become modules
(``features.relu5``, ``avgpool``, ``flatten``).

CAM layers (``model.cam_layer_name``): the last feature map, after its activation: ResNet ``layer4`` (the
last block's output ReLU), DenseNet ``features.relu5`` (ReLU of ``norm5``), EfficientNet ``features.8`` (the
final 1x1 conv + BN + SiLU).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xaibench.models.core import register

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

__all__ = ["FINETUNE_MODES", "SMALL_INPUT_BELOW", "TORCHVISION_MODELS", "classifier_name", "first_conv_name"]

SMALL_INPUT_BELOW = 96  # image_size below which small_input="auto" picks the CIFAR-style stem
FINETUNE_MODES = ("all", "last_layer")


# ----------------------------------------------------------------------------------------------------------
# Architecture pieces
# ----------------------------------------------------------------------------------------------------------


class _FreezableBody:
    """Mixin: with ``_frozen_body`` set, ``train()`` keeps everything but the classifier in eval mode."""

    _frozen_body: bool = False
    classifier_name: str = "classifier"

    def train(self, mode: bool = True) -> Any:
        super().train(mode)  # type: ignore[misc]
        if mode and self._frozen_body:
            for module in self.modules():  # type: ignore[attr-defined]
                module.training = False
            self.get_submodule(self.classifier_name).train(True)  # type: ignore[attr-defined]
        return self


@functools.cache
def _classes() -> dict[str, type[nn.Module]]:
    """The torchvision subclasses, created on first use: ``import torchvision.models`` costs ~1.7 s, which
    jobs that only import :mod:`xaibench.models` (e.g. for ``small_cnn``) should not pay."""
    from torch import nn
    from torchvision.models.densenet import DenseNet
    from torchvision.models.efficientnet import EfficientNet
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    class ResNetBasicBlock(BasicBlock):
        """torchvision's BasicBlock with its own ReLU module after the residual sum (torchvision reuses
        ``self.relu``). ``relu_out`` is registered last, so the children stay in forward order for Zennit's
        ``SequentialMergeBatchNorm`` (conv1-bn1, conv2-bn2, downsample conv-bn); Zennit's ``ResNetCanonizer``
        swaps ``forward`` for its own (which uses ``self.relu`` twice: fine for LRP)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.relu = nn.ReLU()
            self.relu_out = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu_out(out + identity)

    class ResNetBottleneck(Bottleneck):
        """torchvision's Bottleneck with three distinct ReLU modules (torchvision reuses ``self.relu``)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.relu = nn.ReLU()
            self.relu2 = nn.ReLU()
            self.relu_out = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu2(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu_out(out + identity)

    class TVResNet(_FreezableBody, ResNet):
        classifier_name = "fc"

    class TVDenseNet(_FreezableBody, DenseNet):
        """torchvision's DenseNet whose head is made of modules: ``features.relu5`` (torchvision applies
        an in-place functional ReLU after ``norm5``), ``avgpool``, ``flatten``, ``classifier``
        (re-registered last, so the children are in forward order)."""

        classifier_name = "classifier"

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.features.add_module("relu5", nn.ReLU())
            classifier = self.classifier
            del self.classifier
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten(1)
            self.classifier = classifier

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.flatten(self.avgpool(self.features(x))))

    class TVEfficientNet(_FreezableBody, EfficientNet):
        classifier_name = "classifier"

    classes = {
        cls.__name__: cls
        for cls in (ResNetBasicBlock, ResNetBottleneck, TVResNet, TVDenseNet, TVEfficientNet)
    }
    for name, cls in classes.items():  # picklable by name (module __getattr__ below)
        cls.__module__ = __name__
        cls.__qualname__ = name
    return classes


def __getattr__(name: str) -> Any:
    if name in ("ResNetBasicBlock", "ResNetBottleneck", "TVResNet", "TVDenseNet", "TVEfficientNet"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _no_inplace(model: nn.Module) -> None:
    for module in model.modules():
        if getattr(module, "inplace", False):
            module.inplace = False


def _new_conv(old: nn.Conv2d, in_channels: int, kernel: int, stride: int, mode: str) -> nn.Conv2d:
    """A first convolution for ``in_channels``, initialised like torchvision's (Kaiming normal, ``mode``)."""
    from torch import nn

    conv = nn.Conv2d(
        in_channels,
        old.out_channels,
        kernel,
        stride=stride,
        padding=kernel // 2,
        bias=old.bias is not None,
    )
    nn.init.kaiming_normal_(conv.weight, mode=mode, nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


# ----------------------------------------------------------------------------------------------------------
# Builders of the bare architectures: (in_channels, num_classes, small) -> model
# ----------------------------------------------------------------------------------------------------------


def _resnet(block: str, layers: list[int]) -> Callable[[int, int, bool], nn.Module]:
    def build(in_channels: int, num_classes: int, small: bool) -> nn.Module:
        from torch import nn

        classes = _classes()
        model = classes["TVResNet"](classes[block], layers, num_classes=num_classes)
        if small:
            model.conv1 = _new_conv(model.conv1, in_channels, 3, 1, "fan_out")
            model.maxpool = nn.Identity()
        elif in_channels != 3:
            model.conv1 = _new_conv(model.conv1, in_channels, 7, 2, "fan_out")
        model.relu = nn.ReLU()
        model.cam_layer_name = "layer4"
        return model

    return build


def _densenet121(in_channels: int, num_classes: int, small: bool) -> nn.Module:
    from torch import nn

    model = _classes()["TVDenseNet"](
        growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, num_classes=num_classes
    )
    if small:
        model.features.conv0 = _new_conv(model.features.conv0, in_channels, 3, 1, "fan_in")
        model.features.pool0 = nn.Identity()
    elif in_channels != 3:
        model.features.conv0 = _new_conv(model.features.conv0, in_channels, 7, 2, "fan_in")
    model.cam_layer_name = "features.relu5"
    return model


# EfficientNet-B0 (width 1.0, depth 1.0): expand ratio, kernel, stride, in, out, layers (torchvision's table).
_B0 = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]


def _efficientnet_b0(in_channels: int, num_classes: int, small: bool) -> nn.Module:
    from torchvision.models.efficientnet import MBConvConfig

    setting = [MBConvConfig(*row, width_mult=1.0, depth_mult=1.0) for row in _B0]
    if small:
        setting[1].stride = 1  # with the stride-1 stem: total stride 8 like the CIFAR ResNet/DenseNet
    model = _classes()["TVEfficientNet"](
        setting, dropout=0.2, stochastic_depth_prob=0.2, num_classes=num_classes
    )
    if small or in_channels != 3:
        model.features[0][0] = _new_conv(model.features[0][0], in_channels, 3, 1 if small else 2, "fan_out")
    model.cam_layer_name = f"features.{len(model.features) - 1}"
    return model


_ARCHITECTURES: dict[str, tuple[Callable[[int, int, bool], nn.Module], str]] = {
    "resnet18": (_resnet("ResNetBasicBlock", [2, 2, 2, 2]), "conv1"),
    "resnet50": (_resnet("ResNetBottleneck", [3, 4, 6, 3]), "conv1"),
    "densenet121": (_densenet121, "features.conv0"),
    "efficientnet_b0": (_efficientnet_b0, "features.0.0"),
}
TORCHVISION_MODELS = tuple(_ARCHITECTURES)


def first_conv_name(architecture: str) -> str:
    """Name of the first convolution of a registry architecture (adapted to ``in_channels``)."""
    return _ARCHITECTURES[architecture][1]


def classifier_name(model: nn.Module) -> str:
    """Name of the classifier submodule (the part ``finetune="last_layer"`` trains)."""
    return model.classifier_name


# ----------------------------------------------------------------------------------------------------------
# Weights, fine-tuning
# ----------------------------------------------------------------------------------------------------------

# torchvision's old DenseNet checkpoints name layers "norm.1", not "norm1" (torchvision remaps them too).
_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _read_state_dict(path: str) -> dict[str, torch.Tensor]:
    import torch

    if not os.path.isfile(path):
        raise ValueError(f"weights file {path!r} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot load weights from {path!r}: {exc}") from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"weights file {path!r} holds no state_dict (a dict of tensors)")
    state = {}
    for key, value in obj.items():
        key = key.removeprefix("module.")  # saved from DataParallel
        match = _DENSENET_LEGACY.match(key)
        state[match.group(1) + match.group(2) if match else key] = value
    return state


def _load_weights(model: nn.Module, architecture: str, path: str) -> None:
    """Load ``path`` into ``model``; shape-mismatching first-conv/classifier tensors are skipped (logged)."""
    state = _read_state_dict(path)
    own = model.state_dict()
    adaptable = (first_conv_name(architecture) + ".", classifier_name(model) + ".")
    skipped, problems = [], []
    for key, value in state.items():
        if key not in own:
            problems.append(f"unexpected {key}")
        elif value.shape != own[key].shape:
            if key.startswith(adaptable):
                skipped.append(f"{key} {tuple(value.shape)} -> {tuple(own[key].shape)}")
            else:
                problems.append(f"{key} has shape {tuple(value.shape)}, the model {tuple(own[key].shape)}")
    missing = sorted(set(own) - set(state))
    problems += [f"missing {key}" for key in missing]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} in all)" if len(problems) > 5 else "")
        raise ValueError(f"weights file {path!r} does not fit {architecture}: {shown}")
    keep = {k: v for k, v in state.items() if v.shape == own[k].shape}
    model.load_state_dict(keep, strict=False)
    if skipped:
        log.info(
            "%s: loaded %d tensors from %s; kept the fresh initialisation of %d whose shapes differ: %s",
            architecture,
            len(keep),
            path,
            len(skipped),
            ", ".join(skipped),
        )
    else:
        log.info("%s: loaded all %d tensors from %s", architecture, len(keep), path)


def _freeze_body(model: nn.Module) -> None:
    head = model.get_submodule(classifier_name(model))
    head_params = {id(p) for p in head.parameters()}
    for param in model.parameters():
        param.requires_grad_(id(param) in head_params)
    model._frozen_body = True
    model.train(model.training)


def _small_input(value: Any, image_size: int) -> bool:
    if value == "auto":
        return image_size < SMALL_INPUT_BELOW
    if isinstance(value, bool):
        return value
    raise ValueError(f"small_input must be 'auto', true or false, got {value!r}")


def _builder(architecture: str) -> Callable[..., nn.Module]:
    build, _ = _ARCHITECTURES[architecture]

    def builder(
        in_channels: int,
        num_classes: int,
        image_size: int,
        weights: str | None = None,
        finetune: str = "all",
        small_input: bool | str = "auto",
    ) -> nn.Module:
        if finetune not in FINETUNE_MODES:
            raise ValueError(f"finetune must be one of {list(FINETUNE_MODES)}, got {finetune!r}")
        small = _small_input(small_input, image_size)
        model = build(in_channels, num_classes, small)
        _no_inplace(model)
        if weights is not None:
            _load_weights(model, architecture, os.fspath(weights))
        elif finetune == "last_layer":
            log.warning(
                "%s: finetune='last_layer' without weights trains a head on random features", architecture
            )
        if finetune == "last_layer":
            _freeze_body(model)
        return model

    builder.__name__ = architecture
    builder.__qualname__ = architecture
    builder.__doc__ = (
        f"torchvision {architecture} for (in_channels, image_size, image_size) inputs, num_classes outputs; "
        "see xaibench.models.torchvision_models for weights, finetune and small_input."
    )
    return builder


for _name in _ARCHITECTURES:
    register(_name)(_builder(_name))
