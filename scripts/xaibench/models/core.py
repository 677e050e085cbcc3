"""Model registry: ``build_model(name, ...)`` returns an ``nn.Module`` for a dataset's shape.

Builders register with :func:`register`; each sets ``model.cam_layer_name``: the convolutional layer that
CAM-family methods (GradCAM, GuidedGradCam) read. Activations are distinct modules (never one ReLU reused),
which Captum's DeepLift and Zennit's rule assignment require.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from xaibench.registry import Registry

if TYPE_CHECKING:  # torch is imported where a model is built, saved or loaded: the workflow's parse needs
    import torch  # only the registry (names, modalities)
    from torch import nn

ModelBuilder = Callable[..., "nn.Module"]
MODELS: Registry[ModelBuilder] = Registry("model")
_MODALITIES: dict[str, tuple[str, ...]] = {}  # architecture -> the data modalities it takes


def register(name: str, modalities: tuple[str, ...] = ("image",)) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering a builder ``(in_channels, num_classes, image_size, **params) -> nn.Module``
    under ``name`` (a duplicate name is an error) for inputs of ``modalities`` ("image" (N, C, H, W),
    "series" (N, C, 1, L), "table" (N, 1, 1, F); ``image_size`` is H, L or F). The builder must set
    ``model.cam_layer_name`` (None: the model has no convolutional layer, CAM methods do not apply)."""
    decorator = MODELS.register(name)
    _MODALITIES[name] = tuple(modalities)
    return decorator


def model_modalities(name: str) -> tuple[str, ...]:
    """The data modalities architecture ``name`` takes (an unknown name lists the known ones)."""
    MODELS.get(name)
    return _MODALITIES[name]


def build_model(name: str, in_channels: int, num_classes: int, image_size: int, **params: Any) -> nn.Module:
    """Build registry entry ``name`` for inputs of shape (in_channels, image_size, image_size).

    The 4-D weights (2-D convolutions) are stored channels-last, so that oneDNN runs the convolutions with
    its NHWC kernels: on one CPU thread the default small CNN's forward pass is ~2x as fast as with the
    default (NCHW) layout at 32x32 and 64x64, an input gradient ~1.25x and a training step ~1.35x
    (``tools/benchmark.py layout``). Logits agree with the default layout's to float rounding; a saved
    state_dict loads into either layout. Other weights (1-D convolutions, linear layers) are left as
    they are."""
    import torch

    builder = MODELS.get(name)
    try:
        model = builder(in_channels=in_channels, num_classes=num_classes, image_size=image_size, **params)
    except TypeError as exc:
        raise ValueError(f"model {name!r}: bad parameters {params}: {exc}") from exc
    return model.to(memory_format=torch.channels_last)


def conv_stages(
    conv: Callable[..., nn.Module],
    norm: Callable[[int], nn.Module],
    pool: Callable[[int], nn.Module],
    in_channels: int,
    width: int,
    stages: int,
    batch_norm: bool,
    **conv_args: Any,
) -> tuple[list[nn.Module], int]:
    """VGG-style stages of 2x (``conv``, ``norm`` when ``batch_norm``, ReLU), width doubling per stage (capped
    at 8x), ``pool(2)`` between stages: the layers and the channels they end with (``small_cnn``: 2-D,
    ``cnn1d``: 1-D). The modules are created in order, so a seeded build initialises them the same way
    every time."""
    from torch import nn

    layers: list[nn.Module] = []
    channels = in_channels
    for stage in range(stages):
        out = width * 2 ** min(stage, 3)
        for _ in range(2):
            layers.append(conv(channels, out, bias=not batch_norm, **conv_args))
            if batch_norm:
                layers.append(norm(out))
            layers.append(nn.ReLU())
            channels = out
        if stage < stages - 1:
            layers.append(pool(2))
    return layers, channels


def gap_linear_model(layers: list[nn.Module], channels: int, num_classes: int, dropout: float) -> nn.Module:
    """``features`` (the layers) then ``head`` (global average pool, flatten, dropout, linear): the original
    CAM applies; the last feature layer (4-D output) is the declared CAM layer."""
    from torch import nn

    head = nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(channels, num_classes),
    )
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(*layers))
    model.add_module("head", head)
    model.cam_layer_name = f"features.{len(layers) - 1}"
    return model


def get_cam_layer(model: nn.Module) -> nn.Module:
    """The layer CAM methods use, as declared by the model builder."""
    name = getattr(model, "cam_layer_name", None)
    if name is None:
        raise ValueError(f"{type(model).__name__} declares no cam_layer_name")
    return model.get_submodule(name)


# Builder parameters that only initialise weights: the saved state_dict supersedes them, so they are left out
# of the saved spec (loading a trained model must not re-read, or need, the file it was fine-tuned from).
INIT_ONLY_PARAMS = frozenset({"weights"})


def save_model(path: str, model: nn.Module, spec: dict[str, Any]) -> None:
    """Save weights with the spec needed to rebuild the model (atomic)."""
    import torch

    from xaibench.io import atomic_path

    params = {k: v for k, v in spec.get("params", {}).items() if k not in INIT_ONLY_PARAMS}
    with atomic_path(path) as tmp:
        torch.save({"spec": {**spec, "params": params}, "state_dict": model.state_dict()}, tmp)


def save_checkpoints(path: str, spec: dict[str, Any], states: dict[int, dict[str, torch.Tensor]]) -> None:
    """Save the weights of several training epochs (epoch -> state_dict) with the model's spec (atomic)."""
    import torch

    from xaibench.io import atomic_path

    params = {k: v for k, v in spec.get("params", {}).items() if k not in INIT_ONLY_PARAMS}
    with atomic_path(path) as tmp:
        torch.save({"spec": {**spec, "params": params}, "states": dict(states)}, tmp)


def load_checkpoints(path: str, device: torch.device | str = "cpu") -> dict[int, nn.Module]:
    """Every epoch's model saved by :func:`save_checkpoints` (epoch -> model in eval mode on ``device``)."""
    import torch

    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot load checkpoints from {path}: {exc}") from exc
    spec, models = saved["spec"], {}
    for epoch, state in sorted(saved["states"].items()):
        model = build_model(spec["name"], **spec["shape"], **spec.get("params", {}))
        model.load_state_dict(state)
        models[int(epoch)] = model.to(device).eval()
    return models


def load_model(path: str, device: torch.device | str = "cpu") -> nn.Module:
    """Rebuild a model saved by :func:`save_model`, in eval mode on ``device``."""
    import torch

    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot load model weights from {path}: {exc}") from exc
    spec = ckpt["spec"]
    model = build_model(spec["name"], **spec["shape"], **spec.get("params", {}))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()
