"""Time series in the common layout: C variables of length L stored as images (N, C, 1, L), modality "series".

``motif_series`` (synthetic, with ground truth)
    Two classes that differ only in one short motif placed at a random position. Class 0 ("bump"): a
    half-sine of amplitude 1, ``sin(pi * (i + 0.5) / m)`` for i = 0..m-1 (m = ``motif_length``). Class 1
    ("burst"): a sine of ``cycles`` periods under a Hann window, ``sin(2 pi cycles (i + 0.5) / m) *
    sin(pi (i + 0.5) / m) ** 2``, rescaled to the bump's energy (sum of squares), so neither class is told
    apart by its energy. Both spans sample their shape at the pixel centres, so every sample of the span
    carries a non-zero window. The motif start ~ U{0, ..., L - m} (fully inside the series).
    ``n_distractors`` triangles shared by both classes (width ``distractor_length``, peak +-1 with a random
    sign, ``1 - |i - (w - 1) / 2| / ((w + 1) / 2)``) are placed uniformly among the positions that do not
    overlap the motif (they may overlap each other, and then add up). Gaussian noise of sd ``noise`` is
    added to the whole series (baseline 0). Labels are balanced within each split (like ``counting``).
    Mask (N, 1, 1, L): the motif's span [motif_start, motif_start + motif_length).
    Per-sample params: ``motif_start``, ``motif_length``, and (N, n_distractors) arrays
    ``distractor_start`` and ``distractor_sign``. The draws do not depend on ``chunk`` (rows built per
    chunk only to bound memory). Measured here: the default set (1000/200/400, 128 samples) in 0.03 s; a
    two-layer 1-D CNN (16 channels, kernel 7, global max pool; 5 epochs, Adam 3e-3) reaches 100% test
    accuracy in under 2 s of CPU training.

``ucr`` (real, read offline from the files shipped inside the installed ``sktime`` wheel)
    ================ ======= ====== ======== ========== ======================================
    name             classes length channels train/test notes
    ================ ======= ====== ======== ========== ======================================
    GunPoint         2       150    1        50/150     hand motion, gun draw vs point
    ArrowHead        3       251    1        36/175     arrow-head outlines
    ItalyPowerDemand 2       24     1        67/1029    daily power demand, winter vs summer
    BasicMotions     4       100    6        40/40      accelerometer + gyroscope (x, y, z)
    OSULeaf          6       427    1        200/242    leaf outlines
    ACSF1            10      1460   1        100/100    appliance power consumption
    ================ ======= ====== ======== ========== ======================================

    The archive's train/test split is kept; ``n_val`` validation series are carved out of the archive's
    train split by a seeded permutation (default ``None``: ``round(0.2 * n_train_archive)``; at most half
    of it). Samples keep the archive's order (train file, then test file); ``params["source_index"]`` is
    each series' index in its file. Class names are the archive's labels sorted as strings; labels are
    their index. No masks (no ground truth). Files are read with ``sktime.datasets.load_from_tsfile`` from
    the package's ``datasets/data`` folder: nothing is downloaded (``load_UCR_UEA_dataset`` would download
    any set that is not shipped).

Scaling: to [0, 1] with the train split's minimum and maximum (val and test clipped), per channel: the
variables of a multivariate series (acceleration, angular velocity) have unrelated units, so each gets its
own range; a univariate series is scaled exactly as a grey image.
"""

from __future__ import annotations

import os

import numpy as np

from xaibench.datasets.core import ImageDataset, register, split_labels, split_sizes

MOTIF_CLASSES = ["bump", "burst"]
UCR_SETS = ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "OSULeaf")
_CHUNK = 4096


def motif_templates(motif_length: int, cycles: float) -> np.ndarray:
    """The two class motifs (2, m): the half-sine bump (amplitude 1) and the Hann-windowed burst of the
    same energy."""
    t = (np.arange(motif_length) + 0.5) / motif_length
    bump = np.sin(np.pi * t)
    burst = np.sin(2 * np.pi * cycles * t) * np.sin(np.pi * t) ** 2
    burst *= np.sqrt((bump**2).sum() / (burst**2).sum())
    return np.stack([bump, burst])


def triangle(width: int) -> np.ndarray:
    """A triangle of peak 1 sampled at ``width`` points, every one of them > 0."""
    i = np.arange(width)
    return 1.0 - np.abs(i - (width - 1) / 2) / ((width + 1) / 2)


def minmax_scale(values: np.ndarray, train: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    """Scale to [0, 1] with the min and max of ``values[train]`` over ``axis`` (other values clipped);
    a constant range maps to 0. Returned as float32."""
    lo = values[train].min(axis=axis, keepdims=True)
    hi = values[train].max(axis=axis, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((values - lo) / span, 0.0, 1.0).astype(np.float32)


def _place(template: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """Rows (n, length) holding ``template`` (m,) or per-row templates (n, m) from ``start``, 0 elsewhere."""
    m = template.shape[-1]
    rel = np.arange(length)[None, :] - start[:, None]
    inside = (rel >= 0) & (rel < m)
    idx = np.clip(rel, 0, m - 1)
    values = template[idx] if template.ndim == 1 else np.take_along_axis(template, idx, axis=1)
    return np.where(inside, values, 0.0)


def _checked_int(key: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@register("motif_series", modality="series")
def motif_series(
    seed: int,
    length: int = 128,
    n_train: int = 1000,
    n_val: int = 200,
    n_test: int = 400,
    motif_length: int = 16,
    noise: float = 0.3,
    n_distractors: int = 2,
    distractor_length: int = 5,
    cycles: float = 3.0,
    chunk: int = _CHUNK,
) -> ImageDataset:
    """Generate the bump/burst motif set; see the module docstring for every parameter."""
    sizes = split_sizes(n_train, n_val, n_test)
    motif_length = _checked_int("motif_length", motif_length, 4)
    length = _checked_int("length", length, motif_length)
    n_distractors = _checked_int("n_distractors", n_distractors, 0)
    distractor_length = _checked_int("distractor_length", distractor_length, 1)
    chunk = _checked_int("chunk", chunk, 1)
    if n_distractors and length < motif_length + distractor_length:
        raise ValueError(
            f"length={length} leaves no room for a distractor of distractor_length={distractor_length} "
            f"beside the motif (motif_length={motif_length})"
        )
    if not 0 < cycles < motif_length / 2:
        raise ValueError(f"cycles must lie in (0, motif_length / 2 = {motif_length / 2}), got {cycles}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")

    n = sum(sizes)
    rng = np.random.default_rng(seed)
    labels = np.concatenate([rng.permutation(np.arange(m) % 2) for m in sizes]).astype(np.int64)
    start = rng.integers(0, length - motif_length + 1, size=n)
    # distractor starts d with [d, d + w) clear of the motif: d in [0, s - w] or [s + m, L - w]
    w = distractor_length
    n_before = np.maximum(start - w + 1, 0)
    n_after = np.maximum(length - w - (start + motif_length) + 1, 0)
    pick = np.floor(rng.uniform(0.0, 1.0, size=(n_distractors, n)) * (n_before + n_after)).astype(np.int64)
    d_start = np.where(pick < n_before, pick, start + motif_length + pick - n_before).T
    d_sign = rng.choice([-1.0, 1.0], size=(n, n_distractors))

    templates = motif_templates(motif_length, cycles)
    tri = triangle(w)
    series = np.empty((n, length))
    for lo in range(0, n, chunk):
        sl = slice(lo, lo + chunk)
        block = _place(templates[labels[sl]], start[sl], length)
        for j in range(n_distractors):
            block += d_sign[sl, j, None] * _place(tri, d_start[sl, j], length)
        if noise > 0:
            block += noise * rng.standard_normal(size=block.shape)
        series[sl] = block
    split = split_labels(*sizes)
    images = minmax_scale(series, split == 0, axis=(0, 1))[:, None, None, :]
    masks = (_place(np.ones(motif_length), start, length) > 0)[:, None, None, :]
    return ImageDataset(
        images=images,
        labels=labels,
        split=split,
        class_names=list(MOTIF_CLASSES),
        masks=masks,
        params={
            "motif_start": start.astype(np.int64),
            "motif_length": np.full(n, motif_length, dtype=np.int64),
            "distractor_start": d_start.astype(np.int64),
            "distractor_sign": d_sign,
        },
        modality="series",
    )


def ucr_archive_path(name: str, part: str) -> str:
    """Path of a ``.ts`` file shipped inside the installed sktime wheel (``part``: "TRAIN" or "TEST")."""
    import sktime.datasets

    return os.path.join(os.path.dirname(sktime.datasets.__file__), "data", name, f"{name}_{part}.ts")


@register("ucr", modality="series")
def ucr(seed: int, name: str = "GunPoint", n_val: int | None = None) -> ImageDataset:
    """Read UCR/UEA set ``name`` offline (see the module docstring); ``n_val`` series of the archive's
    train split become the validation split."""
    if name not in UCR_SETS:
        raise ValueError(f"ucr name must be one of {list(UCR_SETS)} (shipped with sktime), got {name!r}")
    from sktime.datasets import load_from_tsfile

    x_train, y_train = load_from_tsfile(ucr_archive_path(name, "TRAIN"), return_data_type="numpy3d")
    x_test, y_test = load_from_tsfile(ucr_archive_path(name, "TEST"), return_data_type="numpy3d")
    n_archive = len(x_train)
    if n_val is None:
        n_val = round(0.2 * n_archive)
    if int(n_val) != n_val or not 0 <= n_val <= n_archive // 2:
        raise ValueError(
            f"n_val must be an integer in [0, {n_archive // 2}] (at most half of {name}'s {n_archive} "
            f"training series), got {n_val!r}"
        )
    raw_labels = np.concatenate([np.asarray(y_train, dtype=str), np.asarray(y_test, dtype=str)])
    class_names = sorted(set(raw_labels.tolist()))
    labels = np.searchsorted(np.asarray(class_names), raw_labels).astype(np.int64)
    split = np.concatenate([np.zeros(n_archive, dtype=np.int8), np.full(len(x_test), 2, dtype=np.int8)])
    split[np.random.default_rng(seed).permutation(n_archive)[: int(n_val)]] = 1
    values = np.concatenate([x_train, x_test]).astype(np.float64)
    images = minmax_scale(values, split == 0, axis=(0, 2))[:, :, None, :]
    return ImageDataset(
        images=images,
        labels=labels,
        split=split,
        class_names=class_names,
        params={"source_index": np.concatenate([np.arange(n_archive), np.arange(len(x_test))])},
        modality="series",
    )
