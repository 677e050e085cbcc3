"""Explanation files (written by :mod:`xaibench.explaining`, one per explanation job): the evaluation subset
shared by every method of the job (:data:`SHARED`), the config names in ``methods``, and per name
``<name>.<key>`` for each key of :data:`PER_METHOD`. Readers take one method's part with
:func:`load_explanation`, whichever job grouping wrote the file.
"""

from __future__ import annotations

import numpy as np

from xaibench.io import load_npz

__all__ = ["PER_METHOD", "SHARED", "explained_methods", "load_explanation", "load_explanations"]

#: Arrays of the evaluation subset, the same for every method of a file.
SHARED = ("indices", "targets", "labels", "predictions")
#: Per method: maps (N, 1, H, W), wall seconds, registered method, params (JSON), note (if not applicable).
PER_METHOD = ("attributions", "seconds", "method", "params", "note")


def explained_methods(path: str) -> list[str]:
    """The config names of the methods in an explanation file."""
    return [str(name) for name in load_npz(path)["methods"]]


def _part(stored: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    part = {key: stored[key] for key in SHARED}
    part |= {key: stored[f"{name}.{key}"] for key in PER_METHOD if f"{name}.{key}" in stored}
    return part


def load_explanations(path: str) -> dict[str, dict[str, np.ndarray]]:
    """Every method's part of an explanation file (config name -> as :func:`load_explanation` gives it),
    from one read of the file."""
    stored = load_npz(path)
    return {str(name): _part(stored, str(name)) for name in stored["methods"]}


def load_explanation(path: str, name: str | None = None) -> dict[str, np.ndarray]:
    """Method ``name``'s part of an explanation file, under the keys of :data:`SHARED` and
    :data:`PER_METHOD` (``note`` only where there is one); ``name`` may be left out when the file holds one
    method."""
    stored = load_npz(path)
    methods = [str(m) for m in stored["methods"]]
    if name is None:
        if len(methods) != 1:
            raise ValueError(f"{path} holds {len(methods)} methods ({methods}); name the one to load")
        name = methods[0]
    if name not in methods:
        raise ValueError(f"{path} holds no explanations of method {name!r}; it holds {methods}")
    return _part(stored, name)
