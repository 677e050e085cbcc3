"""Confidence intervals for scores measured on several replicates (seeds) of several images each.

A benchmark run repeats each (dataset, model) over a few replicates -- a model trained with another seed,
another test split -- and scores the same images for every method of a replicate. The images of one
replicate share that replicate's model, so they are not independent draws: an image-level bootstrap that
pools all replicates treats 2 x 500 images as 1,000 independent values and gives an interval that ignores
how much the replicates disagree. :func:`hierarchical_bootstrap` resamples the way the data were made --
replicates with replacement, then images with replacement within each drawn replicate -- so that two
replicates that disagree give a wide interval however many images each has.

:func:`group_rng` gives every group of a table its own generator, seeded from the configured seed and a
stable hash of the group's key (``zlib.crc32``, not Python's salted ``hash()``), so a group's interval does
not depend on which other groups are in the table or in which order they come: same config, same numbers,
bit for bit.

Only numpy: this runs for thousands of groups per table, each vectorised over its resamples.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_KEY_SEPARATOR = "\x1f"  # ASCII unit separator: ("a", "bc") and ("ab", "c") hash differently


def group_rng(seed: int, *key: Any) -> np.random.Generator:
    """A generator seeded from ``seed`` and the CRC-32 of the key's items (as strings, joined by U+001F).

    Stable across processes and Python versions (unlike ``hash()``), and independent of group order."""
    text = _KEY_SEPARATOR.join(str(part) for part in key)
    return np.random.default_rng([int(seed) % 2**64, zlib.crc32(text.encode("utf-8"))])


def finite_replicates(values_by_replicate: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """The finite values of each replicate as float64 (replicates left empty dropped), and how many
    non-finite values (NaN, +-inf) were dropped."""
    kept: list[np.ndarray] = []
    n_nonfinite = 0
    for values in values_by_replicate:
        values = np.asarray(values, dtype=np.float64).ravel()
        finite = values[np.isfinite(values)]
        n_nonfinite += values.size - finite.size
        if finite.size:
            kept.append(finite)
    return kept, n_nonfinite


def _resampled_means(replicates: list[np.ndarray], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Grand means of ``n_boot`` two-level resamples: for each resample, draw as many replicates as there are
    (with replacement), then within each drawn replicate as many of its values as it has (with
    replacement); the grand mean is the mean of all values drawn, so bigger replicates weigh more, as in
    the plain mean of all values.

    Vectorised as an (n_boot, replicate slot, image) array padded to the largest replicate: one uniform
    per cell, scaled to the drawn replicate's size, and cells past that size masked out."""
    sizes = np.array([r.size for r in replicates], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(replicates)
    drawn = rng.integers(0, len(replicates), size=(n_boot, len(replicates)))
    slot_sizes = sizes[drawn][:, :, None]
    # u < 1 so u * size < size: every index lies in the drawn replicate's slice (padding cells included).
    index = rng.random((n_boot, len(replicates), int(sizes.max())))
    index *= slot_sizes
    index = index.astype(np.intp)
    index += offsets[drawn][:, :, None]
    values = flat[index]
    if sizes.min() != sizes.max():
        values[np.arange(sizes.max()) >= slot_sizes] = 0.0
    totals = values.reshape(n_boot, -1) @ np.ones(values.shape[1] * values.shape[2])  # faster than .sum(1)
    return totals / sizes[drawn].sum(axis=1)


def hierarchical_bootstrap(
    values_by_replicate: Sequence[np.ndarray],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile interval of the grand mean by a two-level cluster bootstrap (replicates, then images).

    Non-finite values are dropped first and replicates left empty are dropped; (nan, nan) when fewer than
    2 finite values remain. With one replicate this is the ordinary percentile bootstrap of the mean."""
    replicates, _ = finite_replicates(values_by_replicate)
    if sum(r.size for r in replicates) < 2:
        return float("nan"), float("nan")
    means = _resampled_means(replicates, n_boot, rng)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def describe_replicated(
    values_by_replicate: Sequence[np.ndarray], *, rng: np.random.Generator, n_boot: int = 2000
) -> dict[str, float | int]:
    """Mean, sd and hierarchical 95 % interval of replicated scores.

    Keys: ``mean`` and ``std`` (ddof=1) over all finite values; ``ci95_low``/``ci95_high`` from
    :func:`hierarchical_bootstrap`; ``replicate_sd``, the sd (ddof=1) of the per-replicate means (nan with
    fewer than 2 replicates); ``n`` finite values; ``n_replicates``, replicates with at least one finite
    value; ``n_nonfinite``, values dropped as NaN/inf."""
    replicates, n_nonfinite = finite_replicates(values_by_replicate)
    flat = np.concatenate(replicates) if replicates else np.empty(0)
    low, high = hierarchical_bootstrap(replicates, n_boot=n_boot, confidence=0.95, rng=rng)
    replicate_means = np.array([r.mean() for r in replicates])
    return {
        "mean": float(flat.mean()) if flat.size else float("nan"),
        "std": float(flat.std(ddof=1)) if flat.size > 1 else float("nan"),
        "ci95_low": low,
        "ci95_high": high,
        "replicate_sd": float(replicate_means.std(ddof=1)) if len(replicates) > 1 else float("nan"),
        "n": int(flat.size),
        "n_replicates": len(replicates),
        "n_nonfinite": int(n_nonfinite),
    }
