"""Class discrimination on two-class composites (claims/class_regions.py) and its claims: the composites'
geometry, the region shares and discrimination on hand-built maps with known values, the claims' verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from xaibench.claims import ClaimContext, evaluate_claims
from xaibench.claims.class_regions import (
    class_region_table,
    composites_for,
    discrimination,
    method_intervals,
    region_shares,
)
from xaibench.claims.core import NOT_SUPPORTED, NOT_TESTED, SUPPORTED
from xaibench.datasets import make_dataset


@pytest.fixture(scope="module")
def scale_set():
    return make_dataset(
        "triangles_squares", seed=3, image_size=64, radius_range=[6, 20], n_train=4, n_val=2, n_test=60
    )


def test_composites_hold_one_object_of_each_class_apart_drawn_from_test_parameters(scale_set):
    composite = composites_for("triangles_squares")(scale_set, 12, np.random.default_rng(0))
    assert composite.images.shape == (12, 1, 64, 64) and composite.regions.shape == (12, 2, 64, 64)
    assert (composite.classes == [0, 1]).all()
    test = scale_set.indices("test")
    for j in (0, 1):
        assert np.isin(composite.sources[:, j], test).all()
        assert (scale_set.labels[composite.sources[:, j]] == j).all()
    regions = composite.regions
    assert not (regions[:, 0] & regions[:, 1]).any()  # the objects never overlap
    assert (regions.sum((2, 3)) > 20).all()
    fg = scale_set.params["foreground"][composite.sources[:, 0]]
    bg = scale_set.params["background"][composite.sources[:, 0]]
    inside = regions.any(1)
    for i in range(12):
        np.testing.assert_array_equal(composite.images[i, 0][inside[i]], np.float32(fg[i]))
        np.testing.assert_array_equal(composite.images[i, 0][~inside[i]], np.float32(bg[i]))
        # each object lies in its own half: the two halves hold one object each
        columns = [np.flatnonzero(regions[i, j].any(0)) for j in (0, 1)]
        assert columns[0].max() < 32 <= columns[1].min() or columns[1].max() < 32 <= columns[0].min()
    # a square's area is larger than a triangle's of the same circumradius: the shapes are the classes'
    radius = np.minimum(scale_set.params["radius"][composite.sources], 64 / 4 - 0.5)
    expected = np.stack([3 * np.sqrt(3) / 4 * radius[:, 0] ** 2, 2 * radius[:, 1] ** 2], axis=1)
    np.testing.assert_allclose(regions.sum((2, 3)), expected, rtol=0.25)
    np.testing.assert_allclose(composite.scale, radius / scale_set.params["radius"][composite.sources])
    assert (composite.scale <= 1).all() and (composite.scale == 1).any()


def test_unknown_generator_names_the_known_ones():
    with pytest.raises(KeyError, match=r"'counting'.*triangles_squares"):
        composites_for("counting")


def test_region_shares_of_maps_made_of_the_regions():
    regions = np.zeros((2, 2, 4, 4), dtype=bool)
    regions[:, 0, :, :2] = True
    regions[:, 1, :, 2:] = True
    maps = np.stack([regions[0, 0], regions[1, 0] * 3.0 - regions[1, 1] * 5.0])[:, None].astype(np.float32)
    shares = region_shares(maps, regions)
    np.testing.assert_array_equal(shares, [[1.0, 0.0], [1.0, 0.0]])  # negative relevance is not counted
    mixed = np.where(regions[0, 0], 1.0, 3.0)[None, None].astype(np.float32)
    np.testing.assert_allclose(region_shares(mixed, regions[:1]), [[0.25, 0.75]])
    assert np.isnan(region_shares(-np.ones((1, 1, 4, 4)), regions[:1])).all()


def _table(shares_by_method: dict[str, list[tuple[float, float, float, float]]]) -> pd.DataFrame:
    """Rows of (composite, method, class 0 then 1) from (own_0, other_0, own_1, other_1) per composite."""
    rows = []
    for method, composites in shares_by_method.items():
        for i, (own0, other0, own1, other1) in enumerate(composites):
            for cls, own, other in ((0, own0, other0), (1, own1, other1)):
                rows.append(
                    dict(dataset="ts", model="net", replicate=0, composite=i, method=method, target_class=cls,
                         share_own=own, share_other=other, scale_own=1.0)
                )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_map_that_ignores_the_class_scores_zero_whatever_the_areas():
    # the same map for both classes: class 0's own share is class 1's other share, and vice versa
    table = _table({"same": [(0.7, 0.2, 0.2, 0.7), (0.1, 0.6, 0.6, 0.1)], "own": [(0.9, 0.0, 0.8, 0.1)] * 2})
    summary = discrimination(table)
    same = summary[summary["method"] == "same"]["discrimination"].to_numpy()
    np.testing.assert_allclose(same, 0.0, atol=1e-15)
    np.testing.assert_allclose(summary[summary["method"] == "own"]["discrimination"], 0.8)
    intervals = method_intervals(summary, seed=0, n_boot=200)
    assert intervals["method"].tolist() == ["same", "own"] and intervals["n"].tolist() == [2, 2]
    np.testing.assert_allclose(intervals["mean"], [0.0, 0.8], atol=1e-12)


class RegionLogits(nn.Module):
    """Logit c = the sum of the image over the columns of class c's half (0: left, 1: right) x 4."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1] // 2
        return 4 * torch.stack([x[..., :w].sum((1, 2, 3)), x[..., w:].sum((1, 2, 3))], 1)


def test_the_table_reads_each_classs_map_on_its_own_region(scale_set):
    composite = composites_for("triangles_squares")(scale_set, 6, np.random.default_rng(1))
    # the composites with the triangle (class 0) on the left, for a model whose class-0 evidence is the left
    keep = [i for i in range(6) if composite.regions[i, 0, :, :32].any()]
    assert keep, "the draw put no triangle on the left"
    methods = {"ixg": {"method": "input_x_gradient"}}
    table, maps = class_region_table(RegionLogits(), composite, methods, ["triangle", "square"])
    assert maps["ixg"].shape == (6, 2, 64, 64)
    rows = table[table["composite"].isin(keep)]
    # input x gradient of class c is 4 x on c's half: all of it lies on the left half for class 0
    class0 = rows[rows["target_class"] == 0]
    images = composite.images[class0["composite"].to_numpy()]
    total = images[..., :32].sum((1, 2, 3))
    on_triangle = (images[:, 0] * composite.regions[class0["composite"].to_numpy(), 0]).sum((1, 2))
    np.testing.assert_allclose(class0["share_own"], on_triangle / total, rtol=1e-5)
    np.testing.assert_allclose(class0["share_other"], 0.0, atol=1e-7)


def test_class_claims_follow_the_discrimination():
    rng = np.random.default_rng(2)
    n = 12
    good = [(0.8 + e, 0.1, 0.7 + e, 0.2) for e in rng.normal(0, 0.02, n)]
    flat = [(0.5 + e, 0.5, 0.5, 0.5 + e) for e in rng.normal(0, 0.02, n)]
    reverse = [(0.1 + e, 0.8, 0.2, 0.7 + e) for e in rng.normal(0, 0.02, n)]
    table = _table({"gc": good, "ggc": reverse, "gbp": flat})
    methods = {"gc": "gradcam", "ggc": "guided_gradcam", "gbp": "guided_backprop"}
    context = ClaimContext(tables={"class_regions": table}, generators={"ts": "triangles_squares"},
                           methods=methods, n_boot=500)  # fmt: skip
    names = ["s003_gradcam_class_discriminative", "s003_guided_gradcam_class_discriminative",
             "lit_selvaraju_guided_backprop"]  # fmt: skip
    result = evaluate_claims(context, names).set_index("claim")
    assert result.loc[names[0], "verdict"] == SUPPORTED
    assert result.loc[names[1], "verdict"] == NOT_SUPPORTED
    assert result.loc[names[2], "verdict"] == SUPPORTED
    expected = np.mean([own0 - other0 + own1 - other1 for own0, other0, own1, other1 in good]) / 2
    np.testing.assert_allclose(result.loc[names[0], "estimate"], expected)
    # a run without guided backprop cannot test the comparison: it says why
    context = ClaimContext(tables={"class_regions": table[table["method"] != "gbp"]},
                           generators={"ts": "triangles_squares"}, methods=methods, n_boot=100)  # fmt: skip
    result = evaluate_claims(context, [names[2]])
    assert result["verdict"].tolist() == [NOT_TESTED] and "guided_backprop" in result["detail"].iloc[0]
