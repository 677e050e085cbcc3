"""MetaQuantus meta-evaluation (:mod:`xaibench.meta_evaluation`): the criteria on hand-made scores, and the
whole protocol on the trained tiny model: values in [0, 1] with MC their mean, determinism, a metric that
ignores the explanation has no reactivity while sparseness reacts to model perturbation, and the caller's
model is never touched."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import xaibench.meta_evaluation as me
from xaibench.datasets import make_dataset
from xaibench.metrics import MetricResult

N, K = 16, 2
CRITERIA = ["IAC_NR", "IAC_AR", "IEC_NR", "IEC_AR"]
METHODS = {
    "saliency": {"method": "saliency"},
    "gradcam": {"method": "gradcam"},
    "random": {"method": "random"},
}
METRICS = {
    "sparseness": {"metric": "sparseness"},
    "pointing_game": {"metric": "pointing_game"},
    "constant": {"metric": "complexity"},  # replaced by a constant score below
}


def _constant_complexity(evaluate_metric):
    """``evaluate_metric`` with the registry's ``complexity`` replaced by a metric that ignores the
    explanation, the model and the input: 0.5 for every sample."""

    def patched(name, model, x, y, a, s, **kwargs):
        if name != "complexity":
            return evaluate_metric(name, model, x, y, a, s, **kwargs)
        return MetricResult(np.full(len(x), 0.5), None, {}, category="Complexity", direction="lower")

    return patched


@pytest.fixture(scope="module")
def case(trained_tiny_model, one_torch_thread):
    """The trained tiny model and N Triangles & Squares images (with masks) it was not trained on."""
    data = make_dataset("triangles_squares", seed=1, image_size=32, n_train=2, n_val=2, n_test=N)
    return trained_tiny_model, data.images[-N:], data.labels[-N:].astype(np.int64), data.masks[-N:]


def _run(case, **kwargs):
    model, x, y, s = case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(me, "evaluate_metric", _constant_complexity(me.evaluate_metric))
        return me.meta_evaluate(
            model, x, y, s, **{"methods": METHODS, "metrics": METRICS, "k": K, "seed": 0, **kwargs}
        )


@pytest.fixture(scope="module")
def run(case):
    """(table, the model's state before, the model's state after)."""
    model = case[0]
    before = copy.deepcopy(model.state_dict())
    table = _run(case)
    return table, before, model.state_dict()


def _values(table: pd.DataFrame, metric: str, test: str) -> dict[str, float]:
    rows = table[(table.metric == metric) & (table.test == test)]
    return dict(zip(rows.criterion, rows.value, strict=True))


# --- the criteria ---------------------------------------------------------------------------------------


def test_iac_identical_scores_are_resilient_and_not_reactive():
    q = np.array([0.1, 0.5, 0.3, 0.9, 0.7])
    keep = np.ones(5, dtype=bool)
    assert me.iac(q, q.copy(), keep, "NR") == 1.0
    assert me.iac(q, q.copy(), keep, "AR") == 0.0
    shifted = q + np.array([0.5, 0.6, 0.7, 0.8, 0.9])  # all up: exact two-sided p = 2/32
    assert me.iac(q, shifted, keep, "NR") == pytest.approx(1 / 16)
    assert me.iac(q, shifted, keep, "AR") == pytest.approx(15 / 16)


def test_iac_drops_nan_pairs_and_needs_two():
    q = np.array([0.1, np.nan, 0.3, 0.9])
    keep = np.ones(4, dtype=bool)
    assert me.iac(q, q.copy(), keep, "NR") == 1.0  # the NaN sample left out
    assert np.isnan(me.iac(q, q.copy(), np.array([True, True, False, False]), "NR"))  # one pair left
    assert np.isnan(me.iac(q, q.copy(), np.zeros(4, dtype=bool), "AR"))  # no sample kept
    assert np.isnan(me.iac(q, q.copy(), keep, "NR", reference_quirks=True))  # the reference: NaN propagates


def test_iec_nr_is_the_share_of_unchanged_ranks():
    q = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])  # 3 methods x 2 samples
    keep = np.ones(2, dtype=bool)
    assert me.iec_nr(q, q + 10, keep) == 1.0  # same order
    swapped = np.array([[2.0, 1.0], [1.0, 2.0], [3.0, 3.0]])  # sample 0: methods 0 and 1 swap
    assert me.iec_nr(q, swapped, keep) == pytest.approx(4 / 6)
    assert me.iec_nr(q, swapped, np.array([False, True])) == 1.0  # only sample 1 kept
    with_nan = np.array([[1.0, np.nan], [2.0, 2.0], [3.0, 3.0]])
    assert me.iec_nr(q, with_nan, keep) == 1.0  # sample 1 left out
    assert me.iec_nr(q, with_nan, keep, reference_quirks=True) == pytest.approx(3 / 6)  # NaN sorted last


def test_iec_ar_counts_worse_scores_in_the_metrics_direction():
    q = np.array([[0.5, 0.5, 0.5]])
    q_hat = np.array([[0.4, 0.6, 0.5]])  # worse, better, equal when higher is better
    keep = np.ones(3, dtype=bool)
    assert me.iec_ar(q, q_hat, keep, "higher") == pytest.approx(1 / 3)
    assert me.iec_ar(q, q_hat, keep, "lower") == pytest.approx(1 / 3)
    assert me.iec_ar(q, q_hat, np.array([True, False, True]), "lower") == 0.0
    assert np.isnan(me.iec_ar(q, q_hat, keep, "none"))
    assert me.iec_ar(q, q, keep, "higher") == 0.0


def test_perturb_model_is_a_seeded_copy(trained_tiny_model):
    model = trained_tiny_model
    first = me.perturb_model(model, 0.5, seed=3)
    again = me.perturb_model(model, 0.5, seed=3)
    other = me.perturb_model(model, 0.5, seed=4)
    pairs = list(
        zip(model.parameters(), first.parameters(), again.parameters(), other.parameters(), strict=True)
    )
    assert all(torch.equal(b, c) for _, b, c, _ in pairs)
    assert not any(torch.equal(a, b) for a, b, _, _ in pairs)
    assert not all(torch.equal(b, d) for _, b, _, d in pairs)


# --- the protocol ---------------------------------------------------------------------------------------


def test_table_layout(run):
    table, _, _ = run
    assert len(table) == len(METRICS) * 3 * 5
    assert set(table.test) == {"IPT", "MPT", "mean"}
    assert set(table.criterion) == {*CRITERIA, "MC"}
    assert {"metric", "category", "criterion", "value", "k", "input_noise_nr", "model_noise_ar"} <= set(table)
    assert (table.k == K).all() and (table.n == N).all()
    assert table[table.metric == "pointing_game"].category.iloc[0] == "Localisation"


def test_values_in_unit_interval_and_mc_is_their_mean(run):
    table, _, _ = run
    assert table.value.notna().all(), table[table.value.isna()]
    assert table.value.between(0, 1).all()
    for (metric, test), group in table.groupby(["metric", "test"]):
        values = dict(zip(group.criterion, group.value, strict=True))
        assert values["MC"] == pytest.approx(np.mean([values[c] for c in CRITERIA])), (metric, test)
    mean, ipt, mpt = (_values(table, "sparseness", t) for t in ("mean", "IPT", "MPT"))
    assert mean["MC"] == pytest.approx((ipt["MC"] + mpt["MC"]) / 2)


def test_a_metric_that_ignores_the_explanation_has_no_reactivity(run):
    table, _, _ = run
    for test in ("IPT", "MPT"):
        assert _values(table, "constant", test) == {
            "IAC_NR": 1.0,
            "IAC_AR": 0.0,
            "IEC_NR": 1.0,
            "IEC_AR": 0.0,
            "MC": 0.5,
        }


def test_sparseness_reacts_to_model_perturbation(run):
    # saliency's and Grad-CAM's maps change with the model, the random control's do not (a function of the
    # image alone: its p-value is 1, adding 0 to IAC_AR); tiny noise keeps the ranking of the methods
    table = run[0]
    sparseness = _values(table, "sparseness", "MPT")
    assert sparseness["IAC_AR"] > 0.2, sparseness
    assert sparseness["IAC_NR"] > 0.4, sparseness
    assert sparseness["IEC_NR"] > 0.9, sparseness
    assert sparseness["MC"] > _values(table, "constant", "MPT")["MC"]


def test_deterministic(case, run):
    pd.testing.assert_frame_equal(_run(case), run[0])


def test_callers_model_unchanged(case, run):
    _, before, after = run
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert not case[0].training


def test_mask_metrics_skipped_without_masks(case):
    model, x, y, _ = case
    metrics = {"pointing_game": METRICS["pointing_game"], "sparseness": METRICS["sparseness"]}
    table = me.meta_evaluate(model, x, y, None, methods=METHODS, metrics=metrics, k=1, tests=("MPT",))
    assert set(table.test) == {"MPT"}
    skipped = table[table.metric == "pointing_game"]
    assert skipped.value.isna().all() and skipped.note.str.contains("no ground-truth masks").all()
    assert table[table.metric == "sparseness"].value.notna().all()


def test_reference_quirks_leave_ipt_explanations_unchanged(case):
    # the reference explains the unperturbed input in the IPT: a metric that reads only the explanation then
    # scores identically, and its IPT result is fixed at MC = 0.5 (module docstring, deviation 1)
    model, x, y, s = case
    metrics = {"sparseness": METRICS["sparseness"]}
    table = me.meta_evaluate(
        model, x, y, s, methods=METHODS, metrics=metrics, k=1, tests=("IPT",), reference_quirks=True
    )
    assert _values(table, "sparseness", "IPT") == {
        "IAC_NR": 1.0,
        "IAC_AR": 0.0,
        "IEC_NR": 1.0,
        "IEC_AR": 0.0,
        "MC": 0.5,
    }


def test_bad_arguments(case):
    model, x, y, s = case
    kwargs = {"methods": METHODS, "metrics": METRICS}
    with pytest.raises(ValueError, match="input_noise"):
        me.meta_evaluate(model, x, y, s, input_noise=(5.0, 0.001), **kwargs)
    with pytest.raises(ValueError, match="tests"):
        me.meta_evaluate(model, x, y, s, tests=("XPT",), **kwargs)
    with pytest.raises(ValueError, match=">= 2 applicable methods"):
        me.meta_evaluate(model, x, y, s, methods={"saliency": METHODS["saliency"]}, metrics=METRICS)
