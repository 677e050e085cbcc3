"""The evaluation's forward cache (:class:`xaibench.methods.cache.ForwardCache`): metrics whose perturbed
inputs do not depend on the map (``shared_forward``) give bit-identical scores when a later method's forward
passes are replayed from an earlier one's, the later methods run no forward pass of theirs at all, and
anything a forward pass depends on (weights, mode, gradients, hooks, the model object) is never replayed."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from xaibench.datasets import make_dataset
from xaibench.evaluation import evaluate_one
from xaibench.methods import explain
from xaibench.methods.cache import ForwardCache
from xaibench.metrics import METRICS

N, BATCH = 4, 3  # two batches of Quantus's
SHARED = {
    "faithfulness_correlation": {"metric": "faithfulness_correlation", "params": {"nr_runs": 6}},
    "non_sensitivity": {"metric": "non_sensitivity"},
    "completeness": {"metric": "completeness"},
}
# A metric whose inputs follow the map: never served, so its passes are neither stored nor replayed.
METRICS_RUN = {**SHARED, "pixel_flipping": {"metric": "pixel_flipping"}}
METHODS = {
    "saliency": {"method": "saliency", "params": {}},
    "smoothgrad": {"method": "smoothgrad", "params": {"n_samples": 4}},
    "random": {"method": "random", "params": {}},
}


@pytest.fixture(scope="module")
def case(trained_tiny_model, one_torch_thread):
    data = make_dataset("triangles_squares", seed=1, image_size=32, n_train=2, n_val=2, n_test=N)
    x, y = data.images[-N:], data.labels[-N:].astype(np.int64)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    maps = {
        name: explain(spec["method"], trained_tiny_model, inputs, targets, **spec["params"])
        for name, spec in METHODS.items()
    }
    return trained_tiny_model, x, y, maps


def _score_all(case, forward_cache):
    model, x, y, maps = case
    dataset = SimpleNamespace(images=x, masks=None)
    out, calls = {}, []
    for name, spec in METHODS.items():
        expl = {"indices": np.arange(N), "targets": y, "attributions": maps[name]}
        before = forward_cache.stats.copy() if forward_cache is not None else None
        scores, curves, _ = evaluate_one(
            dataset,
            model,
            "cpu",
            expl,
            metrics=METRICS_RUN,
            method=spec,
            ids={"dataset": "d", "model": "m", "replicate": 0, "method": name},
            batch_size=BATCH,
            seed=0,
            forward_cache=forward_cache,
        )
        out[name] = (scores, curves)
        if forward_cache is not None:
            stats = forward_cache.stats
            calls.append(
                (stats.hits - before.hits, stats.misses - before.misses, stats.bypassed - before.bypassed)
            )
    return out, calls


def test_specs_that_share_forward_passes():
    assert sorted(name for name in METRICS.names() if METRICS.get(name).shared_forward) == sorted(SHARED)


def test_shared_forward_passes_give_bit_identical_scores_and_run_once(case):
    plain, _ = _score_all(case, None)
    cache = ForwardCache()
    cached, calls = _score_all(case, cache)
    for name in METHODS:
        (p_scores, p_curves), (c_scores, c_curves) = plain[name], cached[name]
        np.testing.assert_array_equal(p_scores["metric"], c_scores["metric"])
        np.testing.assert_array_equal(p_scores["score"].to_numpy(), c_scores["score"].to_numpy())
        assert p_curves.keys() == c_curves.keys() == {"pixel_flipping"}
        np.testing.assert_array_equal(p_curves["pixel_flipping"], c_curves["pixel_flipping"])
        finite = p_scores[p_scores["metric"].isin(list(SHARED))]["score"]
        assert np.isfinite(finite).sum() >= 2 * N, name  # real scores, not NaN == NaN
    # Per batch: faithfulness correlation f(x) + 6 subsets, non-sensitivity f(x) + 64 pixel groups (16 pixels
    # each at 32x32), completeness f(x) + f(baseline). f(x) runs once: the other two metrics replay it.
    per_batch = (1 + 6) + 64 + 1
    first_hits, first_misses, first_bypassed = calls[0]
    assert (first_misses, first_hits, first_bypassed) == (2 * per_batch, 2 * 2, 0)
    # Every later method replays every one of those passes and runs none.
    for hits, misses, bypassed in calls[1:]:
        assert (hits, misses, bypassed) == (first_hits + first_misses, 0, 0)
    assert len(cache) == 2 * per_batch


def test_forward_is_restored_after_serving(case):
    model = case[0]
    cache = ForwardCache()
    with cache.serving(model):
        assert "forward" in model.__dict__
    assert "forward" not in model.__dict__


def _forward(model, x):
    with torch.no_grad():
        return model(x)


def test_never_replays_across_weights_modes_gradients_hooks_or_copies(case):
    model, x, _, _ = case
    net = copy.deepcopy(model).eval()
    inputs = torch.from_numpy(x)
    cache = ForwardCache()
    with cache.serving(net):
        first = _forward(net, inputs)
        assert torch.equal(_forward(net, inputs), first) and cache.stats.hits == 1
        # a deep copy made while served (MPRT randomises one) runs its own weights
        other = copy.deepcopy(net)
        with torch.no_grad():
            next(other.parameters()).mul_(-1.0)
        assert not torch.equal(_forward(other, inputs), first)
        assert cache.stats.hits == 1
        # changed weights are a new key, not a stale output
        state = copy.deepcopy(net.state_dict())
        with torch.no_grad():
            param = next(net.parameters())
            param.add_(0.5)
        changed = _forward(net, inputs)
        assert not torch.equal(changed, first) and cache.stats.misses == 2
        net.load_state_dict(state)  # the weights as they were: the stored output again
        # a submodule swapped for another (no tensor changes) and weights replaced through .data: new keys
        name = next(n for n, m in net.named_modules() if isinstance(m, torch.nn.ReLU))
        parent, _, child = name.rpartition(".")
        relu = net.get_submodule(parent).get_submodule(child)
        setattr(net.get_submodule(parent), child, torch.nn.Tanh().eval())
        assert not torch.equal(_forward(net, inputs), first) and cache.stats.misses == 3
        setattr(net.get_submodule(parent), child, relu)
        param.data = -param.data
        assert not torch.equal(_forward(net, inputs), first) and cache.stats.misses == 4
        param.data = -param.data
        # gradients, training mode and hooks all run the model
        assert net(inputs).requires_grad
        net.train()
        _forward(net, inputs)  # also moves BatchNorm's running statistics: restored below
        net.eval()
        net.load_state_dict(state)
        handle = net.register_forward_hook(lambda module, args, out: out)
        _forward(net, inputs)
        handle.remove()
        assert cache.stats.bypassed == 3
        assert torch.equal(_forward(net, inputs), first) and cache.stats.hits == 2
