"""CT volume geometry: world <-> voxel indices, isotropic resampling, Hounsfield windowing.

Points are x, y, z (SimpleITK order); numpy arrays from SimpleITK are indexed z, y, x. As in SimpleITK, an
integer index is the centre of its voxel, and world = origin + direction @ (spacing * index).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # SimpleITK is imported where used: importing this module stays cheap
    import SimpleITK as sitk

AIR_HU = -1000.0

PathLike = str | os.PathLike[str]


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
    lo, hi = window_bounds(hu_window)
    return ((np.clip(hu.astype(np.float32), lo, hi) - lo) / (hi - lo)).astype(np.float32)


def window_bounds(hu_window: Sequence[float]) -> tuple[float, float]:
    """``hu_window`` as (low, high) floats; an error unless it is two numbers with low < high."""
    if len(hu_window) != 2 or not float(hu_window[0]) < float(hu_window[1]):
        raise ValueError(f"hu_window must be [low, high] with low < high, got {list(hu_window)}")
    return float(hu_window[0]), float(hu_window[1])
