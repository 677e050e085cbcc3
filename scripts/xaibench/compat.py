"""Compatibility shims that let Quantus 0.6.0 run correctly and affordably on this stack.

Two independent, idempotent patches; :func:`load_quantus` (the only way :mod:`xaibench.metrics` imports
Quantus) applies both before a Quantus metric class is touched. Neither changes a metric's result.

``apply_numpy_compat``
    numpy cannot be pinned below 2.4 here (dependency conflict), but numpy 2.x removed two names that
    Quantus 0.6.0 still uses: ``np.trapz`` (``quantus.helpers.utils.calculate_auc``, behind
    ``PixelFlipping(return_auc_per_sample=True)``, ``get_auc_score`` of PixelFlipping,
    RegionPerturbation and Selectivity, and IROF) and ``np.NaN`` (``Continuity`` with
    ``return_nan_when_prediction_changes=True``). Without them those code paths raise AttributeError.
    We restore both as aliases of their numpy 2 spellings (``np.trapezoid``, ``np.nan``), which are the
    same function / value, so results are identical to Quantus on numpy < 2.

``patch_quantus_fast_checks``
    ``quantus.helpers.asserts.assert_attributions`` runs on every attribution batch -- once per metric
    call and again after every re-explanation (each MaxSensitivity/AvgSensitivity sample, each MPRT
    layer, RandomLogit, InputInvariance). Its uniqueness test ``len(set(a.flatten().tolist())) > 1``
    turns the whole batch into Python floats and hashes them: ~0.2 s for a 64x64x64 batch, which made
    cheap metrics tens of times slower than their actual computation. We replace the function by one
    with the same assertions, messages and verdicts whose uniqueness test is vectorised (see
    :func:`has_multiple_values`).
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

_FAST_MARK = "_xaibench_fast_check"


@functools.cache
def load_quantus() -> Any:
    """Import Quantus with both patches applied (once per process) and return the module."""
    apply_numpy_compat()
    import quantus

    patch_quantus_fast_checks()
    return quantus


def apply_numpy_compat() -> None:
    """Restore ``np.trapz`` and ``np.NaN`` when numpy lacks them (numpy >= 2.x); idempotent."""
    # setattr: the removed names cannot be spelled directly without tripping numpy-2 linters (NPY201).
    if not _numpy_has("trapz"):
        setattr(np, "trapz", np.trapezoid)  # noqa: B010
    if not _numpy_has("NaN"):
        setattr(np, "NaN", np.nan)  # noqa: B010


def _numpy_has(name: str) -> bool:
    # numpy's module __getattr__ raises AttributeError (not a warning) for removed names.
    try:
        getattr(np, name)
    except AttributeError:
        return False
    return True


def has_multiple_values(a: np.ndarray) -> bool:
    """Vectorised ``len(set(a.flatten().tolist())) > 1``, with the same verdict for every input.

    The set-based original counts distinct Python floats. Equal values (including 0.0 and -0.0) collapse,
    while every NaN stays distinct (``nan != nan`` and ``tolist`` makes a new object per element); so the
    answer is "more than one element, and not all equal to the first one" -- ``flat == flat[0]`` is False
    for NaNs, exactly as the set sees them.
    """
    flat = np.asarray(a).reshape(-1)
    if flat.size < 2:
        return False
    return not bool(np.all(flat == flat[0]))


def _fast_assert_attributions(x_batch: np.ndarray, a_batch: np.ndarray) -> None:
    """Same checks and messages as Quantus 0.6.0 ``assert_attributions``; vectorised uniqueness test."""
    assert type(a_batch) == np.ndarray, "Attributions 'a_batch' should be of type np.ndarray."  # noqa: E721
    assert np.shape(x_batch)[0] == np.shape(a_batch)[0], (
        "The inputs 'x_batch' and attributions 'a_batch' should "
        "include the same number of samples."
        f"{np.shape(x_batch)[0]} != {np.shape(a_batch)[0]}"
    )
    assert np.ndim(x_batch) == np.ndim(a_batch), (
        "The inputs 'x_batch' and attributions 'a_batch' should "
        "have the same number of dimensions."
        f"{np.ndim(x_batch)} != {np.ndim(a_batch)}"
    )
    a_shape = [s for s in np.shape(a_batch)[1:] if s != 1]
    x_shape = list(np.shape(x_batch)[1:])
    assert a_shape[0] == x_shape[0] or a_shape[-1] == x_shape[-1], (
        "The dimensions of attribution and input per sample should correspond in either "
        f"the first or last dimensions, but got shapes {a_shape} and {x_shape}"
    )
    assert all(a in x_shape for a in a_shape), (
        "All attribution dimensions should be included in the input dimensions, "
        f"but got shapes {a_shape} and {x_shape}"
    )
    assert all(
        x_shape.index(a) > x_shape.index(a_shape[i]) for a in a_shape for i in range(a_shape.index(a))
    ), (
        "The dimensions of the attribution must correspond to dimensions of the input in the same order, "
        f"but got shapes {a_shape} and {x_shape}"
    )
    assert not np.all(a_batch == 0), (
        "The elements in the attribution vector are all equal to zero, "
        "which may cause inconsistent results since many metrics rely on ordering. "
        "Recompute the explanations."
    )
    assert not np.all(a_batch == 1.0), (
        "The elements in the attribution vector are all equal to one, "
        "which may cause inconsistent results since many metrics rely on ordering. "
        "Recompute the explanations."
    )
    assert has_multiple_values(a_batch), (
        "The attributions are uniformly distributed, "
        "which may cause inconsistent results since many "
        "metrics rely on ordering."
        "Recompute the explanations."
    )
    assert not np.all(a_batch < 0.0), "Attributions should not all be less than zero."


setattr(_fast_assert_attributions, _FAST_MARK, True)


def patch_quantus_fast_checks() -> None:
    """Swap Quantus's ``assert_attributions`` for the vectorised version everywhere it is referenced.

    Quantus 0.6.0 calls it as ``asserts.assert_attributions`` (module attribute: base.py, evaluation.py,
    smooth_mprt.py), so replacing the attribute of ``quantus.helpers.asserts`` covers every call site.
    Any loaded ``quantus*`` module that bound the original function by name is patched as well, so a
    future ``from ... import assert_attributions`` would not escape. Idempotent.
    """
    from quantus.helpers import asserts

    original: Any = getattr(asserts, "assert_attributions", None)
    if original is None or getattr(original, _FAST_MARK, False):
        return
    for name, module in list(sys.modules.items()):
        if (name == "quantus" or name.startswith("quantus.")) and module is not None:
            if getattr(module, "assert_attributions", None) is original:
                module.assert_attributions = _fast_assert_attributions  # type: ignore[attr-defined]
    asserts._xaibench_original_assert_attributions = original  # type: ignore[attr-defined]


def original_assert_attributions() -> Any:
    """Quantus's unpatched ``assert_attributions`` (for equivalence tests), patched or not."""
    from quantus.helpers import asserts

    current = asserts.assert_attributions
    return getattr(asserts, "_xaibench_original_assert_attributions", current)


def quantus_fast_checks_active() -> bool:
    from quantus.helpers import asserts

    return bool(getattr(asserts.assert_attributions, _FAST_MARK, False))
