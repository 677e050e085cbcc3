"""``tools/benchmark.py bound``: every method's and metric's time per image against a bound from its passes.

For each input size, a small_cnn (the config's small_cnn parameters) is trained briefly on a Triangles &
Squares set of that size (fixed radius, 1,024 training images, 4 epochs, ~3 s at 32x32 and ~15 s at 64x64 on
one thread: the timings need a model whose outputs depend on the input; with 400 images and 2 epochs LIME's
Lasso surrogate gave all-zero maps). Then, on ``images`` test images:

* methods: :func:`xaibench.methods.explain` with the config's parameters and ``explain.batch_size`` (ours);
  Captum's default ``perturbations_per_eval=1`` where the method has that parameter and Captum's own
  per-image loop for LIME, Kernel SHAP and Shapley value sampling (:func:`captum_loops`), the grad-cam
  package's default batch of 16 for ``score_cam``, else the same call (libraries' defaults);
* metrics, in config order on the maps of ``saliency`` (all metrics) and of ``lime`` (those that re-explain,
  on the first :data:`LIME_IMAGES` images):
  :func:`xaibench.metrics.evaluate_metric` with one re-explanation cache per method, as
  :mod:`xaibench.evaluation` runs them (ours); the metric object xaibench builds (same class and resolved
  parameters), called as Quantus's own ``metric(model=..., x_batch=..., ..., explain_func=...)`` with its
  default batching, Quantus's original attribution checks and no cache (libraries' defaults);
* the whole evaluation stage of one cell (:func:`run_stage`, on ``--stage-images`` images): every method
  explains and every metric scores each method's maps, as an evaluation job runs them (its caches shared
  as the job shares them), against the same work through the libraries' defaults.

The libraries' calls run on a copy of the model in PyTorch's default (NCHW) layout, as ``torch.nn`` builds
it (:func:`in_default_layout`); ``build_model`` stores 2-D convolution weights channels-last, for oneDNN's
faster NHWC kernels (``tools/benchmark.py layout``), and xaibench's calls and the bound use that model.

Passes are counted on the model: its class is swapped for a subclass whose ``forward`` counts the rows of
every output (forward image-passes) and puts a hook on the output tensor that counts the rows of its gradient
(backward image-passes). Not module hooks: the re-explanation cache bypasses models with module hooks, so
hooks would change what is measured. The subclass and the counter survive the deep copies Quantus makes
(randomised models). A backward pass that stops at an inner layer (Grad-CAM) counts as a whole one.

Bound = forward image-passes x best per-image forward time + backward image-passes x best per-image
backward time, both measured on the same model with batches of 64 (best of 15). Rows above 1.5x their bound
(or with work but no pass at all) are profiled once more on 4 images; the "why" column names the libraries
that took the time outside the model (self time, torch and numpy calls charged to their caller), cache
replays, and the share and batching of the forward calls. torch runs on one thread.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime
import functools
import os
import pstats
import re
import sys
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1.5  # rows above LIMIT x their bound get a "why"
CALIBRATION_BATCH = 64
# The re-explaining metrics on LIME's maps run on the first 8 images: LIME explains one image at a time, so
# the time per image hardly depends on their number, and 32 would take most of the run.
LIME_IMAGES = 8


# --- counting passes ---------------------------------------------------------------------------------


@dataclass
class Passes:
    """Image-passes through a counted model since the last :meth:`reset` (module-global: see
    :data:`PASSES`). ``calls``: forward calls; ``model_s``: wall time inside forward calls."""

    forward: int = 0
    backward: int = 0
    calls: int = 0
    model_s: float = 0.0

    def reset(self) -> None:
        self.forward = self.backward = self.calls = 0
        self.model_s = 0.0

    def snapshot(self) -> Passes:
        return Passes(self.forward, self.backward, self.calls, self.model_s)


# One counter for every counted model: Quantus deep-copies the model (MPRT, RandomLogit's checks, the
# input-invariance shift); a counter held by the model would be copied with it and its counts lost.
PASSES = Passes()
_COUNTING: dict[type, type] = {}


def _count_backward(grad: Any) -> None:
    PASSES.backward += int(grad.shape[0])


def _counting_class(cls: type) -> type:
    if cls in _COUNTING:
        return _COUNTING[cls]

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = cls.forward(self, *args, **kwargs)
        PASSES.model_s += time.perf_counter() - start
        PASSES.calls += 1
        PASSES.forward += int(out.shape[0])
        if out.requires_grad:
            out.register_hook(_count_backward)
        return out

    # same __name__: the model's repr (part of the re-explanation cache's key) does not change
    counted = type(cls.__name__, (cls,), {"forward": forward, "__module__": cls.__module__})
    counted.__qualname__ = f"counted.{cls.__qualname__}"
    _COUNTING[cls] = counted
    return counted


def count_passes(model: Any) -> Any:
    """``model`` (changed in place and returned) counting its passes in :data:`PASSES`."""
    if type(model) not in _COUNTING.values():
        model.__class__ = _counting_class(type(model))
    return model


# --- the bound ---------------------------------------------------------------------------------------


def pass_times(model: Any, x: Any, repeats: int = 15) -> tuple[float, float]:
    """Best per-image forward and backward seconds of ``model`` on batch ``x`` (forward without gradients;
    backward = gradient of the summed class-0 logits w.r.t. the input, after a forward with gradients)."""
    import torch

    model.eval()
    best_f = best_b = float("inf")
    with torch.no_grad():
        model(x)
    for _ in range(repeats):
        with torch.no_grad():
            start = time.perf_counter()
            model(x)
            best_f = min(best_f, time.perf_counter() - start)
        xg = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            out = model(xg)
            start = time.perf_counter()
            torch.autograd.grad(out[:, 0].sum(), xg)
            best_b = min(best_b, time.perf_counter() - start)
    PASSES.reset()
    return best_f / len(x), best_b / len(x)


def in_default_layout(model: Any) -> Any:
    """A deep copy of ``model`` whose parameters and buffers are in PyTorch's default (contiguous, NCHW)
    layout: the model a user of the libraries gets from ``torch.nn`` (``build_model`` stores 4-D weights
    channels-last). ``clone`` rather than ``.to(memory_format=...)``: a one-channel kernel counts as
    contiguous in both layouts, and ``.to`` would keep its channels-last strides."""
    import copy

    import torch

    default = copy.deepcopy(model)
    with torch.no_grad():
        for tensor in [*default.parameters(), *default.buffers()]:
            tensor.data = tensor.data.clone(memory_format=torch.contiguous_format)
    return default


def pass_bound(forward: float, backward: float, forward_s: float, backward_s: float) -> float:
    """Seconds that ``forward`` and ``backward`` image-passes take at the best per-image times."""
    return forward * forward_s + backward * backward_s


@dataclass
class Measured:
    seconds: float
    passes: Passes
    output: Any = None
    error: str = ""


def _error_message(exc: Exception) -> str:
    """One line of at most 100 characters naming ``exc`` (Quantus's refusal of an all-zero map shortened)."""
    message = " ".join(f"{type(exc).__name__}: {exc}".split())
    if isinstance(exc, AssertionError) and "all equal to zero" in message:
        message = "Quantus refused a re-explanation (all zero)"
    return message[:100]


def measure(
    fn: Callable[[], Any], min_s: float = 0.5, max_repeats: int = 3, setup: Callable[[], Any] | None = None
) -> Measured:
    """Best wall time of ``fn`` (repeated while the runs so far took under ``min_s``; ``setup`` runs
    untimed before each), with the passes of that run (the same in every run) and the output of the first."""
    best, passes, output, total = float("inf"), Passes(), None, 0.0
    for i in range(max_repeats):
        if setup is not None:
            setup()
        PASSES.reset()
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:  # a row that fails says so; the others are still measured
            return Measured(float("nan"), PASSES.snapshot(), None, _error_message(exc))
        elapsed = time.perf_counter() - start
        if i == 0:
            output = result
        if elapsed < best:
            best, passes = elapsed, PASSES.snapshot()
        total += elapsed
        if total >= min_s:
            break
    return Measured(best, passes, output)


# --- why: where the time goes outside the model --------------------------------------------------------

_PHRASES = {
    "captum": "Captum Python",
    "quantus": "Quantus Python",
    "skimage": "skimage (SLIC superpixels)",
    "xaibench": "xaibench Python",
    "pytorch_grad_cam": "grad-cam package",
    "zennit": "Zennit",
    "python": "Python overhead",
}
_SITE = re.compile(r"site-packages/([A-Za-z0-9_]+)/")
# Libraries whose functions do work on behalf of their caller: their self time goes to the first caller
# outside them (torch.cosine_similarity called by Captum's LIME kernel is Captum's cost).
_GLUE = {"torch", "numpy", "python"}


def _library(key: tuple) -> str:
    """'model' (torch.nn modules: the model's own layers), a site-packages library, 'xaibench', or 'torch' /
    'numpy' / 'python' for built-ins and everything else."""
    filename, _line, function = key
    if filename == "~":  # a built-in: "<built-in method torch.conv2d>", "<method 'run_backward' of ...>"
        return next((lib for lib in ("torch", "numpy") if lib in function), "python")
    if "/torch/nn/modules/" in filename:
        return "model"
    match = _SITE.search(filename)
    if match:
        return match.group(1)
    return "xaibench" if "/scripts/xaibench/" in filename else "python"


def _owners(stats: dict) -> dict[tuple, tuple]:
    """Function -> the function its self time is charged to: itself, unless it is glue (torch, numpy,
    Python), then its main caller's owner (the caller of the largest cumulative time)."""
    owners: dict[tuple, tuple] = {}

    def owner(key: tuple, depth: int = 0) -> tuple:
        if key in owners:
            return owners[key]
        callers = stats[key][4] if key in stats else {}
        if _library(key) not in _GLUE or not callers or depth > 50:
            found = key
        else:
            found = owner(max(callers, key=lambda c: callers[c][3]), depth + 1)
        owners[key] = found
        return found

    for key in stats:
        owner(key)
    return owners


def self_time_by_library(fn: Callable[[], Any], setup: Callable[[], Any] | None = None) -> pd.DataFrame:
    """Profile ``fn`` (after an unprofiled ``setup``): per library (index), the ``share`` of self time
    charged to it (glue charged to its caller, see :func:`_owners`) and its ``top`` functions."""
    if setup is not None:
        setup()
    profile = cProfile.Profile()
    profile.enable()
    try:
        fn()
    finally:
        profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    owners = _owners(stats)
    charged: dict[tuple, float] = {}
    for key, entry in stats.items():
        owner = owners[key]
        if owner[0] == __file__ or "_lsprof" in owner[2]:  # this harness and the profiler itself
            continue
        charged[owner] = charged.get(owner, 0.0) + entry[2]
    rows = [
        {"library": _library(k), "function": f"{Path(k[0]).stem}.{k[2]}", "seconds": t}
        for k, t in charged.items()
    ]
    frame = pd.DataFrame(rows, columns=["library", "function", "seconds"])
    total = frame["seconds"].sum()
    if total <= 0:
        return pd.DataFrame(columns=["share", "top"])
    frame = frame.sort_values("seconds", ascending=False)
    return (
        frame.groupby("library", sort=False)
        .agg(share=("seconds", lambda v: v.sum() / total), top=("function", lambda f: list(f[:2])))
        .sort_values("share", ascending=False)
    )


def why(measured: Measured, libraries: pd.DataFrame | None, cache: tuple[int, int] = (0, 0)) -> str:
    """A short reason why a row is far from its bound, from what was measured: re-explanations replayed
    from the cache (``cache``: calls, hits), the profiled self time outside the model (by library, shares
    of at least 10 %, with the top functions), and the time inside the model's forward calls with their
    batch (a forward at a smaller batch than the bound's 64, or with gradients, costs more per image)."""
    p = measured.passes
    parts = ["no model pass"] if p.forward == 0 and p.backward == 0 else []
    if cache[1]:
        parts.append(f"{cache[1]} of {cache[0]} re-explanations replayed from the cache")
    if libraries is not None and len(libraries):
        outside = libraries.drop(["model", "torch"], errors="ignore")
        for lib, row in outside[outside["share"] >= 0.1].head(2).iterrows():
            top = ", ".join(f for f in row["top"] if not f.startswith("<"))
            parts.append(f"{_PHRASES.get(lib, lib)} {row['share']:.0%}" + (f" ({top})" if top else ""))
    if p.calls and measured.seconds > 0:
        parts.append(
            f"forward {p.model_s / measured.seconds:.0%} of the time in {p.calls} call"
            f"{'s' if p.calls != 1 else ''} of {p.forward / p.calls:.3g} images"
        )
    return "; ".join(parts)


# --- the runs ----------------------------------------------------------------------------------------

LIBRARY_BATCH = {"score_cam": 16}  # the grad-cam package's default batch; Captum's perturbations_per_eval: 1


@contextlib.contextmanager
def captum_loops() -> Iterator[None]:
    """LIME, Kernel SHAP and Shapley value sampling through Captum's own per-image loop for the duration
    (xaibench runs them batched over the images: :mod:`xaibench.methods.surrogate`,
    :mod:`xaibench.methods.shapley`; ``batched=False`` is the path its tests compare them with)."""
    from xaibench.methods import perturbation

    batched = perturbation._sampled_attribution
    perturbation._sampled_attribution = functools.partial(batched, batched=False)
    try:
        yield
    finally:
        perturbation._sampled_attribution = batched


def library_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the libraries' default batching (``perturbations_per_eval``) where the method has
    it."""
    from xaibench.methods import method_params

    if "perturbations_per_eval" not in method_params(method):
        return dict(params)
    return {**params, "perturbations_per_eval": LIBRARY_BATCH.get(method, 1)}


@contextlib.contextmanager
def quantus_original_checks() -> Iterator[None]:
    """Quantus's own ``assert_attributions`` (xaibench swaps in a vectorised one) for the duration."""
    from quantus.helpers import asserts

    from xaibench.compat import original_assert_attributions

    fast = asserts.assert_attributions
    asserts.assert_attributions = original_assert_attributions()
    try:
        yield
    finally:
        asserts.assert_attributions = fast


def quantus_call(name: str, params: dict, model: Any, batch: tuple, explain_kwargs: dict, seed: int) -> Any:
    """Metric ``name`` through Quantus's own call: the class and resolved parameters xaibench uses (Quantus's
    own class where it computes the metric too: ``quantus_class_runs``), Quantus's default batch size and
    checks, no cache, every map (constant ones too)."""
    from xaibench.methods import quantus_explain_func
    from xaibench.metrics import METRICS
    from xaibench.metrics.core import _metric_class, _num_classes, _quantus_class, _seed_all, resolve_params

    x, y, a, s = batch
    spec = METRICS.get(name)
    device = str(next(model.parameters()).device)
    classes = _num_classes(model, x, device) if spec.needs_num_classes else None
    record, ctor = resolve_params(name, params, x.shape, num_classes=classes)
    model.eval()
    _seed_all(seed)
    with quantus_original_checks(), captum_loops():
        cls = _quantus_class(spec) if spec.quantus_class_runs else _metric_class(spec)
        metric = cls(**ctor, return_aggregate=False, disable_warnings=True)
        return metric(
            model=model,
            x_batch=x,
            y_batch=y,
            a_batch=np.array(a, dtype=np.float64),
            s_batch=(s != 0).astype(np.float32) if spec.needs_mask and s is not None else None,
            channel_first=True,
            explain_func=quantus_explain_func,
            explain_func_kwargs=explain_kwargs,
            softmax=record["softmax"],
            device=device,
        )


@dataclass
class Pair:
    """The inputs of one size: the counted model, images, targets, masks and the bound's per-image times."""

    size: int
    model: Any
    x: np.ndarray
    y: np.ndarray
    s: np.ndarray | None
    forward_s: float
    backward_s: float
    rows: list[dict] = field(default_factory=list)
    library_model: Any = None  # the model in the default layout (:func:`in_default_layout`)


def make_pair(
    config: dict, size: int, images: int, seed: int, epochs: int = 4, n_train: int = 1024
) -> tuple[Pair, float]:
    """A briefly trained small_cnn (the config's small_cnn parameters) on a Triangles & Squares set of
    ``size`` (fixed radius: the config's ts_rotation at 32; ts_scale's random scale does not learn in a
    few epochs), and its test accuracy. Fewer epochs or images left the model so flat that LIME's Lasso
    surrogate gave all-zero maps."""
    import torch

    from xaibench.datasets import evaluation_subset, make_dataset
    from xaibench.training import train

    n_test = max(images, 64)
    sizes = {"image_size": size, "n_train": n_train, "n_val": 16, "n_test": n_test}
    data = make_dataset("triangles_squares", seed=seed, **sizes)
    models = [m for m in config.get("models", {}).values() if m.get("architecture") == "small_cnn"]
    model_params = dict(models[0].get("params", {})) if models else {}
    model_params.pop("weights", None)
    result = train(data, "small_cnn", model_params, epochs=epochs, batch_size=64, lr=0.003, seed=seed)
    model = count_passes(result.model.eval())
    idx = evaluation_subset(data, images, seed)
    rng = np.random.default_rng(seed)
    calibration = torch.from_numpy(data.images[rng.choice(len(data.images), CALIBRATION_BATCH)])
    forward_s, backward_s = pass_times(model, calibration)
    s = data.masks[idx] if data.masks is not None else None
    pair = Pair(size, model, data.images[idx], data.labels[idx], s, forward_s, backward_s)
    pair.library_model = in_default_layout(model)
    return pair, float(result.test_metrics["test_accuracy"])


def _row(pair: Pair, kind: str, name: str, maps: str, ours: Measured, lib: Measured, images: int) -> dict:
    p = ours.passes
    bound = pass_bound(p.forward, p.backward, pair.forward_s, pair.backward_s)
    return {
        "size": pair.size,
        "kind": kind,
        "name": name,
        "maps": maps,
        "ours_ms": 1000 * ours.seconds / images,
        "fwd": p.forward / images,
        "bwd": p.backward / images,
        "bound_ms": 1000 * bound / images,
        "ratio": ours.seconds / bound if bound > 0 else float("inf"),
        "lib_ms": 1000 * lib.seconds / images,
        "note": getattr(ours.output, "note", "") or "",
        "error": "; ".join(
            f"{who} failed: {m.error}" for who, m in (("ours", ours), ("libraries", lib)) if m.error
        ),
        "_measured": ours,
    }


def library_explain(method: str, model: Any, x: Any, y: Any, batch_size: int, params: dict) -> Any:
    """``method``'s maps through the libraries' own code (:func:`captum_loops`) and ``params``."""
    from xaibench.methods import explain

    with captum_loops():
        return explain(method, model, x, y, batch_size=batch_size, **params)


def run_methods(
    pair: Pair, methods: dict, batch_size: int, seed: int, log: Callable
) -> dict[str, np.ndarray | None]:
    """Method rows of ``pair``; returns the maps (ours) by config name."""
    import torch

    from xaibench.methods import explain
    from xaibench.runtime import seed_everything

    x, y = torch.from_numpy(pair.x), torch.from_numpy(pair.y)
    reseed = functools.partial(seed_everything, seed)  # untimed, as in xaibench.explaining
    maps = {}
    for name, entry in methods.items():
        method, params = entry["method"], dict(entry.get("params", {}))
        ours_call = functools.partial(explain, method, pair.model, x, y, batch_size=batch_size, **params)
        lib_params = library_params(method, params)
        lib_model = pair.library_model if pair.library_model is not None else pair.model
        lib_call = functools.partial(library_explain, method, lib_model, x, y, batch_size, lib_params)
        n = min(len(x), 4)
        few = functools.partial(explain, method, pair.model, x[:n], y[:n], batch_size=batch_size, **params)
        with contextlib.suppress(Exception):  # warm-up (lazy imports, first-call set-up); errors come below
            explain(method, pair.model, x[:1], y[:1], batch_size=batch_size, **params)
        ours = measure(ours_call, setup=reseed)
        lib = measure(lib_call, setup=reseed)
        maps[name] = ours.output
        row = _row(pair, "method", name, "", ours, lib, len(x))
        row["_profile"] = (few, reseed)
        pair.rows.append(row)
        log(row)
    return maps


@dataclass
class MetricRun:
    """The metrics of one method's maps on a pair, in config order, as :mod:`xaibench.evaluation` runs them:
    one re-explanation cache for the method (``cache``; ``None`` when xaibench's default turns it off)."""

    pair: Pair
    maps: np.ndarray
    explain_kwargs: dict
    batch_size: int
    seed: int
    cache: Any = None
    done: list = field(default_factory=list)  # (metric, params) of the re-explaining metrics so far

    def ours(
        self, metric: str, params: dict, n: int | None = None, cache: Any = "own", forward_cache: Any = None
    ) -> Any:
        from xaibench.methods import quantus_explain_func
        from xaibench.metrics import evaluate_metric

        cache = self.cache if cache == "own" else cache
        p, n = self.pair, len(self.maps) if n is None else n
        return evaluate_metric(
            metric,
            p.model,
            p.x[:n],
            p.y[:n],
            self.maps[:n],
            p.s[:n] if p.s is not None else None,
            explain_func=quantus_explain_func if cache is None else cache,
            explain_func_kwargs=self.explain_kwargs,
            params=params,
            batch_size=self.batch_size,
            device="cpu",
            seed=self.seed,
            forward_cache=forward_cache,
        )

    def library(self, metric: str, params: dict) -> Any:
        p, n = self.pair, len(self.maps)
        batch = (p.x[:n], p.y[:n], self.maps, p.s[:n] if p.s is not None else None)
        model = p.library_model if p.library_model is not None else p.model
        return quantus_call(metric, params, model, batch, self.explain_kwargs, self.seed)

    def profile_target(self, metric: str, params: dict, n: int = 4) -> tuple[Callable, Callable]:
        """(call, setup) for profiling ``metric`` on ``n`` images: setup fills a fresh cache with the
        re-explaining metrics before it, so the call sees the cache it saw in the sequence."""
        from xaibench.evaluation import explanation_cache

        fresh: list[Any] = [None]
        before = list(self.done)

        def setup() -> None:
            fresh[0] = explanation_cache()
            for done_metric, done_params in before:
                self.ours(done_metric, done_params, n, fresh[0])

        return (lambda: self.ours(metric, params, n, fresh[0])), setup


def run_metrics(
    pair: Pair,
    config: dict,
    a: np.ndarray,
    method_name: str,
    only_reexplaining: bool,
    seed: int,
    log: Callable,
) -> None:
    """Metric rows on maps ``a`` of method ``method_name`` (of the first ``len(a)`` images), in config order,
    one re-explanation cache (xaibench's path)."""
    from xaibench.evaluation import explanation_cache, metric_params
    from xaibench.metrics import METRICS

    entry = config["explain"]["methods"][method_name]
    run = MetricRun(
        pair,
        a,
        {"method": entry["method"], **entry.get("params", {}), "device": "cpu"},
        config["evaluate"]["batch_size"],
        seed,
        explanation_cache(),
    )
    flat = a.reshape(len(a), -1)
    constant = int((flat.max(axis=1) <= flat.min(axis=1)).sum())
    notes = [f"{len(a)} images"] if len(a) < len(pair.x) else []
    notes += [f"{constant} of {len(a)} constant"] if constant else []
    maps_label = method_name + (f" ({', '.join(notes)})" if notes else "")
    for name, m in config["evaluate"]["metrics"].items():
        spec = METRICS.get(m["metric"])
        if (only_reexplaining and not spec.needs_explain_func) or (spec.needs_mask and pair.s is None):
            continue
        params = metric_params(name, m)
        repeats = 1 if spec.needs_explain_func else 3  # a repeat would replay from the cache
        before = run.cache.stats.copy() if run.cache is not None else None
        ours = measure(functools.partial(run.ours, m["metric"], params), max_repeats=repeats)
        lib = measure(functools.partial(run.library, m["metric"], params), max_repeats=repeats)
        row = _row(pair, "metric", name, maps_label, ours, lib, len(a))
        row["_profile"] = run.profile_target(m["metric"], params, min(len(a), 4))
        if before is not None:
            after = run.cache.stats
            row["_cache"] = (after.calls - before.calls, after.hits - before.hits)
        if spec.shared_forward:
            row["_shared"] = later_method(run, m["metric"], params, len(a))
        if spec.needs_explain_func:
            run.done.append((m["metric"], params))
        pair.rows.append(row)
        log(row)


def later_method(run: MetricRun, metric: str, params: dict, images: int) -> tuple[float, int, int]:
    """A ``shared_forward`` metric as each method after the first of an evaluation job runs it: its forward
    passes replayed from the job's :class:`~xaibench.methods.cache.ForwardCache`, which the first method's
    call filled (the inputs do not depend on the map, so one method's maps stand for any other's). Returns
    (ms per image, forward passes replayed, forward passes asked for)."""
    from xaibench.methods.cache import ForwardCache

    forward = ForwardCache()
    run.ours(metric, params, forward_cache=forward)
    asked, before = forward.stats.calls, forward.stats.copy()
    measured = measure(functools.partial(run.ours, metric, params, forward_cache=forward))
    calls, hits = forward.stats.calls - before.calls, forward.stats.hits - before.hits
    return 1000 * measured.seconds / images, round(asked * hits / max(1, calls)), asked


# --- the whole evaluation stage ----------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> Measured:
    """One call of ``fn``, measured; a failure is timed up to where it failed (:func:`measure` gives NaN)."""
    PASSES.reset()
    start = time.perf_counter()
    try:
        output, error = fn(), ""
    except Exception as exc:
        output, error = None, _error_message(exc)
    return Measured(time.perf_counter() - start, PASSES.snapshot(), output, error)


def run_stage(pair: Pair, config: dict, images: int, seed: int, log: Callable) -> list[dict]:
    """The evaluation stage of one cell on the first ``images`` images of ``pair``: every configured method
    explains them and every configured metric scores the maps (each on ``max_images`` of them where the
    config says so), in config order. Ours: :func:`xaibench.methods.explain` and
    :func:`xaibench.evaluation.evaluate_one`, as an evaluation job runs them (one re-explanation cache per
    method, one forward cache across the methods). The libraries' defaults: the same methods through
    :func:`library_explain` and every metric through :func:`quantus_call`, its re-explanations with the
    libraries' parameters too, no cache. One row per method: seconds and image-passes of both; a failed
    library call counts the time until it failed and is listed."""
    import torch

    from xaibench.evaluation import evaluate_one, explanation_cache, image_count, metric_params
    from xaibench.methods import explain
    from xaibench.methods.cache import ForwardCache
    from xaibench.metrics import METRICS
    from xaibench.runtime import seed_everything

    n = min(images, len(pair.x))
    x, y = pair.x[:n], pair.y[:n]
    s = pair.s[:n] if pair.s is not None else None
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    dataset = types.SimpleNamespace(images=x, masks=s)
    lib_model = pair.library_model if pair.library_model is not None else pair.model
    explain_batch, metric_batch = config["explain"]["batch_size"], config["evaluate"]["batch_size"]
    metrics = {
        name: entry
        for name, entry in config["evaluate"]["metrics"].items()
        if s is not None or not METRICS.get(entry["metric"]).needs_mask
    }
    cache, forward = explanation_cache(), ForwardCache()
    rows = []
    for name, entry in config["explain"]["methods"].items():
        method, params = entry["method"], dict(entry.get("params", {}))
        seed_everything(seed)
        ours_explain = _timed(
            functools.partial(explain, method, pair.model, xt, yt, batch_size=explain_batch, **params)
        )
        expl = {"indices": np.arange(n), "targets": y, "attributions": ours_explain.output}
        evaluate = functools.partial(
            evaluate_one,
            dataset,
            pair.model,
            "cpu",
            expl,
            metrics=metrics,
            method={"method": method, "params": params},
            ids={"dataset": f"bound{pair.size}", "model": "small_cnn", "replicate": 0, "method": name},
            batch_size=metric_batch,
            seed=seed,
            explain_cache=cache,
            forward_cache=forward,
        )
        ours_metrics = _timed(evaluate)
        lib_params = library_params(method, params)
        seed_everything(seed)
        lib_explain = _timed(
            functools.partial(library_explain, method, lib_model, xt, yt, explain_batch, lib_params)
        )
        lib_maps = lib_explain.output if lib_explain.output is not None else expl["attributions"]
        lib_kwargs = {"method": method, **lib_params, "device": "cpu"}
        lib_metrics, failed = [], []
        for metric_name, m in metrics.items():
            k = image_count(m, n)
            batch = (x[:k], y[:k], lib_maps[:k], s[:k] if s is not None else None)
            call = functools.partial(
                quantus_call, m["metric"], metric_params(metric_name, m), lib_model, batch, lib_kwargs, seed
            )
            lib_metrics.append(_timed(call))
            if lib_metrics[-1].error:
                failed.append(f"{metric_name} ({lib_metrics[-1].error})")
        errors = [f"ours: {e}" for e in (ours_explain.error, ours_metrics.error) if e]
        row = {
            "size": pair.size,
            "images": n,
            "method": name,
            "ours_explain_s": ours_explain.seconds,
            "ours_metrics_s": ours_metrics.seconds,
            "lib_explain_s": lib_explain.seconds,
            "lib_metrics_s": sum(m.seconds for m in lib_metrics),
            "ours_fwd": ours_explain.passes.forward + ours_metrics.passes.forward,
            "ours_bwd": ours_explain.passes.backward + ours_metrics.passes.backward,
            "lib_fwd": lib_explain.passes.forward + sum(m.passes.forward for m in lib_metrics),
            "lib_bwd": lib_explain.passes.backward + sum(m.passes.backward for m in lib_metrics),
            "failed": "; ".join(errors + failed),
        }
        rows.append(row)
        log(
            f"{pair.size} stage {name}: ours {row['ours_explain_s'] + row['ours_metrics_s']:.2f} s, "
            f"libraries {row['lib_explain_s'] + row['lib_metrics_s']:.2f} s {row['failed']}"
        )
    return rows


STAGE_PARTS = (
    ("explanations", ["ours_explain_s"], ["lib_explain_s"]),
    ("metrics", ["ours_metrics_s"], ["lib_metrics_s"]),
    ("explanations + metrics", ["ours_explain_s", "ours_metrics_s"], ["lib_explain_s", "lib_metrics_s"]),
)
STAGE_PASSES = ("ours_fwd", "ours_bwd", "lib_fwd", "lib_bwd")


def stage_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Seconds per image of :func:`run_stage`'s rows (explanations, metrics, both; ours and the libraries'
    defaults) and the image-passes per image, per size and for one image of each size (``all``)."""
    columns = [c for _, ours, lib in STAGE_PARTS[:2] for c in (*ours, *lib)] + list(STAGE_PASSES)
    per_size = frame.groupby("size").agg({**{c: "sum" for c in columns}, "images": "first"})
    per_image = per_size[columns].div(per_size["images"], axis=0)
    per_image.loc["all"] = per_image.sum()
    rows = []
    for size, r in per_image.iterrows():
        for what, ours, lib in STAGE_PARTS:
            o, li = float(r[ours].sum()), float(r[lib].sum())
            rows.append({"size": size, "what": what, "ours_s": o, "lib_s": li, "speedup": li / o})
        rows[-1].update({key: float(r[key]) for key in STAGE_PASSES})
    return pd.DataFrame(rows)


# --- the page ----------------------------------------------------------------------------------------


def _representative(methods: dict, wanted: str) -> str | None:
    """The config name of the first method ``wanted`` (e.g. saliency), if configured."""
    return next((name for name, entry in methods.items() if entry["method"] == wanted), None)


def explain_reasons(rows: list[dict], log: Callable) -> None:
    """Fill ``why`` of the rows above LIMIT x their bound (or failing) from a profiled run on a few images."""
    for row in rows:
        row["why"] = "; ".join(filter(None, [row["note"], row["error"]]))
        if np.isnan(row["ours_ms"]) or not (row["ratio"] > LIMIT and row["ours_ms"] > 0):
            continue
        try:
            libraries = self_time_by_library(*row["_profile"])
        except Exception as exc:  # the reason stays partial, the row stays in the table
            libraries = None
            log(f"profile of {row['name']} failed: {exc}")
        reason = why(row["_measured"], libraries, row.get("_cache", (0, 0)))
        row["why"] = "; ".join(filter(None, [reason, row["note"], row["error"]]))
    for row in rows:
        if "_shared" in row:
            ms, replayed, asked = row["_shared"]
            shared = f"each later method of a job: {_fmt(ms)} ms/img"
            shared += f", {replayed} of {asked} forward calls replayed"
            row["why"] = "; ".join(filter(None, [row["why"], shared]))
            row["later_ms"] = ms


def table(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
    frame["speedup"] = frame["lib_ms"] / frame["ours_ms"]
    return frame


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "–" if np.isnan(value) else "∞"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def markdown_table(frame: pd.DataFrame) -> str:
    header = (
        "| what | maps | ours ms/img | fwd/img | bwd/img | bound ms/img | ours/bound | libraries ms/img "
        "| libraries/ours | why |"
    )
    lines = [header, "|" + "---|" * 10]
    for r in frame.itertuples():
        cells = [
            f"{r.kind} {r.name}",
            r.maps,
            _fmt(r.ours_ms),
            _fmt(r.fwd),
            _fmt(r.bwd),
            _fmt(r.bound_ms),
            _fmt(r.ratio),
            _fmt(r.lib_ms),
            _fmt(r.speedup),
            str(r.why).replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Summed ms per image, ours vs the libraries' defaults: methods, metrics, all; per size and overall."""
    rows = []
    for size, group in [*frame.groupby("size"), ("all", frame)]:
        for what, part in (
            ("methods", group[group["kind"] == "method"]),
            ("metrics", group[group["kind"] == "metric"]),
            ("methods + metrics", group),
        ):
            ours, lib = part["ours_ms"].sum(), part["lib_ms"].sum()
            rows.append({"size": size, "what": what, "ours_ms": ours, "lib_ms": lib, "speedup": lib / ours})
        if "later_ms" in group:  # a later method of a job: the shared forward passes replayed
            part = group[group["kind"] == "metric"]
            ours, lib = part["later_ms"].fillna(part["ours_ms"]).sum(), part["lib_ms"].sum()
            what = "metrics, each later method of a job"
            rows.append({"size": size, "what": what, "ours_ms": ours, "lib_ms": lib, "speedup": lib / ours})
    return pd.DataFrame(rows)


ABOUT = (
    "Written by `tools/benchmark.py bound` (method: docstring of `tools/bound.py`). Per row: our time "
    "per image (methods: `xaibench.methods.explain` with the config's parameters and batch size; "
    "metrics: `xaibench.metrics.evaluate_metric` in config order with one re-explanation cache per "
    "method, as `xaibench.evaluation` runs them, on the maps under *maps*: every metric on saliency's, "
    "the re-explaining ones also on LIME's, of the first {lime} images); the forward and backward "
    "image-passes per image counted on the model; the bound: those passes at the best per-image forward "
    "and backward times of the same model with batches of 64; ours/bound; the same work through the "
    "libraries' defaults (Captum's `perturbations_per_eval=1` and Captum's own per-image loop for LIME, "
    "Kernel SHAP and Shapley value sampling, the grad-cam package's batch of 16 for Score-CAM, otherwise "
    "the same call; metrics: Quantus's own call of the metric object xaibench "
    "builds, with Quantus's batching and attribution checks and no cache; both on the same weights in "
    "PyTorch's default NCHW layout, where xaibench stores 2-D convolution weights channels-last) and its "
    "ratio to ours. *why*, "
    "for rows above {limit}× their bound: from a profiled rerun on 4 images, the libraries taking ≥ 10 "
    "% of the self time outside the model (time in torch or numpy charged to the library that called "
    "it; top functions in brackets), re-explanations replayed from the cache, and the share of the time "
    "inside the model's forward calls with their batch (at fewer images per call than 64, or with "
    "gradients, a pass costs more than the bound's); then notes of the metric (NaN scores) and "
    "failures. Models: small_cnn with the config's parameters, trained 4 epochs on 1,024 Triangles & "
    "Squares images of each size (fixed radius; fewer left LIME's Lasso surrogate all-zero maps). A "
    "ratio below 1: the passes were cheaper than whole ones (Grad-CAM's backward stops at the CAM "
    "layer) or other load slowed the calibration; pass counts are exact, times only on an idle machine. "
    "The re-explanations of the metrics use the config's method parameters in both columns. Metrics whose "
    "perturbed inputs do not depend on the map (`shared_forward`: faithfulness correlation, non-sensitivity, "
    "completeness) replay their forward passes from the first method's call for every later method of an "
    "evaluation job (`ForwardCache`): *why* gives their time per image then, and the totals a row for it."
)


STAGE_ABOUT = (
    "What an evaluation job does for one (dataset, model), on the first {images} test images of each size "
    "(`--stage-images`): every method of the config explains them, and every metric of the config scores "
    "each method's maps, in config order (`max_images` as configured). Ours: `xaibench.methods.explain` and "
    "`xaibench.evaluation.evaluate_one` as the workflow runs them (one re-explanation cache per method, one "
    "forward cache across the methods of the job). The libraries' defaults: the same calls with Captum's "
    "`perturbations_per_eval=1` and Captum's own per-image loop for LIME, Kernel SHAP and Shapley value "
    "sampling (the grad-cam package's batch of 16 for Score-CAM), every metric through Quantus's own call "
    "(Quantus's batching and attribution checks, no cache), its re-explanations with the same library "
    "defaults, on the model in the default layout. Each part is timed once; seconds per image."
)


def stage_section(stage: pd.DataFrame) -> tuple[list[str], pd.Series]:
    """The page's lines for :func:`run_stage`'s rows, and the totals' row of both sizes."""
    total = stage_totals(stage)
    shown = total[["size", "what", "ours_s", "lib_s", "speedup"]].rename(
        columns={"ours_s": "ours s/img", "lib_s": "libraries s/img", "speedup": "libraries/ours"}
    )
    whole = total[total["what"] == STAGE_PARTS[-1][0]].set_index("size")
    passes = [
        f"{size}×{size}: ours {r.ours_fwd:,.0f} forward and {r.ours_bwd:,.0f} backward, the libraries "
        f"{r.lib_fwd:,.0f} and {r.lib_bwd:,.0f}"
        for size, r in whole.drop(index="all").iterrows()
    ]
    lines = [
        "| size | method | ours explain s/img | ours metrics s/img | libraries explain s/img | libraries "
        "metrics s/img | libraries/ours | libraries' calls that failed (timed until they failed) |",
        "|" + "---|" * 8,
    ]
    for r in stage.itertuples():
        ours, lib = r.ours_explain_s + r.ours_metrics_s, r.lib_explain_s + r.lib_metrics_s
        cells = [r.ours_explain_s, r.ours_metrics_s, r.lib_explain_s, r.lib_metrics_s]
        cells = [_fmt(c / r.images) for c in cells] + [_fmt(lib / ours), r.failed.replace("|", "/")]
        lines.append(f"| {r.size} | {r.method} | " + " | ".join(cells) + " |")
    section = [
        f"## The whole evaluation stage ({stage['images'].iloc[0]} images per size)",
        "",
        STAGE_ABOUT.format(images=stage["images"].iloc[0]),
        "",
        shown.to_markdown(index=False, floatfmt=".3g"),
        "",
        "Model image-passes per image, all methods and metrics: " + "; ".join(passes) + ".",
        "",
        "Per method (its explanation, then every metric on its maps):",
        "",
        *lines,
        "",
    ]
    return section, whole.loc["all"]


def bound_page(
    config_path: Path,
    images: int,
    sizes: list[int],
    command: str,
    log: Callable = print,
    stage_images: int = 0,
) -> tuple[str, pd.DataFrame]:
    """Measure every method and metric of ``config_path`` at ``sizes`` on ``images`` images, and the whole
    evaluation stage on ``stage_images`` (0: not); the page."""
    import torch
    import yaml

    sys.path.insert(0, str(ROOT / "scripts"))
    from xaibench.compat import load_quantus

    load = os.getloadavg()[0]
    started = time.perf_counter()
    torch.set_num_threads(1)
    config = yaml.safe_load(config_path.read_text())
    seed = int(config.get("seed", 0))
    methods = config["explain"]["methods"]
    load_quantus()
    import captum.attr  # noqa: F401 (imports out of the first method's time)

    def log_row(row: dict) -> None:
        log(
            f"{row['size']} {row['kind']} {row['name']} {row['maps']}: ours {row['ours_ms']:.2f} ms/img, "
            f"bound {row['bound_ms']:.2f}, libraries {row['lib_ms']:.2f} {row['error']}"
        )

    rows, calibration, stage_rows = [], [], []
    for size in sizes:
        pair, accuracy = make_pair(config, size, images, seed)
        calibration.append(f"{size}×{size}: forward {1000 * pair.forward_s:.3f} ms, "
                           f"backward {1000 * pair.backward_s:.3f} ms per image "
                           f"(model test accuracy {accuracy:.0%})")  # fmt: skip
        log(calibration[-1])
        maps = run_methods(pair, methods, config["explain"]["batch_size"], seed, log_row)
        for wanted, only_reexplaining, limit in (("saliency", False, images), ("lime", True, LIME_IMAGES)):
            name = _representative(methods, wanted)
            if name is not None and maps.get(name) is not None:
                a = maps[name][:limit]
                run_metrics(pair, config, a, name, only_reexplaining, seed, log_row)
        rows += pair.rows
        if stage_images > 0:
            stage_rows += run_stage(pair, config, stage_images, seed, log)
    explain_reasons(rows, log)
    frame = table(rows)
    # this process keeps one core busy: a 5-minute load average above 1.5 at the end means other work ran
    # during the measurement (the start's 1-minute average still holds whatever ran just before)
    load_end = os.getloadavg()[1]
    busy = " — measured while the machine was busy" if load_end > 1.5 else ""
    when = f"{datetime.datetime.now():%Y-%m-%d %H:%M}"
    minutes = (time.perf_counter() - started) / 60
    total = totals(frame)
    whole = total[(total["size"] == "all") & (total["what"] == "methods + metrics")].iloc[0]
    over = frame[(frame["ratio"] > LIMIT) & (frame["why"] == "")]
    section, stage = stage_section(pd.DataFrame(stage_rows)) if stage_rows else ([], None)
    summary = [
        f"**Summary.** Rows above {LIMIT}× their pass bound without a reason: {len(over)}."
        + (
            f" The whole evaluation stage of a cell (one image of each size): ours {stage.ours_s:.2f} s, "
            f"the same work through the libraries' defaults {stage.lib_s:.2f} s: {stage.speedup:.2f}× "
            "(last section)."
            if stage is not None
            else ""
        ),
        "",
    ]
    lines = [
        "# Bound benchmark: time per image against the model passes it needs",
        "",
        f"`{command}` — machine: `nproc` {len(os.sched_getaffinity(0))}, torch threads=1, {when}, "
        f"load {load:.2f} at start (1-minute average), {load_end:.2f} at the end (5-minute average){busy}; "
        f"{images} images per size; measured in {minutes:.1f} min.",
        "",
        *summary,
        ABOUT.format(limit=LIMIT, lime=LIME_IMAGES),
        "",
        "Per-image pass times (batches of 64): " + "; ".join(calibration) + ".",
        "",
    ]
    for size, group in frame.groupby("size"):
        lines += [f"## {size}×{size}", "", markdown_table(group), ""]
    shown = total.rename(
        columns={"ours_ms": "ours ms/img", "lib_ms": "libraries ms/img", "speedup": "libraries/ours"}
    )
    lines += [
        "## Totals (ms per image, summed over the rows)",
        "",
        shown.to_markdown(index=False, floatfmt=".1f"),
        "",
        f"All methods + all metrics, one row each: ours {whole.ours_ms:,.0f} ms per image, the libraries' "
        f"defaults {whole.lib_ms:,.0f} ({whole.speedup:.2f}×). Rows above {LIMIT}× their bound without a "
        f"reason: {len(over)}.",
        "",
    ]
    lines += section
    return "\n".join(lines), frame
