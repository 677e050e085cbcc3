"""CT volume files: MetaImage (``.mhd``/``.raw``) and other SimpleITK formats, DICOM series.

**DICOM** (``read_dicom_series``, ``write_dicom_series``, ``dicom_series_folders``): series read by
SimpleITK's ``ImageSeriesReader`` (GDCM sorts slices along the normal and applies RescaleSlope/Intercept);
the ``dicom_nodules`` reader names a series by its SeriesInstanceUID or by the name of the folder that holds
it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from xaibench.datasets.ct.geometry import PathLike, geometry

if TYPE_CHECKING:  # SimpleITK is imported where used: importing this module stays cheap
    import SimpleITK as sitk


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
