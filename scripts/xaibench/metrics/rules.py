"""Parameter rules for :attr:`MetricSpec.resolve <xaibench.metrics.core.MetricSpec.resolve>`.

A rule resolves one parameter against the data: ``rule(params, context)`` edits ``params`` (the merged
constructor arguments) in place, given the :class:`ResolveContext` (metric name, input shape, the model's
output size where the spec asks for it). The factories below cover the data-dependent defaults in use:
``"auto"`` step sizes, counts given as a fraction of the image, the model's number of classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ResolveContext:
    """What a rule may read: the metric's name (for messages), the (N, C, H, W) input shape and the model's
    output size (None unless the spec sets ``needs_num_classes``; with ``model_free`` there is no model and
    values that depend on it stay unresolved, e.g. "auto")."""

    name: str
    x_shape: tuple[int, ...]
    num_classes: int | None = None
    model_free: bool = False  # resolving for a record only (a skipped metric): model-dependent values stay

    @property
    def n_pixels(self) -> int:
        return int(np.prod(self.x_shape[2:]))

    @property
    def n_features(self) -> int:
        return int(np.prod(self.x_shape[1:]))


Rule = Callable[[dict, ResolveContext], None]


def divisor_steps(n_features: int, max_steps: int) -> int:
    """Smallest divisor d of n_features with n_features / d <= max_steps."""
    for d in range(max(1, math.ceil(n_features / max_steps)), n_features + 1):
        if n_features % d == 0:
            return d
    return n_features


def auto_steps(key: str, max_steps: int) -> Rule:
    """``key == "auto"``: the smallest divisor of H*W that gives at most ``max_steps`` steps."""

    def rule(params: dict, context: ResolveContext) -> None:
        if params[key] == "auto":
            params[key] = divisor_steps(context.n_pixels, max_steps)

    return rule


def count_or_fraction(key: str, of_channels: bool = False) -> Rule:
    """``key`` as a count of pixels, or a float in (0, 1) as a fraction of H*W (of C*H*W features with
    ``of_channels``); the count must lie in 1..total."""

    def rule(params: dict, context: ResolveContext) -> None:
        total = context.n_features if of_channels else context.n_pixels
        params[key] = _pixel_count(params[key], total, context.name, key)

    return rule


def auto_output_size(key: str) -> Rule:
    """``key == "auto"``: the model's output size (the spec must set ``needs_num_classes=True``)."""

    def rule(params: dict, context: ResolveContext) -> None:
        if params[key] == "auto" and not context.model_free:
            if context.num_classes is None:
                raise ValueError(f"metric {context.name!r}: {key}='auto' needs the model's output size")
            params[key] = int(context.num_classes)

    return rule


def _pixel_count(value: Any, n_pixels: int, name: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"metric {name!r}: {key} must be a pixel count or a fraction, got {value!r}")
    count = round(value * n_pixels) if isinstance(value, float) and 0 < value < 1 else int(value)
    if not 1 <= count <= n_pixels:
        raise ValueError(f"metric {name!r}: {key}={value!r} gives {count} pixels, not in 1..{n_pixels}")
    return count
