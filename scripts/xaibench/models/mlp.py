"""``mlp``: a multi-layer perceptron for tables stored as (N, 1, 1, F) (F features).

It has no convolutional layer, so it declares no CAM layer (``cam_layer_name = None``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xaibench.models.core import register

if TYPE_CHECKING:
    from torch import nn

LAYOUTS = ("1d", "2d")


@register("mlp", modalities=("table",))
def mlp(
    in_channels: int,
    num_classes: int,
    image_size: int,
    hidden: Sequence[int] = (64, 32),
    dropout: float = 0.0,
    layout: str = "1d",
) -> nn.Module:
    """Flatten, then one (Linear, ReLU, Dropout) block per entry of ``hidden`` (empty: a linear model), then a
    linear output layer.

    ``layout`` sets the number of inputs: ``1d`` (default) for tables (N, 1, 1, F) and series (N, C, 1, L),
    ``image_size`` being F or L: C x ``image_size`` inputs; ``2d`` for images (N, C, S, S), ``image_size``
    being S: C x S x S inputs. Modules: ``features`` (flatten and the hidden blocks, each with its own ReLU
    and a Dropout even at p = 0, so names do not depend on ``dropout``) and ``head`` (the output layer).
    """
    from torch import nn

    if layout not in LAYOUTS:
        raise ValueError(f"mlp: layout must be one of {list(LAYOUTS)}, got {layout!r}")
    if isinstance(hidden, str | int) or not all(
        not isinstance(h, bool) and int(h) == h and h >= 1 for h in hidden
    ):
        raise ValueError(f"mlp: hidden must be a list of positive layer widths, got {hidden!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"mlp: dropout must be in [0, 1), got {dropout!r}")
    size = int(in_channels) * int(image_size) * (int(image_size) if layout == "2d" else 1)
    layers: list[nn.Module] = [nn.Flatten()]
    for units in (int(h) for h in hidden):
        layers += [nn.Linear(size, units), nn.ReLU(), nn.Dropout(float(dropout))]
        size = units
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(*layers))
    model.add_module("head", nn.Linear(size, num_classes))
    model.cam_layer_name = None  # no convolutional layer: the CAM methods do not apply
    return model
