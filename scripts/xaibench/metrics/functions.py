"""xaibench's own Quantus functions (perturbation, normalisation) and ``*_func`` arguments given by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xaibench.compat import load_quantus


def uniform_noise_replacement(
    arr: np.ndarray,
    indices: np.ndarray,
    low: float | None = None,
    high: float | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Batched perturb_func: replace ``arr[i, indices[i]]`` by independent U(low, high) values per pixel.

    ``low``/``high`` default to each sample's own min/max, i.e. noise within the image's value range.
    ``arr`` is (N, F), ``indices`` (N, I); extra kwargs (e.g. ``perturb_baseline``) are ignored.
    """
    del kwargs
    arr = np.asarray(arr)
    out = arr.copy()
    n = arr.shape[0]
    lo = arr.min(axis=1, keepdims=True) if low is None else np.full((n, 1), float(low))
    hi = arr.max(axis=1, keepdims=True) if high is None else np.full((n, 1), float(high))
    # The legacy global RNG on purpose: Quantus draws from it too, and evaluate_metric seeds it.
    noise = lo + (hi - lo) * np.random.uniform(size=np.shape(indices))  # noqa: NPY002
    out[np.arange(n)[:, None], indices] = noise.astype(out.dtype, copy=False)
    return out


def normalise_by_max_per_sample(a: np.ndarray, normalise_axes: Any = None, **kwargs: Any) -> np.ndarray:
    """Divide each sample's attributions by its own max |a| (all-zero samples are left as they are).

    Quantus 0.6.0's default ``normalise_by_max`` divides the whole batch by one maximum (its
    ``normalise_axes`` default to every axis, the batch axis included), so a sample's score would depend on
    the other samples in its batch and on the batch size: e.g. effective complexity of a map scaled by 1e-6
    is 0 beside an unscaled map and 64 alone. ``normalise_axes`` is accepted for Quantus's signature and
    ignored: the axes are always 1..ndim-1.
    """
    del normalise_axes, kwargs
    a = np.asarray(a)
    peak = np.max(np.abs(a), axis=tuple(range(1, a.ndim)), keepdims=True)
    return a / np.where(peak > 0, peak, 1).astype(a.dtype, copy=False)


OWN_FUNCTIONS: dict[str, Callable] = {
    "uniform_noise_replacement": uniform_noise_replacement,
    "normalise_by_max_per_sample": normalise_by_max_per_sample,
}
# Function arguments whose Quantus default xaibench replaces (see the functions' docstrings).
DEFAULT_FUNCTIONS = {"normalise_func": "normalise_by_max_per_sample"}


def resolve_function(name: str, key: str, value: Any) -> Any:
    """``*_func`` given by name: xaibench's own functions, then Quantus's function modules."""
    if not isinstance(value, str):
        return value
    if value in OWN_FUNCTIONS:
        return OWN_FUNCTIONS[value]
    load_quantus()
    from quantus.functions import (
        complexity_func,
        norm_func,
        normalise_func,
        perturb_func,
        similarity_func,
    )

    for module in (perturb_func, similarity_func, normalise_func, complexity_func, norm_func):
        fn = getattr(module, value, None)
        if callable(fn):
            return fn
    raise ValueError(f"metric {name!r}: {key}={value!r} names no known function")
