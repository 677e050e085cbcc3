"""Counting (seed 002's proposal): images with k similar circles, label = k - k_min.

Seed 002 suggests a task whose human strategy is unambiguous — count the objects — so that heatmaps can
be judged against it: every object should matter, the background should not. Each image holds k discs,
k ~ stratified over ``k_min..k_max`` (default 1..5, classes named "1".."5"). Per image a base radius
r0 ~ U(``radius_range``) px, and each disc has radius r0 * U(1 - ``radius_jitter``, 1 + ``radius_jitter``)
("similar" objects: the per-image scale keeps the total area from giving the count away). Centres are
uniform inside the image with every disc at least ``edge_margin`` px from the border, and discs do not
overlap: any two keep a gap of at least ``min_gap`` px between their edges (rejection sampling per disc;
an image whose discs jam is redrawn whole). ``min_gap`` > sqrt(2) guarantees that no two discs' pixels
touch, even diagonally, so the mask has exactly k connected components.

Grey levels as in Triangles & Squares: foreground and background each ~ U(0, 1) per image, pairs with
|fg - bg| < ``min_contrast`` redrawn; optional Gaussian pixel noise (sd ``noise``, then clipped to [0, 1]).
The mask is the exact union of the discs (pixels whose centre (c + 0.5, r + 0.5) lies inside any disc) and
the noise-free image is drawn from that same mask. Per-sample parameters: ``k``, ``radius`` (r0),
``foreground``, ``background``, ``contrast`` (fg - bg), and (N, k_max) arrays ``object_x``, ``object_y``,
``object_radius`` (NaN beyond the k-th object).

Measured on 2 idle CPU cores: 10,000 images (32x32) in 0.3 s; with the default sizes (6000/500/1000)
``small_cnn`` (width 8, 6 epochs, batch 64, lr 0.003, seed 0) reaches 98.5% test accuracy in 12 s of
training (lr 0.01 learns faster: 3000 images, 6 epochs, 99.8% in 7 s).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xaibench.datasets.core import (
    ImageDataset,
    checked_image_size,
    grey_levels,
    register,
    split_labels,
    split_sizes,
)

_CHUNK = 4096
_MAX_TRIES = 100  # proposals per disc before the whole image is redrawn
_MAX_ROUNDS = 50  # whole-image redraws before the parameters are declared infeasible


def stratified_labels(n_classes: int, sizes: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Per split, each class equally often (remainders to the first classes), shuffled within the split."""
    out = [rng.permutation(np.arange(m) % n_classes) for m in sizes]
    return np.concatenate(out) if out else np.zeros(0, dtype=int)


def place_discs(
    k: np.ndarray, radii: np.ndarray, size: int, min_gap: float, edge_margin: float, rng: np.random.Generator
) -> np.ndarray:
    """Centres (N, k_max, 2) as (x, y) of non-overlapping discs, NaN beyond each image's k.

    Discs are placed one slot at a time for all images at once; a proposal that comes within ``min_gap`` of
    an earlier disc is redrawn, and an image still unplaced after ``_MAX_TRIES`` proposals is restarted.
    """
    n, k_max = radii.shape
    centres = np.full((n, k_max, 2), np.nan)
    todo = np.arange(n)
    for _ in range(_MAX_ROUNDS):
        if len(todo) == 0:
            return centres
        centres[todo] = np.nan
        failed = np.zeros(len(todo), dtype=bool)
        for j in range(k_max):
            need = np.flatnonzero((k[todo] > j) & ~failed)
            for _ in range(_MAX_TRIES):
                if len(need) == 0:
                    break
                rows = todo[need]
                r = radii[rows, j]
                lo, hi = r + edge_margin, size - r - edge_margin
                prop = lo[:, None] + (hi - lo)[:, None] * rng.uniform(0.0, 1.0, size=(len(need), 2))
                if j == 0:
                    ok = np.ones(len(need), dtype=bool)
                else:
                    dist = np.linalg.norm(centres[rows, :j] - prop[:, None, :], axis=-1)
                    clear = dist >= radii[rows, :j] + r[:, None] + min_gap
                    ok = clear.all(axis=1)  # NaN distances (no disc) compare False: only j < k are present
                centres[rows[ok], j] = prop[ok]
                need = need[~ok]
            failed[need] = True
        todo = todo[failed]
    raise ValueError(
        f"cannot place the discs without overlap: radius_range/min_gap/edge_margin too large for "
        f"image_size={size} and k_max={k_max}"
    )


def rasterise_discs(centres: np.ndarray, radii: np.ndarray, size: int) -> np.ndarray:
    """Boolean masks (N, size, size): pixel centres inside any disc (NaN discs are absent)."""
    coords = np.arange(size) + 0.5
    mask = np.zeros((len(centres), size, size), dtype=bool)
    for j in range(centres.shape[1]):
        dx = coords[None, :] - centres[:, j, 0:1]  # (N, size) along columns
        dy = coords[None, :] - centres[:, j, 1:2]  # (N, size) along rows
        mask |= dy[:, :, None] ** 2 + dx[:, None, :] ** 2 <= radii[:, j, None, None] ** 2
    return mask


@register("counting")
def counting(
    seed: int,
    image_size: int = 32,
    n_train: int = 6000,
    n_val: int = 500,
    n_test: int = 1000,
    k_min: int = 1,
    k_max: int = 5,
    radius_range: Sequence[float] = (2.0, 3.5),
    radius_jitter: float = 0.1,
    min_gap: float = 2.0,
    edge_margin: float = 1.0,
    min_contrast: float = 0.2,
    noise: float = 0.0,
) -> ImageDataset:
    """Generate the counting set; see the module docstring for every parameter."""
    size = checked_image_size(image_size, 8)
    sizes = split_sizes(n_train, n_val, n_test)
    if int(k_min) != k_min or k_min < 0:
        raise ValueError(f"k_min must be a non-negative integer, got {k_min!r}")
    if int(k_max) != k_max or k_max < max(1, k_min + 1):
        raise ValueError(f"k_max must be an integer > k_min={k_min} and >= 1, got {k_max!r}")
    k_min, k_max = int(k_min), int(k_max)
    try:
        r_lo, r_hi = (float(v) for v in radius_range)
    except (TypeError, ValueError):
        raise ValueError(f"radius_range must be a pair [low, high], got {radius_range!r}") from None
    if not 1.0 <= r_lo <= r_hi:
        raise ValueError(f"radius_range {list(radius_range)} must satisfy 1 <= low <= high")
    if not 0.0 <= radius_jitter < 1.0 or r_lo * (1 - radius_jitter) < 1.0:
        raise ValueError(
            f"radius_jitter must be in [0, 1) with radius_range low * (1 - radius_jitter) >= 1 px (every "
            f"disc covers a pixel centre), got {radius_jitter}"
        )
    if not min_gap > np.sqrt(2):
        raise ValueError(f"min_gap must exceed sqrt(2) px so that discs never touch, got {min_gap}")
    if not edge_margin >= 0:
        raise ValueError(f"edge_margin must be >= 0, got {edge_margin}")
    if 2 * (r_hi * (1 + radius_jitter) + edge_margin) > size:
        raise ValueError(
            f"radius_range {list(radius_range)} (with radius_jitter and edge_margin) does not fit in "
            f"image_size={size}"
        )
    if not 0.0 <= min_contrast < 1.0:
        raise ValueError(f"min_contrast must be in [0, 1), got {min_contrast}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise}")

    n = sum(sizes)
    n_classes = k_max - k_min + 1
    rng = np.random.default_rng(seed)
    labels = stratified_labels(n_classes, sizes, rng)
    k = labels + k_min
    r0 = rng.uniform(r_lo, r_hi, size=n)
    radii = r0[:, None] * rng.uniform(1 - radius_jitter, 1 + radius_jitter, size=(n, k_max))
    radii[np.arange(k_max)[None, :] >= k[:, None]] = np.nan
    fg, bg = grey_levels(n, min_contrast, rng)
    centres = place_discs(k, radii, size, float(min_gap), float(edge_margin), rng)

    masks = np.zeros((n, 1, size, size), dtype=bool)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        masks[sl, 0] = rasterise_discs(centres[sl], radii[sl], size)
    images = np.where(masks, fg[:, None, None, None], bg[:, None, None, None]).astype(np.float32)
    if noise > 0:
        images += np.float32(noise) * rng.standard_normal(size=images.shape, dtype=np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    return ImageDataset(
        images=images,
        labels=labels.astype(np.int64),
        split=split_labels(*sizes),
        class_names=[str(v) for v in range(k_min, k_max + 1)],
        masks=masks,
        params={
            "k": k.astype(np.int64),
            "radius": r0,
            "foreground": fg,
            "background": bg,
            "contrast": fg - bg,
            "object_x": centres[:, :, 0],
            "object_y": centres[:, :, 1],
            "object_radius": radii,
        },
    )
