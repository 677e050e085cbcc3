"""Model registry: ``build_model(name, ...)`` returns an ``nn.Module`` for a dataset's shape.

* :mod:`~xaibench.models.core`: the registry :data:`MODELS`, :func:`register`, :func:`build_model`,
  :func:`get_cam_layer`, :func:`save_model` / :func:`load_model`
  (:func:`save_checkpoints` / :func:`load_checkpoints` for several epochs);
* :mod:`~xaibench.models.small_cnn`: ``small_cnn``;
* :mod:`~xaibench.models.cnn1d`: ``cnn1d``, a 1-D CNN for series (N, C, 1, L) (CAM layer 4-D: (N, C', 1, L'));
* :mod:`~xaibench.models.mlp`: ``mlp``, a perceptron for tables (N, 1, 1, F) (no CAM layer:
  ``cam_layer_name`` is None);
* :mod:`~xaibench.models.torchvision_models`: ``resnet18``, ``resnet50``, ``densenet121``,
  ``efficientnet_b0`` (torchvision is imported when one is built, not here);
* :mod:`~xaibench.models.traits`: what explanation methods must know about an architecture
  (:func:`lrp_canonizers`).

Importing the package registers every architecture.
"""

from __future__ import annotations

from xaibench.models import (  # noqa: F401 (they register the architectures)
    cnn1d,
    mlp,
    small_cnn,
    torchvision_models,
)
from xaibench.models.core import (
    INIT_ONLY_PARAMS,
    MODELS,
    ModelBuilder,
    build_model,
    get_cam_layer,
    load_checkpoints,
    load_model,
    model_modalities,
    register,
    save_checkpoints,
    save_model,
)
from xaibench.models.traits import ArchitectureNotSupported, lrp_canonizers

__all__ = [
    "INIT_ONLY_PARAMS",
    "MODELS",
    "ArchitectureNotSupported",
    "ModelBuilder",
    "build_model",
    "get_cam_layer",
    "load_checkpoints",
    "load_model",
    "lrp_canonizers",
    "model_modalities",
    "register",
    "save_checkpoints",
    "save_model",
]
