"""xaibench's definitions of completeness, effective complexity and non-sensitivity (relative thresholds,
shares, a continuous completeness error): known answers of the scoring functions on hand-made values, the
classes on maps Quantus refuses, and different scores for different methods on a trained model.

The known answers through ``evaluate_metric`` (with fault injection) are in tests/test_known_metrics.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from xaibench.metrics import evaluate_metric, metric_info
from xaibench.metrics.quantus_fixes import (
    completeness_scores,
    effective_complexity_share,
    fixed_effective_complexity,
    non_sensitivity_violations,
)

# --- completeness -------------------------------------------------------------------------------------


def test_completeness_errors_of_hand_made_sums():
    d = np.array([2.0, 2.0, 2.0, -0.5, 0.0, 0.0, 3.0])
    s = np.array([2.0, 4.0, 1.0, 0.5, 0.0, 1.0, 3.3])
    np.testing.assert_allclose(
        completeness_scores(s, d, "symmetric_error"),
        [0, 1 / 3, 1 / 3, 1, 0, 1, 0.3 / 6.3],  # exact, x2, x1/2, opposite sign, both 0, D = 0
        rtol=1e-12,
    )
    relative = completeness_scores(s, d, "relative_error")
    np.testing.assert_allclose(relative[[0, 1, 2, 3, 4, 6]], [0, 1, 0.5, 2, 0, 0.1], rtol=1e-12)
    assert np.isnan(relative[5])  # undefined: D = 0 but S is not
    passed = completeness_scores(s, d, "pass", rtol=0.1, atol=1e-9)
    np.testing.assert_array_equal(passed, [1, 0, 0, 0, 1, 0, 1])  # 3.3 vs 3: 10 % off, inside rtol 0.1
    np.testing.assert_array_equal(completeness_scores(s, d, "pass", rtol=0.05), [1, 0, 0, 0, 1, 0, 0])
    # rtol = atol = 0 is Quantus's float ==
    np.testing.assert_array_equal(completeness_scores(s, d, "pass"), (s == d).astype(float))
    with pytest.raises(ValueError, match="score"):
        completeness_scores(s, d, "exact")


def test_completeness_defaults_and_params():
    info = metric_info("completeness")
    assert info["direction"] == "lower" and info["quantus_direction"] == "higher"
    assert info["defaults"] == {
        "normalise": False,
        "perturb_baseline": 0.0,
        "score": "symmetric_error",
        "rtol": 0.05,
        "atol": 1e-5,
    }
    for word in ("symmetric_error", "relative_error", "pass", "rtol", "rate"):
        assert word in info["notes"], word


@pytest.mark.parametrize(
    ("params", "match"),
    [({"score": "exact"}, "score must be one of"), ({"rtol": -0.1}, "rtol"), ({"atol": "1e-5"}, "atol")],
)
def test_completeness_bad_params_raise(params, match):
    from xaibench.metrics import resolve_params

    with pytest.raises(ValueError, match=rf"'completeness'.*{match}"):
        resolve_params("completeness", params, (2, 1, 8, 8))


# --- effective complexity -----------------------------------------------------------------------------


def test_effective_complexity_share_of_hand_made_maps():
    a = np.zeros((4, 10))
    a[0] = [1.0, 0.5, 0.1, 0.09, 0, 0, 0, 0, 0, 0.2]  # 0.1 max|a| is not above the threshold: 3 of 10
    a[1] = 1.0  # all ones: every feature
    a[2] = a[0] * 1e-7  # the scale does not matter
    a[3, 4] = 5.0  # one peak
    np.testing.assert_allclose(effective_complexity_share(a, 0.1), [0.3, 1.0, 0.3, 0.1], rtol=0, atol=0)
    np.testing.assert_allclose(effective_complexity_share(a, 0.0), [0.5, 1.0, 0.5, 0.1])


def test_effective_complexity_class_on_an_all_ones_map():
    """Quantus (and evaluate_metric) refuse constant maps; the class's own scoring gives share 1."""
    metric = fixed_effective_complexity()(eps=0.1, disable_warnings=True)
    np.testing.assert_array_equal(metric.evaluate_batch(a_batch=np.ones((2, 1, 4, 4))), [1.0, 1.0])


def test_effective_complexity_defaults():
    info = metric_info("effective_complexity")
    assert info["defaults"] == {"eps": 0.1} and info["direction"] == "lower"
    assert "share" in info["notes"]


# --- non-sensitivity ----------------------------------------------------------------------------------


def test_non_sensitivity_violations_of_hand_made_values():
    # 8 features in 4 steps of 2 (features 0-1, 2-3, 4-5, 6-7); attributions (max 1); output change per step.
    a = np.array([[1.0, 0.5, 0.05, 0.0, 0.2, 0.0, 0.0, 0.09]])
    changes = np.array([[2.0, 0.1, 0.5, 0.3]])

    def share(eps, output_eps, a=a, changes=changes):
        return non_sensitivity_violations(a, changes, eps, output_eps, 2)[0]

    # eps 0.1: non-features 2, 3, 5, 6, 7. output_eps 0.1 (<= 0.2 unchanged): step 1 unchanged; violations:
    # 5 (step 2 changes), 6 and 7 (step 3 changes).
    assert share(0.1, 0.1) == 3 / 8
    assert share(0.1, 0.2) == 1 / 8  # <= 0.4: step 3 unchanged too; only 5 violates
    assert share(0.1, 0.3) == 1 / 8  # <= 0.6: step 2 unchanged too; feature 4 violates instead of 5
    assert share(0.25, 0.2) == 2 / 8  # 4 is a non-feature too: 4 and 5 (step 2 changes)
    # The scale of the map and of the output does not matter.
    assert share(0.1, 0.1, a=a * 1e-6, changes=changes * 1e4) == 3 / 8
    # A model no step moves: every step is unchanged, every feature (0, 1, 4) violates.
    assert share(0.1, 0.1, changes=np.zeros((1, 4))) == 3 / 8
    # output_eps None: Quantus's absolute change < eps (eps 0.15: only step 1 is unchanged): 5, 6, 7.
    assert share(0.15, None) == 3 / 8
    # A map that is zero exactly where the output does not change: no violation.
    assert share(0.1, 0.1, a=np.array([[1.0, 0.5, 0.0, 0.0, 0.2, 0.3, 0.4, 0.5]])) == 0


def test_non_sensitivity_defaults():
    info = metric_info("non_sensitivity")
    assert info["defaults"] == {"features_in_step": "auto", "eps": 0.1, "output_eps": 0.1}
    assert info["direction"] == "lower" and "share" in info["notes"]


# --- different methods score differently on a trained model -------------------------------------------

N = 8


def _gradient(model, x, y):
    import torch

    inputs = torch.as_tensor(x).requires_grad_(True)
    out = model(inputs)[torch.arange(len(x)), torch.as_tensor(y)]
    (grad,) = torch.autograd.grad(out.sum(), inputs)
    return grad.detach().numpy().astype(np.float64)


def _integrated_gradients(model, x, y, steps=256):
    """From the zero baseline, midpoint rule: sums to f(x) - f(0) up to the integration error."""
    total = np.zeros(x.shape)
    for t in (np.arange(steps) + 0.5) / steps:
        total += _gradient(model, (t * x).astype(np.float32), y)
    return x * total / steps


@pytest.fixture(scope="module")
def maps(trained_tiny_model, one_torch_thread):
    from xaibench.datasets import make_dataset

    data = make_dataset("triangles_squares", seed=1, image_size=32, n_train=2, n_val=2, n_test=N)
    x, y = data.images[-N:].astype(np.float32), data.labels[-N:].astype(np.int64)
    model = trained_tiny_model
    rng = np.random.default_rng(0)
    return (
        model,
        x,
        y,
        {
            "saliency": np.abs(_gradient(model, x, y)),
            "input_x_gradient": x * _gradient(model, x, y),
            "integrated_gradients": _integrated_gradients(model, x, y),
            "random": rng.uniform(0, 1, x.shape),
        },
    )


def _means(name, maps, params=None):
    model, x, y, by_method = maps
    return {
        method: float(np.mean(evaluate_metric(name, model, x, y, a, None, params=params).scores))
        for method, a in by_method.items()
    }


def test_completeness_ranks_integrated_gradients_first(maps):
    means = _means("completeness", maps)
    assert means["integrated_gradients"] < 0.1  # 256 steps: a small integration error
    assert means["integrated_gradients"] < means["input_x_gradient"] < means["saliency"]
    assert means["random"] > 0.9 and means["saliency"] > 0.9  # sums of |a| or noise: far from f(x) - f(0)
    assert _means("completeness", maps, {"score": "pass", "rtol": 0.05})["integrated_gradients"] > 0.5


def test_effective_complexity_separates_methods(maps):
    means = _means("effective_complexity", maps)
    assert means["random"] > 0.8  # uniform noise on [0, 1]: ~90 % above 0.1 max
    assert means["saliency"] < 0.6 and means["integrated_gradients"] < 0.6
    assert len({round(v, 3) for v in means.values()}) == len(means)
    # Quantus's absolute eps 1e-5 (after max-normalisation) counted nearly every pixel of every map.
    saturated = _means("effective_complexity", maps, {"eps": 1e-5})
    assert min(saturated.values()) > 0.99


def test_non_sensitivity_separates_methods(maps):
    means = _means("non_sensitivity", maps)  # auto: 16 pixels per step at 32x32
    assert len({round(v, 3) for v in means.values()}) == len(means)
    # At 4 pixels per step the random map violates most.
    fine = _means("non_sensitivity", maps, {"features_in_step": 4})
    assert fine["random"] > max(v for k, v in fine.items() if k != "random")
