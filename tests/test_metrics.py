"""Every registered Quantus metric runs on the tiny model/batch; compat patches and fixes behave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xaibench.metrics import METRICS, PRESETS, evaluate_metric, metric_info

# Tiny settings keep the whole file well under 90 s on 2 CPU cores.
TEST_PARAMS: dict[str, dict] = {
    "faithfulness_correlation": {"nr_runs": 5},
    "max_sensitivity": {"nr_samples": 2},
    "avg_sensitivity": {"nr_samples": 2},
}
CATEGORIES = {"Faithfulness", "Robustness", "Localisation", "Complexity", "Randomisation", "Axiomatic"}


def saliency(model, inputs, targets, **kwargs):
    """|d f_target / d x| summed over channels: a tiny explain_func independent of xaibench.methods."""
    import torch

    del kwargs  # Quantus passes device=...
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32).requires_grad_(True)
    out = model(x)
    target = out[torch.arange(len(x)), torch.as_tensor(np.asarray(targets), dtype=torch.long)]
    (grad,) = torch.autograd.grad(target.sum(), x)
    return grad.abs().sum(dim=1).detach().numpy()


@pytest.fixture(scope="module")
def batch(tiny_model, tiny_batch):
    x, y, masks = tiny_batch
    return tiny_model, x, y, masks, saliency(tiny_model, x, y)


@pytest.fixture(scope="module")
def textured_batch(tiny_model, tiny_batch):
    """``batch`` with seeded noise (sd 0.02) on every pixel. The flat images of ``tiny_batch`` make exact ties
    in every max-pool window of their background; which tied pixel gets the gradient then rests on the last
    bit of the activations, so two float-rounding-equivalent computations (another batch size's conv kernel,
    a model that absorbs an input shift) route the gradient to different pixels."""
    x, y, masks = tiny_batch
    x = (x + np.random.default_rng(1).normal(0, 0.02, x.shape)).astype(np.float32)
    return tiny_model, x, y, masks, saliency(tiny_model, x, y)


def run(name, batch, **kwargs):
    model, x, y, masks, a = batch
    params = {**TEST_PARAMS.get(name, {}), **kwargs.pop("params", {})}
    return evaluate_metric(name, model, x, y, a, masks, explain_func=saliency, params=params, **kwargs)


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_returns_finite_scores(name, batch):
    n = batch[1].shape[0]
    result = run(name, batch)
    assert result.scores.shape == (n,)
    assert result.scores.dtype == np.float64
    assert np.all(np.isfinite(result.scores)), result.scores
    spec = METRICS.get(name)
    if spec.curve:
        assert result.curves is not None
        assert result.curves.shape == (n, result.params["curve_steps"])
        assert 16 <= result.curves.shape[1] <= 64
    else:
        assert result.curves is None
    json.dumps(result.params)  # JSON-serialisable as is
    assert result.params["softmax"] in (True, False, None)
    assert result.category in CATEGORIES
    assert result.direction in ("higher", "lower", "none")


# (category, direction of xaibench's per-sample score), from the papers and Quantus's documentation. Written
# out, not read from Quantus: a change of direction in the library or in Quantus fails here.
EXPECTED_CATEGORY_DIRECTION: dict[str, tuple[str, str]] = {
    "faithfulness_correlation": ("Faithfulness", "higher"),  # Bhatt et al. 2020: correlation
    "pixel_flipping": ("Faithfulness", "lower"),  # Bach et al. 2015: AUC of a MoRF curve
    "region_perturbation": ("Faithfulness", "higher"),  # Samek et al. 2017: AOPC of a MoRF order
    "max_sensitivity": ("Robustness", "lower"),  # Yeh et al. 2019
    "avg_sensitivity": ("Robustness", "lower"),  # Yeh et al. 2019
    "pointing_game": ("Localisation", "higher"),  # Zhang et al. 2018: hit rate
    "attribution_localisation": ("Localisation", "higher"),  # Kohlbrenner et al. 2020: inside ratio
    "top_k_intersection": ("Localisation", "higher"),  # Theiner et al. 2021
    "relevance_rank_accuracy": ("Localisation", "higher"),  # Arras et al. 2021
    "relevance_mass_accuracy": ("Localisation", "higher"),  # Arras et al. 2021
    "auc": ("Localisation", "higher"),  # Fawcett 2006: ROC AUC against the mask
    "sparseness": ("Complexity", "higher"),  # Chalasani et al. 2020: Gini index
    "complexity": ("Complexity", "lower"),  # Bhatt et al. 2020: entropy
    "effective_complexity": ("Complexity", "lower"),  # Nguyen & Martinez 2020: share above eps max|a|
    "efficient_mprt": ("Randomisation", "higher"),  # Hedström et al. 2023: rise in complexity
    "mprt": ("Randomisation", "lower"),  # Adebayo et al. 2018: similarity to the randomised model's map
    "random_logit": ("Randomisation", "lower"),  # Sixt et al. 2020: similarity to another class's map
    "completeness": ("Axiomatic", "lower"),  # Sundararajan et al. 2017: error of sum(a) vs f(x) - f(0)
    "non_sensitivity": ("Axiomatic", "lower"),  # Nguyen & Martinez 2020: share of violating pixels
    "input_invariance": ("Axiomatic", "higher"),  # Kindermans et al. 2017: 1 = invariant
    # seed 000 (Brodzicki et al.): xaibench's own definitions (metrics/overlap.py, metrics/gaussian.py)
    "mask_iou": ("Localisation", "higher"),  # Jaworek-Korjakowska et al. 2021: overlap with the mask
    "mask_dice": ("Localisation", "higher"),
    "gaussian_spread": ("Complexity", "lower"),  # SafeSO 2021: spread of the map as a 2-D Gaussian
    "gaussian_mass_1sigma": ("Complexity", "none"),  # tail weight: neither direction is better
    "gaussian_mass_2sigma": ("Complexity", "none"),
    "heatmap_modes": ("Complexity", "lower"),  # 1 = one bump, as a Gaussian
}


@pytest.mark.parametrize("name", METRICS.names())
def test_category_and_direction_match_the_literature(name):
    assert name in EXPECTED_CATEGORY_DIRECTION, f"add {name!r} to EXPECTED_CATEGORY_DIRECTION"
    info = metric_info(name)
    assert (info["category"], info["direction"]) == EXPECTED_CATEGORY_DIRECTION[name]
    # Quantus's own class attribute agrees, except for the documented overrides: AOPC, and completeness's
    # error (Quantus: 1 = exactly complete; with score "pass" xaibench's direction is Quantus's again).
    overrides = {
        "region_perturbation": "lower",
        "completeness": "higher",
        "gaussian_mass_1sigma": "lower",  # Quantus's Complexity class; a mass share has no better direction
        "gaussian_mass_2sigma": "lower",
    }
    assert info["quantus_direction"] == overrides.get(name, info["direction"])


def test_completeness_direction_follows_its_score(batch):
    assert run("completeness", batch).direction == "lower"
    assert run("completeness", batch, params={"score": "relative_error"}).direction == "lower"
    passed = run("completeness", batch, params={"score": "pass"})
    assert passed.direction == "higher" and set(passed.scores.tolist()) <= {0.0, 1.0}


def test_registry_covers_all_six_categories():
    assert {metric_info(name)["category"] for name in METRICS.names()} == CATEGORIES
    for name in METRICS.names():
        spec = METRICS.get(name)
        assert spec.needs_mask == (metric_info(name)["category"] == "Localisation")


def test_numpy_compat_and_pixel_flipping_auc(batch):
    import quantus

    from xaibench.compat import apply_numpy_compat

    apply_numpy_compat()
    apply_numpy_compat()  # idempotent
    assert vars(np)["trapz"] is np.trapezoid  # removed in numpy 2.x, restored as an alias
    assert np.isnan(vars(np)["NaN"])

    model, x, y, _, a = batch
    result = run("pixel_flipping", batch)
    steps = result.params["curve_steps"]
    assert steps * result.params["features_in_step"] == x.shape[2] * x.shape[3]
    # Quantus's own AUC path uses np.trapz (dx = 1); xaibench's score is on an x axis scaled to [0, 1].
    metric = quantus.PixelFlipping(
        features_in_step=result.params["features_in_step"],
        return_auc_per_sample=True,
        disable_warnings=True,
    )
    np.random.seed(0)  # noqa: NPY002
    quantus_auc = np.asarray(metric(model=model, x_batch=x, y_batch=y, a_batch=a, channel_first=True))
    np.testing.assert_allclose(result.scores * (steps - 1), quantus_auc, rtol=1e-6)
    np.testing.assert_allclose(result.scores, np.trapezoid(result.curves, dx=1 / (steps - 1), axis=1))


def test_region_perturbation_aopc_and_direction(batch):
    result = run("region_perturbation", batch)
    steps = result.curves.shape[1]
    np.testing.assert_allclose(result.scores, result.curves.sum(axis=1) / (steps + 1))
    assert result.params["order"] == "morf" and result.direction == "higher"
    lerf = run("region_perturbation", batch, params={"order": "lerf", "regions_evaluation": 4})
    assert lerf.direction == "lower" and lerf.curves.shape[1] == 4


def test_samek2017_preset_runs(batch):
    assert PRESETS["samek2017"]["metric"] == "region_perturbation"
    result = run("region_perturbation", batch, params={"preset": "samek2017"})
    params = result.params
    assert params["preset"] == "samek2017"
    assert params["patch_size"] == 9 and params["order"] == "morf"
    assert params["perturb_func"] == "uniform_noise_replacement"
    # A 32x32 image padded to 36x36 holds 16 non-overlapping 9x9 regions: L = min(100, 16).
    assert result.curves.shape == (batch[1].shape[0], 16)
    assert np.all(np.isfinite(result.scores))
    with pytest.raises(ValueError, match="samek2017"):
        run("pixel_flipping", batch, params={"preset": "samek2017"})


def test_uniform_noise_replacement_stays_in_range():
    from xaibench.metrics import uniform_noise_replacement

    rng = np.random.default_rng(1)
    arr = rng.uniform(0.3, 0.6, size=(3, 50)).astype(np.float32)
    idx = np.tile(np.arange(10), (3, 1))
    out = uniform_noise_replacement(arr, idx, perturb_baseline="black")
    np.testing.assert_array_equal(out[:, 10:], arr[:, 10:])
    assert not np.allclose(out[:, :10], arr[:, :10])
    assert np.all(out >= arr.min(axis=1, keepdims=True)) and np.all(out <= arr.max(axis=1, keepdims=True))
    assert out.dtype == arr.dtype


def test_unknown_and_fixed_params_raise(batch):
    with pytest.raises(ValueError, match=r"pixel_flipping.*'not_a_param'"):
        run("pixel_flipping", batch, params={"not_a_param": 1})
    with pytest.raises(ValueError, match=r"pixel_flipping.*'return_auc_per_sample'"):
        run("pixel_flipping", batch, params={"return_auc_per_sample": True})
    with pytest.raises(ValueError, match=r"sparseness.*'return_aggregate'"):
        run("sparseness", batch, params={"return_aggregate": True})
    with pytest.raises(ValueError, match="top_k_intersection"):
        run("top_k_intersection", batch, params={"k": 5000})
    with pytest.raises(ValueError, match="unknown preset"):
        run("region_perturbation", batch, params={"preset": "nope"})


def test_missing_inputs_raise(batch):
    model, x, y, masks, a = batch
    with pytest.raises(ValueError, match=r"pointing_game.*mask"):
        evaluate_metric("pointing_game", model, x, y, a, None)
    with pytest.raises(ValueError, match=r"max_sensitivity.*explain_func"):
        evaluate_metric("max_sensitivity", model, x, y, a, masks)


def test_masks_shape_and_empty_masks(batch):
    model, x, y, masks, a = batch
    full = evaluate_metric("pointing_game", model, x, y, a, masks)
    squeezed = evaluate_metric("pointing_game", model, x, y, a[:, None], masks[:, 0])
    np.testing.assert_array_equal(full.scores, squeezed.scores)
    assert set(np.unique(full.scores)) <= {0.0, 1.0}
    empty = masks.copy()
    empty[1] = False
    for name in ("pointing_game", "auc", "top_k_intersection"):
        scores = evaluate_metric(name, model, x, y, a, empty).scores
        assert np.isnan(scores[1]) and np.all(np.isfinite(np.delete(scores, 1))), name


def test_seed_makes_results_reproducible(batch):
    first = run("faithfulness_correlation", batch, seed=3).scores
    again = run("faithfulness_correlation", batch, seed=3).scores
    np.testing.assert_array_equal(first, again)


def test_fast_check_patch_active_and_equivalent():
    from quantus.helpers import asserts

    from xaibench.compat import (
        has_multiple_values,
        original_assert_attributions,
        patch_quantus_fast_checks,
        quantus_fast_checks_active,
    )
    from xaibench.compat import load_quantus as _quantus

    _quantus()
    patch_quantus_fast_checks()  # idempotent
    assert quantus_fast_checks_active()
    original = original_assert_attributions()
    assert original is not asserts.assert_attributions

    def verdict(check, x, a):
        try:
            check(x_batch=x, a_batch=a)
        except AssertionError as exc:
            return str(exc)
        return "ok"

    x = np.zeros((2, 1, 4, 4), dtype=np.float32)
    rng = np.random.default_rng(0)
    cases = {
        "constant": np.full((2, 1, 4, 4), 0.5),
        "varying": rng.random((2, 1, 4, 4)),
        "zeros": np.zeros((2, 1, 4, 4)),
        "ones": np.ones((2, 1, 4, 4)),
        "negative": -rng.random((2, 1, 4, 4)),
        "signed_zero": np.array([0.0, -0.0, 0.5, 0.5] * 8).reshape(2, 1, 4, 4),
        "one_nan": np.where(np.arange(32).reshape(2, 1, 4, 4) == 3, np.nan, 0.5),
        "all_nan": np.full((2, 1, 4, 4), np.nan),
    }
    for label, a in cases.items():
        assert verdict(asserts.assert_attributions, x, a) == verdict(original, x, a), label
    assert verdict(asserts.assert_attributions, x, cases["constant"]) != "ok"
    assert verdict(asserts.assert_attributions, x, cases["varying"]) == "ok"
    for a in [*cases.values(), np.array([1.0]), np.array([]), np.array([0.0, -0.0])]:
        assert has_multiple_values(a) == (len(set(a.flatten().tolist())) > 1)


def test_non_sensitivity_fix_matches_quantus_for_single_pixels(tiny_model, tiny_batch):
    import quantus

    from xaibench.metrics.quantus_fixes import _fixed_classes

    x, y, _ = tiny_batch
    x = np.ascontiguousarray(x[:, :, 4:12, 4:12])  # 64 pixels: one forward pass per pixel stays cheap
    a = saliency(tiny_model, x, y)
    kwargs = dict(model=tiny_model, x_batch=x, y_batch=y, a_batch=a, channel_first=True)
    expected = quantus.NonSensitivity(features_in_step=1, disable_warnings=True)(**kwargs)
    # The class's own defaults (output_eps=None) are Quantus's thresholds; its score is a share of the pixels.
    fixed = _fixed_classes()["non_sensitivity"](features_in_step=1, disable_warnings=True)(**kwargs)
    np.testing.assert_array_equal(np.asarray(fixed) * x[0].size, np.asarray(expected))
    grouped = _fixed_classes()["non_sensitivity"](features_in_step=8, disable_warnings=True)(**kwargs)
    assert np.asarray(grouped).shape == (x.shape[0],)


def test_input_invariance_holds_for_gradients(textured_batch):
    # The shifted model computes f(x) on x - 1 (up to float rounding), so plain gradients must be invariant.
    assert np.all(run("input_invariance", textured_batch).scores == 1.0)
    # A per-sample 0/1: the summary's mean is a pass rate, and the notes say so.
    assert "rate" in metric_info("input_invariance")["notes"]


def input_x_gradient(model, inputs, targets, **kwargs):
    return saliency(model, inputs, targets) * np.asarray(inputs).sum(axis=1)


def test_input_invariance_detects_shift_dependence(tiny_model, tiny_batch):
    # Gradient x input changes with the input shift; the metric must say so. (A +1 shift keeps the
    # shifted attributions positive: Quantus rejects all-negative attribution batches.)
    x, y, masks = tiny_batch
    a = input_x_gradient(tiny_model, x, y)
    result = evaluate_metric(
        "input_invariance",
        tiny_model,
        x,
        y,
        a,
        masks,
        explain_func=input_x_gradient,
        params={"input_shift": 1.0},
    )
    assert np.all(result.scores == 0.0)


@pytest.mark.parametrize("padding", [0, 1])
def test_mean_shift_model_is_equivalent(tiny_model, tiny_batch, padding):
    import torch
    from torch import nn

    from xaibench.metrics.quantus_fixes import _mean_shift_model

    x = torch.as_tensor(tiny_batch[0])
    torch.manual_seed(0)
    with_bias = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=padding), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2)
    ).eval()
    for model in (tiny_model, with_bias):
        shifted = _mean_shift_model(model, -1.0, (1, *x.shape[1:]))
        with torch.no_grad():
            torch.testing.assert_close(shifted(x - 1.0), model(x), rtol=1e-5, atol=1e-5)


def test_constant_maps_score_nan_with_a_note(tiny_model, tiny_batch):
    """Quantus refuses constant attributions: those samples are NaN (counted), the rest are scored."""
    x, y, s = tiny_batch
    a = np.random.default_rng(0).random(x.shape).astype(np.float32)
    a[1] = 0.0
    result = evaluate_metric("sparseness", tiny_model, x, y, a, s)
    assert np.isnan(result.scores[1]) and np.isfinite(np.delete(result.scores, 1)).all()
    assert "1 constant attribution map" in result.note
    everything_constant = evaluate_metric("pixel_flipping", tiny_model, x, y, np.zeros_like(a), s)
    assert np.isnan(everything_constant.scores).all() and everything_constant.category == "Faithfulness"


def test_refused_re_explanation_is_nan_with_a_note(tiny_model, tiny_batch):
    """A metric whose re-explanation is constant (e.g. Grad-CAM of a randomised model) gives NaN."""
    x, y, s = tiny_batch
    a = np.random.default_rng(0).random(x.shape).astype(np.float32)

    def zero_explainer(model, inputs, targets, **kwargs):
        return np.zeros((len(inputs), 1, *np.shape(inputs)[2:]), dtype=np.float32)

    result = evaluate_metric("efficient_mprt", tiny_model, x, y, a, s, explain_func=zero_explainer, params={})
    assert np.isnan(result.scores).all()
    assert "refused" in result.note


# Metrics whose random draws (subsets, noise, random classes) are made for the whole batch at once: a sample's
# draws depend on its position in the batch, so it is not scored the same alone (by design of Quantus).
BATCH_DRAWS = {"faithfulness_correlation", "max_sensitivity", "avg_sensitivity", "random_logit"}
# MPRT correlates re-explanations of randomised models: a batch of one takes another CPU conv kernel than a
# batch of four (logits differ by ~1e-8 on some CPUs), which its layer-by-layer correlations amplify to
# ~2e-5 relative. Far below what the test guards (a batch-wide max: 0 vs 64, or 1e-4-scaled maps).
RTOL = {"mprt": 1e-4}


@pytest.mark.parametrize("name", sorted(set(METRICS.names()) - BATCH_DRAWS))
def test_a_sample_scores_the_same_alone_and_in_a_batch(name, textured_batch):
    """Normalisation is per sample: a map scaled by 1e-4 beside unscaled ones scores as it does alone (with
    Quantus's default batch-wide max it did not: effective complexity 0 in the batch, 64 alone)."""
    model, x, y, masks, a = textured_batch
    a = a.copy()
    a[1] *= 1e-4
    params = {**TEST_PARAMS.get(name, {}), **({"features_in_step": 64} if name == "non_sensitivity" else {})}
    kwargs = {"explain_func": saliency, "params": params}
    together = evaluate_metric(name, model, x, y, a, masks, **kwargs).scores
    for i in range(len(x)):
        alone = evaluate_metric(
            name, model, x[i : i + 1], y[i : i + 1], a[i : i + 1], masks[i : i + 1], **kwargs
        )
        rtol = RTOL.get(name, 1e-9)
        np.testing.assert_allclose(alone.scores, together[i : i + 1], rtol=rtol, atol=1e-12, err_msg=f"{i}")


def test_the_callers_attributions_are_not_modified(batch):
    model, x, y, masks, a = batch
    a = a[:, None].astype(np.float64)
    before = a.copy()
    for name in (
        "sparseness",
        "complexity",
    ):  # with abs=False, normalise=False Quantus edits a_batch in place
        evaluate_metric(name, model, x, y, a, masks, params={"abs": False, "normalise": False})
        np.testing.assert_array_equal(a, before, err_msg=name)


# --- the spec carries metric behaviour ------------------------------------------------------------------


def _metric_names_in(source: str, names: set[str]) -> set[str]:
    """Registered names that ``source`` spells as a string literal or an identifier (a name branch)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found & names


def test_generic_code_knows_no_metric_by_name():
    import inspect

    from xaibench.metrics import core, functions, rules

    names = set(METRICS.names()) | set(PRESETS)
    # The check finds the kind of branch the specs replaced ...
    branch = 'if name == "pixel_flipping":\n    record["xaibench_score"] = PRESETS["samek2017"]\n'
    assert _metric_names_in(branch, names) == {"pixel_flipping", "samek2017"}
    # ... and the generic modules have none.
    for module in (core, rules, functions):
        assert not _metric_names_in(inspect.getsource(module), names), module.__name__


def test_incomplete_specs_are_refused_at_registration():
    from xaibench.metrics import MetricSpec, register

    curve = {"curve": True, "curve_label": "output", "score_label": "last"}
    with pytest.raises(ValueError, match=r"'new_curve_metric'.*reduce_curve"):
        register("new_curve_metric", MetricSpec("PixelFlipping", {}, **curve))
    with pytest.raises(ValueError, match=r"'new_curve_metric'.*score_label"):
        register("new_curve_metric", MetricSpec("PixelFlipping", {}, curve=True, reduce_curve=np.mean))
    with pytest.raises(ValueError, match=r"'new_metric'.*reduce_curve.*curve=True"):
        register("new_metric", MetricSpec("Sparseness", {}, reduce_curve=np.mean))
    with pytest.raises(ValueError, match=r"'new_metric'.*direction"):
        register("new_metric", MetricSpec("Sparseness", {}, direction="up"))
    assert "new_curve_metric" not in METRICS and "new_metric" not in METRICS
    with pytest.raises(ValueError, match="already registered"):
        register("sparseness", METRICS.get("sparseness"))


def test_a_new_curve_metric_is_scored_by_its_own_reduction(batch, monkeypatch):
    from xaibench.metrics import MetricSpec, core, register
    from xaibench.registry import Registry

    monkeypatch.setattr(core, "METRICS", Registry("metric"))  # a scratch registry: nothing leaks
    register(
        "last_point",
        MetricSpec(
            "PixelFlipping",
            {"features_in_step": 256},
            curve=True,
            curve_label="output",
            reduce_curve=lambda curves: curves[:, -1],
            score_label="last_point_of_curve",
            fixed={"return_auc_per_sample": False},
        ),
    )
    model, x, y, masks, a = batch
    result = core.evaluate_metric("last_point", model, x, y, a, masks)
    assert result.curves.shape == (len(x), 4)
    np.testing.assert_array_equal(result.scores, result.curves[:, -1])
    assert result.params["xaibench_score"] == "last_point_of_curve"
    assert "last_point" not in METRICS


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_can_be_skipped_with_a_note(name):
    """A method that is not applicable, or a dataset without masks, skips the metric: an all-NaN result with
    the note, for every metric (random_logit's num_classes='auto' once made this raise: no model to ask)."""
    from xaibench.metrics import skipped_result

    result = skipped_result(name, (3, 1, 8, 8), "not applicable to this model")
    assert np.isnan(result.scores).all() and result.scores.shape == (3,)
    assert result.note == "not applicable to this model" and result.category in CATEGORIES
    if name == "random_logit":
        assert result.params["num_classes"] == "auto"


def test_warning_only_check_is_skipped_during_a_metric_and_restored(batch, monkeypatch):
    """Quantus's per-sample "perturbation changed nothing" check only warns, and evaluate_metric ignores
    Quantus's warnings: it is not run during a metric (pixel flipping would call it once per sample and step)
    and is back in place afterwards."""
    from quantus.helpers import warn

    calls = []

    def counting(**kwargs):
        calls.append(1)

    monkeypatch.setattr(warn, "warn_perturbation_caused_no_change", counting)
    scores = run("pixel_flipping", batch).scores
    assert calls == [] and np.isfinite(scores).all()
    assert warn.warn_perturbation_caused_no_change is counting
    x = batch[1]
    warn.warn_perturbation_caused_no_change(x=x[0], x_perturbed=x[0])
    assert calls == [1]
