"""Patch extraction from one CT series: nodule-centred positives, negatives away from nodules, sphere masks.

From the volume's own index grid (its axial slices) :func:`extract_series` cuts 2D patches of ``patch_size``
pixels (optionally after resampling to isotropic ``resample_mm``; Hounsfield units clipped to ``hu_window``
and scaled to [0, 1]):

* positives (label 1, "nodule"): one per annotation, at the slice nearest the nodule centre, the patch centre
  pixel ``(patch_size // 2, patch_size // 2)`` on the voxel nearest the centre, shifted in-plane by a
  uniform integer jitter in ``[-jitter_px, jitter_px]``;
* negatives (label 0, "background"): ``n_negatives_per_nodule`` per annotation of the same series, at random
  voxels inside the lungs (``negatives_in="lungs"``: air not connected to the in-plane border of the volume,
  found on a subsampled grid; ``"body"``: anything not connected to the border air) or at given candidate
  points (the hard negatives of a detector), keeping only points whose world distance to every nodule of the
  series exceeds ``radius + negative_margin_mm`` (default 10 mm: no nodule within 10 mm of the patch centre;
  a negative patch may still show a nodule near its border);
* ``masks``: the cross-section of the centred nodule's sphere (``diameter_mm``) with the patch's slice, pixel
  by pixel from world distances (exact for any direction and anisotropic spacing); negatives: empty masks,
  so localisation metrics give NaN for them;
* ``channels=3`` stacks the slices below, at and above the centre as channels (mask from the centre slice);
* patches reaching beyond the volume are padded with air (the window's lower end, i.e. 0 after scaling).

Patch pixel (row r, column c) is voxel (y0 + r, x0 + c) of the slice, with y0, x0 = centre - patch_size // 2;
as in SimpleITK, an integer index is the centre of its voxel.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from xaibench.datasets.ct.geometry import (
    geometry,
    resample_isotropic,
    voxel_to_world,
    window_bounds,
    world_to_voxel,
)

if TYPE_CHECKING:  # SimpleITK and scipy.ndimage are imported where used: importing this module stays cheap
    import SimpleITK as sitk

log = logging.getLogger(__name__)


@dataclass
class PatchConfig:
    """How patches are cut from a series (checked on creation; each error names its key)."""

    patch_size: int = 32
    n_negatives_per_nodule: float = 1.0
    jitter_px: int = 2
    hu_window: Sequence[float] = (-1000.0, 400.0)
    resample_mm: float | None = None
    channels: int = 1
    negative_margin_mm: float = 10.0
    negatives_in: str = "lungs"

    def __post_init__(self) -> None:
        if int(self.patch_size) < 4:
            raise ValueError(f"patch_size must be >= 4, got {self.patch_size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.jitter_px < 0 or self.n_negatives_per_nodule < 0:
            raise ValueError("jitter_px and n_negatives_per_nodule must be >= 0")
        if self.negatives_in not in ("lungs", "body"):
            raise ValueError(f"negatives_in must be 'lungs' or 'body', got {self.negatives_in!r}")
        window_bounds(self.hu_window)


PATCH_KEYS = tuple(f.name for f in fields(PatchConfig))


def crop_axial(hu: np.ndarray, z: int, y: int, x: int, size: int, channels: int, fill: float) -> np.ndarray:
    """(channels, size, size) float32 patch of ``hu`` (z, y, x) whose pixel (size//2, size//2) is (z, y, x).

    ``channels=3`` takes slices z-1, z, z+1. Whatever lies outside the volume is ``fill``.
    """
    out = np.full((channels, size, size), fill, dtype=np.float32)
    y0, x0 = y - size // 2, x - size // 2
    ys, ye = max(y0, 0), min(y0 + size, hu.shape[1])
    xs, xe = max(x0, 0), min(x0 + size, hu.shape[2])
    if ys >= ye or xs >= xe:
        return out
    for c, zz in enumerate(range(z - channels // 2, z + channels // 2 + 1)):
        if 0 <= zz < hu.shape[0]:
            out[c, ys - y0 : ye - y0, xs - x0 : xe - x0] = hu[zz, ys:ye, xs:xe]
    return out


def sphere_section(
    image: sitk.Image, z: int, y: int, x: int, size: int, centre_world: np.ndarray, diameter: float
) -> np.ndarray:
    """(size, size) bool: patch pixels (slice z, centre y, x) whose voxel centre lies in the sphere."""
    origin, spacing, direction = geometry(image)
    cols = (x - size // 2 + np.arange(size)) * spacing[0]
    rows = (y - size // 2 + np.arange(size)) * spacing[1]
    base = origin + direction[:, 2] * spacing[2] * z - np.asarray(centre_world, dtype=np.float64)
    pos = base + rows[:, None, None] * direction[:, 1] + cols[None, :, None] * direction[:, 0]
    return (pos**2).sum(-1) <= (diameter / 2) ** 2


def _sampling_points(hu: np.ndarray, where: str) -> np.ndarray:
    """Voxel indices (n, 3) z, y, x on a subsampled grid inside the lungs (or body) for negatives."""
    from scipy import ndimage

    stride = [max(1, math.ceil(n / 96)) for n in hu.shape]
    sub = hu[:: stride[0], :: stride[1], :: stride[2]]
    air = sub < -400
    labels, _ = ndimage.label(air)
    border = np.unique(np.concatenate([labels[:, [0, -1], :].ravel(), labels[:, :, [0, -1]].ravel()]))
    outside = np.isin(labels, border[border > 0])
    mask = air & ~outside if where == "lungs" else ~outside
    if not mask.any():
        log.warning("no %s found for negatives: sampling anywhere in the body/volume", where)
        mask = ~outside if (~outside).any() else np.ones_like(air)
    return np.argwhere(mask) * np.asarray(stride)


def extract_series(
    image: sitk.Image,
    nodules: np.ndarray,
    rng: np.random.Generator,
    config: PatchConfig,
    negative_candidates: np.ndarray | None = None,
    name: str = "",
) -> dict[str, np.ndarray]:
    """Patches of one series from ``nodules`` (n, 4: world x, y, z, diameter), optional negatives (m, 3)."""
    import SimpleITK as sitk

    if config.resample_mm is not None:
        image = resample_isotropic(image, float(config.resample_mm))
    hu = sitk.GetArrayViewFromImage(image)
    lo, hi = window_bounds(config.hu_window)
    size, channels = int(config.patch_size), int(config.channels)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    nodules = np.asarray(nodules, dtype=np.float64).reshape(-1, 4)
    margin = float(config.negative_margin_mm)

    centres: list[tuple[int, int, int]] = []
    labels: list[int] = []
    nodule_rows: list[int] = []  # index into nodules, -1 for negatives
    jitters: list[tuple[int, int]] = []
    if len(nodules):
        index = world_to_voxel(image, nodules[:, :3])
        for k, (ix, iy, iz) in enumerate(index):
            if not all(-0.5 <= v <= n - 0.5 for v, n in zip((ix, iy, iz), image.GetSize(), strict=True)):
                log.warning("series %s: nodule at world %s outside the volume: skipped", name, nodules[k, :3])
                continue
            jy, jx = (int(v) for v in rng.integers(-config.jitter_px, config.jitter_px + 1, size=2))
            centres.append((int(np.rint(iz)), int(np.rint(iy)) + jy, int(np.rint(ix)) + jx))
            labels.append(1)
            nodule_rows.append(k)
            jitters.append((jy, jx))

    n_neg = int(np.rint(config.n_negatives_per_nodule * len(labels)))
    if n_neg:
        if negative_candidates is not None and len(negative_candidates):
            world = np.asarray(negative_candidates, dtype=np.float64).reshape(-1, 3)
            idx = world_to_voxel(image, world)
            inside = np.all((idx >= -0.5) & (idx <= np.asarray(image.GetSize()) - 0.5), axis=1)
            pool_zyx = np.rint(idx[inside][:, ::-1]).astype(int)
            pool_world = world[inside]
        else:
            pool_zyx = _sampling_points(hu, config.negatives_in)
            pool_world = voxel_to_world(image, pool_zyx[:, ::-1])
        far = np.ones(len(pool_zyx), dtype=bool)
        for row in nodules:
            far &= np.linalg.norm(pool_world - row[:3], axis=1) > row[3] / 2 + margin
        pool = np.flatnonzero(far)
        if len(pool) < n_neg:
            log.warning("series %s: only %d of %d negative positions available", name, len(pool), n_neg)
        for p in rng.choice(pool, size=min(n_neg, len(pool)), replace=False):
            centres.append(tuple(int(v) for v in pool_zyx[p]))
            labels.append(0)
            nodule_rows.append(-1)
            jitters.append((0, 0))

    n = len(centres)
    images = np.empty((n, channels, size, size), dtype=np.float32)
    masks = np.zeros((n, 1, size, size), dtype=bool)
    for i, (z, y, x) in enumerate(centres):
        patch = crop_axial(hu, z, y, x, size, channels, fill=lo)
        images[i] = (np.clip(patch, lo, hi) - lo) / (hi - lo)
        if nodule_rows[i] >= 0:
            row = nodules[nodule_rows[i]]
            masks[i, 0] = sphere_section(image, z, y, x, size, row[:3], row[3])
    zyx = np.asarray(centres, dtype=np.int64).reshape(-1, 3)
    world_c = voxel_to_world(image, zyx[:, ::-1].astype(np.float64)).reshape(-1, 3)
    rows = np.asarray(nodule_rows, dtype=np.int64)
    nod = np.where((rows >= 0)[:, None], nodules[np.maximum(rows, 0)] if len(nodules) else np.nan, np.nan)
    nod = nod.reshape(-1, 4)
    jit = np.asarray(jitters, dtype=np.int64).reshape(-1, 2)
    return {
        "images": images,
        "masks": masks,
        "labels": np.asarray(labels, dtype=np.int64),
        "voxel_z": zyx[:, 0],
        "voxel_y": zyx[:, 1],
        "voxel_x": zyx[:, 2],
        "world_x": world_c[:, 0],
        "world_y": world_c[:, 1],
        "world_z": world_c[:, 2],
        "nodule_x": nod[:, 0],
        "nodule_y": nod[:, 1],
        "nodule_z": nod[:, 2],
        "diameter_mm": np.nan_to_num(nod[:, 3], nan=0.0),
        "jitter_y": jit[:, 0],
        "jitter_x": jit[:, 1],
        "pixel_spacing_x": np.full(n, spacing[0]),
        "pixel_spacing_y": np.full(n, spacing[1]),
        "slice_spacing": np.full(n, spacing[2]),
    }
