"""CT nodule-patch readers ``luna16`` and ``dicom_nodules``: annotated series -> patches, split by series.

A LUNA16 folder holds MetaImage volumes ``<seriesuid>.mhd`` + ``.raw`` (at any depth, e.g. ``subset0/``) and
``annotations.csv`` with the columns ``seriesuid,coordX,coordY,coordZ,diameter_mm`` in world millimetres;
a DICOM root holds one folder per series (any depth) and an annotation CSV of the same columns whose
``seriesuid`` is the series' SeriesInstanceUID or the name of its folder. Every volume is read with SimpleITK
(:mod:`~xaibench.datasets.ct.volumes`), and world points become voxel indices with
``TransformPhysicalPointToContinuousIndex`` (origin, spacing and any direction matrix respected). The patches
are cut as :mod:`~xaibench.datasets.ct.patches` describes; negatives may come from the class-0 rows of a
LUNA16 ``candidates.csv`` (``candidates=...``).

Both readers take the same options (:class:`ReadOptions`) and differ only in how they find and read a series
(:class:`SeriesLayout`).

Per-patch provenance in ``params``: ``seriesuid``; ``voxel_z/y/x`` (index of the patch centre pixel in the,
possibly resampled, volume); ``world_x/y/z`` (world mm of that voxel); ``nodule_x/y/z`` and ``diameter_mm``
(the annotation; NaN and 0 for negatives); ``jitter_y/x``; ``pixel_spacing_x/y``, ``slice_spacing`` (mm).
Splits are by series (no series in two splits): the sorted series are shuffled under the seed and
``test_fraction`` / ``val_fraction`` of them (a value >= 1 is a number of series) go to test / val.
"""

from __future__ import annotations

import csv
import logging
import zlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xaibench.datasets.core import ImageDataset, register
from xaibench.datasets.ct.geometry import PathLike
from xaibench.datasets.ct.patches import PATCH_KEYS, PatchConfig, extract_series
from xaibench.datasets.ct.volumes import dicom_series_folders, read_dicom_series, read_volume

if TYPE_CHECKING:  # SimpleITK is imported where used: importing this module stays cheap
    import SimpleITK as sitk

log = logging.getLogger(__name__)

CLASS_NAMES = ["background", "nodule"]
ANNOTATION_COLUMNS = ("seriesuid", "coordX", "coordY", "coordZ", "diameter_mm")
CANDIDATE_COLUMNS = ("seriesuid", "coordX", "coordY", "coordZ", "class")


def check_keywords(function: str, given: Collection[str], known: Collection[str]) -> None:
    """Python's own error for a keyword ``function`` does not take: the first of ``given`` not ``known``."""
    for key in given:
        if key not in known:
            raise TypeError(f"{function}() got an unexpected keyword argument {key!r}")


def partition(options: dict[str, Any], keys: Collection[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the items of ``options`` whose key is in ``keys``, the others), in the given order."""
    inside = {k: v for k, v in options.items() if k in keys}
    return inside, {k: v for k, v in options.items() if k not in inside}


@dataclass(frozen=True)
class ReadOptions:
    """The options shared by ``luna16`` and ``dicom_nodules`` (their keywords after ``annotations``).

    ``candidates``: a LUNA16 ``candidates.csv`` (path relative to the root unless absolute) whose class-0
    rows become the negatives. ``val_fraction``, ``test_fraction``: :func:`split_series`. ``max_series``:
    read a seeded subset of the annotated series. ``missing``: an annotated series without a volume is an
    error (``"error"``) or skipped with a warning (``"skip"``). The patch keys (``PATCH_KEYS``:
    ``patch_size``, ``n_negatives_per_nodule``, ``jitter_px``, ``hu_window``, ``resample_mm``, ``channels``,
    ``negative_margin_mm``, ``negatives_in``) are :class:`PatchConfig`'s, with its defaults.
    """

    candidates: PathLike | None = None
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    max_series: int | None = None
    missing: str = "error"
    patch: dict[str, Any] = field(default_factory=dict)  # the patch keys given

    @classmethod
    def given(cls, reader: str, options: dict[str, Any]) -> ReadOptions:
        """The keywords passed to ``reader``; one it does not take fails as a bad keyword does in Python."""
        own = [f.name for f in fields(cls) if f.name != "patch"]
        check_keywords(reader, options, [*own, *PATCH_KEYS])
        patch, rest = partition(options, PATCH_KEYS)
        return cls(**rest, patch=patch)

    def patch_config(self) -> PatchConfig:
        """The patch keys, checked (an error names the key)."""
        return PatchConfig(**self.patch)


@dataclass(frozen=True)
class SeriesLayout:
    """How a reader finds its series under the root and reads one; the rest of the reading is shared."""

    folder: str  # what the root is, for errors
    find: Callable[[Path], dict[str, Path]]  # root -> {series name: its file or folder}
    absent: str  # what an annotated series without a source lacks, for errors
    read: Callable[[Path], sitk.Image]

    def patches(self, seed: int, root: PathLike, annotations: PathLike, options: ReadOptions) -> ImageDataset:
        """Nodule / background patches of every annotated series under ``root``."""
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"{self.folder} {root} does not exist")
        config = options.patch_config()
        table = read_table(_resolve(root, annotations), ANNOTATION_COLUMNS, "annotations")
        cands = None
        if options.candidates is not None:
            cands = read_table(_resolve(root, options.candidates), CANDIDATE_COLUMNS, "candidates")
        sources = self.find(root)
        table = _select_present(table, sources, options.missing, f"{self.absent} under {root}")
        return _build(seed, sources, table, config, options, cands, self.read)


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
    options: ReadOptions,
    candidates: dict[str, list] | None,
    series_reader: Callable[[Path], sitk.Image],
) -> ImageDataset:
    """Patches of every annotated series (``options.max_series``: a seeded subset), split by series."""
    uids = sorted(table)
    max_series = options.max_series
    if max_series is not None:
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series}")
        if max_series < len(uids):
            pick = np.random.default_rng(seed).choice(len(uids), size=max_series, replace=False)
            uids = sorted(uids[i] for i in pick)
    if not uids:
        raise ValueError("no annotated series to read")
    splits = split_series(uids, seed, options.val_fraction, options.test_fraction)
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


def _mhd_volumes(root: Path) -> dict[str, Path]:
    return {p.name.removesuffix(".mhd"): p for p in sorted(root.rglob("*.mhd"))}


LUNA16 = SeriesLayout("LUNA16 folder", _mhd_volumes, "no volume file <seriesuid>.mhd", read_volume)
DICOM = SeriesLayout(
    "DICOM folder", dicom_series_folders, "no DICOM series (UID or folder name)", read_dicom_series
)


@register("luna16")
def luna16(
    seed: int, root: PathLike, annotations: PathLike = "annotations.csv", **options: Any
) -> ImageDataset:
    """Nodule / background patches from a LUNA16 folder (``<seriesuid>.mhd`` at any depth under ``root``).

    ``annotations`` is a path relative to ``root`` unless absolute; ``options`` are :class:`ReadOptions`.
    Every annotated series is used (``max_series``: a seeded subset); a series without a volume file is an
    error (``missing="skip"`` skips it with a warning).
    """
    return LUNA16.patches(seed, root, annotations, ReadOptions.given("luna16", options))


@register("dicom_nodules")
def dicom_nodules(seed: int, root: PathLike, annotations: PathLike, **options: Any) -> ImageDataset:
    """Nodule / background patches from DICOM series under ``root`` (one folder per series, any depth).

    ``annotations`` is a LUNA16-style CSV (``seriesuid,coordX,coordY,coordZ,diameter_mm``, world mm; path
    relative to ``root`` unless absolute) whose ``seriesuid`` is either the series' SeriesInstanceUID or
    the name of the folder holding it. Everything else (``options``: :class:`ReadOptions`) is as in
    ``luna16``.
    """
    return DICOM.patches(seed, root, annotations, ReadOptions.given("dicom_nodules", options))
