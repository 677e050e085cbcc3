"""Transfer of adversarially maximised images to an independent replicate (claims/transfer.py) and its
claims, on hand-built models and tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.claims import ClaimContext, evaluate_claims
from xaibench.claims.core import NOT_SUPPORTED, NOT_TESTED, SUPPORTED
from xaibench.claims.transfer import class_means, shuffled_perturbations, transfer_table


class HalfMeans(nn.Module):
    """Logit k = mean of the image's k-th vertical half (class 0: left, class 1: right) x 10."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[-1] // 2
        return 10 * torch.stack([x[..., :w].mean((1, 2, 3)), x[..., w:].mean((1, 2, 3))], 1)


def test_class_means_are_the_per_class_means():
    images = np.arange(6 * 2, dtype=np.float32).reshape(6, 1, 1, 2)
    labels = np.array([0, 1, 0, 1, 0, 2])
    means = class_means(images, labels, 4)
    np.testing.assert_array_equal(means[0, 0, 0], images[[0, 2, 4], 0, 0].mean(0))
    np.testing.assert_array_equal(means[2, 0, 0], images[5, 0, 0])
    assert np.isnan(means[3]).all()


def test_shuffling_keeps_each_rows_values_and_moves_channels_together():
    rng = np.random.default_rng(0)
    delta = rng.normal(size=(3, 2, 4, 4)).astype(np.float32)
    delta[:, 1] = 2 * delta[:, 0]  # channel 1 is a multiple of channel 0: a shared permutation keeps that
    shuffled = shuffled_perturbations(delta, [(0, 1), (1, 1), (0, 1)], seed=5)
    for i in range(3):
        np.testing.assert_array_equal(np.sort(shuffled[i].ravel()), np.sort(delta[i].ravel()))
        np.testing.assert_array_equal(shuffled[i, 1], 2 * shuffled[i, 0])
        assert not np.array_equal(shuffled[i], delta[i])
    again = shuffled_perturbations(delta, [(0, 1), (1, 1), (0, 1)], seed=5)
    np.testing.assert_array_equal(again, shuffled)
    # the same key gives the same permutation: rows 0 and 2 were permuted alike
    flat = delta[0, 0].ravel()
    order = np.array([np.flatnonzero(flat == value)[0] for value in shuffled[0, 0].ravel()])
    np.testing.assert_array_equal(shuffled[2, 0].ravel(), delta[2, 0].ravel()[order])


def _maximisation(m: int, k: int, pred_before: list[int], pred_after: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample": np.repeat(np.arange(m) + 100, k),
            "target_class": np.tile(np.arange(k), m),
            "pred_before": np.repeat(pred_before, k),
            "attacked": np.repeat(pred_before, k) != np.tile(np.arange(k), m),
            "pred_after": pred_after,
        }
    )


def test_a_perturbation_on_the_target_region_transfers_and_aligns_with_the_class_means():
    m, k, side = 4, 2, 8
    clean = np.full((m, 1, side, side), 0.2, dtype=np.float32)
    clean[:, :, :, : side // 2] += 0.1  # every clean image is class 0 (left half brighter)
    maximised = np.repeat(clean[:, None], k, axis=1).copy()
    maximised[:, 1, :, :, side // 2 :] += 0.5  # pushed toward class 1: the right half brightened
    table = _maximisation(m, k, [0] * m, np.tile([0, 1], m))
    # class means: class 0 bright on the left, class 1 bright on the right
    means = np.zeros((k, 1, side, side))
    means[0, :, :, : side // 2] = 1.0
    means[1, :, :, side // 2 :] = 1.0
    out = transfer_table(clean, maximised, table, HalfMeans(), means, (0.0, 1.0), seed=0)
    assert len(out) == m  # only the attacked (image, class) pairs: target 1 of each image
    assert out["target_class"].tolist() == [1] * m and out["source_class"].tolist() == [0] * m
    assert out["source_reached"].all() and out["transferred"].all()
    assert (out["clean_pred"] == 0).all()
    np.testing.assert_allclose(out["linf"], 0.5, rtol=1e-6)
    # delta is 0.5 on the right half; mu_1 - mu_0 is +1 right, -1 left: cosine = 32*0.5 / (sqrt(32)*0.5*8)
    np.testing.assert_allclose(out["alignment"], 1 / np.sqrt(2), rtol=1e-6)
    # the shuffled control spreads the same values over both halves: its alignment is smaller
    assert (out["control_alignment"] < out["alignment"]).all()
    # logits 10 * (0.3, 0.7): p(class 1) = sigmoid(4)
    np.testing.assert_allclose(out["replicate_prob"], torch.tensor(4.0).sigmoid().item(), rtol=1e-5)


def test_a_rejected_table_names_the_mismatch():
    clean = np.zeros((2, 1, 4, 4), np.float32)
    maximised = np.zeros((2, 2, 1, 4, 4), np.float32)
    table = _maximisation(1, 2, [0], np.array([0, 1]))
    try:
        transfer_table(clean, maximised, table, HalfMeans(), np.zeros((2, 1, 4, 4)), (0.0, 1.0), seed=0)
    except ValueError as exc:
        assert "2 rows for 2 images x 2 classes" in str(exc)
    else:
        raise AssertionError("a table of the wrong length must be refused")


def _transfer_rows(transferred, control, alignment, control_alignment):
    n = len(transferred)
    return pd.DataFrame(
        {
            "dataset": "digits",
            "model": "net",
            "replicate": 1,
            "sample": np.arange(n) // 2,
            "source_reached": True,
            "transferred": transferred,
            "control_transferred": control,
            "alignment": alignment,
            "control_alignment": control_alignment,
        }
    )


def test_transfer_claims_follow_the_paired_differences():
    n = 16
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, n)
    good = _transfer_rows([True] * 12 + [False] * 4, [False] * n, 0.3 + noise, noise)
    context = ClaimContext(tables={"transfer": good}, generators={"digits": "sklearn_digits"}, n_boot=500)
    table = evaluate_claims(context, ["s004_maximisation_transfers", "s004_maximisation_class_means"])
    assert table["verdict"].tolist() == [SUPPORTED, SUPPORTED]
    assert table["estimate"].iloc[0] == 0.75
    np.testing.assert_allclose(table["estimate"].iloc[1], 0.3, atol=1e-12)
    bad = _transfer_rows([False] * n, [True] * 12 + [False] * 4, noise, 0.3 + noise)
    context = ClaimContext(tables={"transfer": bad}, generators={"digits": "sklearn_digits"}, n_boot=500)
    table = evaluate_claims(context, ["s004_maximisation_transfers", "s004_maximisation_class_means"])
    assert table["verdict"].tolist() == [NOT_SUPPORTED, NOT_SUPPORTED]
    missing = evaluate_claims(ClaimContext(tables={}, generators={}), ["s004_maximisation_transfers"])
    assert missing["verdict"].tolist() == [NOT_TESTED]
