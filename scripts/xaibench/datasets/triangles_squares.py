"""Triangles & Squares (seed 002; Rangelova et al. 2018), with the exact masks the originals lacked.

Each image holds one regular polygon (3 or 4 corners) of uniform grey level on a uniform background.
Rotation set: 32x32, centred, circumradius 0.8 * 32 / 2 = 12.8 px, angle ~ U(0, 2pi).
Scale + rotation set: 64x64, circumradius ~ U(radius_range), centre jittered uniformly so that the
circumscribed circle stays inside the image (the published set gave no range: ours is documented here).
Foreground and background grey levels are each ~ U(0, 1) as in the original; ``min_contrast`` can
reject near-invisible shapes (0 reproduces the original). The mask is the set of pixels whose centre lies
inside the polygon, and the image is drawn from that same mask: mask and drawn polygon match exactly.
"""

from __future__ import annotations

import numpy as np

from xaibench.datasets.core import ImageDataset, grey_levels, register, split_labels

CLASS_NAMES = ["triangle", "square"]


def polygon_vertices(n_corners: int, centre: np.ndarray, radius: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Vertices (N, n_corners, 2) as (x, y) of regular polygons, counter-clockwise."""
    k = np.arange(n_corners)
    theta = angle[:, None] + 2 * np.pi * k[None, :] / n_corners
    return np.stack(
        [centre[:, 0:1] + radius[:, None] * np.cos(theta), centre[:, 1:2] + radius[:, None] * np.sin(theta)],
        axis=-1,
    )


def rasterise_convex(vertices: np.ndarray, size: int) -> np.ndarray:
    """Boolean masks (N, size, size): pixel (row r, col c) is inside if its centre (c+.5, r+.5) is."""
    coords = np.arange(size) + 0.5
    px = coords[None, None, :]  # x varies along columns
    py = coords[None, :, None]
    inside = np.ones((len(vertices), size, size), dtype=bool)
    n = vertices.shape[1]
    for i in range(n):
        x0, y0 = vertices[:, i, 0, None, None], vertices[:, i, 1, None, None]
        x1, y1 = vertices[:, (i + 1) % n, 0, None, None], vertices[:, (i + 1) % n, 1, None, None]
        # counter-clockwise polygon: interior on the left of each edge (cross product >= 0)
        inside &= (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0) >= 0
    return inside


@register("triangles_squares")
def triangles_squares(
    seed: int,
    image_size: int = 32,
    n_train: int = 1000,
    n_val: int = 200,
    n_test: int = 400,
    radius: float | None = None,
    radius_range: list[float] | None = None,
    min_contrast: float = 0.0,
    chunk: int = 4096,
) -> ImageDataset:
    """Generate the set; ``radius_range`` switches on random scale and centre jitter (the 64x64 set)."""
    if radius is not None and radius_range is not None:
        raise ValueError("give either radius (fixed) or radius_range (scale set), not both")
    if not 0.0 <= min_contrast < 1.0:
        raise ValueError(f"min_contrast must be in [0, 1), got {min_contrast}")
    half = image_size / 2
    if radius_range is not None:
        lo, hi = radius_range
        if not 0 < lo <= hi <= half:
            raise ValueError(f"radius_range {radius_range} must satisfy 0 < low <= high <= {half}")
    elif radius is None:
        radius = 0.8 * half
    elif not 0 < radius <= half:
        raise ValueError(f"radius {radius} must lie in (0, {half}]")

    n = n_train + n_val + n_test
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    if radius_range is not None:
        r = rng.uniform(radius_range[0], radius_range[1], size=n)
        centre = np.stack([rng.uniform(r, image_size - r), rng.uniform(r, image_size - r)], axis=1)
    else:
        r = np.full(n, float(radius))
        centre = np.full((n, 2), half)
    fg, bg = grey_levels(n, min_contrast, rng)

    masks = np.zeros((n, 1, image_size, image_size), dtype=bool)
    for n_corners, cls in ((3, 0), (4, 1)):
        idx = np.flatnonzero(labels == cls)
        for start in range(0, len(idx), chunk):
            sel = idx[start : start + chunk]
            verts = polygon_vertices(n_corners, centre[sel], r[sel], angle[sel])
            masks[sel, 0] = rasterise_convex(verts, image_size)
    images = np.where(masks, fg[:, None, None, None], bg[:, None, None, None]).astype(np.float32)
    return ImageDataset(
        images=images,
        labels=labels.astype(np.int64),
        split=split_labels(n_train, n_val, n_test),
        class_names=CLASS_NAMES,
        masks=masks,
        params={
            "radius": r,
            "angle": angle,
            "centre_x": centre[:, 0],
            "centre_y": centre[:, 1],
            "foreground": fg,
            "background": bg,
        },
    )
