"""Quantus 0.6.0 metrics fixed by subclasses; a spec names its class factory (``MetricSpec.metric_class``).

* :func:`fixed_non_sensitivity`: NonSensitivity with ``features_in_step > 1`` (Quantus raises a broadcast
  error), thresholds relative to each sample's own scale (Quantus compares with one absolute ``eps``) and a
  share of the features as the score (:func:`non_sensitivity_violations`).
* :func:`fixed_input_invariance`: InputInvariance that shifts every pixel (Quantus skips the first one) and
  compensates the shift with an exactly equivalent model (:func:`_mean_shift_model`; Quantus put the bias
  into the model's second named module and ignored padding).
* :func:`fixed_completeness`: Completeness with a continuous error or a tolerance (Quantus tests
  ``sum(a) == f(x) - f(baseline)`` with float ``==``, which no method passes): :func:`completeness_scores`.
* :func:`fixed_effective_complexity`: EffectiveComplexity as the share of features above ``eps`` times the
  sample's max |a| (Quantus counts them, so images of different sizes do not compare).
* :func:`fixed_efficient_mprt`, :func:`fixed_mprt`: EfficientMPRT and MPRT whose original-model
  explanations are the maps under evaluation (Quantus explains every image again on the original model, a
  second full explanation pass).

The classes are built on first use (they subclass Quantus classes; importing Quantus takes seconds). The
arguments a subclass adds to its constructor are parameters of the metric like Quantus's own (recorded,
settable in ``params``).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import numpy as np

from xaibench.compat import load_quantus
from xaibench.metrics.core import METRICS


def _mean_shift_model(model: Any, input_shift: float, shape: tuple[int, ...]) -> Any:
    """A copy of ``model`` that computes f(x) on inputs x + input_shift (Kindermans et al. 2017).

    The first leaf module with a ``weight`` (in registration order, as in Quantus; an affine layer:
    Conv/Linear, or BatchNorm in eval mode) absorbs the shift. Its response to the shift,
    r = layer(shift * 1) - layer(0), is removed from its output:

    * as a bias change (Kindermans's b' = b - W m) when r is constant per output channel and the layer
      has a bias -- e.g. unpadded convolutions, linear layers;
    * otherwise (zero padding makes r vary at the borders; bias-free convs before BatchNorm) by a forward
      hook. For Conv/Linear the hook recomputes r = W * shift from the layer's current weight at every
      call, so canonizers that fold a following BatchNorm into the weights (Zennit) keep the model
      equivalent. LRP rules do not see the hook's correction (they would see a real bias), which is the
      one way this construction differs from a literal bias change.
    """
    import torch
    from torch import nn
    from torch.nn import functional

    new_model = copy.deepcopy(model)
    first = next(
        (m for m in new_model.modules() if not list(m.children()) and getattr(m, "weight", None) is not None),
        None,
    )
    if first is None:
        raise ValueError("input_invariance: the model has no parametrised layer to absorb the input shift")
    p = first.weight
    # the shape of the first layer's own input (a series model squeezes (N, C, 1, L) before its Conv1d, an
    # MLP flattens before its Linear): one forward pass of a zero input records it
    seen: list[torch.Size] = []
    probe = first.register_forward_pre_hook(lambda _module, args: seen.append(args[0].shape))
    training = new_model.training
    try:
        with torch.no_grad():
            new_model.eval()  # no BatchNorm statistics move
            new_model(torch.zeros(tuple(shape), dtype=p.dtype, device=p.device))
    finally:
        probe.remove()
        new_model.train(training)
    with torch.no_grad():
        delta = torch.full(tuple(seen[0]), float(input_shift), dtype=p.dtype, device=p.device)
        r = first(delta) - first(torch.zeros_like(delta))
        flat = r[0].reshape(r.shape[1], -1) if r.ndim > 2 else r[0].reshape(-1, 1)
        bias = getattr(first, "bias", None)
        constant = torch.allclose(flat, flat[:, :1].expand_as(flat), rtol=1e-6, atol=1e-7)
        if bias is not None and constant and bias.shape == flat[:, 0].shape:
            bias.sub_(flat[:, 0])
            return new_model
    r = r.detach()

    def response(module: Any) -> Any:
        if isinstance(module, nn.Conv1d | nn.Conv2d | nn.Conv3d):
            return module._conv_forward(delta, module.weight, None)
        if isinstance(module, nn.Linear):
            return functional.linear(delta, module.weight)
        return r

    first.register_forward_hook(lambda module, _inputs, out: out - response(module))
    return new_model


def non_sensitivity_violations(
    a: np.ndarray, changes: np.ndarray, eps: float, output_eps: float | None, features_in_step: int
) -> np.ndarray:
    """Per sample, the share of the F features that violate non-sensitivity (Nguyen & Martinez 2020).

    ``a`` (N, F): the attributions as the metric sees them (after Quantus's ``abs``/``normalise``);
    ``changes`` (N, S): |f(x) - f(x with step s replaced by the baseline)| for the S steps of
    ``features_in_step`` consecutive features. A feature is a non-feature when a < eps * max|a| of its sample
    (after the per-sample max-normalisation max|a| = 1: Quantus's own ``a < eps``). A step leaves the output
    unchanged when its change is at most ``output_eps`` times the largest change among the sample's steps
    (a model that no step moves: every step is unchanged); ``output_eps=None`` is Quantus's absolute
    ``change < eps``. Every feature of a step inherits its verdict; a violation is a non-feature whose step
    changes the output, or a feature whose step does not.
    """
    n_features = a.shape[1]
    non_features = a < eps * np.abs(a).max(axis=1, keepdims=True)
    if output_eps is None:
        unchanged = changes < eps
    else:
        unchanged = changes <= output_eps * changes.max(axis=1, keepdims=True)
    unchanged = np.repeat(unchanged, features_in_step, axis=1)[:, :n_features]
    return (unchanged ^ non_features).sum(axis=1) / n_features


@functools.cache
def fixed_non_sensitivity() -> type:
    quantus = load_quantus()
    from quantus.helpers import asserts

    class _FixedNonSensitivity(quantus.NonSensitivity):
        """NonSensitivity with features_in_step > 1 (Quantus 0.6.0 compares (N, steps) with (N, F)),
        relative thresholds and a share of the features (:func:`non_sensitivity_violations`).

        Pixels are perturbed in contiguous groups of features_in_step (raster order, one group at a time,
        from the original input, as in Quantus); every pixel of a group inherits the group's "prediction
        unchanged" verdict, which is then XOR-ed with "attribution < eps" per pixel. ``output_eps`` (None:
        Quantus's absolute comparison with ``eps``) is the "unchanged" threshold as a fraction of the
        sample's largest change.
        """

        def __init__(self, output_eps: float | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.output_eps = output_eps

        def custom_preprocess(self, x_batch: np.ndarray, **kwargs: Any) -> None:
            asserts.assert_features_in_step(
                features_in_step=self.features_in_step, input_shape=x_batch.shape[2:]
            )

        def evaluate_batch(self, model, x_batch, y_batch, a_batch, **kwargs):
            if x_batch.shape != a_batch.shape:
                a_batch = np.broadcast_to(a_batch, x_batch.shape)
            n = a_batch.shape[0]
            a_flat = a_batch.reshape(n, -1)
            n_features = a_flat.shape[-1]
            rows = np.arange(n)
            x_input = model.shape_input(x_batch, x_batch.shape, channel_first=True, batched=True)
            y_pred = model.predict(x_input)[rows, y_batch]
            step = self.features_in_step
            preds = []
            for start in range(0, n_features, step):
                idx = np.tile(np.arange(start, min(start + step, n_features)), (n, 1))
                x_pert = self.perturb_func(arr=x_batch.reshape(n, -1), indices=idx).reshape(x_batch.shape)
                x_input = model.shape_input(x_pert, x_batch.shape, channel_first=True, batched=True)
                preds.append(model.predict(x_input)[rows, y_batch])
            changes = np.abs(np.stack(preds, axis=1) - y_pred[:, None])
            return non_sensitivity_violations(a_flat, changes, self.eps, self.output_eps, step)

    return _FixedNonSensitivity


@functools.cache
def fixed_input_invariance() -> type:
    quantus = load_quantus()

    class _FixedInputInvariance(quantus.InputInvariance):
        """InputInvariance that shifts every pixel, builds an exactly equivalent shifted model and
        compares the maps with a tolerance relative to the original map's peak."""

        def evaluate_batch(self, model, x_batch, y_batch, a_batch, **kwargs):
            n = x_batch.shape[0]
            size = x_batch[0].size
            axes = np.arange(0, x_batch[0].ndim)
            x_shifted = np.stack(
                [self.perturb_func(arr=xi, indices=np.arange(size), indexed_axes=axes) for xi in x_batch]
            ).astype(x_batch.dtype, copy=False)
            input_shift = self.perturb_func.keywords["input_shift"]
            x_shifted = model.shape_input(
                x=x_shifted, shape=x_shifted.shape, channel_first=True, batched=True
            )
            shifted_model = _mean_shift_model(model.get_model(), input_shift, x_shifted[:1].shape)
            a_shifted = self.explain_batch(shifted_model, x_shifted, y_batch)
            # Quantus: np.isclose(a, a_shifted, atol=1e-4) on raw values; here relative to max|a|.
            scale = np.abs(a_batch).reshape(n, -1).max(axis=1)
            scale = np.where(scale > 0, scale, 1.0).reshape((n,) + (1,) * (a_batch.ndim - 1))
            close = np.isclose(a_batch / scale, a_shifted / scale, atol=1e-04)
            return np.all(close, axis=tuple(range(1, a_batch.ndim)))

    return _FixedInputInvariance


COMPLETENESS_SCORES = ("symmetric_error", "relative_error", "pass")


def completeness_scores(
    total: np.ndarray, delta: np.ndarray, score: str, rtol: float = 0.0, atol: float = 0.0
) -> np.ndarray:
    """Per-sample completeness of maps summing to ``total`` (N,) against output changes ``delta`` (N,) =
    f(x) - f(baseline), as ``score``:

    * ``"symmetric_error"``: |total - delta| / (|total| + |delta|), in [0, 1]: 0 = complete, 1/3 = off by a
      factor 2, 1 = of the opposite sign (or one of the two is 0); 0 when both are 0.
    * ``"relative_error"``: |total - delta| / |delta|, unbounded; NaN where delta = 0 and total != 0.
    * ``"pass"``: 1 where |total - delta| <= rtol * |delta| + atol, else 0 (rtol = atol = 0: Quantus's
      ``total == delta``).
    """
    total = np.asarray(total, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    gap = np.abs(total - delta)
    if score == "pass":
        return (gap <= rtol * np.abs(delta) + atol).astype(np.float64)
    if score not in COMPLETENESS_SCORES:
        raise ValueError(f"completeness score must be one of {COMPLETENESS_SCORES}, got {score!r}")
    scale = np.abs(delta) if score == "relative_error" else np.abs(total) + np.abs(delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = gap / scale
    return np.where(scale > 0, ratio, np.where(gap == 0, 0.0, np.nan))


@functools.cache
def fixed_completeness() -> type:
    quantus = load_quantus()

    class _FixedCompleteness(quantus.Completeness):
        """Completeness scored by :func:`completeness_scores` (``score``, ``rtol``, ``atol``) instead of
        Quantus's exact float comparison; f(x) - f(baseline) as in Quantus (every feature replaced by
        ``perturb_baseline`` through ``perturb_func``, the target's output, then ``output_func``)."""

        def __init__(self, score: str = "pass", rtol: float = 0.0, atol: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if score not in COMPLETENESS_SCORES:
                raise ValueError(f"completeness score must be one of {COMPLETENESS_SCORES}, got {score!r}")
            self.score, self.rtol, self.atol = score, rtol, atol

        def evaluate_batch(self, model, x_batch, y_batch, a_batch, **kwargs):
            n = x_batch.shape[0]
            flat = x_batch.reshape(n, -1)
            indices = np.tile(np.arange(flat.shape[1]), (n, 1))
            x_baseline = self.perturb_func(arr=flat, indices=indices).reshape(x_batch.shape)
            rows = np.arange(n)
            x_input = model.shape_input(x_batch, x_batch.shape, channel_first=True, batched=True)
            y_pred = model.predict(x_input)[rows, y_batch]
            x_input = model.shape_input(x_baseline, x_batch.shape, channel_first=True, batched=True)
            y_pred_baseline = model.predict(x_input)[rows, y_batch]
            delta = self.output_func(y_pred - y_pred_baseline)
            total = a_batch.reshape(n, -1).sum(axis=-1)
            return completeness_scores(total, delta, self.score, self.rtol, self.atol)

    return _FixedCompleteness


def effective_complexity_share(a: np.ndarray, eps: float) -> np.ndarray:
    """Per sample of ``a`` (N, F), the share of features with a > eps * max|a| of the sample (after the
    per-sample max-normalisation max|a| = 1: Quantus's count of a > eps, divided by F)."""
    return np.mean(a > eps * np.abs(a).max(axis=1, keepdims=True), axis=1)


@functools.cache
def fixed_effective_complexity() -> type:
    quantus = load_quantus()

    class _FixedEffectiveComplexity(quantus.EffectiveComplexity):
        """EffectiveComplexity as a share of the features, threshold relative to each sample's max |a|
        (:func:`effective_complexity_share`)."""

        def evaluate_batch(self, a_batch: np.ndarray, **kwargs: Any) -> np.ndarray:
            return effective_complexity_share(a_batch.reshape(a_batch.shape[0], -1), self.eps)

    return _FixedEffectiveComplexity


class _OriginalModelExplainedByTheGivenMaps:
    """For Quantus's randomisation tests (MPRT, EfficientMPRT, which first explain every image again on the
    original model): the original model's explanations are the maps they are given, the ones under evaluation
    (after Quantus's own post-processing); every randomised copy of the model is explained as in Quantus."""

    def general_preprocess(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        given = kwargs.get("a_batch")
        data = super().general_preprocess(*args, **kwargs)
        model = data["model"]
        self._evaluated = (None if model is None else model.get_model(), given)
        return data

    def generate_explanations(self, model: Any, x_batch: Any, y_batch: Any, batch_size: int) -> Any:
        from sklearn.utils import gen_batches

        original, given = getattr(self, "_evaluated", (None, None))
        if given is None or model is not original:  # a randomised copy: explained as Quantus does
            yield from super().generate_explanations(model, x_batch, y_batch, batch_size)
            return
        explain_func = self.explain_func
        for chunk in gen_batches(len(x_batch), batch_size):
            # Quantus's own post-processing (channel axis, normalise, abs) of the given maps as an explain
            # function returns them: float32 (quantus_explain_func's dtype; the wrapper hands Quantus float64
            # copies of the stored float32 maps). Swapped in for this call only: a generator's ``finally``
            # would wait for the next ``next()``, after the randomised model's explanations.
            maps = np.asarray(given[chunk], dtype=np.float32)
            self.explain_func = lambda *_args, _maps=maps, **_kwargs: _maps
            try:
                a_batch = self.explain_batch(model, x_batch[chunk], y_batch[chunk])
            finally:
                self.explain_func = explain_func
            yield a_batch


@functools.cache
def fixed_efficient_mprt() -> type:
    quantus = load_quantus()

    class _FixedEfficientMPRT(_OriginalModelExplainedByTheGivenMaps, quantus.EfficientMPRT):
        """EfficientMPRT scoring the complexity of the maps under evaluation on the original model.

        Quantus explains every image twice: on the original model (the "orig" complexity) and on the fully
        randomised one; the ``a_batch`` it is given only sets the histogram's bins. Here the original
        model's explanations are that ``a_batch`` (after the same normalise/abs): the maps the evaluation
        computed for those images with that method, parameters and model. One explanation pass instead of
        two, and the score is about the maps under evaluation. Where Quantus's second pass reproduces them,
        the scores are Quantus's own (tests/test_reexplain_cache.py); where it does not, Quantus scores
        another map: a map can depend on the batch it is computed in (max-pool ties on flat images route a
        gradient by the kernel the batch size selects; integrated gradients' batch of interpolation steps),
        and the relative rise in entropy moves with it (up to 2x on a tiny model's saliency).
        """

    return _FixedEfficientMPRT


@functools.cache
def fixed_mprt() -> type:
    quantus = load_quantus()

    class _FixedMPRT(_OriginalModelExplainedByTheGivenMaps, quantus.MPRT):
        """MPRT without its second explanation of the original model: Quantus correlates ``a`` with a
        re-explanation on the original model (the "original" layer), which enters only
        ``return_average_correlation``; xaibench's score is the last layer's correlation
        (``return_last_correlation``, fixed), so the scores are Quantus's own for any maps."""

    return _FixedMPRT


def _fixed_classes() -> dict[str, type]:
    """The fixed classes by the registered metric whose spec names them (read from the registry)."""
    specs = {name: METRICS.get(name) for name in METRICS}
    return {name: spec.metric_class() for name, spec in specs.items() if spec.metric_class is not None}
