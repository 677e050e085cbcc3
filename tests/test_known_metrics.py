"""Known answers for every registered metric: the wrapper equals Quantus 0.6.0 called directly, and the
metrics equal their documented definition on hand-made inputs.

Every case calls the metric through the ``evaluate`` it is given (``evaluate_metric``, or a copy whose scores
are scaled, negated, offset or shifted by one sample: tests/faults.py) and checks per-sample scores that are
neither all equal nor all zero, with tolerances far below the faults' 1e-3. "Quantus direct" = the Quantus
class named in the case (not read from the registry), built from the constructor arguments the wrapper
records in ``MetricResult.params`` (function names resolved here), seeded as the wrapper seeds (random,
numpy, torch with seed 0), called on the same x/y/a/s/explain_func. Reference values are cached per case, so
the fault tests repeat only the wrapper call.

Data: ``cnn`` (conv -> tanh -> pool -> linear, 3 classes) on four 1x8x8 images with labels [0, 1, 2, 1];
``linear`` (one Linear layer, weights k/2, zero on image rows 0-1, inputs k/4: float32 arithmetic is exact) on
four images. ``mixed`` explain_func, by target: 0 -> a fixed pattern (ignores model and input), 1 ->
|gradient|, 2 -> input x gradient; ``a`` is its output on the batch.

Per metric (sample values in brackets, "." = Quantus direct only):

* faithfulness_correlation: linear model, a = +-w_y * (x - min x) (exact contribution w.r.t. the "black" =
  per-sample-minimum baseline): Pearson [1, -1, ., .]; + Quantus direct.
* pixel_flipping: mixed on cnn; curves = Quantus's; score = trapezoid(curve, dx=1/(L-1)), L = 32 steps of 2
  pixels; the curve = own flipping (most relevant first, to the sample minimum, softmax of the target).
* region_perturbation: mixed on cnn; curves = Quantus's; score = AOPC = sum(curve)/(L+1), L = 4 regions of
  4x4; curve = own p(x) - p(x_k). Preset samek2017 on 1x18x18: 9x9 regions (L = 4) replaced by per-pixel
  U(min, max) noise, reproduced with the same numpy draws.
* max_sensitivity, avg_sensitivity: mixed on cnn, nr_samples 2: [0, ., ., .] (the target-0 map ignores the
  input) + Quantus direct.
* pointing_game, attribution_localisation, top_k_intersection, relevance_rank_accuracy,
  relevance_mass_accuracy, auc: maps [mask, 1 - mask, noisy signed map, -mask * (1 + u)]: [1, 0, ., 1] (the
  last needs abs=True); attribution_localisation up to Quantus's 1e-9 in the denominator; + Quantus direct.
* sparseness, complexity, effective_complexity: maps [one-hot, 1 on 5 pixels, +-1 on 16 pixels, random
  signed, constant] of n = 64 pixels: sparseness (Gini) m(n-m) / (n(m + n*1e-7)) for m equal pixels ((n-m)/n
  but for Quantus's +1e-7), complexity (entropy) [0, log 5, log 16], effective complexity (share of |a| >
  0.1 max|a|) [1, 5, 16] / 64; the constant map is NaN with a note; + Quantus direct on the others (effective
  complexity: Quantus's count / 64). Effective complexity also on maps with exactly k of 64 entries above
  0.1 max|a| (entries at exactly 0.1 max|a| do not count), k = [7, 1, 64, 0 + one peak], each scaled by 1e-6,
  1, 3 and 1e4: k / 64, whatever the scale.
* efficient_mprt: mixed on cnn: [0, ., ., .] (a model-independent map does not gain complexity) + Quantus
  direct (same torch seed for the randomisation).
* mprt: mixed on cnn: [1, ., ., .] (Spearman of a model-independent map with itself) + Quantus direct.
* random_logit: mixed on cnn: Quantus direct; and a = x (target-independent): SSIM 1 for every sample.
* completeness: linear model, exact float arithmetic, baseline 0 (the default): with S = sum(a), D = f(x) -
  f(0) = sum(w_y * x), maps [w_y * x (input x gradient = integrated gradients: complete), 2 w_y * x, w_y * x +
  1/8 on one pixel, random]: symmetric error |S - D| / (|S| + |D|) = [0, 1/3, 1/8 / (|D + 1/8| + |D|), .];
  relative error |S - D| / |D| = [0, 1, 1/8 / |D|, .]; pass (rtol 0.05) [1, 0, 1/8 <= 0.05 |D|, 0]. The
  random map's errors are far from 0. Quantus's own test: score 'pass' with rtol = atol = 0 and baseline
  'black' (the sample minimum; sample 2 has minimum 1/4) on a = w_y * (x - min x), 2a, a, a + 1/8 on one
  pixel: [1, 0, 1, 0] = Quantus direct.
* non_sensitivity: linear model, logits (softmax=False: row effects are exact); features_in_step 8 (the
  patched class): attributions zero on rows {0, 1}, {0}, {}, {0, 1} + 3 pixels of a live row. With
  output_eps 0.01 every live row changes the output: [0, 8, 16, 3] / 64 violations (rows 0-1 do not change
  it). With the default output_eps 0.1 rows whose logit change is at most 0.1 times the sample's largest are
  unchanged too (rows 5-7 of sample 1, row 3 of sample 2): [0, 32, 24, 3] / 64, = own definition (exact row
  effects |sum_row w_y (x - min x)|). One pixel per step, the map of every pixel's exact effect |w_y (x - min
  x)| violates nowhere (score 0), a random map does. Quantus's thresholds (eps 1e-5, output_eps None) at one
  pixel per step (8x8: auto) = Quantus's own NonSensitivity / 64.
* input_invariance: mixed on cnn: [1, 1, 0, 1] (pattern and gradient are invariant, input x gradient is not)
  = own definition (explain the model f(x' - shift) at x' = x + shift, compare at 1e-4 of max|a|); every
  score is exactly 0 or 1 (a rate over images). Not Quantus direct: Quantus 0.6.0's InputInvariance is the
  bug the wrapper's subclass fixes.
* mask_iou, mask_dice (seed 000, xaibench's own: no Quantus reference): hand-counted overlaps of the region
  |a| >= threshold * max|a| with the mask, maps [mask, 10 of the mask's 20 pixels + 10 outside, 1 - mask,
  -2 on the mask + 3 pixels outside at exactly half of max|a| (counted) + 4 just below, any map with an empty
  mask]: IoU [1, 1/3, 0, 12/15, NaN], Dice [1, 1/2, 0, 24/27, NaN]; threshold 1: the last is 1.
* gaussian_spread, gaussian_mass_1sigma, gaussian_mass_2sigma, heatmap_modes (seed 000, own): maps [one
  pixel, 6x6 checkerboard of +-1, a row of -1, -1 and 0.8 at two points 5 and 4 pixels apart, all zero]:
  spread det(S + I/12)^(1/4) / 8 = [1/(8 sqrt 12), sqrt(3)/8, sqrt(2/3)/8, ((p q 41 + 1/12)/12)^(1/4)/8 with
  p = 5/9, q = 4/9, NaN], mass in the 1-sigma ellipse [1, 12/36, 4/8, 5/9, NaN], in the 2-sigma ellipse [1,
  32/36, 1, 1, NaN], modes [1, 1, 1, 2, NaN] (also unsmoothed; min_height 0.9: [1, 1, 1, 1, NaN]); the zero
  map is NaN with a note.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import random
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from faults import known_answer_tests

pytestmark = pytest.mark.usefixtures("one_torch_thread")

Y = np.array([0, 1, 2, 1])
N_PIXELS = 64  # 1x8x8 images
PATTERN = (np.random.default_rng(5).permutation(N_PIXELS).reshape(1, 8, 8) + 1.0) / N_PIXELS
RTOL, ATOL = 1e-6, 1e-9  # wrapper vs Quantus direct: same computation
HAND_RTOL = 1e-5  # own re-implementation (float32 model outputs in another order)
NOT_CONSTRUCTOR = {"softmax", "preset", "xaibench_score", "curve_steps"}
FUNCTION_KEYS = {"norm_numerator", "norm_denominator"}  # function-valued arguments without "_func"
SSIM = "quantus.functions.similarity_func.ssim"
ROBUST = {"nr_samples": 2, "lower_bound": 0.2, "normalise": False, "abs": False}


@dataclasses.dataclass(frozen=True)
class Batch:
    model: Any
    x: np.ndarray
    y: np.ndarray
    a: np.ndarray
    s: np.ndarray | None = None
    explain: Callable | None = None


# --- data ---------------------------------------------------------------------------------------------


@functools.cache
def _quantus() -> Any:
    from xaibench.compat import apply_numpy_compat

    apply_numpy_compat()  # Quantus 0.6.0 needs np.trapz on numpy 2
    import quantus

    return quantus


def _seed(seed: int = 0) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - Quantus draws from the global RNG
    torch.manual_seed(seed)


@functools.cache
def _cnn() -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers = [
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Tanh(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(32, 3),
    ]
    return nn.Sequential(*layers).eval()


def _images(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, 1, size, size)).astype(np.float32)


def _gradient(model: Any, inputs: Any, targets: Any) -> np.ndarray:
    import torch

    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32).requires_grad_(True)
    out = model(x)
    t = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    (grad,) = torch.autograd.grad(out[torch.arange(len(x)), t].sum(), x)
    return grad.detach().numpy().astype(np.float64)


def mixed(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
    """Target 0: PATTERN (ignores model and input); 1: |gradient|; 2: input x gradient."""
    del kwargs  # Quantus adds device=
    grad = _gradient(model, inputs, targets)
    t = np.asarray(targets).reshape(-1, 1, 1, 1)
    x = np.asarray(inputs, dtype=np.float64)
    return np.where(t == 0, PATTERN, np.where(t == 1, np.abs(grad), x * grad))


def input_only(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
    """The input itself: independent of model and target."""
    return np.asarray(inputs, dtype=np.float64).copy()


@functools.cache
def _explained() -> Batch:
    x = _images(4)
    return Batch(_cnn(), x, Y, mixed(_cnn(), x, Y), explain=mixed)


@functools.cache
def _linear() -> tuple[Any, np.ndarray, np.ndarray]:
    """(model, weights (3, 64), inputs): weights k/2 (|w| >= 1/2) except 0 on rows 0-1, inputs k/4, bias k/4;
    sample 2 has minimum 1/4. Every forward pass is exact in float32."""
    import torch
    from torch import nn

    rng = np.random.default_rng(1)
    w = rng.integers(1, 5, (3, 64)) * rng.choice([-0.5, 0.5], (3, 64))
    w[:, :16] = 0.0
    x = rng.integers(0, 5, (4, 1, 8, 8)).astype(np.float32) / 4
    x[:, 0, 7, 7] = 0.0
    x[2] = np.maximum(x[2], 0.25)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.as_tensor(w))
        model[1].bias.copy_(torch.tensor([0.5, -0.25, 0.75]))
    return model, w, x


def _contributions() -> np.ndarray:
    """w_y * (x - min x): the exact share of every pixel in f(x) - f(baseline) of the linear model."""
    _, w, x = _linear()
    flat = x.reshape(4, -1).astype(np.float64)
    return (w[Y] * (flat - flat.min(axis=1, keepdims=True))).reshape(x.shape)


# --- references ---------------------------------------------------------------------------------------

_REFERENCES: dict[str, np.ndarray] = {}


def _reference(key: str, compute: Callable[[], Any]) -> np.ndarray:
    """Cached reference values: the fault tests rerun only the wrapper."""
    if key not in _REFERENCES:
        _REFERENCES[key] = np.asarray(compute(), dtype=np.float64)
    return _REFERENCES[key]


def _resolve(value: str) -> Callable:
    """A recorded function ("module.qualname"; a bare name is xaibench's own) back to the function."""
    module, _, qualname = value.rpartition(".")
    return getattr(importlib.import_module(module or "xaibench.metrics"), qualname)


def _quantus_direct(class_name: str, record: dict, batch: Batch, seed: int = 0) -> np.ndarray:
    """Quantus's class called as the wrapper documents, with the recorded constructor arguments."""
    quantus = _quantus()
    ctor = {
        key: _resolve(value)
        if isinstance(value, str) and (key.endswith("_func") or key in FUNCTION_KEYS)
        else value
        for key, value in record.items()
        if key not in NOT_CONSTRUCTOR
    }
    _seed(seed)
    metric = getattr(quantus, class_name)(
        **ctor, return_aggregate=False, disable_warnings=True, display_progressbar=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = metric(
            model=batch.model,
            x_batch=batch.x,
            y_batch=batch.y,
            a_batch=batch.a.copy(),
            s_batch=None if batch.s is None else batch.s.astype(np.float32),
            channel_first=True,
            explain_func=batch.explain,
            explain_func_kwargs={},
            softmax=record["softmax"],
            device="cpu",
            batch_size=64,
        )
    return np.asarray(out, dtype=np.float64)


def _evaluate(
    evaluate: Callable, name: str, batch: Batch, params: dict | None = None, pinned: dict | None = None
) -> Any:
    """``evaluate`` on ``batch``; the recorded parameters include ``pinned``."""
    result = evaluate(
        name,
        batch.model,
        batch.x,
        batch.y,
        batch.a.copy(),
        batch.s,
        explain_func=batch.explain,
        params=params,
    )
    for key, value in (pinned or {}).items():
        assert result.params[key] == value, (name, key, result.params[key], value)
    return result


def _check(
    evaluate: Callable,
    name: str,
    batch: Batch,
    reference: Callable[[dict], Any],
    known: dict[int, float] | None = None,
    params: dict | None = None,
    pinned: dict | None = None,
    key: str | None = None,
    atol: float = 1e-6,
) -> Any:
    """Scores of ``name`` equal ``reference(record)`` per sample (cached under ``key``), and ``known``."""
    result = _evaluate(evaluate, name, batch, params, pinned)
    expected = _reference(key or name, lambda: reference(result.params))
    np.testing.assert_allclose(result.scores, expected, rtol=RTOL, atol=ATOL, err_msg=name)
    for index, value in (known or {}).items():
        np.testing.assert_allclose(result.scores[index], value, rtol=0, atol=atol, err_msg=f"{name}[{index}]")
    return result


def _direct(class_name: str, batch: Batch) -> Callable[[dict], np.ndarray]:
    return lambda record: _quantus_direct(class_name, record, batch)


# --- own re-implementations of the curve metrics ------------------------------------------------------


def _probabilities(model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = torch.softmax(model(torch.as_tensor(x)), dim=-1).numpy()
    return out[np.arange(len(y)), y].astype(np.float64)


def _flipping_curves(batch: Batch, step: int) -> np.ndarray:
    """p_y after setting the k*step most relevant pixels to the sample minimum, k = 1..H*W/step."""
    n = len(batch.x)
    flat = batch.x.reshape(n, -1).copy()
    order = np.argsort(-batch.a.reshape(n, -1), axis=1)
    lowest = flat.min(axis=1)
    curves = []
    for start in range(0, flat.shape[1], step):
        for i in range(n):
            flat[i, order[i, start : start + step]] = lowest[i]
        curves.append(_probabilities(batch.model, flat.reshape(batch.x.shape), batch.y))
    return np.stack(curves, axis=1)


def _region_curves(batch: Batch, patch: int, noise: bool) -> np.ndarray:
    """p_y(x) - p_y(x_k), x_k: the k most relevant patch x patch regions (by summed a; H, W multiples of
    patch) set to the sample minimum, or, if ``noise``, to U(min, max) of the current image per pixel
    (one (N, patch**2) draw per step from numpy's global RNG, seeded with 0 as the wrapper does)."""
    x = batch.x.copy()
    n, _, h, w = x.shape
    corners = [(r, c) for r in range(0, h, patch) for c in range(0, w, patch)]
    sums = np.array(
        [[batch.a[i, :, r : r + patch, c : c + patch].sum() for r, c in corners] for i in range(n)]
    )
    order = np.argsort(-sums, axis=1)
    before = _probabilities(batch.model, x, batch.y)
    _seed(0)
    curves = []
    for k in range(len(corners)):
        draw = np.random.uniform(size=(n, patch * patch)) if noise else None  # noqa: NPY002
        for i in range(n):
            r, c = corners[order[i, k]]
            lo, hi = float(x[i].min()), float(x[i].max())
            fill = (lo + (hi - lo) * draw[i]).reshape(patch, patch) if noise else lo
            x[i, :, r : r + patch, c : c + patch] = fill
        curves.append(before - _probabilities(batch.model, x, batch.y))
    return np.stack(curves, axis=1)


def _check_curves(
    evaluate: Callable, name: str, batch: Batch, own: Callable[[], np.ndarray], **kwargs
) -> Any:
    """Curves = Quantus direct = own re-implementation; the score is the documented reduction."""
    class_name = {"pixel_flipping": "PixelFlipping", "region_perturbation": "RegionPerturbation"}[name]
    key = f"{name}/{kwargs.get('params')}"
    result = _evaluate(evaluate, name, batch, **kwargs)
    curves = _reference(key, lambda: _quantus_direct(class_name, result.params, batch))
    np.testing.assert_allclose(result.curves, curves, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(curves, _reference(f"{key}/own", own), rtol=HAND_RTOL, atol=1e-7)
    steps = curves.shape[1]
    assert result.params["curve_steps"] == steps
    if name == "pixel_flipping":
        score = np.trapezoid(curves, dx=1.0 / (steps - 1), axis=1)  # AUC on x in [0, 1]
    else:
        score = curves.sum(axis=1) / (steps + 1)  # AOPC over k = 0..L (the k = 0 term is 0)
    np.testing.assert_allclose(result.scores, score, rtol=RTOL, atol=ATOL)
    return result


# --- cases: faithfulness ------------------------------------------------------------------------------


def _faithfulness_correlation(evaluate: Callable) -> None:
    model, _, x = _linear()
    exact = _contributions()
    rest = np.random.default_rng(2).normal(size=exact.shape)
    a = np.concatenate([exact[:1], -exact[1:2], rest[2:]])
    batch = Batch(model, x, Y, a)
    pinned = {"nr_runs": 5, "subset_size": 13, "perturb_baseline": "black", "softmax": False}
    _check(
        evaluate,
        "faithfulness_correlation",
        batch,
        _direct("FaithfulnessCorrelation", batch),
        known={0: 1.0, 1: -1.0},
        params={"nr_runs": 5},
        pinned=pinned,
    )


def _pixel_flipping(evaluate: Callable) -> None:
    batch = _explained()
    pinned = {
        "features_in_step": 2,
        "perturb_baseline": "black",
        "softmax": True,
        "return_auc_per_sample": False,
    }
    result = _check_curves(
        evaluate, "pixel_flipping", batch, lambda: _flipping_curves(batch, 2), pinned=pinned
    )
    assert result.curves.shape == (4, 32)


def _region_perturbation(evaluate: Callable) -> None:
    batch = _explained()
    pinned = {"patch_size": 4, "regions_evaluation": 32, "order": "morf", "perturb_baseline": "black"}
    result = _check_curves(
        evaluate, "region_perturbation", batch, lambda: _region_curves(batch, 4, noise=False), pinned=pinned
    )
    assert result.curves.shape == (4, 4)
    # Preset samek2017: 9x9 regions of an 18x18 image (no padding), per-pixel uniform noise.
    x = _images(4, size=18, seed=3)
    big = Batch(_cnn(), x, Y, np.random.default_rng(4).normal(size=x.shape))
    pinned = {
        "patch_size": 9,
        "regions_evaluation": 100,
        "order": "morf",
        "preset": "samek2017",
        "perturb_func": "uniform_noise_replacement",
    }
    result = _check_curves(
        evaluate,
        "region_perturbation",
        big,
        lambda: _region_curves(big, 9, noise=True),
        params={"preset": "samek2017"},
        pinned=pinned,
    )
    assert result.curves.shape == (4, 4)


# --- cases: robustness, randomisation -----------------------------------------------------------------


def _reexplaining(
    name: str, class_name: str, known: dict[int, float], pinned: dict, params: dict | None = None
) -> Callable:
    """A case for a metric that re-explains ``mixed`` on the cnn: Quantus direct and ``known``."""

    def case(evaluate: Callable) -> None:
        batch = _explained()
        _check(evaluate, name, batch, _direct(class_name, batch), known=known, params=params, pinned=pinned)

    return case


def _random_logit(evaluate: Callable) -> None:
    _reexplaining("random_logit", "RandomLogit", {}, {"num_classes": 3, "similarity_func": SSIM})(evaluate)
    x = _images(4)
    same = Batch(_cnn(), x, Y, input_only(None, x, Y), explain=input_only)
    result = _evaluate(evaluate, "random_logit", same)
    np.testing.assert_allclose(result.scores, 1.0, rtol=0, atol=1e-9)  # identical maps: SSIM 1


def _input_invariance(evaluate: Callable) -> None:
    batch = _explained()
    result = _check(
        evaluate,
        "input_invariance",
        batch,
        lambda record: _invariant_by_definition(batch, record["input_shift"]),
        known={0: 1, 1: 1, 2: 0, 3: 1},
        pinned={"input_shift": -1, "normalise": False, "abs": False},
    )
    assert set(result.scores.tolist()) <= {0.0, 1.0}, result.scores  # per-sample 0/1: a rate over images


def _invariant_by_definition(batch: Batch, shift: float) -> np.ndarray:
    """1 where explaining f(x' - shift) at x' = x + shift gives a (up to 1e-4 of max|a|), else 0."""
    import torch

    class Shifted(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs: Any) -> Any:
            return self.model(inputs - shift)

    shifted = batch.explain(Shifted(batch.model), batch.x + np.float32(shift), batch.y)
    scale = np.abs(batch.a).max(axis=(1, 2, 3), keepdims=True)
    return np.all(np.isclose(batch.a / scale, shifted / scale, atol=1e-4), axis=(1, 2, 3)).astype(float)


# --- cases: localisation ------------------------------------------------------------------------------


@functools.cache
def _localisation_batch() -> Batch:
    """Masks of 9-20 pixels; maps [mask, 1 - mask, noisy signed map, -mask * (1 + u)]."""
    s = np.zeros((4, 1, 8, 8), dtype=bool)
    for i, (r0, r1, c0, c1) in enumerate([(1, 4, 1, 4), (4, 8, 2, 7), (0, 2, 0, 8), (3, 7, 3, 6)]):
        s[i, 0, r0:r1, c0:c1] = True  # 9, 20, 16, 12 pixels
    rng = np.random.default_rng(6)
    m = s.astype(np.float64)
    a = np.stack(
        [m[0], 1 - m[1], 0.6 * m[2] + rng.normal(0, 0.3, m[2].shape), -m[3] * (1 + rng.random(m[3].shape))]
    )
    return Batch(_cnn(), _images(4), Y, a, s=s)


def _localisation(name: str, class_name: str, pinned: dict | None = None) -> Callable:
    """A case for a localisation metric: [1, 0, ., 1] and Quantus direct."""

    def case(evaluate: Callable) -> None:
        batch = _localisation_batch()
        _check(
            evaluate,
            name,
            batch,
            _direct(class_name, batch),
            known={0: 1.0, 1: 0.0, 3: 1.0},
            pinned={"abs": True, **(pinned or {})},
            atol=1e-8,
        )

    return case


# --- cases: complexity --------------------------------------------------------------------------------


def _gini(m: int) -> float:
    """Quantus's Gini index of m equal pixels out of N_PIXELS, each + 1e-7: (n-m)/n * m/(m + n*1e-7)."""
    n = N_PIXELS
    return m * (n - m) / (n * (m + n * 1e-7))


COMPLEXITY_KNOWN = {
    "sparseness": ("Sparseness", [_gini(1), _gini(5), _gini(16)]),
    "complexity": ("Complexity", [0.0, np.log(5), np.log(16)]),
    "effective_complexity": ("EffectiveComplexity", [1 / N_PIXELS, 5 / N_PIXELS, 16 / N_PIXELS]),
}
# Scores = Quantus direct divided by this (effective complexity: a share of the 64 pixels, Quantus a count).
COMPLEXITY_PER = {"effective_complexity": N_PIXELS}


@functools.cache
def _complexity_batch() -> Batch:
    """[one-hot, 1 on 5 pixels, +-1 on 16 pixels, random signed (max |a| = 1), constant]; every max |a| is 1
    (Quantus normalises by the batch-wide max)."""
    rng = np.random.default_rng(7)
    a = np.zeros((5, N_PIXELS))
    a[0, 10] = 1.0
    a[1, rng.choice(N_PIXELS, 5, replace=False)] = 1.0
    a[2, rng.choice(N_PIXELS, 16, replace=False)] = rng.choice([-1.0, 1.0], 16)
    a[3] = rng.uniform(-1, 1, N_PIXELS)
    a[3] /= np.abs(a[3]).max()
    a[4] = 0.5
    x = _images(5)
    return Batch(_cnn(), x, np.array([0, 1, 2, 1, 0]), a.reshape(x.shape))


def _complexity(name: str) -> Callable:
    """A case for a complexity metric: known values of the first three maps, Quantus direct on four."""
    class_name, known = COMPLEXITY_KNOWN[name]

    def case(evaluate: Callable) -> None:
        batch = _complexity_batch()
        varying = dataclasses.replace(batch, x=batch.x[:4], y=batch.y[:4], a=batch.a[:4])
        result = _check(
            evaluate,
            name,
            batch,
            lambda record: np.append(
                _quantus_direct(class_name, record, varying) / COMPLEXITY_PER.get(name, 1), np.nan
            ),
            known=dict(enumerate(known)),
            atol=1e-9,
        )
        assert np.isnan(result.scores[4]) and "1 constant attribution map" in result.note
        if name == "effective_complexity":
            _effective_complexity_counts(evaluate)

    return case


def _effective_complexity_counts(evaluate: Callable) -> None:
    """Exactly k of 64 entries above 0.1 max|a| (the rest at 0, 0.05 or exactly 0.1 max|a|), at four scales:
    share k / 64 whatever the scale (Quantus's absolute eps counted 64 for any dense map)."""
    rng = np.random.default_rng(9)
    a = np.zeros((4, N_PIXELS))
    a[0, :7] = [1.0, 0.5, 0.25, 0.125, 0.75, 0.2, 0.11]
    a[0, 7:20] = 0.1  # exactly at the threshold: not counted
    a[1, 3] = 1.0
    a[1, 4:60] = 0.05
    a[2] = rng.uniform(0.2, 1.0, N_PIXELS)
    a[2, 0] = 1.0  # every entry above 0.1 max|a|
    a[3, 5] = -1.0  # one (negative) peak, the rest exactly 0.1 of it
    a[3, 6:] = 0.1
    scales = np.array([1e-6, 1.0, 3.0, 1e4])[:, None]
    a = (a * scales).reshape(4, 1, 8, 8)
    batch = Batch(_cnn(), _images(4), np.array([0, 1, 2, 1]), a)
    result = _evaluate(evaluate, "effective_complexity", batch, pinned={"eps": 0.1, "abs": True})
    np.testing.assert_allclose(result.scores, np.array([7, 1, 64, 1]) / N_PIXELS, rtol=0, atol=1e-12)


# --- cases: axiomatic ---------------------------------------------------------------------------------


def _completeness(evaluate: Callable) -> None:
    model, w, x = _linear()
    flat = x.reshape(4, -1).astype(np.float64)
    exact = w[Y] * flat  # input x gradient = integrated gradients from 0: complete w.r.t. f(x) - f(0)
    d = exact.sum(axis=1)  # f(x) - f(0): the bias cancels (every forward pass is exact in float32)
    a = exact.copy()
    a[1] *= 2
    a[2, 36] += 0.125
    a[3] = np.random.default_rng(10).normal(0, 1, N_PIXELS)
    batch = Batch(model, x, Y, a.reshape(x.shape))
    s = a.sum(axis=1)
    pinned = {"normalise": False, "abs": False, "perturb_baseline": 0.0, "softmax": False}
    symmetric = np.abs(s - d) / (np.abs(s) + np.abs(d))
    relative = np.abs(s - d) / np.abs(d)
    assert symmetric[3] > 0.05 and relative[3] > 0.05  # the random map is far from complete
    result = _check(
        evaluate,
        "completeness",
        batch,
        lambda record: symmetric,
        known={0: 0.0, 1: 1 / 3, 2: 0.125 / (abs(d[2] + 0.125) + abs(d[2]))},
        pinned={**pinned, "score": "symmetric_error", "rtol": 0.05},
        key="completeness/symmetric",
    )
    assert result.direction == "lower"
    _check(
        evaluate,
        "completeness",
        batch,
        lambda record: relative,
        known={0: 0.0, 1: 1.0, 2: 0.125 / abs(d[2])},
        params={"score": "relative_error"},
        pinned={**pinned, "score": "relative_error"},
        key="completeness/relative",
    )
    passed = (np.abs(s - d) <= 0.05 * np.abs(d) + 1e-5).astype(float)
    assert passed.tolist() == [1, 0, float(0.125 <= 0.05 * abs(d[2]) + 1e-5), 0]
    result = _check(
        evaluate,
        "completeness",
        dataclasses.replace(batch, a=np.concatenate([a[:3], 1.04 * exact[3:]]).reshape(x.shape)),
        lambda record: np.append(passed[:3], 1.0),  # 4 % off passes at rtol 0.05
        known={0: 1, 1: 0},
        params={"score": "pass"},
        pinned={**pinned, "score": "pass", "rtol": 0.05, "atol": 1e-5},
        key="completeness/pass",
    )
    assert result.direction == "higher"
    # Quantus's own test (float ==) is score "pass" with rtol = atol = 0, against its baseline "black".
    contributions = _contributions()
    b = contributions.copy()
    b[1] *= 2
    b[3, 0, 4, 4] += 0.125
    black = Batch(model, x, Y, b)
    quantus_params = {"perturb_baseline": "black", "score": "pass", "rtol": 0.0, "atol": 0.0}
    _check(
        evaluate,
        "completeness",
        black,
        lambda record: _quantus_direct(
            "Completeness", {k: v for k, v in record.items() if k not in ("score", "rtol", "atol")}, black
        ),
        known={0: 1, 1: 0, 2: 1, 3: 0},
        params=quantus_params,
        pinned={**pinned, **quantus_params},
        key="completeness/quantus",
    )


def _row_effects(w: np.ndarray, x: np.ndarray, step: int) -> np.ndarray:
    """(4, 64 / step): |f_y(x) - f_y(x with features [k step, (k+1) step) at the sample minimum)| of the
    linear model, from its weights (not its forward pass)."""
    flat = x.reshape(4, -1).astype(np.float64)
    effect = w[Y] * (flat - flat.min(axis=1, keepdims=True))
    return np.abs(effect.reshape(4, -1, step).sum(axis=2))


def _non_sensitivity_by_definition(a: np.ndarray, changes: np.ndarray, eps: float, output_eps: float):
    """Share of pixels p with [|a_p| < eps max|a|] != [change of p's step <= output_eps max change]."""
    flat = np.abs(a.reshape(len(a), -1))
    non_feature = flat < eps * flat.max(axis=1, keepdims=True)
    unchanged = changes <= output_eps * changes.max(axis=1, keepdims=True)
    unchanged = np.repeat(unchanged, flat.shape[1] // changes.shape[1], axis=1)
    return (non_feature != unchanged).mean(axis=1)


def _non_sensitivity(evaluate: Callable) -> None:
    model, w, x = _linear()
    a = np.random.default_rng(8).uniform(0.1, 1.0, (4, N_PIXELS))  # a / max a >= 0.1: all features
    a[0, :16] = 0  # zero exactly where the model is insensitive (rows 0-1): no violation
    a[1, :8] = 0  # row 1 is insensitive but attributed: 8 violations
    # sample 2 is attributed everywhere: the 16 pixels of rows 0-1 violate
    a[3, :16] = 0
    a[3, 40:43] = 0  # 3 pixels of row 5, which the model uses, are not attributed: 3 violations
    batch = Batch(model, x, Y, a.reshape(x.shape))
    pinned = {
        "eps": 0.1,
        "perturb_func": "quantus.functions.perturb_func.batch_baseline_replacement_by_indices",
        "perturb_baseline": "black",
        "abs": True,
        "normalise": True,
        "softmax": False,
    }
    rows = _row_effects(w, x, 8)
    assert (rows[:, :2] == 0).all() and (rows[:, 2:] > 0.01 * rows.max(axis=1, keepdims=True)).all()
    # One image row per perturbation step: xaibench's subclass (Quantus 0.6.0 raises a broadcast error).
    _check(
        evaluate,
        "non_sensitivity",
        batch,
        lambda record: _non_sensitivity_by_definition(a, rows, 0.1, 0.01),
        known={0: 0, 1: 8 / 64, 2: 16 / 64, 3: 3 / 64},
        params={"features_in_step": 8, "softmax": False, "output_eps": 0.01},
        pinned={**pinned, "features_in_step": 8, "output_eps": 0.01},
        key="non_sensitivity/8/0.01",
    )
    # Default output_eps 0.1: rows changing the logit by at most 0.1 of the sample's largest are unchanged.
    _check(
        evaluate,
        "non_sensitivity",
        batch,
        lambda record: _non_sensitivity_by_definition(a, rows, 0.1, 0.1),
        known={0: 0, 1: 32 / 64, 2: 24 / 64, 3: 3 / 64},
        params={"features_in_step": 8, "softmax": False},
        pinned={**pinned, "features_in_step": 8, "output_eps": 0.1},
        key="non_sensitivity/8",
    )
    # One pixel per step: the map of each pixel's exact effect has no violation; a random map has.
    effects = _row_effects(w, x, 1)
    maps = np.concatenate([effects[:2], np.random.default_rng(11).uniform(0, 1, (2, N_PIXELS))])
    exact = Batch(model, x, Y, maps.reshape(x.shape))
    expected = _non_sensitivity_by_definition(maps, effects, 0.15, 0.15)
    assert expected[2] > 0.1 and expected[3] > 0.1
    _check(
        evaluate,
        "non_sensitivity",
        exact,
        lambda record: expected,
        known={0: 0, 1: 0},
        params={"features_in_step": 1, "softmax": False, "eps": 0.15, "output_eps": 0.15},
        pinned={**pinned, "features_in_step": 1, "eps": 0.15, "output_eps": 0.15},
        key="non_sensitivity/1/exact",
    )
    # Quantus's absolute thresholds at one pixel per step (8x8: auto) = Quantus's own class, as a share.
    quantus_params = {"eps": 1e-5, "output_eps": None}
    _check(
        evaluate,
        "non_sensitivity",
        batch,
        lambda record: (
            _quantus_direct("NonSensitivity", {k: v for k, v in record.items() if k != "output_eps"}, batch)
            / N_PIXELS
        ),
        params=quantus_params,
        pinned={**pinned, **quantus_params, "features_in_step": 1, "softmax": True},
        key="non_sensitivity/quantus",
    )


# --- cases: seed 000 (xaibench's own metrics, no Quantus reference) ----------------------------------------


@functools.cache
def _overlap_batch() -> Batch:
    """Five 8x8 maps and masks: [map = mask, 10 of the mask's 20 pixels + 10 outside, 1 - mask, a signed map
    (-2 on the 12 mask pixels, 3 pixels outside at exactly half of max|a|, 4 just below), any map with an
    empty mask]."""
    s = np.zeros((5, 1, 8, 8), dtype=bool)
    a = np.zeros((5, 1, 8, 8))
    s[0, 0, 1:4, 1:4] = True
    a[0] = s[0]
    s[1, 0, 4:8, 2:7] = True
    a[1, 0, 2:6, 2:7] = 1.0
    a[1, 0, 0, :] = 0.2
    s[2, 0, 0:2, :] = True
    a[2] = 1.0 - s[2]
    s[3, 0, 3:7, 3:6] = True
    a[3][s[3]] = -2.0
    a[3, 0, 0, 0:3] = 1.0
    a[3, 0, 1, 0:4] = 0.999
    a[4] = PATTERN
    return Batch(_cnn(), _images(5), np.array([0, 1, 2, 1, 0]), a, s=s)


# (threshold 0.5, threshold 1.0) per overlap metric
OVERLAP_KNOWN = {
    "mask_iou": ([1, 1 / 3, 0, 12 / 15, np.nan], [1, 1 / 3, 0, 1, np.nan]),
    "mask_dice": ([1, 1 / 2, 0, 24 / 27, np.nan], [1, 1 / 2, 0, 1, np.nan]),
}


def _overlap(name: str) -> Callable:
    """A case for mask_iou/mask_dice: the hand-counted IoU/Dice of the region |a| >= threshold * max|a|."""
    half, whole = OVERLAP_KNOWN[name]

    def case(evaluate: Callable) -> None:
        batch = _overlap_batch()
        pinned = {"threshold": 0.5, "abs": True, "normalise": False}
        _check(evaluate, name, batch, lambda record: np.array(half), pinned=pinned, atol=1e-12)
        _check(
            evaluate,
            name,
            batch,
            lambda record: np.array(whole),
            params={"threshold": 1.0},
            pinned={**pinned, "threshold": 1.0},
            key=f"{name}/1.0",
        )

    return case


@functools.cache
def _gaussian_batch() -> Batch:
    """Five 8x8 maps: [one pixel, a 6x6 checkerboard of +-1, a row of -1, -1 at (1, 1) and 0.8 at (6, 5),
    all zero]."""
    a = np.zeros((5, 1, 8, 8))
    a[0, 0, 2, 5] = 1.0
    a[1, 0, 1:7, 1:7] = np.where(np.add.outer(np.arange(6), np.arange(6)) % 2 == 0, 1.0, -1.0)
    a[2, 0, 3, :] = -1.0
    a[3, 0, 1, 1], a[3, 0, 6, 5] = -1.0, 0.8
    return Batch(_cnn(), _images(5), np.array([0, 1, 2, 1, 0]), a)


def _two_point_spread() -> float:
    """Weights 5/9, 4/9 at offset (5, 4): covariance eigenvalues p q 41 + 1/12 and 1/12 (regularised)."""
    return ((5 / 9 * 4 / 9 * 41 + 1 / 12) / 12) ** 0.25 / 8


# Per sample of _gaussian_batch; the all-zero map is NaN. Spread: det(S + I/12)^(1/4) / 8 = 1/sqrt(12) for one
# pixel, sqrt(36/12) for the 6x6 block, sqrt(sqrt(1/12 * 64/12)) for the row. Mass in the 1-sigma ellipse:
# the block's 12 central pixels of 36, the row's 4 central pixels, the two points' heavier point (5/9); in
# the 2-sigma ellipse: the block without its 4 corners. Modes: the block and the row are plateaus.
GAUSSIAN_KNOWN = {
    "gaussian_spread": [
        1 / (8 * np.sqrt(12)),
        np.sqrt(3) / 8,
        np.sqrt(2 / 3) / 8,
        _two_point_spread(),
        np.nan,
    ],
    "gaussian_mass_1sigma": [1, 1 / 3, 1 / 2, 5 / 9, np.nan],
    "gaussian_mass_2sigma": [1, 8 / 9, 1, 1, np.nan],
    "heatmap_modes": [1, 1, 1, 2, np.nan],
}


def _gaussian(name: str) -> Callable:
    """A case for the Gaussian-shape metrics: hand-computed moments of hand-made maps."""

    def case(evaluate: Callable) -> None:
        batch = _gaussian_batch()
        pinned = {"abs": True, "normalise": False}
        if name == "heatmap_modes":
            pinned.update(sigma=1.0, min_height=0.5)
        result = _check(
            evaluate, name, batch, lambda record: np.array(GAUSSIAN_KNOWN[name]), pinned=pinned, atol=1e-12
        )
        assert "1 constant attribution map" in result.note
        if name == "heatmap_modes":  # unsmoothed: the same; min_height 0.9 drops the second point (0.8)
            for params, known in (({"sigma": 0.0}, [1, 1, 1, 2]), ({"min_height": 0.9}, [1, 1, 1, 1])):
                _check(
                    evaluate,
                    name,
                    batch,
                    lambda record, known=known: np.array([*known, np.nan]),
                    params=params,
                    pinned={**pinned, **params},
                    key=f"{name}/{params}",
                )

    return case


# --- registry of cases --------------------------------------------------------------------------------


CASES: dict[str, Callable[[Callable], None]] = {
    "faithfulness_correlation": _faithfulness_correlation,
    "pixel_flipping": _pixel_flipping,
    "region_perturbation": _region_perturbation,
    "max_sensitivity": _reexplaining(
        "max_sensitivity", "MaxSensitivity", {0: 0.0}, ROBUST, {"nr_samples": 2}
    ),
    "avg_sensitivity": _reexplaining(
        "avg_sensitivity", "AvgSensitivity", {0: 0.0}, ROBUST, {"nr_samples": 2}
    ),
    "pointing_game": _localisation("pointing_game", "PointingGame"),
    "attribution_localisation": _localisation("attribution_localisation", "AttributionLocalisation"),
    "top_k_intersection": _localisation("top_k_intersection", "TopKIntersection", {"k": 3}),
    "relevance_rank_accuracy": _localisation("relevance_rank_accuracy", "RelevanceRankAccuracy"),
    "relevance_mass_accuracy": _localisation("relevance_mass_accuracy", "RelevanceMassAccuracy"),
    "auc": _localisation("auc", "AUC"),
    "sparseness": _complexity("sparseness"),
    "complexity": _complexity("complexity"),
    "effective_complexity": _complexity("effective_complexity"),
    "efficient_mprt": _reexplaining(
        "efficient_mprt", "EfficientMPRT", {0: 0.0}, {"skip_layers": True, "layer_order": "bottom_up"}
    ),
    "mprt": _reexplaining(
        "mprt",
        "MPRT",
        {0: 1.0},
        {"skip_layers": True, "layer_order": "top_down", "return_last_correlation": True},
    ),
    "random_logit": _random_logit,
    "completeness": _completeness,
    "non_sensitivity": _non_sensitivity,
    "input_invariance": _input_invariance,
    "mask_iou": _overlap("mask_iou"),
    "mask_dice": _overlap("mask_dice"),
    "gaussian_spread": _gaussian("gaussian_spread"),
    "gaussian_mass_1sigma": _gaussian("gaussian_mass_1sigma"),
    "gaussian_mass_2sigma": _gaussian("gaussian_mass_2sigma"),
    "heatmap_modes": _gaussian("heatmap_modes"),
}


test_every_metric_has_a_known_answer, test_known_answer, test_known_answer_detects_fault = known_answer_tests(
    "metric", CASES
)
