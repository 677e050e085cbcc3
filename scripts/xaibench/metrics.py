"""Explanation-quality metrics: a registry of Quantus 0.6.0 metrics with affordable, documented defaults.

``evaluate_metric(name, model, x, y, a, s, ...)`` scores precomputed attributions ``a`` and returns one
float per sample (NaN kept, never dropped), the per-sample curve for curve metrics, the fully resolved
(JSON-serialisable) parameters, and the metric's category and score direction as plain strings.

Importing this module is cheap: Quantus (5-8 s, pulls in OpenCV/scikit-image/torchvision) and torch are
imported on first use. Before the first Quantus metric class is touched, :mod:`xaibench.compat` restores
``np.trapz``/``np.NaN`` for numpy >= 2.4 and replaces Quantus's slow per-batch attribution check.

Conventions
-----------
* ``x`` is (N, C, H, W) float, ``y`` (N,) int labels, ``a`` (N, H, W) or (N, 1|C, H, W) attributions,
  ``s`` ground-truth masks (N, H, W) or (N, 1|C, H, W); masks are passed to Quantus as exactly
  (N, 1, H, W) (a multi-channel mask is OR-ed over channels).
* ``explain_func(model=, inputs=, targets=, **explain_func_kwargs)`` gets numpy inputs/targets and the
  (possibly randomised or shifted) torch model and must return numpy attributions; Quantus adds
  ``device=`` to its kwargs. Metrics that re-explain (``needs_explain_func``) compare its output with
  ``a``: it must be the method that produced ``a``, with the same settings.
* Each call seeds ``random``, numpy and torch with ``seed`` first (Quantus has no global seed).
* Every metric is built with ``disable_warnings=True, display_progressbar=False`` and gets ``batch_size``;
  Quantus's run-time ``warnings.warn`` calls (e.g. "perturbation caused no change") are silenced.
* Parameters: a metric's ``params`` are Quantus constructor arguments (plus ``softmax``, passed to the
  call, and ``preset``). Anything else raises ``ValueError`` naming the metric and the key. A few
  defaults are resolved against the data (``"auto"``, or a fraction of H*W for counts of pixels), and
  ``*_func`` arguments may be given by name (a Quantus function, or ``uniform_noise_replacement``).
  The resolved values of *all* constructor arguments -- including Quantus defaults we do not change --
  are recorded in ``MetricResult.params``.
* Normalisation: where a metric normalises (Quantus's ``normalise=True``), each sample is divided by its
  own max |a| (:func:`normalise_by_max_per_sample`), not the batch by one maximum as Quantus's default
  does, so a sample's score never depends on the other samples in its batch. The caller's attribution
  array is never modified.
* Scores: booleans become 0/1; localisation scores of samples with an empty mask are NaN (Quantus's
  PointingGame writes NaN into a boolean array, which turns it into ``True``). ``return_aggregate`` is
  always False (FaithfulnessCorrelation defaults to True and would return one number per batch).
* Quantus 0.6.0 bugs worked around by subclasses here (``quantus_class`` still names the Quantus class):
  NonSensitivity with ``features_in_step > 1`` (broadcast error) and InputInvariance (first pixel never
  shifted; the shift-compensating bias went to the model's second named module and ignored padding).
  Curve metrics are reduced here: pixel flipping to a normalised AUC, region perturbation to AOPC.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from xaibench.registry import Registry

# Pixel flipping's "auto" step size gives at most this many steps (forward passes per batch).
AUTO_CURVE_STEPS = 32
# NonSensitivity's "auto" step size (contiguous pixel groups; see _FixedNonSensitivity).
AUTO_NON_SENSITIVITY_STEPS = 64

# Constructor arguments xaibench owns: results must be per sample and quiet.
_RESERVED = frozenset(
    {
        "return_aggregate",
        "aggregate_func",
        "disable_warnings",
        "display_progressbar",
        "default_plot_func",
    }
)
# Extra keys accepted in ``params`` besides the Quantus constructor arguments.
_CALL_PARAMS = frozenset({"softmax"})


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    ``defaults`` are the constructor kwargs xaibench changes from Quantus's defaults (see ``notes``);
    ``fixed`` are constructor kwargs xaibench needs for per-sample results and a caller cannot change.
    Category and direction are read from the Quantus class (``evaluation_category``/``score_direction``),
    except where ``direction_override`` documents that xaibench's per-sample score runs the other way.
    """

    quantus_class: str
    defaults: dict
    needs_mask: bool = False
    needs_explain_func: bool = False
    curve: bool = False
    fixed: dict = field(default_factory=dict)
    notes: str = ""
    direction_override: str | None = None
    curve_label: str = ""  # y-axis of the per-step curve (curve metrics only)


@dataclass
class MetricResult:
    """One metric on one batch.

    ``category``/``direction`` are filled by :func:`evaluate_metric` (from the Quantus class), so that
    :mod:`xaibench.tables` can build tables without importing Quantus. ``elapsed_s`` is the wall time of
    the metric call (construction + evaluation).
    """

    scores: np.ndarray
    curves: np.ndarray | None
    params: dict
    category: str = ""
    direction: str = ""
    elapsed_s: float = float("nan")
    note: str = ""  # why some scores are NaN (constant maps, Quantus refusing a re-explanation), if known


METRICS: Registry[MetricSpec] = Registry("metric")


def _add(name: str, spec: MetricSpec) -> None:
    METRICS.add(name, spec)


# --- faithfulness -------------------------------------------------------------------------------------
_add(
    "faithfulness_correlation",
    MetricSpec(
        "FaithfulnessCorrelation",
        {"nr_runs": 50, "subset_size": 0.2},
        notes=(
            "nr_runs 100 -> 50 random subsets (one forward pass each per batch). subset_size as a fraction "
            "of the C*H*W features: 0.2 gives 205 pixels at 1x32x32, close to Quantus's absolute "
            "default 224 (which is meant for 224x224 images and exceeds small inputs)."
        ),
    ),
)
_add(
    "pixel_flipping",
    MetricSpec(
        "PixelFlipping",
        {"features_in_step": "auto"},
        curve=True,
        curve_label="target-class output after k perturbation steps",
        fixed={"return_auc_per_sample": False},
        notes=(
            "features_in_step 'auto' = smallest divisor of H*W giving <= 32 steps (32 pixels per step at "
            "32x32, 128 at 64x64) instead of 1 (one forward pass per pixel). Curve = target-class "
            "probability after each step, most relevant pixels first (black baseline). Score = AUC of the "
            "curve by np.trapezoid on an x axis scaled to [0, 1] (dx = 1/(L-1)); Quantus's own "
            "return_auc_per_sample (dx = 1) equals score * (L-1). Lower is better."
        ),
    ),
)
_add(
    "region_perturbation",
    MetricSpec(
        "RegionPerturbation",
        {"patch_size": 4, "regions_evaluation": 32, "order": "morf"},
        curve=True,
        curve_label="f(x⁰) − f(xᵏ): drop of the target-class output",
        direction_override="higher",
        notes=(
            "Non-overlapping patch_size x patch_size regions ranked by summed relevance, perturbed "
            "cumulatively (black baseline by default) for the first regions_evaluation regions; 4x4 "
            "patches and 32 regions (half of a 32x32 image) instead of 8 and 100, so that L = 32 steps. "
            "Curve = f(x0) - f(xk), k = 1..L (Quantus). Score = AOPC = 1/(L+1) * sum_{k=0..L} "
            "(f(x0) - f(xk)) (Samek et al. 2017; the k = 0 term is 0). The AOPC of a MoRF order is better "
            "when higher, so direction is 'higher' for order='morf', 'lower' for 'lerf', 'none' for "
            "'random' (Quantus's class says 'lower' for all). See PRESETS['samek2017']."
        ),
    ),
)
# --- robustness ---------------------------------------------------------------------------------------
_ROBUSTNESS_NOTE = (
    "nr_samples 200 -> 8 noisy copies (each one re-explanation of the batch); noise U(-0.2, 0.2) "
    "(Quantus's lower_bound default). Needs the explain_func that produced a."
)
_add(
    "max_sensitivity",
    MetricSpec("MaxSensitivity", {"nr_samples": 8}, needs_explain_func=True, notes=_ROBUSTNESS_NOTE),
)
_add(
    "avg_sensitivity",
    MetricSpec("AvgSensitivity", {"nr_samples": 8}, needs_explain_func=True, notes=_ROBUSTNESS_NOTE),
)
# --- localisation -------------------------------------------------------------------------------------
_LOC_NOTE = (
    "abs=True (Quantus's default for some of them only): localisation asks where the relevance magnitude "
    "lies, so signed maps (IG, DeepLift, LRP) compare with unsigned ones and mass ratios stay in [0, 1]; "
    "otherwise Quantus defaults; a sample with an empty mask scores NaN."
)
_LOC = {"abs": True}
_add("pointing_game", MetricSpec("PointingGame", dict(_LOC), needs_mask=True, notes=_LOC_NOTE))
_add(
    "attribution_localisation",
    MetricSpec(
        "AttributionLocalisation",
        {},
        needs_mask=True,
        notes=_LOC_NOTE + " Keeps abs=True: with abs=False the inside/total ratio can exceed 1 and Quantus "
        "then returns NaN.",
    ),
)
_add(
    "top_k_intersection",
    MetricSpec(
        "TopKIntersection",
        {"k": 0.05, **_LOC},
        needs_mask=True,
        notes=(
            "k as a fraction of H*W (an int is taken as a pixel count): 0.05 = 51 pixels at 32x32, "
            "smaller than a Triangles & Squares shape (~200-330 px); Quantus's k=1000 is for 224x224 and "
            "is most of a 32x32 image."
        ),
    ),
)
_add(
    "relevance_rank_accuracy",
    MetricSpec("RelevanceRankAccuracy", dict(_LOC), needs_mask=True, notes=_LOC_NOTE),
)
_add(
    "relevance_mass_accuracy",
    MetricSpec("RelevanceMassAccuracy", dict(_LOC), needs_mask=True, notes=_LOC_NOTE),
)
_add(
    "auc",
    MetricSpec("AUC", dict(_LOC), needs_mask=True, notes=_LOC_NOTE + " ROC AUC of |a| against the mask."),
)
# --- complexity ---------------------------------------------------------------------------------------
_add("sparseness", MetricSpec("Sparseness", {}, notes="Quantus defaults (Gini index of |a|)."))
_add("complexity", MetricSpec("Complexity", {}, notes="Quantus defaults (entropy of the |a| distribution)."))
_add(
    "effective_complexity",
    MetricSpec("EffectiveComplexity", {}, notes="Quantus defaults (count of |a| > eps=1e-5 after max-norm)."),
)
# --- randomisation ------------------------------------------------------------------------------------
_add(
    "efficient_mprt",
    MetricSpec(
        "EfficientMPRT",
        {"skip_layers": True, "layer_order": "bottom_up"},
        needs_explain_func=True,
        fixed={"compute_extra_scores": False},
        notes=(
            "Per-sample score (Quantus's own): relative rise in explanation complexity (discrete entropy) "
            "from the original to the fully randomised model, (H_rand - H_orig) / H_orig; two explanation "
            "passes only (skip_layers=True). Higher is better."
        ),
    ),
)
_add(
    "mprt",
    MetricSpec(
        "MPRT",
        {"skip_layers": True, "layer_order": "top_down"},
        needs_explain_func=True,
        fixed={"return_last_correlation": True, "return_average_correlation": False},
        notes=(
            "Per-sample score: Spearman correlation between a and the explanation of the fully "
            "(cascading, top-down) randomised model (return_last_correlation); skip_layers=True skips "
            "the intermediate layers. Lower is better."
        ),
    ),
)
_add(
    "random_logit",
    MetricSpec(
        "RandomLogit",
        {"num_classes": "auto"},
        needs_explain_func=True,
        notes="num_classes 'auto' = the model's output size (Quantus's 1000 is for ImageNet).",
    ),
)
# --- axiomatic ----------------------------------------------------------------------------------------
_add(
    "completeness",
    MetricSpec(
        "Completeness",
        {"normalise": False},
        notes=(
            "normalise=False: completeness compares sum(a) with f(x) - f(baseline) (logits), which a "
            "max-normalised map cannot satisfy. Quantus tests exact float equality, so the score is 0 "
            "unless a method is exactly complete."
        ),
    ),
)
_add(
    "non_sensitivity",
    MetricSpec(
        "NonSensitivity",
        {"features_in_step": "auto"},
        notes=(
            "features_in_step 'auto' = smallest divisor of H*W giving <= 64 steps (16 pixels at 32x32). "
            "Quantus 0.6.0 raises a broadcast error for features_in_step > 1; xaibench's subclass fixes "
            "it by giving each pixel its group's verdict (identical to Quantus for features_in_step=1). "
            "Score = number of pixels violating non-sensitivity (lower is better)."
        ),
    ),
)
_add(
    "input_invariance",
    MetricSpec(
        "InputInvariance",
        {},
        needs_explain_func=True,
        notes=(
            "Quantus defaults (input_shift=-1, normalise=False). Binary score (1 = invariant). Quantus "
            "compares the maps with an absolute tolerance (np.isclose atol=1e-4), so raw gradients of a "
            "small model (~1e-5) always passed; the subclass divides both maps by max|a| of the original "
            "one first (a pure rescaling is still detected). It also fixes two Quantus 0.6.0 bugs that "
            "failed every method: the shift skipped the first pixel of every image, and the compensating "
            "bias went to the model's second named module (a container here: AttributeError; a bias-free "
            "conv: TypeError) and ignored zero padding. The shifted model subtracts the exact response "
            "of the first parametrised layer to the shift (a bias change when it is spatially constant, "
            "otherwise a forward hook)."
        ),
    ),
)


PRESETS: dict[str, dict] = {
    "samek2017": {
        "metric": "region_perturbation",
        "params": {
            "patch_size": 9,
            "regions_evaluation": 100,
            "order": "morf",
            "perturb_func": "uniform_noise_replacement",
            "perturb_func_kwargs": {},
        },
        "description": (
            "Region perturbation after Samek et al. 2017 (IEEE TNNLS 28(11)): 9x9 regions in MoRF order "
            "replaced by per-pixel uniform noise (within each image's value range), up to L = 100 steps, "
            "score AOPC. Differences: Quantus ranks a fixed grid of non-overlapping patches by summed "
            "relevance (Samek perturbs the region around each next most relevant location), so a 32x32 "
            "image has only 16 regions (padded to 36x36) and L = min(100, regions). Quantus's own "
            "'uniform' baseline fills a whole region with one random value per image, hence the "
            "per-pixel noise function."
        ),
    },
}


# --- perturbation helpers ------------------------------------------------------------------------------


def uniform_noise_replacement(
    arr: np.ndarray,
    indices: np.ndarray,
    low: float | None = None,
    high: float | None = None,
    **kwargs: Any,
) -> np.ndarray:
    """Batched perturb_func: replace ``arr[i, indices[i]]`` by independent U(low, high) values per pixel.

    ``low``/``high`` default to each sample's own min/max, i.e. noise within the image's value range.
    ``arr`` is (N, F), ``indices`` (N, I); extra kwargs (e.g. ``perturb_baseline``) are ignored.
    """
    del kwargs
    arr = np.asarray(arr)
    out = arr.copy()
    n = arr.shape[0]
    lo = arr.min(axis=1, keepdims=True) if low is None else np.full((n, 1), float(low))
    hi = arr.max(axis=1, keepdims=True) if high is None else np.full((n, 1), float(high))
    # The legacy global RNG on purpose: Quantus draws from it too, and evaluate_metric seeds it.
    noise = lo + (hi - lo) * np.random.uniform(size=np.shape(indices))  # noqa: NPY002
    out[np.arange(n)[:, None], indices] = noise.astype(out.dtype, copy=False)
    return out


def normalise_by_max_per_sample(a: np.ndarray, normalise_axes: Any = None, **kwargs: Any) -> np.ndarray:
    """Divide each sample's attributions by its own max |a| (all-zero samples are left as they are).

    Quantus 0.6.0's default ``normalise_by_max`` divides the whole batch by one maximum (its
    ``normalise_axes`` default to every axis, the batch axis included), so a sample's score would depend on
    the other samples in its batch and on the batch size: e.g. effective complexity of a map scaled by 1e-6
    is 0 beside an unscaled map and 64 alone. ``normalise_axes`` is accepted for Quantus's signature and
    ignored: the axes are always 1..ndim-1.
    """
    del normalise_axes, kwargs
    a = np.asarray(a)
    peak = np.max(np.abs(a), axis=tuple(range(1, a.ndim)), keepdims=True)
    return a / np.where(peak > 0, peak, 1).astype(a.dtype, copy=False)


_OWN_FUNCTIONS: dict[str, Callable] = {
    "uniform_noise_replacement": uniform_noise_replacement,
    "normalise_by_max_per_sample": normalise_by_max_per_sample,
}
# Function arguments whose Quantus default xaibench replaces (see the functions' docstrings).
_DEFAULT_FUNCTIONS = {"normalise_func": "normalise_by_max_per_sample"}


# --- Quantus access -----------------------------------------------------------------------------------


@functools.cache
def _quantus() -> Any:
    """Import Quantus with the compat patches applied (once per process)."""
    from xaibench.compat import apply_numpy_compat, patch_quantus_fast_checks

    apply_numpy_compat()
    import quantus

    patch_quantus_fast_checks()
    return quantus


def _enum_str(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Enum):
        value = value.value
    return str(value)


def _quantus_class(spec: MetricSpec) -> type:
    return getattr(_quantus(), spec.quantus_class)


def _direction_for(name: str, spec: MetricSpec, params: dict | None = None) -> str:
    if name == "region_perturbation":
        order = str((params or {}).get("order", spec.defaults.get("order", "morf"))).lower()
        return {"morf": "higher", "lerf": "lower"}.get(order, "none")
    if spec.direction_override is not None:
        return spec.direction_override
    return _enum_str(getattr(_quantus_class(spec), "score_direction", None)).lower()


def metric_info(name: str) -> dict:
    """Category/direction (plain strings) and flags of a registered metric; imports Quantus.

    ``category`` is Quantus's ``evaluation_category`` value (e.g. "Faithfulness"); ``direction`` is
    "higher", "lower" or "none" for xaibench's per-sample score with default params;
    ``quantus_direction`` is the class attribute as is (they differ only for region_perturbation).
    """
    spec = METRICS.get(name)
    cls = _quantus_class(spec)
    return {
        "metric": name,
        "quantus_class": spec.quantus_class,
        "category": _enum_str(getattr(cls, "evaluation_category", None)),
        "direction": _direction_for(name, spec),
        "quantus_direction": _enum_str(getattr(cls, "score_direction", None)).lower(),
        "needs_mask": spec.needs_mask,
        "needs_explain_func": spec.needs_explain_func,
        "curve": spec.curve,
        "defaults": dict(spec.defaults),
        "notes": spec.notes,
    }


# --- parameters ---------------------------------------------------------------------------------------


def _constructor_defaults(cls: type) -> dict:
    out = {}
    for pname, p in inspect.signature(cls.__init__).parameters.items():
        if pname == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or pname in _RESERVED:
            continue
        out[pname] = None if p.default is inspect.Parameter.empty else p.default
    return out


def _call_default(cls: type, key: str) -> Any:
    p = inspect.signature(cls.__call__).parameters.get(key)
    return None if p is None or p.default is inspect.Parameter.empty else p.default


def _divisor_steps(n_features: int, max_steps: int) -> int:
    """Smallest divisor d of n_features with n_features / d <= max_steps."""
    for d in range(max(1, math.ceil(n_features / max_steps)), n_features + 1):
        if n_features % d == 0:
            return d
    return n_features


def _pixel_count(value: Any, n_pixels: int, name: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"metric {name!r}: {key} must be a pixel count or a fraction, got {value!r}")
    count = round(value * n_pixels) if isinstance(value, float) and 0 < value < 1 else int(value)
    if not 1 <= count <= n_pixels:
        raise ValueError(f"metric {name!r}: {key}={value!r} gives {count} pixels, not in 1..{n_pixels}")
    return count


def _json_value(value: Any) -> Any:
    if callable(value) and not isinstance(value, type):
        return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _resolve_function(name: str, key: str, value: Any) -> Any:
    """``*_func`` given by name: xaibench's own functions, then Quantus's function modules."""
    if not isinstance(value, str):
        return value
    if value in _OWN_FUNCTIONS:
        return _OWN_FUNCTIONS[value]
    _quantus()
    from quantus.functions import (
        complexity_func,
        norm_func,
        normalise_func,
        perturb_func,
        similarity_func,
    )

    for module in (perturb_func, similarity_func, normalise_func, complexity_func, norm_func):
        fn = getattr(module, value, None)
        if callable(fn):
            return fn
    raise ValueError(f"metric {name!r}: {key}={value!r} names no known function")


def resolve_params(
    name: str, params: dict | None, x_shape: tuple[int, ...], num_classes: int | None = None
) -> tuple[dict, dict]:
    """Validate ``params`` and return (record, constructor kwargs) for metric ``name``.

    ``record`` is JSON-serialisable: every constructor argument with its effective value (Quantus default,
    xaibench default, preset, user value, data-resolved "auto"/fraction), plus ``softmax`` and ``preset``.
    """
    spec = METRICS.get(name)
    cls = _quantus_class(spec)
    params = dict(params or {})
    preset_name = params.pop("preset", None)
    merged = _constructor_defaults(cls)
    allowed = set(merged) | _CALL_PARAMS
    merged.update(spec.defaults)
    if preset_name is not None:
        preset = PRESETS.get(preset_name)
        if preset is None:
            raise ValueError(f"metric {name!r}: unknown preset {preset_name!r}; known: {sorted(PRESETS)}")
        if preset["metric"] != name:
            raise ValueError(f"metric {name!r}: preset {preset_name!r} is for metric {preset['metric']!r}")
        merged.update(preset["params"])
    for key in params:
        if key in spec.fixed:
            raise ValueError(
                f"metric {name!r}: parameter {key!r} is fixed by xaibench to {spec.fixed[key]!r}"
            )
        if key not in allowed:
            known = ", ".join(sorted(allowed - set(spec.fixed)))
            raise ValueError(f"metric {name!r}: unknown parameter {key!r}; known parameters: {known}")
    merged.update(params)
    merged.update(spec.fixed)
    for key, value in _DEFAULT_FUNCTIONS.items():
        if key in merged and merged[key] is None:
            merged[key] = value
    merged["softmax"] = params.get("softmax", _call_default(cls, "softmax"))

    n_pixels = int(np.prod(x_shape[2:]))
    n_features = int(np.prod(x_shape[1:]))
    if name == "pixel_flipping" and merged["features_in_step"] == "auto":
        merged["features_in_step"] = _divisor_steps(n_pixels, AUTO_CURVE_STEPS)
    if name == "non_sensitivity" and merged["features_in_step"] == "auto":
        merged["features_in_step"] = _divisor_steps(n_pixels, AUTO_NON_SENSITIVITY_STEPS)
    if name == "top_k_intersection":
        merged["k"] = _pixel_count(merged["k"], n_pixels, name, "k")
    if name == "faithfulness_correlation":
        merged["subset_size"] = _pixel_count(merged["subset_size"], n_features, name, "subset_size")
    if name == "random_logit" and merged["num_classes"] == "auto":
        if num_classes is None:
            raise ValueError(f"metric {name!r}: num_classes='auto' needs the model's output size")
        merged["num_classes"] = int(num_classes)
    for key in ("features_in_step", "nr_samples", "nr_runs", "patch_size", "regions_evaluation"):
        if key in merged and (not isinstance(merged[key], int) or merged[key] < 1):
            raise ValueError(f"metric {name!r}: {key} must be a positive int, got {merged[key]!r}")
    if preset_name is not None:
        merged["preset"] = preset_name

    ctor = {
        k: _resolve_function(name, k, v) if k.endswith("_func") else v
        for k, v in merged.items()
        if k not in _CALL_PARAMS and k != "preset"
    }
    record = {k: _json_value(v) for k, v in merged.items()}
    if name == "pixel_flipping":
        record["xaibench_score"] = "auc_trapezoid_x01"
    elif name == "region_perturbation":
        record["xaibench_score"] = "aopc_samek2017"
    return record, ctor


# --- Quantus fixes (subclasses, built lazily) ----------------------------------------------------------


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
    with torch.no_grad():
        delta = torch.full(tuple(shape), float(input_shift), dtype=p.dtype, device=p.device)
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


@functools.cache
def _fixed_classes() -> dict[str, type]:
    quantus = _quantus()
    from quantus.helpers import asserts

    class _FixedNonSensitivity(quantus.NonSensitivity):
        """NonSensitivity with features_in_step > 1 (Quantus 0.6.0 compares (N, steps) with (N, F)).

        Pixels are perturbed in contiguous groups of features_in_step (raster order, one group at a time,
        from the original input, as in Quantus); every pixel of a group inherits the group's "prediction
        unchanged" verdict, which is then XOR-ed with "attribution < eps" per pixel and counted.
        """

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
            non_features = a_flat < self.eps
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
            unchanged = np.abs(np.stack(preds, axis=1) - y_pred[:, None]) < self.eps
            unchanged = np.repeat(unchanged, step, axis=1)[:, :n_features]
            return (unchanged ^ non_features).sum(-1)

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

    return {"non_sensitivity": _FixedNonSensitivity, "input_invariance": _FixedInputInvariance}


def _metric_class(name: str, spec: MetricSpec) -> type:
    return _fixed_classes().get(name) or _quantus_class(spec)


# --- evaluation ---------------------------------------------------------------------------------------


def _as_attributions(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)  # a copy: with abs=False, normalise=False Quantus edits it in place
    if a.ndim == x.ndim - 1:
        a = a[:, None]
    fits = a.ndim == x.ndim and a.shape[0] == x.shape[0] and a.shape[2:] == x.shape[2:]
    if not fits or a.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"attributions of shape {a.shape} do not fit inputs of shape {x.shape}")
    return a


def _as_masks(s: np.ndarray, x: np.ndarray) -> np.ndarray:
    s = np.asarray(s)
    if s.ndim == x.ndim - 1:
        s = s[:, None]
    if s.ndim != x.ndim or s.shape[0] != x.shape[0] or s.shape[2:] != x.shape[2:]:
        raise ValueError(f"masks of shape {s.shape} do not fit inputs of shape {x.shape}")
    if s.shape[1] != 1:
        s = s.any(axis=1, keepdims=True)
    return (s != 0).astype(np.float32)


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - Quantus uses the global RNG
    torch.manual_seed(seed)


def _model_device(model: Any) -> str:
    try:
        return str(next(model.parameters()).device)
    except StopIteration:
        return "cpu"


def _num_classes(model: Any, x: np.ndarray, device: str) -> int:
    import torch

    with torch.no_grad():
        out = model(torch.as_tensor(x[:1], dtype=torch.float32, device=device))
    return int(out.shape[-1])


def _record_default_functions(record: dict, metric: Any) -> None:
    """Replace ``None`` function arguments in ``record`` by the function Quantus actually chose."""
    for key, value in list(record.items()):
        chosen = getattr(metric, key, None) if value is None else None
        if callable(chosen):
            while isinstance(chosen, functools.partial):
                chosen = chosen.func
            record[key] = _json_value(chosen)


def _to_scores(raw: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(raw, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise RuntimeError(f"metric {name!r} returned {arr.shape[0]} scores for {n} samples")
    return arr


def evaluate_metric(
    name: str,
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    s: np.ndarray | None,
    explain_func: Callable | None = None,
    explain_func_kwargs: dict | None = None,
    params: dict | None = None,
    batch_size: int = 64,
    device: Any = None,
    seed: int = 0,
) -> MetricResult:
    """Score attributions ``a`` of ``model`` on ``(x, y)`` with registered metric ``name``.

    Returns (N,) float64 scores (NaN kept) and, for curve metrics, (N, L) curves. Raises ValueError for
    unknown params, a missing mask or explain_func, or shapes that do not fit.

    Quantus refuses a batch whose attributions are constant (e.g. an all-zero LIME map), and a metric
    that re-explains refuses when the re-explanation is constant (e.g. Grad-CAM of a randomised model).
    Neither is a bug of the caller: constant maps are scored NaN and the rest of the batch is evaluated;
    a refused re-explanation makes the whole call NaN. ``MetricResult.note`` says which happened.
    """
    kwargs = {
        "explain_func": explain_func,
        "explain_func_kwargs": explain_func_kwargs,
        "params": params,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
    }
    flat = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    with np.errstate(invalid="ignore"):
        constant = ~(np.nanmax(flat, axis=1, initial=-np.inf) > np.nanmin(flat, axis=1, initial=np.inf))
    if not constant.any():
        return _evaluate_metric(name, model, x, y, a, s, **kwargs)
    note = f"{int(constant.sum())} constant attribution map(s) scored NaN"
    keep = ~constant
    if keep.any():
        sub = _evaluate_metric(
            name, model, x[keep], y[keep], a[keep], None if s is None else s[keep], **kwargs
        )
        scores = np.full(len(a), np.nan)
        scores[keep] = sub.scores
        curves = None
        if sub.curves is not None:
            curves = np.full((len(a), sub.curves.shape[1]), np.nan)
            curves[keep] = sub.curves
        return MetricResult(
            scores=scores,
            curves=curves,
            params=sub.params,
            category=sub.category,
            direction=sub.direction,
            elapsed_s=sub.elapsed_s,
            note="; ".join(filter(None, [note, sub.note])),
        )
    return skipped_result(name, np.shape(x), note, params)


def skipped_result(
    name: str, x_shape: tuple[int, ...], note: str, params: dict | None = None
) -> MetricResult:
    """An all-NaN result for metric ``name`` that was not computed, with the reason in ``note`` (e.g. a
    localisation metric on a dataset without masks): the cells stay in every table, visibly empty."""
    spec = METRICS.get(name)
    record, _ = resolve_params(name, params, tuple(x_shape), num_classes=None)
    return MetricResult(
        scores=np.full(x_shape[0], np.nan),
        curves=None,
        params=record,
        category=_enum_str(getattr(_quantus_class(spec), "evaluation_category", None)),
        direction=_direction_for(name, spec, record),
        elapsed_s=0.0,
        note=note,
    )


_REFUSED = ("all equal to zero", "all equal to one", "uniformly distributed")


def _evaluate_metric(
    name: str,
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    s: np.ndarray | None,
    explain_func: Callable | None,
    explain_func_kwargs: dict | None,
    params: dict | None,
    batch_size: int,
    device: Any,
    seed: int,
) -> MetricResult:
    """:func:`evaluate_metric` on attributions that are not constant."""
    spec = METRICS.get(name)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"metric {name!r}: inputs must be (N, C, H, W), got shape {x.shape}")
    n = x.shape[0]
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if y.shape != (n,):
        raise ValueError(f"metric {name!r}: {y.shape[0]} labels for {n} inputs")
    a = _as_attributions(a, x)
    if spec.needs_mask:
        if s is None:
            raise ValueError(f"metric {name!r} needs ground-truth masks (s)")
        s = _as_masks(s, x)
    else:
        s = None
    if spec.needs_explain_func and explain_func is None:
        raise ValueError(f"metric {name!r} re-explains inputs and needs an explain_func")
    device_str = str(device) if device is not None else _model_device(model)
    num_classes = _num_classes(model, x, device_str) if name == "random_logit" else None
    record, ctor = resolve_params(name, params, x.shape, num_classes=num_classes)
    cls = _metric_class(name, spec)

    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        _seed_all(seed)
        # return_aggregate=False: FaithfulnessCorrelation aggregates by default (one number per call).
        metric = cls(**ctor, return_aggregate=False, disable_warnings=True, display_progressbar=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"quantus(\.|$)")
            # roc_curve on an empty mask; those samples are set to NaN below.
            warnings.filterwarnings("ignore", message=r"No positive samples in y_true")
            note = ""
            try:
                raw = metric(
                    model=model,
                    x_batch=x,
                    y_batch=y,
                    a_batch=a,
                    s_batch=s,
                    channel_first=True,
                    explain_func=explain_func,
                    explain_func_kwargs=dict(explain_func_kwargs or {}),
                    softmax=record["softmax"],
                    device=device_str,
                    batch_size=batch_size,
                )
            except AssertionError as exc:  # Quantus's check of a re-explanation
                if not any(reason in str(exc) for reason in _REFUSED):
                    raise
                raw, note = None, f"Quantus refused a re-explanation: {str(exc).split(',')[0]}"
    finally:
        model.train(was_training)
    elapsed = time.perf_counter() - start
    _record_default_functions(record, metric)

    curves = None
    if raw is None:
        scores = np.full(n, np.nan)
    elif spec.curve:
        curves = np.asarray(raw, dtype=np.float64)
        if curves.ndim != 2 or curves.shape[0] != n:
            raise RuntimeError(f"metric {name!r} returned curves of shape {curves.shape} for {n} samples")
        steps = curves.shape[1]
        if name == "pixel_flipping":
            scores = np.trapezoid(curves, dx=1.0 / (steps - 1), axis=1) if steps > 1 else curves[:, 0]
        else:  # region_perturbation: AOPC over k = 0..L, the k = 0 term being f(x0) - f(x0) = 0
            scores = curves.sum(axis=1) / (steps + 1)
        record["curve_steps"] = int(steps)
    else:
        scores = _to_scores(raw, n, name)
    if spec.needs_mask and s is not None:
        scores = scores.copy()
        scores[s.reshape(n, -1).sum(axis=1) == 0] = np.nan

    cls_info = _quantus_class(spec)
    return MetricResult(
        scores=scores.astype(np.float64),
        curves=curves,
        params=record,
        category=_enum_str(getattr(cls_info, "evaluation_category", None)),
        direction=_direction_for(name, spec, record),
        elapsed_s=elapsed,
        note=note,
    )
