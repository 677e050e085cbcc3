"""Relevance per part of the object (xaibench.claims.parts): zones, shares, per-object evenness, intervals.

Known answers throughout: maps built from the zones themselves, polygons placed so that their corner discs
hold a lattice-countable number of pixel centres, synthetic per-image values with a known mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from xaibench.claims.parts import (
    PARTS,
    object_table,
    part_table,
    parts_for,
    summarise_objects,
    summarise_parts,
    zone_shares,
)
from xaibench.claims.parts import _weighted_spearman as weighted_spearman
from xaibench.datasets import ImageDataset, make_dataset
from xaibench.datasets.counting import rasterise_discs
from xaibench.datasets.triangles_squares import polygon_vertices

TS_ZONES = ("corner", "edge", "interior", "background")


@pytest.fixture(scope="module")
def ts32():
    return make_dataset("triangles_squares", seed=0, image_size=32, n_train=0, n_val=0, n_test=400)


@pytest.fixture(scope="module")
def ts64():
    return make_dataset(
        "triangles_squares", seed=1, image_size=64, radius_range=[6, 28], n_train=0, n_val=0, n_test=200
    )


@pytest.fixture(scope="module")
def count_ds():
    return make_dataset("counting", seed=0, n_train=0, n_val=0, n_test=60)


def vertex_pixels(ds: ImageDataset) -> np.ndarray:
    """Maps (N, H, W) that are 1 on the pixels containing a vertex of the polygon, 0 elsewhere."""
    n, _, h, w = ds.images.shape
    out = np.zeros((n, h, w))
    centre = np.stack([ds.params["centre_x"], ds.params["centre_y"]], axis=1)
    for label, corners in ((0, 3), (1, 4)):
        sel = np.flatnonzero(ds.labels == label)
        verts = polygon_vertices(corners, centre[sel], ds.params["radius"][sel], ds.params["angle"][sel])
        cols = np.clip(np.floor(verts[..., 0]).astype(int), 0, w - 1)
        rows = np.clip(np.floor(verts[..., 1]).astype(int), 0, h - 1)
        out[sel[:, None], rows, cols] = 1.0
    return out


def one_square(size: int, offset: tuple[float, float]) -> ImageDataset:
    """A square centred on a pixel centre whose 4 vertices all lie at ``offset`` (up to the lattice's
    symmetry) from a pixel centre: v0 = centre + (0.375 * size + dx, dy), the others rotated by 90 degrees."""
    dx, dy = offset
    centre = size / 2 + 0.5
    reach = 0.375 * size + dx
    return ImageDataset(
        images=np.zeros((1, 1, size, size), dtype=np.float32),
        labels=np.array([1]),
        split=np.array([2], dtype=np.int8),
        class_names=["triangle", "square"],
        params={
            "radius": np.array([np.hypot(reach, dy)]),
            "angle": np.array([np.arctan2(dy, reach)]),
            "centre_x": np.array([centre]),
            "centre_y": np.array([centre]),
        },
    )


def lattice_count(radius: float, offset: tuple[float, float]) -> int:
    """Pixel centres within ``radius`` of a point ``offset`` away from a pixel centre (brute force)."""
    k = np.arange(-int(radius) - 2, int(radius) + 3)
    return int(((k[:, None] - offset[0]) ** 2 + (k[None, :] - offset[1]) ** 2 <= radius**2).sum())


# --- zones -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ts32", "ts64"])
def test_zones_partition_the_image(which, request):
    ds = request.getfixturevalue(which)
    zones = parts_for("triangles_squares").zones(ds)
    assert zones.names == TS_ZONES and zones.masks.shape == (len(ds.labels), 4, *ds.images.shape[2:])
    np.testing.assert_array_equal(zones.masks.sum(axis=1), 1)  # every pixel in exactly one zone
    inside = zones.masks[:, :3].any(axis=1)
    assert not (ds.masks[:, 0] & ~inside).any()  # the whole mask is corner, edge or interior
    np.testing.assert_array_equal(zones.masks[:, 2], ds.masks[:, 0] & ~zones.masks[:, :2].any(axis=1))
    assert (zones.masks[:, 0].sum(axis=(1, 2)) > 0).all() and (zones.masks[:, 1].sum(axis=(1, 2)) > 0).all()


@pytest.mark.parametrize(("size", "radius_px"), [(32, 2.0), (64, 4.0)])
def test_corner_zone_of_a_placed_square_holds_four_lattice_discs(size, radius_px):
    # offset (0.25, 0.25): no pixel centre at exactly radius_px from a vertex (d^2 = 4 or 16 has no solution)
    ds = one_square(size, (0.25, 0.25))
    zones = parts_for("triangles_squares").zones(ds)
    corner = zones.masks[0, 0]
    assert corner.sum() == 4 * lattice_count(radius_px, (0.25, 0.25))
    assert lattice_count(2.0, (0.25, 0.25)) == 13  # by hand: rows of 4 + 4 + 3 + 2 pixel centres
    # an explicit radius overrides the default 2/32 of the side
    assert parts_for("triangles_squares").zones(ds, radius_px=1.0).masks[0, 0].sum() == 4 * lattice_count(
        1.0, (0.25, 0.25)
    )
    mid = size // 2
    v0 = (mid + 0.5 + 0.375 * size + 0.25, mid + 0.75)  # (x, y)
    v1 = (mid + 0.5 - 0.25, mid + 0.5 + 0.375 * size + 0.25)
    edge_mid = ((v0[0] + v1[0]) / 2, (v0[1] + v1[1]) / 2)
    assert zones.masks[0, 1, int(edge_mid[1]), int(edge_mid[0])]  # the middle of an edge is edge
    assert zones.masks[0, 2, mid, mid] and zones.masks[0, 3, 0, 0]  # centre interior, image corner background


def test_corner_zone_of_generated_squares_is_four_discs_of_radius_2(ts32):
    # Rotation set: circumradius 12.8, side 18.1 px, so the 4 corner discs (r = 2 px) neither overlap nor
    # leave the image. The lattice is symmetric under the square's 90-degree turns about (16, 16), so all 4
    # discs hold the same count c, and a disc's count over a uniform offset has mean pi r^2 and sd s. Over
    # n squares the mean corner count is 4 * pi * 4 with sd 4 s / sqrt(n): allow 5 sd.
    corner = parts_for("triangles_squares").zones(ts32).masks[ts32.labels == 1, 0].sum(axis=(1, 2))
    grid = (np.arange(200) + 0.5) / 200
    per_disc = np.array([[lattice_count(2.0, (x, y)) for x in grid] for y in grid])
    assert per_disc.mean() == pytest.approx(np.pi * 4, abs=0.01)
    np.testing.assert_array_equal(corner % 4, 0)
    assert corner.min() >= 4 * per_disc.min() and corner.max() <= 4 * per_disc.max()
    assert corner.mean() == pytest.approx(16 * np.pi, abs=5 * 4 * per_disc.std() / np.sqrt(len(corner)))


def test_unknown_generator_names_it_and_the_known_ones():
    with pytest.raises(ValueError, match=r"'beam'.*known: counting, triangles_squares"):
        parts_for("beam")
    assert PARTS["triangles_squares"].ratios == (("corner", "edge"),) and PARTS["counting"].ratios == ()


# --- shares ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ts32", "ts64"])
def test_a_map_on_the_vertex_pixels_is_all_corner(which, request):
    ds = request.getfixturevalue(which)
    zones = parts_for("triangles_squares").zones(ds)
    shares = zone_shares(vertex_pixels(ds), zones)
    np.testing.assert_allclose(shares.relevance_share[:, 0], 1.0, atol=1e-12)
    np.testing.assert_allclose(shares.relevance_share[:, 1:], 0.0, atol=1e-12)
    np.testing.assert_allclose(shares.enrichment[:, 0], 1.0 / shares.area_share[:, 0], rtol=1e-12)
    # channels: |a| summed, so +1 and -1 on two channels give the same shares
    two = np.stack([vertex_pixels(ds), -vertex_pixels(ds)], axis=1)
    np.testing.assert_allclose(zone_shares(two, zones).relevance_share, shares.relevance_share, atol=1e-12)


def test_a_uniform_map_has_enrichment_exactly_one_and_a_mask_map_no_background(ts64):
    zones = parts_for("triangles_squares").zones(ts64)
    uniform = zone_shares(np.ones((len(ts64.labels), 64, 64)), zones)
    finite = np.isfinite(uniform.enrichment)
    assert (finite == (uniform.area_share > 0)).all()  # NaN only for empty zones (tiny polygons' interior)
    assert (uniform.enrichment[finite] == 1.0).all()
    np.testing.assert_array_equal(uniform.relevance_share, uniform.area_share)
    np.testing.assert_allclose(uniform.area_share.sum(axis=1), 1.0, atol=1e-12)
    on_mask = zone_shares(ts64.masks.astype(float), zones)
    np.testing.assert_array_equal(on_mask.relevance_share[:, 3], 0.0)
    np.testing.assert_allclose(on_mask.relevance_share[:, :3].sum(axis=1), 1.0, atol=1e-12)


def test_an_all_zero_map_gives_nan_not_a_crash(ts32):
    zones = parts_for("triangles_squares").zones(ts32, indices=np.arange(8))
    shares = zone_shares(np.zeros((8, 32, 32)), zones)
    assert np.isnan(shares.relevance_share).all() and np.isnan(shares.enrichment).all()
    assert np.isfinite(shares.area_share).all()
    table = part_table({"zero": np.zeros((8, 32, 32)), "ones": np.ones((8, 1, 32, 32))}, zones)
    summary = summarise_parts(table, n_boot=200)
    zero = summary[(summary["method"] == "zero") & (summary["statistic"] == "enrichment")]
    assert zero["estimate"].isna().all() and (zero["n"] == 0).all()
    with pytest.raises(ValueError, match="do not fit"):
        zone_shares(np.zeros((8, 16, 16)), zones)


def test_part_table_rows_columns_and_ids(ts32):
    idx = np.array([3, 5, 7, 11])
    zones = parts_for("triangles_squares").zones(ts32, indices=idx)
    maps = {"vertex": vertex_pixels(ts32)[idx], "flat": np.ones((4, 32, 32))}
    labels = ts32.labels[idx]
    table = part_table(maps, zones, sample_ids=idx, extra_columns={"dataset": "ts", "label": labels})
    assert list(table.columns) == [
        "dataset",
        "label",
        "sample",
        "method",
        "zone",
        "relevance_share",
        "area_share",
        "enrichment",
    ]
    assert len(table) == 2 * 4 * 4 and set(table["sample"]) == set(idx)
    row = table[(table["sample"] == 5) & (table["method"] == "vertex") & (table["zone"] == "corner")]
    assert row["relevance_share"].item() == pytest.approx(1.0) and row["label"].item() == ts32.labels[5]
    assert (table.loc[table["method"] == "flat", "enrichment"] == 1.0).all()
    np.testing.assert_allclose(table.groupby(["sample", "method"])["relevance_share"].sum(), 1.0)


# --- counting ----------------------------------------------------------------------------------------


def test_counting_objects_and_evenness(count_ds):
    sel = np.flatnonzero(count_ds.params["k"] == 4)
    assert len(sel) >= 5
    zones = parts_for("counting").zones(count_ds, indices=sel)
    assert zones.names == ("object", "background")
    np.testing.assert_array_equal(zones.masks[:, 0], count_ds.masks[sel, 0])
    np.testing.assert_array_equal(zones.masks.sum(axis=1), 1)
    np.testing.assert_array_equal(zones.n_objects, 4)
    assert (zones.objects.sum(axis=1) <= 1).all()  # the dilated objects are disjoint
    assert not (count_ds.masks[sel, 0] & ~zones.objects.any(axis=1)).any()  # and cover every disc
    centres = np.stack([count_ds.params["object_x"][sel], count_ds.params["object_y"][sel]], axis=-1)
    radii = count_ds.params["object_radius"][sel]
    first_only = rasterise_discs(centres[:, :1], radii[:, :1], 32).astype(float)
    per_disc = [rasterise_discs(centres[:, j : j + 1], radii[:, j : j + 1], 32) for j in range(4)]
    equal = sum(d / d.sum(axis=(1, 2), keepdims=True) for d in per_disc)  # each disc 1/4 of the relevance
    maps = {"one": first_only, "mask": count_ds.masks[sel, 0].astype(float), "equal": equal}
    table = object_table(maps, zones, sample_ids=sel, extra_columns={"model": "m"})
    by = table.set_index(["method", "sample"])
    np.testing.assert_allclose(by.loc["one", "evenness"], 0.25)
    np.testing.assert_allclose(by.loc["one", "entropy"], 0.0, atol=1e-12)
    np.testing.assert_allclose(by.loc["mask", "evenness"], 1.0)
    np.testing.assert_allclose(by.loc["equal", "evenness"], 1.0)
    np.testing.assert_allclose(by.loc["equal", "entropy"], 1.0, atol=1e-12)
    np.testing.assert_allclose(table["object_share"], 1.0)  # every map lies on the (dilated) objects
    assert (table["k"] == 4).all() and (table["model"] == "m").all()
    zero = object_table({"zero": np.zeros_like(first_only)}, zones)
    assert zero["evenness"].isna().all() and zero["entropy"].isna().all()


def test_evenness_against_k_on_every_count(count_ds):
    zones = parts_for("counting").zones(count_ds)
    np.testing.assert_array_equal(zones.n_objects, count_ds.params["k"])
    centres = np.stack([count_ds.params["object_x"], count_ds.params["object_y"]], axis=-1)
    first_only = rasterise_discs(centres[:, :1], count_ds.params["object_radius"][:, :1], 32).astype(float)
    table = object_table({"one": first_only, "all": count_ds.masks[:, 0].astype(float)}, zones)
    one = table[table["method"] == "one"]
    np.testing.assert_allclose(one["evenness"], 1 / count_ds.params["k"])
    summary = summarise_objects(table, n_boot=300).set_index(["method", "statistic"])
    rho = summary.loc[("one", "spearman_evenness_k")]
    assert rho["estimate"] == pytest.approx(-1.0) and rho["ci_low"] == pytest.approx(-1.0)
    assert rho["ci_high"] == pytest.approx(-1.0) and rho["n"] == (count_ds.params["k"] >= 2).sum()
    assert summary.loc[("all", "evenness"), "estimate"] == 1.0
    assert np.isnan(summary.loc[("all", "spearman_evenness_k"), "estimate"])  # constant evenness: undefined


# --- intervals ---------------------------------------------------------------------------------------


def synthetic(n: int, mean: float, rng: np.random.Generator, replicates: int = 1) -> pd.DataFrame:
    """Per-image corner and edge enrichment; corner's sample mean is exactly ``mean``, corner = 2 x edge."""
    values = rng.gamma(2.0, 1.0, size=n)
    values = values - values.mean() + mean
    return pd.DataFrame(
        {
            "method": "m",
            "replicate": np.repeat(np.arange(replicates), n // replicates),
            "sample": np.arange(n),
            "zone": "corner",
            "relevance_share": 0.1,
            "area_share": 0.05,
            "enrichment": values,
        }
    )


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_images():
    rng = np.random.default_rng(0)
    widths = []
    for n in (25, 400):
        summary = summarise_parts(synthetic(n, 2.0, rng), n_boot=2000, seed=1)
        row = summary[(summary["statistic"] == "enrichment")].iloc[0]
        assert row["estimate"] == pytest.approx(2.0) and row["ci_low"] < 2.0 < row["ci_high"]
        widths.append(row["ci_high"] - row["ci_low"])
    assert 0.15 < widths[1] / widths[0] < 0.4  # ~ sqrt(25 / 400) = 0.25


def test_replicates_that_disagree_widen_the_interval():
    rng = np.random.default_rng(2)
    table = synthetic(200, 2.0, rng, replicates=2)
    table.loc[table["replicate"] == 1, "enrichment"] += 1.0
    nested = summarise_parts(table, n_boot=2000).query("statistic == 'enrichment'").iloc[0]
    pooled = summarise_parts(table, n_boot=2000, cluster=None).query("statistic == 'enrichment'").iloc[0]
    assert nested["n_replicates"] == 2 and pooled["n_replicates"] == 1
    # replicate means 2 and 3: resampling replicates draws (2, 2) or (3, 3) a quarter of the time each
    assert nested["ci_low"] < 2.1 and nested["ci_high"] > 2.9
    assert nested["ci_high"] - nested["ci_low"] > 2 * (pooled["ci_high"] - pooled["ci_low"])


def test_corner_edge_ratio_is_paired_per_image():
    rng = np.random.default_rng(3)
    corner = synthetic(60, 2.0, rng, replicates=3)
    edge = corner.assign(zone="edge", enrichment=corner["enrichment"] / 2)
    table = pd.concat([corner, edge, corner.assign(zone="interior")], ignore_index=True)
    ratio = summarise_parts(table, n_boot=500).query("statistic == 'enrichment_ratio'")
    assert list(ratio["zone"]) == ["corner/edge"]
    row = ratio.iloc[0]
    assert row["estimate"] == pytest.approx(2.0) and row["n"] == 60 and row["n_replicates"] == 3
    assert row["ci_low"] == pytest.approx(2.0) and row["ci_high"] == pytest.approx(2.0)
    pooled = summarise_parts(table, n_boot=200, cluster=None).query("statistic == 'enrichment_ratio'")
    assert pooled["estimate"].item() == pytest.approx(2.0) and pooled["n_replicates"].item() == 1


def test_ratio_of_real_maps(ts32):
    zones = parts_for("triangles_squares").zones(ts32, indices=np.arange(40))
    maps = {"flat": np.ones((40, 32, 32)), "vertex": vertex_pixels(ts32)[:40]}
    summary = summarise_parts(part_table(maps, zones, extra_columns={"replicate": 0}), n_boot=300)
    ratio = summary.query("statistic == 'enrichment_ratio'").set_index("method")
    assert ratio.loc["flat", ["estimate", "ci_low", "ci_high"]].tolist() == pytest.approx([1.0] * 3)
    assert np.isinf(ratio.loc["vertex", "estimate"])  # no relevance along the edges at all


def test_weighted_spearman_matches_scipy_on_repeated_rows():
    rng = np.random.default_rng(4)
    x, y = rng.integers(0, 4, size=30).astype(float), rng.integers(0, 6, size=30).astype(float)
    counts = rng.integers(0, 3, size=(5, 30)).astype(float)
    got = weighted_spearman(x, y, np.vstack([np.ones(30), counts]))
    assert got[0] == pytest.approx(stats.spearmanr(x, y).statistic)
    for row, c in zip(got[1:], counts, strict=True):
        rep = np.repeat(np.arange(30), c.astype(int))
        assert row == pytest.approx(stats.spearmanr(x[rep], y[rep]).statistic)
