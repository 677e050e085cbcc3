"""Explanation-quality metrics: a registry of Quantus 0.6.0 metrics with affordable, documented defaults.

The public way in. Layout: :mod:`~xaibench.metrics.core` (MetricSpec, the ``METRICS`` registry,
``register``, ``evaluate_metric``/``skipped_result``/``metric_info``/``resolve_params``: generic code that
knows no metric by name), :mod:`~xaibench.metrics.rules` (data-dependent parameter rules), one module per
Quantus category that registers its specs (faithfulness, robustness, localisation, complexity,
randomisation, axiomatic), two modules of xaibench's own metrics from seed 000 (Brodzicki et al.):
:mod:`~xaibench.metrics.overlap` (``mask_iou``/``mask_dice``, category Localisation) and
:mod:`~xaibench.metrics.gaussian` (``gaussian_spread``, ``gaussian_mass_1sigma``/``_2sigma``,
``heatmap_modes``, category Complexity), :mod:`~xaibench.metrics.functions` (xaibench's own
perturbation/normalisation functions), :mod:`~xaibench.metrics.quantus_fixes` (fixed Quantus classes) and
:mod:`~xaibench.metrics.presets`. This package only re-exports public names and imports the families so
that they register; imports go one way: package -> family -> core.

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
* Parameters: a metric's ``params`` are Quantus constructor arguments, or those of xaibench's subclass of
  the Quantus class where there is one (plus ``softmax``, passed to the call, and ``preset``). Anything
  else raises ``ValueError`` naming the metric and the key. A few defaults are resolved against the data
  (``"auto"``, or a fraction of H*W for counts of pixels), and ``*_func`` arguments may be given by name
  (a Quantus function, or ``uniform_noise_replacement``).
  The resolved values of *all* constructor arguments -- including Quantus defaults we do not change --
  are recorded in ``MetricResult.params``.
* Normalisation: where a metric normalises (Quantus's ``normalise=True``), each sample is divided by its
  own max |a| (:func:`normalise_by_max_per_sample`), not the batch by one maximum as Quantus's default
  does, so a sample's score never depends on the other samples in its batch. The caller's attribution
  array is never modified.
* Scores: booleans become 0/1; localisation scores of samples with an empty mask are NaN (Quantus's
  PointingGame writes NaN into a boolean array, which turns it into ``True``). ``return_aggregate`` is
  always False (FaithfulnessCorrelation defaults to True and would return one number per batch).
* Quantus 0.6.0 bugs and uninformative definitions worked around by subclasses
  (:mod:`~xaibench.metrics.quantus_fixes`; ``quantus_class`` still names the Quantus class): NonSensitivity
  with ``features_in_step > 1`` (broadcast error) and absolute thresholds (every method scored the same),
  InputInvariance (first pixel never shifted; the shift-compensating bias went to the model's second named
  module and ignored padding), Completeness (Quantus compares floats with ``==``: 0 for every method; now a
  bounded relative error, or a pass rate with a tolerance), EffectiveComplexity (eps 1e-5 after
  max-normalisation counted every pixel; now the share above a fraction of the map's maximum), EfficientMPRT
  and MPRT (each explained every image a second time on the original model; now its explanations there are
  the maps under evaluation).
  Curve metrics are reduced by their spec's ``reduce_curve``: pixel flipping to a normalised AUC, region
  perturbation to AOPC.
"""

from __future__ import annotations

# the built-in families: importing them registers their metrics
from xaibench.metrics import (
    axiomatic,
    complexity,
    faithfulness,
    gaussian,
    localisation,
    overlap,
    randomisation,
    robustness,
)
from xaibench.metrics.axiomatic import AUTO_NON_SENSITIVITY_STEPS
from xaibench.metrics.core import (
    METRICS,
    MetricResult,
    MetricSpec,
    evaluate_metric,
    metric_info,
    register,
    resolve_params,
    skipped_result,
)
from xaibench.metrics.faithfulness import AUTO_CURVE_STEPS
from xaibench.metrics.functions import normalise_by_max_per_sample, uniform_noise_replacement
from xaibench.metrics.presets import PRESETS
from xaibench.metrics.rules import ResolveContext

__all__ = [
    "AUTO_CURVE_STEPS",
    "AUTO_NON_SENSITIVITY_STEPS",
    "METRICS",
    "PRESETS",
    "MetricResult",
    "MetricSpec",
    "ResolveContext",
    "axiomatic",
    "complexity",
    "evaluate_metric",
    "faithfulness",
    "gaussian",
    "localisation",
    "metric_info",
    "normalise_by_max_per_sample",
    "overlap",
    "randomisation",
    "register",
    "resolve_params",
    "robustness",
    "skipped_result",
    "uniform_noise_replacement",
]
