"""Parameter validators and seeding shared by the method families (an invalid value raises ``ValueError``
naming the method and the parameter)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch


def bad_param(method: str, param: str, message: str) -> ValueError:
    return ValueError(f"method {method!r}: parameter {param!r} {message}")


def int_pair(method: str, param: str, value: Any, extent: tuple[int, int] | None = None) -> tuple[int, int]:
    """An int or a pair of ints (rows, columns), each >= 1. With ``extent`` (H, W), a float in (0, 1)
    is a fraction of the image size, so one config serves 32x32 and 64x64 datasets alike, and a single int
    (a square) is capped at each axis's extent, so that it also serves a series or a table (H = 1)."""

    def one(v: Any, size: int | None) -> int:
        if isinstance(v, bool):
            raise bad_param(method, param, f"must be an int or a fraction, got {value!r}")
        if isinstance(v, int | np.integer):
            return int(v)
        if size is not None and isinstance(v, float) and 0 < v < 1:
            return max(1, round(v * size))
        raise bad_param(
            method, param, f"must be an int, a fraction of the image in (0, 1) or a pair, got {value!r}"
        )

    rows, cols = extent if extent is not None else (None, None)
    if isinstance(value, list | tuple) and len(value) == 2:
        pair = (one(value[0], rows), one(value[1], cols))
    else:
        pair = (one(value, rows), one(value, cols))
        if extent is not None and isinstance(value, int | np.integer) and not isinstance(value, bool):
            pair = (min(pair[0], rows), min(pair[1], cols))
    if min(pair) < 1:
        raise bad_param(method, param, f"must be >= 1, got {value!r}")
    return pair


def positive_int(method: str, param: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise bad_param(method, param, f"must be a positive int, got {value!r}")
    return int(value)


def nonnegative_float(method: str, param: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or value < 0:
        raise bad_param(method, param, f"must be a number >= 0, got {value!r}")
    return float(value)


def seed_value(method: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise bad_param(method, "seed", f"must be a non-negative int, got {value!r}")
    return int(value)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
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


def per_image(
    inputs: torch.Tensor, seed: int, explain_one: Callable[[int, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``torch.cat`` of ``explain_one(i, image)`` for each (1, C, H, W) detached image i of ``inputs``, each
    under :func:`seeded` with the same ``seed``: a map depends on its image, not on the batch."""
    maps = []
    for i in range(inputs.shape[0]):
        image = inputs[i : i + 1].detach()
        with seeded(seed, image.device):
            maps.append(explain_one(i, image))
    return torch.cat(maps)


def value_range(image: torch.Tensor) -> float:
    """max - min of one image over all its channels (the scale of the noise of SmoothGrad and friends)."""
    return float(image.max() - image.min())


def separable_gaussian_blur(x: torch.Tensor, sigma: float, radius: int, pad_mode: str) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W), each channel on its own: a row then a column pass of the kernel
    exp(-t^2 / (2 sigma^2)), t = -radius..radius, normalised to sum 1, with borders padded by
    ``nn.functional.pad(mode=pad_mode)``."""
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    out = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode=pad_mode)
    out = torch.nn.functional.conv2d(out, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return torch.nn.functional.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
