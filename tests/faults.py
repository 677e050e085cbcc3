"""Fault injection at the library boundary, for the known-answer tests.

A known-answer case is a function ``case(explain)`` (methods) or ``case(evaluate)`` (metrics) that raises
``AssertionError`` unless the function it is given computes what the method's or metric's name says. The
suite runs every case twice over: with the library's own function (it must pass) and with a copy that alters
the output of the one method or metric under test (it must fail), for each fault below. A case that still
passes with a fault is a case that cannot tell a right implementation from a wrong one.

Faults on a method's map (N, 1, H, W): scaled, negated, offset by a small constant, shifted by one pixel.
Faults on a metric's per-sample scores (N,): scaled, negated, offset by a small constant, and shifted by one
sample (sample i gets sample i-1's score: a misaligned result).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def _offset(values: np.ndarray) -> np.ndarray:
    """``values`` plus 0.1 % of their largest magnitude (of 1e-3 if they are all zero)."""
    finite = np.abs(values[np.isfinite(values)])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return values + np.asarray(1e-3 * scale, dtype=values.dtype)


Fault = Callable[[np.ndarray], np.ndarray]

MAP_FAULTS: dict[str, Fault] = {
    "scaled": lambda a: a * np.asarray(1.5, dtype=a.dtype),
    "negated": lambda a: -a,
    "offset": _offset,
    "shifted": lambda a: np.roll(a, 1, axis=-1),
}

SCORE_FAULTS: dict[str, Fault] = {
    "scaled": lambda s: s * 1.5,
    "negated": lambda s: -s,
    "offset": _offset,
    "shifted": lambda s: np.roll(s, 1),
}


def faulty_explain(victim: str, fault: str) -> Callable[..., np.ndarray]:
    """``xaibench.methods.explain`` whose output for method ``victim`` has ``fault`` applied."""
    from xaibench.methods import explain

    def explain_with_fault(name: str, *args: Any, **kwargs: Any) -> np.ndarray:
        out = explain(name, *args, **kwargs)
        return MAP_FAULTS[fault](out) if name == victim else out

    return explain_with_fault


def faulty_evaluate(victim: str, fault: str) -> Callable[..., Any]:
    """``xaibench.metrics.evaluate_metric`` whose scores for metric ``victim`` have ``fault`` applied."""
    from xaibench.metrics import evaluate_metric

    def evaluate_with_fault(name: str, *args: Any, **kwargs: Any) -> Any:
        result = evaluate_metric(name, *args, **kwargs)
        if name != victim:
            return result
        return dataclasses.replace(result, scores=SCORE_FAULTS[fault](np.asarray(result.scores)))

    return evaluate_with_fault


def _library(kind: str) -> tuple[list[str], Callable[..., Any], dict[str, Fault], Callable[..., Any]]:
    """What the known-answer tests of ``kind`` ("method" or "metric") run against: the registered names, the
    library's entry (``explain`` or ``evaluate_metric``), the faults and the faulty copy of the entry."""
    if kind == "method":
        from xaibench.methods import METHODS, explain

        return METHODS.names(), explain, MAP_FAULTS, faulty_explain
    from xaibench.metrics import METRICS, evaluate_metric

    return METRICS.names(), evaluate_metric, SCORE_FAULTS, faulty_evaluate


def known_answer_tests(
    kind: str, cases: dict[str, Callable[[Callable[..., Any]], None]]
) -> tuple[Callable[..., None], ...]:
    """The three tests of a known-answer file, for ``kind`` ("method" or "metric"): every registered name
    has a case; each case passes with the library's entry; and fails with the faulty entry for each fault
    (see :func:`_library`). Bind them to ``test_*`` names in the test module for pytest to collect them."""
    names, entry, faults, faulty = _library(kind)

    def test_every_name_has_a_known_answer() -> None:
        missing = sorted(set(names) - set(cases))
        assert not missing, f"{kind}s without a known-answer case in tests/test_known_{kind}s.py: {missing}"

    @pytest.mark.parametrize("name", sorted(cases))
    def test_known_answer(name: str) -> None:
        cases[name](entry)

    @pytest.mark.parametrize("fault", sorted(faults))
    @pytest.mark.parametrize("name", sorted(cases))
    def test_known_answer_detects_fault(name: str, fault: str) -> None:
        with pytest.raises(AssertionError):
            cases[name](faulty(name, fault))

    return test_every_name_has_a_known_answer, test_known_answer, test_known_answer_detects_fault
