"""Meta-evaluation of metrics: the MetaQuantus protocol (:func:`meta_evaluate`).

Hedström, Bommer, Wickstrøm, Samek, Lapuschkin and Höhne (2023), "The Meta-Evaluation Problem in Explainable
AI: Identifying Reliable Estimators with MetaQuantus", TMLR (arXiv:2302.07265). Reimplemented because the
``metaquantus`` package (0.0.5) pins cachetools==5.3.1 and needs timm. Definitions follow the reference
implementation, github.com/annahedstroem/MetaQuantus at 84bdc2f (files ``metaquantus/meta_evaluation.py``
= ``ME``, ``metaquantus/perturbation_tests/ipt.py`` = ``IPT``, ``.../mpt.py`` = ``MPT``,
``metaquantus/helpers/configs.py`` = ``CFG``; line numbers of that commit).

A metric (an "estimator") is stress-tested with M explanation methods on N samples. Two tests, each run with a
*minor* perturbation (noise resilience, NR: the scores should not change) and a *disruptive* one (adversary
reactivity, AR: the scores should change), K perturbations each:

* Input Perturbation Test (IPT; ``IPT`` l.105-118): x^ = x + U(-noise, noise) per pixel, clipped to the
  range of x. Defaults ``input_noise=(0.001, 5.0)`` (NR, AR; ``CFG`` l.619-630, every dataset).
* Model Perturbation Test (MPT; ``MPT`` l.114-126, i.e. Quantus ``PyTorchModel.sample``): a deep copy of the
  model with every parameter (``model.parameters()``, not buffers) multiplied element-wise by N(1, std).
  Defaults ``model_noise=(0.001, 2.0)`` (NR, AR std; ``CFG`` l.603-617: MNIST/fMNIST/cMNIST; ImageNet uses
  0.5 for AR, ``CFG`` l.644-650). ``model_noise_type="additive"`` adds N(0, std) instead.

Targets: every explanation and score is for the unperturbed model's predicted class y* (``ME`` l.309-312,
336, 349, 398), as ``target="prediction"``; ``target="label"`` uses ``y`` instead (the workflow's
``explain.target``). Per perturbation the model (perturbed, for MPT) predicts on its input (x^, for IPT); the
samples kept are those whose prediction is unchanged (NR) or changed (AR) (``IPT`` l.135-139, ``MPT``
l.144-147); the unperturbed prediction is the reference whatever ``target`` is. Explanations are recomputed
with the perturbed model / on x^ and scored by the metric with that model and input (``MPT`` l.162-192).

Scores: q*_m (N,) unperturbed and q^_{k,m} (N,) perturbed, per method m and perturbation k. Criteria, each
in [0, 1], higher better (``ME`` l.417-518, 698-835):

* IAC (intra-consistency): the p-value of the two-sided Wilcoxon signed-rank test of q*_m against q^_{k,m}
  on the kept samples, ``scipy.stats.wilcoxon(zero_method="zsplit")`` (``ME`` l.37, 698-755). IAC_NR = p,
  IAC_AR = 1 - p, averaged over methods and perturbations (``ME`` l.588-602). Identical scores give p = 1:
  IAC_NR = 1, IAC_AR = 0. The p-value is exact for n <= 50 without ties or zero differences, else the
  normal approximation (:func:`wilcoxon_p`), as scipy did in the reference's time ("Exact p-value calculation
  does not work if there are zeros/ties. Switching to normal approximation."); scipy 1.17 (installed) runs
  a 2^n permutation test instead for n <= 13 (3 s per call at n = 12), and ties are common here (binary
  localisation scores, the maps of controls that ignore the model).
* IEC_NR (inter-consistency, ``ME`` l.799-835): per kept sample, the methods sorted by score before and
  after (``argsort`` over methods); U = 1 at each sorted position holding the same method (= the share of
  methods whose rank is unchanged); mean over samples and positions, then over perturbations.
* IEC_AR (``ME`` l.757-797): per kept sample and method, U = 1 if the perturbed score is *worse* than the
  unperturbed one (q^ < q* where higher is better, q^ > q* where lower is better, the metric's direction);
  mean over samples and methods, then over perturbations. Identical scores give 0.
* MC = mean of IAC_NR, IAC_AR, IEC_NR, IEC_AR, per test (``ME`` l.616-627, ``np.nanmean``); rows with
  ``test="mean"`` average each criterion over IPT and MPT, their MC being the paper's MC-bar (README l.193).

Deviations from the reference code (``reference_quirks=True`` restores each, to compare with published
numbers):

1. IPT explains x^ (the perturbed input). ``IPT`` l.154-165 explains the *unperturbed* x and scores it on x^,
   which leaves the explanation unchanged: a metric that reads only the explanation (and mask) then scores
   identically, and its IPT result is fixed at IEC_NR = 1, IEC_AR = 0, MC = 0.5 (the reference's own tables in
   ``tutorials/Tutorial-Reproduce-Experiments.ipynb``: Complexity and Pointing-Game, Input, 0.500 +- 0.000).
2. x^ is clipped to [min x, max x]; ``IPT`` l.116-118 clips to [min x, max x^], i.e. only from below.
3. IEC_AR uses the metric's direction. ``ME`` l.787 tests ``if score_direction:``, which is true for both
   "higher" and "lower" (the strings ``CFG`` l.256 stores), so the reference counts q^ > q* for every metric,
   against its docstring ("used to reverse the comparison symbol"); the else branch (q^ < q*, perturbed
   worse) is the higher-is-better case. Metrics with direction "none" get IEC_AR = NaN.
4. Non-finite scores are dropped pairwise (a sample whose score is NaN before or after is left out of the
   test, the ranking and the comparison); a test with < 2 pairs, or no sample kept, is NaN and left out of
   the means. The reference lets NaN propagate (a NaN p-value, dropped by ``nanmean``; a NaN never compares
   as worse; ``argsort`` ranks it last) and scores a Wilcoxon that raises as p = 0 (``ME`` l.744-750; with
   :func:`wilcoxon_p` and scipy 1.17 finite inputs do not raise, and no kept sample gives NaN).
5. Method ties are broken by the config order (stable sort) before and after.

Other choices, not deviations: the reference's L iterations of K perturbations are flattened (K here = L*K
there; its means are over all L*K draws, only its across-iteration std is not reported); the unperturbed
scores are computed once per metric (the reference recomputes them per test; ``evaluate_metric`` reseeds,
so they would be identical); one draw of each perturbation serves all metrics (common random numbers);
explanations go through the workflow's explainers and metrics (``evaluate_metric`` normalises and takes
``abs`` per metric, as the reference's ``generate_explanations`` + Quantus do). ``nan_share`` records the
share of non-finite scores per metric and test.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.evaluation import DEFAULT_CACHE_MB, explanation_cache, metric_params
from xaibench.methods import MethodNotApplicable, explain, quantus_explain_func
from xaibench.metrics import METRICS, evaluate_metric, skipped_result
from xaibench.runtime import seed_everything

log = logging.getLogger(__name__)

CRITERIA = ("IAC_NR", "IAC_AR", "IEC_NR", "IEC_AR")
TESTS = ("IPT", "MPT")
MODES = ("NR", "AR")
DEFAULT_INPUT_NOISE = (0.001, 5.0)
DEFAULT_MODEL_NOISE = (0.001, 2.0)
NOISE_TYPES = ("multiplicative", "additive")
TARGETS = ("prediction", "label")


# --- perturbations -------------------------------------------------------------------------------------


def perturb_inputs(x: np.ndarray, noise: float, seed: int, reference_quirks: bool = False) -> np.ndarray:
    """x + U(-noise, noise) per value, clipped to [min x, max x] (quirk: [min x, max of the noisy x])."""
    rng = np.random.default_rng(seed)
    noisy = x + rng.uniform(-noise, noise, size=x.shape)
    upper = noisy.max() if reference_quirks else x.max()
    return np.clip(noisy, x.min(), upper).astype(x.dtype)


def perturb_model(model: nn.Module, std: float, seed: int, noise_type: str = "multiplicative") -> nn.Module:
    """A deep copy of ``model`` with every parameter multiplied by N(1, std) (or, additive, plus N(0, std)),
    drawn on the CPU from a generator seeded with ``seed`` (the same copy on any device)."""
    if noise_type not in NOISE_TYPES:
        raise ValueError(f"model_noise_type must be one of {NOISE_TYPES}, got {noise_type!r}")
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float64) * std
            if noise_type == "multiplicative":
                p.mul_((noise + 1.0).to(p.device, p.dtype))
            else:
                p.add_(noise.to(p.device, p.dtype))
    return out.eval()


# --- criteria -----------------------------------------------------------------------------------------


def _nanmean(values: Any) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")


def wilcoxon_p(q: np.ndarray, q_hat: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired ``q``, ``q_hat`` with ``zero_method="zsplit"``: exact
    without ties or zeros (n <= 50), else the normal approximation (module docstring)."""
    from scipy import stats  # lazily, as the other modules: importing this one stays cheap

    d = np.abs(q - q_hat)
    ties = bool((d == 0).any()) or np.unique(d).size < d.size
    method = "asymptotic" if ties else "auto"
    return float(stats.wilcoxon(q, q_hat, alternative="two-sided", zero_method="zsplit", method=method)[1])


def iac(
    q: np.ndarray, q_hat: np.ndarray, keep: np.ndarray, mode: str, reference_quirks: bool = False
) -> float:
    """Intra-consistency of one method and perturbation: Wilcoxon p (NR) or 1 - p (AR) on the kept samples."""
    q, q_hat = np.asarray(q, np.float64)[keep], np.asarray(q_hat, np.float64)[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if reference_quirks:
            try:
                p = wilcoxon_p(q, q_hat)
            except Exception:  # as the reference's bare except
                p = 0.0
        else:
            finite = np.isfinite(q) & np.isfinite(q_hat)
            if finite.sum() < 2:
                return float("nan")
            try:
                p = wilcoxon_p(q[finite], q_hat[finite])
            except ValueError:
                return float("nan")
    return 1.0 - p if mode == "AR" else p


def iec_nr(q: np.ndarray, q_hat: np.ndarray, keep: np.ndarray, reference_quirks: bool = False) -> float:
    """Inter-consistency under a minor perturbation: ``q``, ``q_hat`` (M, N); the share of sorted positions
    (methods ordered by score, per kept sample) that hold the same method before and after."""
    q, q_hat = np.asarray(q, np.float64)[:, keep], np.asarray(q_hat, np.float64)[:, keep]
    if not reference_quirks:
        finite = np.isfinite(q).all(axis=0) & np.isfinite(q_hat).all(axis=0)
        q, q_hat = q[:, finite], q_hat[:, finite]
    if q.shape[1] == 0:
        return float("nan")
    kind = None if reference_quirks else "stable"
    return float(np.mean(np.argsort(q, axis=0, kind=kind) == np.argsort(q_hat, axis=0, kind=kind)))


def iec_ar(
    q: np.ndarray, q_hat: np.ndarray, keep: np.ndarray, direction: str, reference_quirks: bool = False
) -> float:
    """Inter-consistency under a disruptive perturbation: ``q``, ``q_hat`` (M, N); the share of (method, kept
    sample) whose perturbed score is worse (quirk: greater, whatever the direction)."""
    q, q_hat = np.asarray(q, np.float64)[:, keep], np.asarray(q_hat, np.float64)[:, keep]
    if reference_quirks:
        return float(np.mean(q < q_hat)) if q.size else float("nan")
    if direction not in ("higher", "lower"):
        return float("nan")
    finite = np.isfinite(q) & np.isfinite(q_hat)
    if not finite.any():
        return float("nan")
    worse = q_hat < q if direction == "higher" else q_hat > q
    return float(np.mean(worse[finite]))


def criteria(
    q_star: np.ndarray,
    q_hat: dict[str, np.ndarray],
    keep: dict[str, np.ndarray],
    direction: str,
    reference_quirks: bool = False,
) -> dict[str, float]:
    """The four criteria and MC of one test: ``q_star`` (M, N), ``q_hat[mode]`` (K, M, N) and ``keep[mode]``
    (K, N) bool for mode NR and AR."""
    out = {}
    for mode in MODES:
        qh, kp = q_hat[mode], keep[mode]
        out[f"IAC_{mode}"] = _nanmean(
            [
                iac(q_star[m], qh[k, m], kp[k], mode, reference_quirks)
                for k in range(len(qh))
                for m in range(len(q_star))
            ]
        )
    out["IEC_NR"] = _nanmean(
        [iec_nr(q_star, qh, kp, reference_quirks) for qh, kp in zip(q_hat["NR"], keep["NR"], strict=True)]
    )
    out["IEC_AR"] = _nanmean(
        [
            iec_ar(q_star, qh, kp, direction, reference_quirks)
            for qh, kp in zip(q_hat["AR"], keep["AR"], strict=True)
        ]
    )
    out["MC"] = _nanmean([out[c] for c in CRITERIA])
    return out


# --- the protocol ---------------------------------------------------------------------------------------


def _predict(model: nn.Module, x: np.ndarray, dev: torch.device, batch_size: int) -> np.ndarray:
    with torch.no_grad():
        out = [
            model(torch.from_numpy(x[i : i + batch_size]).to(dev)).argmax(1).cpu()
            for i in range(0, len(x), batch_size)
        ]
    return torch.cat(out).numpy().astype(np.int64)


def _pair(value: Any, name: str) -> tuple[float, float]:
    try:
        nr, ar = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (NR, AR) of noise levels, got {value!r}") from None
    if not (0 < nr < ar and np.isfinite(ar)):
        raise ValueError(f"{name} must be 0 < NR < AR, got {value!r}")
    return nr, ar


def _nan_share(*scores: np.ndarray) -> float:
    return float(np.mean(~np.isfinite(np.concatenate([a.ravel() for a in scores]))))


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def meta_evaluate(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    s: np.ndarray | None,
    *,
    methods: dict[str, dict],
    metrics: dict[str, dict],
    k: int = 5,
    input_noise: tuple[float, float] = DEFAULT_INPUT_NOISE,
    model_noise: tuple[float, float] = DEFAULT_MODEL_NOISE,
    model_noise_type: str = "multiplicative",
    tests: tuple[str, ...] = TESTS,
    target: str = "prediction",
    reference_quirks: bool = False,
    batch_size: int = 64,
    seed: int = 0,
    device: Any = "cpu",
    explain_cache_mb: float = DEFAULT_CACHE_MB,
) -> pd.DataFrame:
    """MetaQuantus meta-evaluation (module docstring) of each metric in ``metrics`` (config name -> entry
    ``{"metric", "params"?, "preset"?}``) with the explanation methods ``methods`` (config name -> entry
    ``{"method", "params"?}``) of ``model`` on ``x`` (N, C, H, W) float32, labels ``y`` (N,) and masks ``s``
    (N, 1, H, W) or None.

    ``k`` perturbations per test and mode; ``input_noise`` / ``model_noise`` are (NR, AR) pairs: the half
    width of the uniform input noise, the std of the parameter noise. ``tests`` chooses IPT and/or MPT.

    Returns one row per (metric, test, criterion): columns ``metric`` (config name), ``category``,
    ``direction``, ``test`` (IPT, MPT, and ``mean`` over both when both ran), ``criterion`` (IAC_NR, IAC_AR,
    IEC_NR, IEC_AR, MC), ``value``, ``nan_share`` and the settings. A metric needing masks when ``s`` is None
    gets NaN rows with the reason in ``note``; a method that does not apply to the model is left out (named
    in ``note``). Deterministic for a seed; the caller's model is never modified (all work is on copies).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k!r}")
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    if not tests or any(t not in TESTS for t in tests) or len(set(tests)) != len(tests):
        raise ValueError(f"tests must be distinct names from {TESTS}, got {tests!r}")
    if not metrics:
        raise ValueError("no metrics to meta-evaluate")
    noise = {"IPT": _pair(input_noise, "input_noise"), "MPT": _pair(model_noise, "model_noise")}
    if model_noise_type not in NOISE_TYPES:
        raise ValueError(f"model_noise_type must be one of {NOISE_TYPES}, got {model_noise_type!r}")
    dev = torch.device(device)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    if s is not None and len(s) != len(x):
        raise ValueError(f"{len(s)} masks for {len(x)} inputs")
    base = copy.deepcopy(model).to(dev).eval()
    predictions = _predict(base, x, dev, batch_size)
    targets = predictions if target == "prediction" else np.asarray(y, dtype=np.int64).reshape(-1)
    if targets.shape != (len(x),):
        raise ValueError(f"{targets.shape[0]} labels for {len(x)} inputs")
    cache = explanation_cache(explain_cache_mb)
    explain_func = quantus_explain_func if cache is None else cache

    def explanations(net: nn.Module, inputs: np.ndarray, entry: dict) -> np.ndarray:
        seed_everything(seed)
        return explain(
            entry["method"],
            net,
            torch.from_numpy(inputs).to(dev),
            torch.from_numpy(targets).to(dev),
            batch_size=batch_size,
            **entry.get("params", {}),
        )

    # methods that apply to the model, and their unperturbed maps
    maps, excluded = {}, []
    for name, entry in methods.items():
        try:
            maps[name] = explanations(base, x, entry)
        except MethodNotApplicable as exc:
            excluded.append(f"{name} ({exc})")
    if len(maps) < 2:
        raise ValueError(
            f"meta-evaluation needs >= 2 applicable methods, got {sorted(maps)}; left out: {excluded}"
        )

    params = {name: metric_params(name, entry) for name, entry in metrics.items()}
    notes = {name: (f"methods left out: {'; '.join(excluded)}" if excluded else "") for name in metrics}
    active = []
    for name, entry in metrics.items():
        if s is None and METRICS.get(entry["metric"]).needs_mask:
            notes[name] = "; ".join(filter(None, ["skipped: no ground-truth masks", notes[name]]))
        else:
            active.append(name)
    info: dict[str, tuple[str, str]] = {}
    seconds = dict.fromkeys(metrics, 0.0)

    def score(net: nn.Module, inputs: np.ndarray, maps_now: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """metric -> (M, N) scores of ``maps_now`` (method -> maps) with ``net`` on ``inputs``."""
        out = {name: np.empty((len(maps_now), len(x))) for name in active}
        for j, (method, a) in enumerate(maps_now.items()):
            if cache is not None:
                cache.clear()
            kwargs = {
                "method": methods[method]["method"],
                **methods[method].get("params", {}),
                "device": str(dev),
            }
            for name in active:
                result = evaluate_metric(
                    metrics[name]["metric"],
                    net,
                    inputs,
                    targets,
                    a,
                    s,
                    explain_func=explain_func,
                    explain_func_kwargs=kwargs,
                    params=params[name],
                    batch_size=batch_size,
                    device=dev,
                    seed=seed,
                )
                out[name][j] = result.scores
                info.setdefault(name, (result.category, result.direction))
                seconds[name] += result.elapsed_s
        return out

    q_star = score(base, x, maps)
    q_hat: dict[str, dict[str, dict[str, np.ndarray]]] = {name: {} for name in active}
    keep: dict[str, dict[str, np.ndarray]] = {}
    for test in tests:
        keep[test] = {}
        for name in active:
            q_hat[name][test] = {mode: np.empty((k, len(maps), len(x))) for mode in MODES}
        for m, mode in enumerate(MODES):
            level = noise[test][m]
            kept = np.empty((k, len(x)), dtype=bool)
            for i in range(k):
                start = time.perf_counter()
                pseed = _seed(seed, TESTS.index(test), m, i)
                if test == "IPT":
                    net, inputs = base, perturb_inputs(x, level, pseed, reference_quirks)
                else:
                    net, inputs = perturb_model(base, level, pseed, model_noise_type), x
                changed = _predict(net, inputs, dev, batch_size) != predictions
                kept[i] = changed if mode == "AR" else ~changed
                if test == "IPT" and reference_quirks:  # the reference explains x, not x^ (deviation 1)
                    maps_now = maps
                else:
                    maps_now = {method: explanations(net, inputs, methods[method]) for method in maps}
                for name, scores in score(net, inputs, maps_now).items():
                    q_hat[name][test][mode][i] = scores
                log.info(
                    "%s %s k=%d: %d of %d samples kept, %.2fs",
                    test,
                    mode,
                    i,
                    kept[i].sum(),
                    len(x),
                    time.perf_counter() - start,
                )
            keep[test][mode] = kept

    settings = {
        "k": k,
        "input_noise_nr": noise["IPT"][0],
        "input_noise_ar": noise["IPT"][1],
        "model_noise_nr": noise["MPT"][0],
        "model_noise_ar": noise["MPT"][1],
        "model_noise_type": model_noise_type,
        "target": target,
        "reference_quirks": reference_quirks,
        "seed": seed,
        "n": len(x),
        "methods": ",".join(maps),
    }
    for name in active:
        log.info(
            "%s: %.2fs in the metric (%d calls)", name, seconds[name], len(maps) * (1 + 2 * k * len(tests))
        )
    groups = [*tests, "mean"] if len(tests) > 1 else list(tests)
    rows = []
    for name, entry in metrics.items():
        if name in active:
            category, direction = info[name]
            values = {
                test: criteria(q_star[name], q_hat[name][test], keep[test], direction, reference_quirks)
                for test in tests
            }
            values["mean"] = {c: _nanmean([values[t][c] for t in tests]) for c in (*CRITERIA, "MC")}
            nan_share = {test: _nan_share(q_star[name], *q_hat[name][test].values()) for test in tests}
            nan_share["mean"] = float(np.mean([nan_share[t] for t in tests]))
        else:
            skipped = skipped_result(entry["metric"], x.shape, notes[name], params[name])
            category, direction = skipped.category, skipped.direction
            values = {test: dict.fromkeys((*CRITERIA, "MC"), float("nan")) for test in groups}
            nan_share = dict.fromkeys(groups, 1.0)
        for test in groups:
            for criterion in (*CRITERIA, "MC"):
                rows.append(
                    {
                        "metric": name,
                        "category": category,
                        "direction": direction,
                        "test": test,
                        "criterion": criterion,
                        "value": values[test][criterion],
                        "nan_share": nan_share[test],
                        **settings,
                        "note": notes[name],
                    }
                )
    return pd.DataFrame(rows)


def meta_evaluate_pair(
    data_path: str,
    weights_path: str,
    *,
    methods: dict[str, dict],
    metrics: dict[str, dict],
    settings: dict[str, Any],
    ids: dict[str, Any],
    seed: int,
    device: str = "auto",
) -> pd.DataFrame:
    """:func:`meta_evaluate` on a stored (dataset, model): the seeded evaluation subset of ``n_samples`` test
    images (``settings``: n_samples, k, input_noise, model_noise, target, batch_size), the table prefixed
    with the ``ids`` columns (dataset, model, replicate)."""
    from xaibench.datasets import evaluation_subset
    from xaibench.pairs import load_pair

    pair = load_pair(data_path, weights_path, device)
    idx = evaluation_subset(pair.dataset, int(settings["n_samples"]), seed)
    masks = None if pair.dataset.masks is None else pair.dataset.masks[idx]
    table = meta_evaluate(
        pair.model,
        pair.dataset.images[idx],
        pair.dataset.labels[idx],
        masks,
        methods=methods,
        metrics=metrics,
        k=int(settings["k"]),
        input_noise=tuple(settings["input_noise"]),
        model_noise=tuple(settings["model_noise"]),
        target=settings["target"],
        batch_size=int(settings["batch_size"]),
        seed=seed,
        device=pair.device,
    )
    for position, (column, value) in enumerate(ids.items()):
        table.insert(position, column, value)
    return table
