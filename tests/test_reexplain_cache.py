"""The evaluation's re-explanation cache (:mod:`xaibench.methods.cache`): replay is exact (scores
bit-identical to the uncached path, for stochastic methods too), it really saves explanations
(AvgSensitivity after MaxSensitivity costs none) and anything an explanation depends on changes the key."""

from __future__ import annotations

import copy
import dataclasses
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from xaibench.datasets import make_dataset
from xaibench.evaluation import evaluate_one
from xaibench.methods import explain, quantus_explain_func
from xaibench.methods.cache import ExplanationCache, model_digest
from xaibench.metrics import METRICS as METRIC_REGISTRY
from xaibench.metrics import evaluate_metric

N, BATCH, NR_SAMPLES = 4, 3, 2  # 2 batches of Quantus's, 2 noisy copies per sensitivity metric
BATCHES = -(-N // BATCH)
METRICS = {
    "max_sensitivity": {"metric": "max_sensitivity", "params": {"nr_samples": NR_SAMPLES}},
    "avg_sensitivity": {"metric": "avg_sensitivity", "params": {"nr_samples": NR_SAMPLES}},
    "random_logit": {"metric": "random_logit"},
    "efficient_mprt": {"metric": "efficient_mprt"},
}
# Real explain calls each metric makes on a cold cache: one per noisy copy and batch; one per batch;
# eMPRT: the fully randomised model, per batch (the original model's maps are the ones under evaluation).
CALLS = {"max_sensitivity": NR_SAMPLES * BATCHES, "random_logit": BATCHES, "efficient_mprt": BATCHES}
METHODS = {
    "saliency": {"method": "saliency", "params": {}},
    "lime": {"method": "lime", "params": {"n_samples": 16, "perturbations_per_eval": 16, "alpha": 0.0}},
    "smoothgrad": {"method": "smoothgrad", "params": {"n_samples": 4}},
}


@pytest.fixture(scope="module")
def case(trained_tiny_model, one_torch_thread):
    """The trained tiny model and N Triangles & Squares images it was not trained on."""
    data = make_dataset("triangles_squares", seed=1, image_size=32, n_train=2, n_val=2, n_test=N)
    x, y = data.images[-N:], data.labels[-N:].astype(np.int64)
    return trained_tiny_model, x, y


def _attributions(model, x, y, spec):
    return explain(spec["method"], model, torch.from_numpy(x), torch.from_numpy(y), **spec["params"])


class Counting:
    """An explain_func that counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, model, inputs, targets, **kwargs):
        self.calls += 1
        return self.fn(model, inputs, targets, **kwargs)


def noisy_saliency(model, inputs, targets, **kwargs):
    """Saliency plus noise drawn from all three global generators (torch, numpy, python), which it leaves
    advanced: a cache that does not restore the states after a hit changes the metric's next noise draw."""
    a = quantus_explain_func(model, inputs, targets, **kwargs)
    noise = torch.rand(a.shape).numpy() + np.random.uniform(size=a.shape) + random.random()  # noqa: NPY002
    return (a + 1e-3 * noise).astype(np.float32)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_cached_evaluation_is_bit_identical_and_replays_avg_sensitivity(case, method):
    model, x, y = case
    spec = METHODS[method]
    a = _attributions(model, x, y, spec)
    expl = {"indices": np.arange(N), "targets": y, "attributions": a}
    dataset = SimpleNamespace(images=x, masks=None)
    common = {
        "metrics": METRICS,
        "method": spec,
        "ids": {"dataset": "d", "model": "m", "replicate": 0, "method": method},
    }
    common |= {"batch_size": BATCH, "seed": 0}
    plain, plain_curves, _ = evaluate_one(dataset, model, "cpu", expl, **common)
    counting = Counting(quantus_explain_func)
    cache = ExplanationCache(counting)
    cached, cached_curves, _ = evaluate_one(dataset, model, "cpu", expl, explain_cache=cache, **common)

    assert np.isfinite(plain["score"]).sum() >= 3 * N, plain.groupby("metric")["score"].apply(list)
    np.testing.assert_array_equal(plain["metric"], cached["metric"])
    np.testing.assert_array_equal(plain["score"].to_numpy(), cached["score"].to_numpy())
    assert plain_curves.keys() == cached_curves.keys()
    for name, curves in plain_curves.items():
        np.testing.assert_array_equal(curves, cached_curves[name])
    # AvgSensitivity explained nothing: all its calls were MaxSensitivity's, replayed.
    assert cache.stats.hits == NR_SAMPLES * BATCHES
    assert counting.calls == cache.stats.misses == sum(CALLS.values())


def _run_metrics(model, x, y, a, explain_func, metrics=METRICS, method=None):
    method = method or METHODS["saliency"]
    out = {}
    for name, entry in metrics.items():
        out[name] = evaluate_metric(
            entry["metric"],
            model,
            x,
            y,
            a,
            None,
            explain_func=explain_func,
            explain_func_kwargs={"method": method["method"], **method["params"], "device": "cpu"},
            params=entry.get("params"),
            batch_size=BATCH,
            seed=0,
        )
    return out


def test_replay_restores_the_random_states_a_method_consumed(case):
    model, x, y = case
    a = noisy_saliency(model, x, y, method="saliency")
    plain = _run_metrics(model, x, y, a, noisy_saliency)
    cache = ExplanationCache(noisy_saliency)
    cached = _run_metrics(model, x, y, a, cache)
    for name in METRICS:
        np.testing.assert_array_equal(plain[name].scores, cached[name].scores)
        assert np.isfinite(plain[name].scores).all(), name
    assert cache.stats.hits == NR_SAMPLES * BATCHES


def test_second_sensitivity_metric_costs_no_explanation(case):
    model, x, y = case
    counting = Counting(quantus_explain_func)
    cache = ExplanationCache(counting)
    a = _attributions(model, x, y, METHODS["saliency"])
    for name, entry in METRICS.items():
        before = counting.calls
        _run_metrics(model, x, y, a, cache, {name: entry})
        assert counting.calls - before == CALLS.get(name, 0), name
    assert cache.stats.hits == NR_SAMPLES * BATCHES and cache.stats.bypassed == 0


def _in_quantus_batches(model, x, y, spec):
    """The maps explained batch by batch as Quantus's metrics explain them again (``BATCH`` images)."""
    chunks = [_attributions(model, x[i : i + BATCH], y[i : i + BATCH], spec) for i in range(0, len(x), BATCH)]
    return np.concatenate(chunks)


def _with_quantus_class(monkeypatch, metric):
    """From now on, ``metric`` builds Quantus's own class (which explains the original model again) instead
    of xaibench's (quantus_fixes.fixed_efficient_mprt, fixed_mprt); all else is the same call."""
    spec = dataclasses.replace(METRIC_REGISTRY.get(metric), metric_class=None)
    monkeypatch.setitem(METRIC_REGISTRY._entries, metric, spec)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_efficient_mprt_explains_only_the_randomised_model_and_scores_as_quantus(case, method, monkeypatch):
    """eMPRT's original-model explanations are the maps under evaluation: half the explain calls of
    Quantus's EfficientMPRT, and its very scores where Quantus's second pass reproduces those maps: here the
    maps are explained in Quantus's batches (on flat images, max-pool ties make a saliency map depend on
    the batch it is computed in: explained alone, this batch's 4th map differs by 70 % of its maximum)."""
    model, x, y = case
    spec, entry = METHODS[method], {"efficient_mprt": METRICS["efficient_mprt"]}
    a = _in_quantus_batches(model, x, y, spec)
    ours = Counting(quantus_explain_func)
    mine = _run_metrics(model, x, y, a, ours, entry, spec)["efficient_mprt"].scores
    _with_quantus_class(monkeypatch, "efficient_mprt")
    quantus = Counting(quantus_explain_func)
    theirs = _run_metrics(model, x, y, a, quantus, entry, spec)["efficient_mprt"].scores
    assert np.isfinite(mine).all(), mine
    np.testing.assert_array_equal(mine, theirs)
    assert ours.calls == BATCHES and quantus.calls == 2 * BATCHES


def test_efficient_mprt_scores_the_maps_it_is_given(case, monkeypatch):
    """Swapping two images' maps changes those two images' scores (their original complexity is now the
    other map's) and no other; Quantus's own eMPRT, which explains the images again, ignores the swap."""
    model, x, y = case
    entry = {"efficient_mprt": METRICS["efficient_mprt"]}
    a = _in_quantus_batches(model, x, y, METHODS["saliency"])
    swapped = a[[1, 0, *range(2, N)]]
    mine, mine_swapped = (
        _run_metrics(model, x, y, maps, quantus_explain_func, entry)["efficient_mprt"].scores
        for maps in (a, swapped)
    )
    assert (mine_swapped[:2] != mine[:2]).all()
    np.testing.assert_array_equal(mine_swapped[2:], mine[2:])
    _with_quantus_class(monkeypatch, "efficient_mprt")
    theirs, theirs_swapped = (
        _run_metrics(model, x, y, maps, quantus_explain_func, entry)["efficient_mprt"].scores
        for maps in (a, swapped)
    )
    np.testing.assert_array_equal(theirs_swapped, theirs)
    np.testing.assert_array_equal(mine, theirs)


def test_mprt_explains_only_the_randomised_model_and_scores_as_quantus_for_any_maps(case, monkeypatch):
    """MPRT's score is the last layer's correlation; the original model's re-explanation that Quantus makes
    enters only the average over layers, which xaibench does not return. So one explain call per batch
    instead of two, and Quantus's scores bit for bit even for maps that a re-explanation would not
    reproduce (explained in one batch of N, while Quantus's second pass explains batches of BATCH)."""
    model, x, y = case
    entry = {"mprt": {"metric": "mprt"}}
    a = _attributions(model, x, y, METHODS["saliency"])
    ours = Counting(quantus_explain_func)
    mine = _run_metrics(model, x, y, a, ours, entry)["mprt"].scores
    _with_quantus_class(monkeypatch, "mprt")
    quantus = Counting(quantus_explain_func)
    theirs = _run_metrics(model, x, y, a, quantus, entry)["mprt"].scores
    assert np.isfinite(mine).all() and len(set(mine.tolist())) == N, mine
    np.testing.assert_array_equal(mine, theirs)
    assert ours.calls == BATCHES and quantus.calls == 2 * BATCHES


@pytest.mark.parametrize(
    ("avg_params", "hits"),
    [
        # The first batch's first copies are the same draws; the second batch starts one draw later.
        ({"nr_samples": NR_SAMPLES + 1}, NR_SAMPLES),
        ({"nr_samples": NR_SAMPLES, "lower_bound": 0.1}, 0),  # other noise, other inputs
    ],
)
def test_only_identical_noise_is_replayed(case, avg_params, hits):
    model, x, y = case
    cache = ExplanationCache(quantus_explain_func)
    a = _attributions(model, x, y, METHODS["saliency"])
    metrics = {
        "max_sensitivity": METRICS["max_sensitivity"],
        "avg_sensitivity": {"metric": "avg_sensitivity", "params": avg_params},
    }
    _run_metrics(model, x, y, a, cache, metrics)
    assert cache.stats.hits == hits


# --- the key, one dependency at a time ----------------------------------------------------------------


def _toy(model, inputs, targets, **kwargs):
    """A stochastic 'method': its map depends on all three global generators, which it advances."""
    n = np.asarray(inputs).shape[0]
    draw = float(torch.rand(1)) + float(np.random.uniform()) + random.random()  # noqa: NPY002
    return np.full((n, 1, 32, 32), draw, dtype=np.float32)


def _seed(value):
    torch.manual_seed(value)
    np.random.seed(value)  # noqa: NPY002
    random.seed(value)


@pytest.fixture
def toy(tiny_model):
    counting = Counting(_toy)
    x = np.random.default_rng(0).random((2, 1, 32, 32), dtype=np.float32)
    return ExplanationCache(counting), counting, tiny_model, x, np.array([0, 1])


def test_same_call_in_same_state_is_a_hit_with_the_states_after_the_real_call(toy):
    cache, counting, model, x, y = toy
    _seed(3)
    first = cache(model, x, y, method="toy")
    after = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())  # noqa: NPY002
    _seed(3)
    second = cache(copy.deepcopy(model), x.copy(), y.copy(), method="toy")  # same content, new objects
    assert counting.calls == 1 and cache.stats.hits == 1
    np.testing.assert_array_equal(first, second)
    assert second is not first
    assert torch.equal(torch.get_rng_state(), after[0])
    np.testing.assert_array_equal(np.random.get_state()[1], after[1])  # noqa: NPY002
    assert random.getstate() == after[2]


def _changed_weights(model):
    model = copy.deepcopy(model)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-3
    return model


@pytest.mark.parametrize(
    "change",
    [
        "weights",
        "buffer",
        "inputs",
        "input_dtype",
        "targets",
        "kwargs",
        "torch_rng",
        "numpy_rng",
        "python_rng",
    ],
)
def test_any_changed_dependency_is_a_miss(toy, change):
    cache, counting, model, x, y = toy
    kwargs = {"method": "toy", "n_samples": 4}
    _seed(3)
    cache(model, x, y, **kwargs)
    _seed(3)
    if change == "weights":
        model = _changed_weights(model)
    elif change == "buffer":
        model = copy.deepcopy(model)
        model.register_buffer("extra", torch.zeros(1))
    elif change == "inputs":
        x = x.copy()
        x[1, 0, 5, 5] += 1e-6
    elif change == "input_dtype":
        x = x.astype(np.float64)
    elif change == "targets":
        y = np.array([1, 1])
    elif change == "kwargs":
        kwargs["n_samples"] = 5
    elif change == "torch_rng":
        torch.rand(1)
    elif change == "numpy_rng":
        np.random.uniform()  # noqa: NPY002
    elif change == "python_rng":
        random.random()
    cache(model, x, y, **kwargs)
    assert counting.calls == 2 and cache.stats.misses == 2 and cache.stats.hits == 0


def test_model_with_hooks_is_never_cached(toy):
    cache, counting, model, x, y = toy
    model = copy.deepcopy(model)
    handle = next(iter(model.children())).register_forward_hook(lambda _m, _i, out: out * 2)
    for _ in range(2):
        _seed(3)
        cache(model, x, y, method="toy")
    assert counting.calls == 2 and cache.stats.bypassed == 2 and len(cache) == 0
    with pytest.raises(ValueError, match="hooks"):
        model_digest(model)
    handle.remove()
    assert model_digest(model) == model_digest(copy.deepcopy(model)) != model_digest(_changed_weights(model))


def test_cache_is_bounded_by_bytes_and_cleared(toy):
    cache, counting, model, x, y = toy
    _seed(3)
    cache(model, x, y, method="toy")
    one_entry = cache.nbytes
    bounded = ExplanationCache(counting, max_bytes=one_entry)
    for value in (3, 4, 3):
        _seed(value)
        bounded(model, x, y, method="toy")
    assert len(bounded) == 1 and bounded.nbytes <= one_entry
    assert bounded.stats.evictions == 2 and bounded.stats.hits == 0  # seed 3's entry was evicted by 4's
    nothing = ExplanationCache(counting, max_bytes=one_entry - 1)
    _seed(3)
    nothing(model, x, y, method="toy")
    assert len(nothing) == 0
    cache.clear()
    _seed(3)
    cache(model, x, y, method="toy")
    assert len(cache) == 1 and cache.stats.misses == 2 and cache.stats.hits == 0
