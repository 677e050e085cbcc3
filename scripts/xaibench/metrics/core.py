"""Generic metric machinery: the spec, the registry, parameter resolution and evaluation.

Nothing here knows a metric by name. Everything that differs between metrics is a field of its
:class:`MetricSpec`, registered by a family module (``faithfulness.py``, ``localisation.py``, ...) with
:func:`register`: data-dependent defaults (``resolve`` rules, :mod:`xaibench.metrics.rules`), how a
per-step curve becomes one score (``reduce_curve`` + ``score_label``), the score direction (a string or a
function of the resolved params), whether the model's output size is needed (``needs_num_classes``) and
the class to build (``metric_class``: a factory for a fixed subclass, else the Quantus class by name).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from xaibench.compat import load_quantus
from xaibench.metrics.functions import DEFAULT_FUNCTIONS, resolve_function
from xaibench.metrics.presets import PRESETS
from xaibench.metrics.rules import ResolveContext, Rule
from xaibench.registry import Registry

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
# Counts that must be positive ints once resolved (whichever metric has them).
_POSITIVE_INTS = ("features_in_step", "nr_samples", "nr_runs", "patch_size", "regions_evaluation")
_DIRECTIONS = ("higher", "lower", "none")


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    ``defaults`` are the constructor kwargs xaibench changes from Quantus's defaults (see ``notes``);
    ``fixed`` are constructor kwargs xaibench needs for per-sample results and a caller cannot change.
    Category and direction are read from the Quantus class (``evaluation_category``/``score_direction``),
    except where ``direction`` says that xaibench's per-sample score runs otherwise: "higher"/"lower"/"none",
    or a function of the params (defaults merged with the caller's, or the resolved record).

    Behaviour hooks (generic code calls them; it never asks for a metric's name):

    * ``resolve``: rules applied in order to the merged constructor arguments, e.g.
      ``auto_steps("features_in_step", 32)`` (see :mod:`xaibench.metrics.rules`).
    * ``needs_num_classes``: the model's output size is measured (one forward pass) for the rules.
    * ``curve`` metrics return (N, L) curves; ``reduce_curve`` maps them to (N,) scores, ``score_label``
      names that reduction in the recorded params (``xaibench_score``), ``curve_label`` is the curve's
      y axis. :func:`register` refuses a curve metric without them.
    * ``metric_class``: a factory of the class to build (a fixed subclass), instead of
      ``quantus.<quantus_class>``; ``quantus_class`` still gives the category and Quantus's direction.
      ``quantus_class_runs``: Quantus's own class computes the metric too (the subclass saves work rather
      than fixing a bug), so the libraries' column of ``tools/benchmark.py bound`` runs it.
    * ``shared_forward``: the inputs the metric feeds the model do not depend on the attributions (from the
      same seed, every method's call perturbs the same way), so a ``forward_cache`` given to
      :func:`evaluate_metric` may replay its forward passes from another method's call.
    """

    quantus_class: str
    defaults: dict
    needs_mask: bool = False
    needs_explain_func: bool = False
    curve: bool = False
    fixed: dict = field(default_factory=dict)
    notes: str = ""
    direction: str | Callable[[dict], str] | None = None
    curve_label: str = ""  # y-axis of the per-step curve (curve metrics only)
    reduce_curve: Callable[[np.ndarray], np.ndarray] | None = None  # (N, L) curves -> (N,) scores
    score_label: str = ""  # recorded as params["xaibench_score"]
    resolve: tuple[Rule, ...] = ()
    needs_num_classes: bool = False
    metric_class: Callable[[], type] | None = None
    quantus_class_runs: bool = False
    shared_forward: bool = False


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


def register(name: str, spec: MetricSpec) -> MetricSpec:
    """Register metric ``name``; an incomplete spec (e.g. a curve metric that does not say how its curve
    becomes a score) raises ValueError naming the metric, and a duplicate name is an error too."""
    problems = _spec_problems(spec)
    if problems:
        raise ValueError(f"metric {name!r}: " + "; ".join(problems))
    METRICS.add(name, spec)
    return spec


def _spec_problems(spec: MetricSpec) -> list[str]:
    problems = [] if spec.quantus_class else ["quantus_class is empty"]
    if isinstance(spec.direction, str) and spec.direction not in _DIRECTIONS:
        problems.append(f"direction {spec.direction!r} is not one of {_DIRECTIONS}")
    curve_fields = {
        "reduce_curve": spec.reduce_curve is not None,
        "score_label": bool(spec.score_label),
        "curve_label": bool(spec.curve_label),
    }
    if spec.curve:
        missing = [key for key, given in curve_fields.items() if not given]
        if missing:
            problems.append(f"a curve metric must declare {', '.join(missing)} (no default reduction)")
    else:
        extra = [key for key, given in curve_fields.items() if given]
        if extra:
            problems.append(f"{', '.join(extra)} given for a metric without curve=True")
    return problems


# --- Quantus class, category, direction ----------------------------------------------------------------


def _enum_str(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, Enum):
        value = value.value
    return str(value)


def _quantus_class(spec: MetricSpec) -> type:
    return getattr(load_quantus(), spec.quantus_class)


def _metric_class(spec: MetricSpec) -> type:
    return spec.metric_class() if spec.metric_class is not None else _quantus_class(spec)


def _category(spec: MetricSpec) -> str:
    return _enum_str(getattr(_quantus_class(spec), "evaluation_category", None))


def _direction_for(spec: MetricSpec, params: dict | None = None) -> str:
    if callable(spec.direction):
        return spec.direction({**spec.defaults, **(params or {})})
    if spec.direction is not None:
        return spec.direction
    return _enum_str(getattr(_quantus_class(spec), "score_direction", None)).lower()


def metric_info(name: str) -> dict:
    """Category/direction (plain strings) and flags of a registered metric; imports Quantus.

    ``category`` is Quantus's ``evaluation_category`` value (e.g. "Faithfulness"); ``direction`` is
    "higher", "lower" or "none" for xaibench's per-sample score with default params;
    ``quantus_direction`` is the class attribute as is (they differ where a spec sets ``direction``).
    """
    spec = METRICS.get(name)
    cls = _quantus_class(spec)
    return {
        "metric": name,
        "quantus_class": spec.quantus_class,
        "category": _category(spec),
        "direction": _direction_for(spec),
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


def resolve_params(
    name: str,
    params: dict | None,
    x_shape: tuple[int, ...],
    num_classes: int | None = None,
    model_free: bool = False,
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
    built = _metric_class(spec)
    if built is not cls:  # a fixed subclass's own constructor arguments are parameters too
        merged.update(_constructor_defaults(built))
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
    for key, value in DEFAULT_FUNCTIONS.items():
        if key in merged and merged[key] is None:
            merged[key] = value
    merged["softmax"] = params.get("softmax", _call_default(cls, "softmax"))

    context = ResolveContext(name, tuple(x_shape), num_classes, model_free)
    for rule in spec.resolve:
        rule(merged, context)
    for key in _POSITIVE_INTS:
        if key in merged and (not isinstance(merged[key], int) or merged[key] < 1):
            raise ValueError(f"metric {name!r}: {key} must be a positive int, got {merged[key]!r}")
    if preset_name is not None:
        merged["preset"] = preset_name

    ctor = {
        k: resolve_function(name, k, v) if k.endswith("_func") else v
        for k, v in merged.items()
        if k not in _CALL_PARAMS and k != "preset"
    }
    record = {k: _json_value(v) for k, v in merged.items()}
    if spec.score_label:
        record["xaibench_score"] = spec.score_label
    return record, ctor


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
    forward_cache: Any = None,
) -> MetricResult:
    """Score attributions ``a`` of ``model`` on ``(x, y)`` with registered metric ``name``.

    Returns (N,) float64 scores (NaN kept) and, for curve metrics, (N, L) curves. Raises ValueError for
    unknown params, a missing mask or explain_func, or shapes that do not fit.

    ``forward_cache`` (e.g. :class:`xaibench.methods.cache.ForwardCache`: anything with a ``serving(model)``
    context manager) serves the model's forward passes during a metric whose spec says ``shared_forward``;
    the scores are the same with or without it.

    Quantus refuses a batch whose attributions are constant (e.g. an all-zero LIME map), and a metric
    that re-explains refuses when the re-explanation is constant (e.g. Grad-CAM of a randomised model).
    Neither is a bug of the caller: constant maps are scored NaN and the rest of the batch is evaluated;
    a refused re-explanation makes the whole call NaN. ``MetricResult.note`` says which happened.
    """
    options = {
        "explain_func": explain_func,
        "explain_func_kwargs": explain_func_kwargs,
        "params": params,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
        "forward_cache": forward_cache,
    }
    flat = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    with np.errstate(invalid="ignore"):
        constant = ~(np.nanmax(flat, axis=1, initial=-np.inf) > np.nanmin(flat, axis=1, initial=np.inf))
    if not constant.any():
        return _evaluate_metric(name, model, (x, y, a, s), options)
    note = f"{int(constant.sum())} constant attribution map(s) scored NaN"
    keep = ~constant
    if keep.any():
        sub = _evaluate_metric(
            name, model, (x[keep], y[keep], a[keep], None if s is None else s[keep]), options
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
    record, _ = resolve_params(name, params, tuple(x_shape), model_free=True)  # no model to ask
    return MetricResult(
        scores=np.full(x_shape[0], np.nan),
        curves=None,
        params=record,
        category=_category(spec),
        direction=_direction_for(spec, record),
        elapsed_s=0.0,
        note=note,
    )


@contextlib.contextmanager
def _warning_only_checks_skipped() -> Any:
    """Skip Quantus's per-sample "the perturbation changed nothing" check while a metric runs.

    The check only warns (``np.allclose`` of each input with its perturbed copy, after every perturbation
    step: ~15 % of pixel flipping's time at 32 x 32), and :func:`_evaluate_metric` ignores Quantus's
    warnings, so skipping it changes no score and no output. Restored on leaving.
    """
    from quantus.helpers import warn

    check = warn.warn_perturbation_caused_no_change
    warn.warn_perturbation_caused_no_change = _no_check
    try:
        yield
    finally:
        warn.warn_perturbation_caused_no_change = check


def _no_check(*args: Any, **kwargs: Any) -> None:
    return None


_REFUSED = ("all equal to zero", "all equal to one", "uniformly distributed", "all be less than zero")


def _evaluate_metric(name: str, model: Any, batch: tuple, options: dict[str, Any]) -> MetricResult:
    """:func:`evaluate_metric` on attributions that are not constant: ``batch`` is its (x, y, a, s),
    ``options`` its keyword arguments (explain_func, explain_func_kwargs, params, batch_size, device, seed
    and forward_cache)."""
    x, y, a, s = batch
    explain_func, explain_func_kwargs = options["explain_func"], options["explain_func_kwargs"]
    params, batch_size, device, seed = (
        options["params"],
        options["batch_size"],
        options["device"],
        options["seed"],
    )
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
    num_classes = _num_classes(model, x, device_str) if spec.needs_num_classes else None
    record, ctor = resolve_params(name, params, x.shape, num_classes=num_classes)
    cls = _metric_class(spec)

    forward_cache = options["forward_cache"]
    serving = forward_cache.serving(model) if forward_cache is not None and spec.shared_forward else None
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        _seed_all(seed)
        # return_aggregate=False: FaithfulnessCorrelation aggregates by default (one number per call).
        metric = cls(**ctor, return_aggregate=False, disable_warnings=True, display_progressbar=False)
        with warnings.catch_warnings(), _warning_only_checks_skipped(), serving or contextlib.nullcontext():
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
        scores = np.asarray(spec.reduce_curve(curves))
        if scores.shape != (n,):
            raise RuntimeError(f"metric {name!r}: reduce_curve gave shape {scores.shape} for {n} curves")
        record["curve_steps"] = int(curves.shape[1])
    else:
        scores = _to_scores(raw, n, name)
    if spec.needs_mask and s is not None:
        scores = scores.copy()
        scores[s.reshape(n, -1).sum(axis=1) == 0] = np.nan

    return MetricResult(
        scores=scores.astype(np.float64),
        curves=curves,
        params=record,
        category=_category(spec),
        direction=_direction_for(spec, record),
        elapsed_s=elapsed,
        note=note,
    )
