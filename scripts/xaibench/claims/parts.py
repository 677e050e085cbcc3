"""Where on the object does the relevance lie? Relevance per part of the object (seed 002).

Seed 002 (Rangelova) reports that LRP heatmaps on Triangles & Squares do not follow the human strategy of
counting corners. Here each image is split into zones drawn from the dataset's stored generating
parameters, and per sample and method the relevance |a| (summed over channels) is measured per zone:

* relevance share = sum of |a| over the zone / sum over the image (NaN for an all-zero or non-finite map);
* area share = zone pixels / image pixels;
* enrichment = relevance share / area share: 1 is what area alone predicts, > 1 more relevance per pixel
  than the image's average (NaN for an empty zone). The ratio of two zones' enrichments is the ratio of
  their relevance densities (relevance per pixel).

Zones come from :data:`PARTS`, keyed by the dataset's *generator* (:func:`register_parts`,
:func:`parts_for`); everything specific to a dataset lives in its entry:

* ``triangles_squares``: ``corner`` (pixel centres within ``radius_px`` of a vertex), ``edge`` (within
  ``radius_px`` of an edge segment, not corner), ``interior`` (inside the mask, neither), ``background``
  (the rest). ``radius_px`` defaults to 2/32 of the image side (2 px at 32x32, 4 px at 64x64), so the
  zones keep their share of the image at every resolution. Corner and edge zones straddle the boundary:
  maps of a step edge put relevance on both sides of it. Declared ratio: corner / edge.
* ``counting``: ``object`` (the union of the discs, i.e. the mask) and ``background``; plus one mask per
  present disc, dilated by 1 px (pixel centres within r + 1 of the disc's centre; a pixel within reach of
  two discs goes to the disc whose edge is nearer), so that relevance on a disc's rim, which gradient-like
  maps put just outside it, counts to that disc. With the default ``min_gap`` of 2 px they never overlap.

Per object (:func:`object_table`), from the shares s_j of the on-object relevance over the k discs:
*evenness* = #{j : s_j >= 1 / (2k)} / k, the share of the image's objects that receive at least half of an
equal split (1 = every object gets attention, as counting requires; a map on one object of k gives 1/k;
trivially 1 at k = 1, so :func:`summarise_objects` uses k >= 2 by default); *entropy* = -sum s_j log s_j /
log k (1 = even, 0 = one object; NaN at k = 1).

Intervals (:func:`summarise_parts`, :func:`summarise_objects`): means by
:func:`xaibench.stats.bootstrap.hierarchical_bootstrap` (replicates, then images within each; one replicate
when the table has no ``replicate`` column). Statistics that are not a mean -- the zone ratio, a Spearman
correlation -- are recomputed on the same two-level resamples drawn as counts per image
(:func:`_draw_counts`), which keeps an image's two zones (or its evenness and k) paired. The *zone ratio*
(corner / edge) is the ratio of the mean enrichments, mean(corner) / mean(edge) over the images where both
are finite, in every draw: the mean of per-image ratios would be dominated by images with almost no
relevance along the edge (inf for none), and a geometric mean would have to drop images with none on
either zone. > 1: more relevance per pixel at the corners than along the edges.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from xaibench.datasets.core import ImageDataset, load_dataset
from xaibench.datasets.counting import rasterise_discs
from xaibench.datasets.triangles_squares import polygon_vertices, rasterise_convex
from xaibench.explanations import load_explanations
from xaibench.stats.bootstrap import group_rng, hierarchical_bootstrap

SUMMARY_COLUMNS = ["statistic", "estimate", "ci_low", "ci_high", "n", "n_replicates"]
KEYS = ("dataset", "model", "method")


@dataclass(frozen=True)
class Zones:
    """Zone masks (N, Z, H, W) bool named by ``names`` (every pixel in exactly one zone) and, where the
    dataset has countable objects, per-object masks (N, K, H, W), all False in a slot without an object."""

    names: tuple[str, ...]
    masks: np.ndarray
    objects: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.masks.ndim != 4 or self.masks.shape[1] != len(self.names):
            raise ValueError(f"masks must be (N, {len(self.names)}, H, W), got {self.masks.shape}")

    @property
    def n_objects(self) -> np.ndarray:
        if self.objects is None:
            raise ValueError(f"zones {self.names} have no per-object masks")
        return self.objects.any(axis=(2, 3)).sum(axis=1)


Builder = Callable[..., Zones]  # (dataset, indices, **options) -> Zones


@dataclass(frozen=True)
class PartSpec:
    """A dataset generator's zones (``build``) and the zone pairs whose ratio the summary reports."""

    generator: str
    build: Builder
    ratios: tuple[tuple[str, str], ...] = ()

    def zones(self, dataset: ImageDataset, indices: Sequence[int] | None = None, **options: Any) -> Zones:
        idx = np.arange(len(dataset.labels)) if indices is None else np.asarray(indices, dtype=np.intp)
        return self.build(dataset, idx, **options)


PARTS: dict[str, PartSpec] = {}


def register_parts(generator: str, *, ratios: Sequence[tuple[str, str]] = ()) -> Callable[[Builder], Builder]:
    """Decorator storing ``build(dataset, indices, **options) -> Zones`` as the parts of ``generator``."""

    def decorator(build: Builder) -> Builder:
        if generator in PARTS:
            raise ValueError(f"parts of dataset generator {generator!r} are already registered")
        PARTS[generator] = PartSpec(generator, build, tuple((a, b) for a, b in ratios))
        return build

    return decorator


def parts_for(generator: str) -> PartSpec:
    """The part geometry of dataset generator ``generator``; an error naming it and the known ones."""
    if generator not in PARTS:
        known = ", ".join(sorted(PARTS)) or "(none)"
        raise ValueError(f"no part geometry for dataset generator {generator!r}; known: {known}")
    return PARTS[generator]


def _pixel_centres(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """x (1, 1, W) along columns and y (1, H, 1) along rows of the pixel centres (c + 0.5, r + 0.5)."""
    return np.arange(w)[None, None, :] + 0.5, np.arange(h)[None, :, None] + 0.5


def _segment_distance(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance (N, H, W) of the pixel centres to the segments a-b (N, 2 as x, y)."""
    ax, ay, dx, dy = (v[:, None, None] for v in (a[:, 0], a[:, 1], b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]))
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(px - ax - t * dx, py - ay - t * dy)


@register_parts("triangles_squares", ratios=[("corner", "edge")])
def triangle_square_parts(
    dataset: ImageDataset, indices: np.ndarray, radius_px: float | None = None
) -> Zones:
    """Zones of the polygons (module docstring); label 0 = triangle (3 corners), 1 = square (4). The inside
    is rasterised from the parameters as the generator drew the mask: the same pixels."""
    (h, w), p = dataset.images.shape[2:], {k: v[indices] for k, v in dataset.params.items()}
    radius_px = 2.0 * h / 32 if radius_px is None else float(radius_px)
    px, py = _pixel_centres(h, w)
    corner, near_edge, inside = np.zeros((3, len(indices), h, w), dtype=bool)
    for label, n_corners in ((0, 3), (1, 4)):
        sel = np.flatnonzero(dataset.labels[indices] == label)
        centre = np.stack([p["centre_x"][sel], p["centre_y"][sel]], axis=1)
        verts = polygon_vertices(n_corners, centre, p["radius"][sel], p["angle"][sel])
        for i in range(n_corners):
            vx, vy = verts[:, i, 0, None, None], verts[:, i, 1, None, None]
            corner[sel] |= np.hypot(px - vx, py - vy) <= radius_px
            edge_distance = _segment_distance(px, py, verts[:, i], verts[:, (i + 1) % n_corners])
            near_edge[sel] |= edge_distance <= radius_px
        inside[sel] = rasterise_convex(verts, h)
    edge = near_edge & ~corner
    interior = inside & ~corner & ~edge
    zones = np.stack([corner, edge, interior, ~(corner | edge | interior)], axis=1)
    return Zones(("corner", "edge", "interior", "background"), zones)


@register_parts("counting")
def counting_parts(dataset: ImageDataset, indices: np.ndarray, dilation_px: float = 1.0) -> Zones:
    """object / background, and one dilated mask per present disc (module docstring)."""
    h, w = dataset.images.shape[2:]
    p = dataset.params
    cx, cy, r = (np.asarray(p[key][indices], np.float64) for key in ("object_x", "object_y", "object_radius"))
    on_object = rasterise_discs(np.stack([cx, cy], axis=-1), r, h)
    px, py = _pixel_centres(h, w)
    cx, cy, r = (v[..., None, None] for v in (cx, cy, r))
    beyond_edge = np.hypot(px[:, None] - cx, py[:, None] - cy) - r  # (N, K, H, W) from each disc's edge
    beyond_edge = np.where(np.isnan(beyond_edge), np.inf, beyond_edge)  # absent discs: never nearest
    nearest = beyond_edge.argmin(axis=1)
    reached = beyond_edge.min(axis=1) <= dilation_px
    objects = (np.arange(r.shape[1])[None, :, None, None] == nearest[:, None]) & reached[:, None]
    return Zones(("object", "background"), np.stack([on_object, ~on_object], axis=1), objects)


class Shares(NamedTuple):
    """Per sample and zone (N, Z): relevance share, area share and enrichment (module docstring)."""

    relevance_share: np.ndarray
    area_share: np.ndarray
    enrichment: np.ndarray


def _relevance(maps: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """|a| (N, H, W) as float64, summed over the channels of (N, C, H, W) maps."""
    a = np.abs(np.asarray(maps, dtype=np.float64))
    a = a.sum(axis=1) if a.ndim == 4 else a
    if a.shape != shape:
        raise ValueError(f"maps of shape {np.shape(maps)} do not fit zones of {shape[0]} images {shape[1:]}")
    return a


def _shares(relevance: np.ndarray, masks: np.ndarray, area: np.ndarray) -> Shares:
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.einsum("nhw,nzhw->nz", relevance, masks) / relevance.sum(axis=(1, 2))[:, None]
        return Shares(share, area, np.where(area > 0, share / area, np.nan))


def zone_shares(maps: np.ndarray, zones: Zones | np.ndarray) -> Shares:
    """Relevance share, area share and enrichment per sample and zone of maps (N, H, W) or (N, C, H, W)."""
    masks = np.asarray(zones.masks if isinstance(zones, Zones) else zones, dtype=np.float64)
    n, _, h, w = masks.shape
    return _shares(_relevance(maps, (n, h, w)), masks, masks.sum(axis=(2, 3)) / (h * w))


def _frame(
    columns: dict[str, Any], rows: np.ndarray, ids: Sequence[Any] | None, extra, n: int
) -> pd.DataFrame:
    """The extra columns (a scalar, or one value per sample), ``sample``, then ``columns``; ``rows`` gives
    each row's sample position."""
    ids = np.arange(n) if ids is None else np.asarray(ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} sample ids for {n} images")
    front = {name: np.asarray(v)[rows] if np.ndim(v) else v for name, v in (extra or {}).items()}
    return pd.DataFrame(front | {"sample": ids[rows]} | columns)


def part_table(
    maps_by_method: Mapping[str, np.ndarray],
    zones: Zones,
    sample_ids: Sequence[Any] | None = None,
    extra_columns: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per (sample, method, zone): relevance_share, area_share, enrichment; ``extra_columns`` (e.g.
    dataset, model, replicate; a scalar or one value per sample) come first."""
    masks = zones.masks.astype(np.float64)
    n, z, h, w = masks.shape
    area, methods = masks.sum(axis=(2, 3)) / (h * w), list(maps_by_method)
    shares = [_shares(_relevance(maps_by_method[m], (n, h, w)), masks, area) for m in methods]
    columns = {
        "method": np.repeat(np.asarray(methods, dtype=object), n * z),
        "zone": np.tile(np.asarray(zones.names, dtype=object), len(methods) * n),
    } | {field: np.ravel([s[i] for s in shares]) for i, field in enumerate(Shares._fields)}
    return _frame(columns, np.tile(np.repeat(np.arange(n), z), len(methods)), sample_ids, extra_columns, n)


def object_table(
    maps_by_method: Mapping[str, np.ndarray],
    zones: Zones,
    sample_ids: Sequence[Any] | None = None,
    extra_columns: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One row per (sample, method): ``k``, ``object_share`` (relevance share on the dilated objects),
    ``object_area_share``, ``evenness``, ``entropy`` (module docstring; NaN without on-object relevance)."""
    k = zones.n_objects
    objects = np.asarray(zones.objects, dtype=np.float64)
    n, _, h, w = objects.shape
    present = objects.any(axis=(2, 3))
    columns: dict[str, list[np.ndarray]] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for method, maps in maps_by_method.items():
            rel = _relevance(maps, (n, h, w))
            per_object = np.einsum("nhw,nkhw->nk", rel, objects)
            on_objects = per_object.sum(axis=1)
            s = per_object / on_objects[:, None]
            defined = (on_objects > 0) & np.isfinite(on_objects) & (k > 0)
            evenness = ((s >= 0.5 / k[:, None]) & present).sum(axis=1) / k
            entropy = -np.where(s > 0, s * np.log(s), 0.0).sum(axis=1) / np.log(k)
            for name, value in {
                "method": np.full(n, method, dtype=object),
                "k": k,
                "object_share": on_objects / rel.sum(axis=(1, 2)),
                "object_area_share": objects.sum(axis=(1, 2, 3)) / (h * w),
                "evenness": np.where(defined, evenness, np.nan),
                "entropy": np.where(defined & (k > 1), entropy, np.nan),
            }.items():
                columns.setdefault(name, []).append(value)
    stacked = {name: np.concatenate(values) for name, values in columns.items()}
    return _frame(stacked, np.tile(np.arange(n), len(maps_by_method)), sample_ids, extra_columns, n)


def _draw_counts(sizes: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, sum(sizes)) times each row is drawn: replicates with replacement, then as many images as
    the drawn replicate has, with replacement (the scheme of :mod:`xaibench.stats.bootstrap`)."""
    total, offsets = int(sizes.sum()), np.concatenate([[0], np.cumsum(sizes)[:-1]])
    drawn = rng.integers(0, len(sizes), size=(n_boot, len(sizes)))
    slot = sizes[drawn][:, :, None]
    index = (rng.random((n_boot, len(sizes), int(sizes.max()))) * slot).astype(np.intp)
    index += offsets[drawn][:, :, None] + np.arange(n_boot)[:, None, None] * total
    keep = np.arange(int(sizes.max()))[None, None, :] < slot
    return np.bincount(index[keep], minlength=n_boot * total).reshape(n_boot, total).astype(np.float64)


def _weighted_spearman(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spearman correlation per row of ``weights`` (B, n), a row counting each (x, y) pair that often
    (tied values share their mid-rank); NaN where x or y is constant."""

    def midranks(values: np.ndarray) -> np.ndarray:
        unique, inverse = np.unique(values, return_inverse=True)
        w = weights @ (inverse[:, None] == np.arange(len(unique))[None, :]).astype(np.float64)
        return (np.cumsum(w, axis=1) - (w - 1.0) / 2.0)[:, inverse]

    rx, ry, total = midranks(x), midranks(y), weights.sum(axis=1, keepdims=True)
    dx = rx - (weights * rx).sum(axis=1, keepdims=True) / total
    dy = ry - (weights * ry).sum(axis=1, keepdims=True) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (weights * dx * dy).sum(1) / np.sqrt((weights * dx * dx).sum(1) * (weights * dy * dy).sum(1))
    return np.where(np.abs(rho) > 1.0, np.sign(rho), rho)


def _groups(table: pd.DataFrame, keys: list[str]):
    """(key columns as a dict, rows) per group of ``keys`` (the whole table when there are none)."""
    if not keys:
        yield {}, table
        return
    for key, group in table.groupby(keys, sort=True):
        yield dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)), group


def _interval(estimate: float, low: float, high: float, n: int, n_replicates: int) -> dict[str, Any]:
    return {"estimate": estimate, "ci_low": low, "ci_high": high, "n": n, "n_replicates": n_replicates}


def _mean(group: pd.DataFrame, column: str, cluster: str | None, rng, n_boot: int) -> dict[str, Any]:
    """Mean of the finite values and its hierarchical bootstrap interval (clusters = ``cluster`` values)."""
    parts = [group] if cluster not in group else [part for _, part in group.groupby(cluster, sort=True)]
    values = [v[np.isfinite(v)] for v in (part[column].to_numpy(np.float64) for part in parts)]
    flat = np.concatenate(values)
    low, high = hierarchical_bootstrap(values, n_boot=n_boot, rng=rng)
    estimate = float(flat.mean()) if flat.size else np.nan
    return _interval(estimate, low, high, flat.size, sum(v.size > 0 for v in values))


def _resampled(rows: pd.DataFrame, cluster: str | None, statistic, rng, n_boot: int) -> dict[str, Any]:
    """``statistic(weights)`` on all ``rows`` once and its percentile interval over the defined draws of the
    two-level resampling (``rows`` sorted by ``cluster``)."""
    sizes = rows.groupby(cluster, sort=True).size().to_numpy() if cluster in rows else np.array([len(rows)])
    if len(rows) < 2:
        return _interval(np.nan, np.nan, np.nan, len(rows), len(sizes))
    estimate = float(statistic(np.ones((1, len(rows))))[0])
    draws = np.concatenate(
        [statistic(_draw_counts(sizes, min(256, n_boot - s), rng)) for s in range(0, n_boot, 256)]
    )
    draws = draws[np.isfinite(draws)]
    low, high = (
        np.quantile(draws, [0.025, 0.975]) if np.isfinite(estimate) and draws.size else (np.nan, np.nan)
    )
    return _interval(estimate, float(low), float(high), len(rows), len(sizes))


def summarise_parts(
    table: pd.DataFrame,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    cluster: str | None = "replicate",
    ratios: Sequence[tuple[str, str]] | None = None,
) -> pd.DataFrame:
    """Per (dataset, model, method, zone) -- of those columns, the ones the table has -- the mean relevance
    share, area share and enrichment with hierarchical bootstrap intervals; per (dataset, model, method)
    the zone ratio (module docstring, statistic "enrichment_ratio", zone "a/b") of every pair in ``ratios``
    (default: those the registered part geometries declare) whose zones the table has."""
    keys = [c for c in KEYS if c in table]
    rows = []
    for key, group in _groups(table, [*keys, "zone"]):
        for column in ("relevance_share", "area_share", "enrichment"):
            rng = group_rng(seed, *key.values(), column)
            rows.append(key | {"statistic": column} | _mean(group, column, cluster, rng, n_boot))
    pairs = [pair for spec in PARTS.values() for pair in spec.ratios] if ratios is None else list(ratios)
    image = list(dict.fromkeys(c for c in (cluster, "replicate", "sample") if c is not None and c in table))
    for key, group in _groups(table, keys):
        for a, b in (pair for pair in pairs if set(pair) <= set(group["zone"])):
            wide = group.pivot(index=image, columns="zone", values="enrichment")[[a, b]]
            wide = wide[np.isfinite(wide).all(axis=1)].reset_index()  # sorted by (cluster, sample)
            num, den = wide[a].to_numpy(), wide[b].to_numpy()

            def ratio(weights: np.ndarray, num=num, den=den) -> np.ndarray:
                with np.errstate(divide="ignore", invalid="ignore"):
                    return (weights @ num) / (weights @ den)

            result = _resampled(wide, cluster, ratio, group_rng(seed, *key.values(), f"{a}/{b}"), n_boot)
            rows.append(key | {"zone": f"{a}/{b}", "statistic": "enrichment_ratio"} | result)
    return pd.DataFrame(rows, columns=[*keys, "zone", *SUMMARY_COLUMNS])


def summarise_objects(
    table: pd.DataFrame,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    cluster: str | None = "replicate",
    min_k: int = 2,
) -> pd.DataFrame:
    """Per (dataset, model, method), over the images with k >= ``min_k``: mean evenness, entropy and
    object share with hierarchical bootstrap intervals, and the Spearman correlation of evenness with k
    (statistic "spearman_evenness_k"; its interval from the same two-level resampling)."""
    keys = [c for c in KEYS if c in table]
    rows = []
    for key, group in _groups(table[table["k"] >= min_k], keys):
        for column in ("evenness", "entropy", "object_share"):
            rng = group_rng(seed, *key.values(), column)
            rows.append(key | {"statistic": column} | _mean(group, column, cluster, rng, n_boot))
        defined = group[np.isfinite(group["evenness"])]
        defined = defined.sort_values(cluster, kind="stable") if cluster in defined else defined
        x, y = defined["evenness"].to_numpy(np.float64), defined["k"].to_numpy(np.float64)

        def spearman(weights: np.ndarray, x=x, y=y) -> np.ndarray:
            return _weighted_spearman(x, y, weights)

        result = _resampled(defined, cluster, spearman, group_rng(seed, *key.values(), "spearman"), n_boot)
        rows.append(key | {"statistic": "spearman_evenness_k"} | result)
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_COLUMNS])


def pair_tables(
    generator: str,
    runs: Mapping[Any, tuple[str, Mapping[str, str]]],
    extra_columns: Mapping[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The zone table and (where the geometry has objects) the object table of one (dataset, model) over
    its replicates: ``runs`` maps each replicate to (its dataset file, method -> explanation file). Every
    method's maps of the replicate's evaluation subset are measured on that subset's zones."""
    spec = parts_for(generator)
    zone_tables, object_tables = [], []
    for replicate, (data_path, explanations) in runs.items():
        maps, indices = {}, None
        files = {path: load_explanations(path) for path in dict.fromkeys(explanations.values())}  # read once
        for method, path in explanations.items():
            part = files[path][method]
            if "note" in part:  # not applicable to this model: no maps
                continue
            maps[method], indices = part["attributions"], part["indices"]
        if indices is None:
            continue
        zones = spec.zones(load_dataset(data_path), indices)
        extra = {**(extra_columns or {}), "replicate": replicate}
        zone_tables.append(part_table(maps, zones, indices, extra))
        if zones.objects is not None:
            object_tables.append(object_table(maps, zones, indices, extra))
    zones_table = pd.concat(zone_tables, ignore_index=True) if zone_tables else pd.DataFrame()
    return zones_table, (pd.concat(object_tables, ignore_index=True) if object_tables else None)
