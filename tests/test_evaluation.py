"""The explain and evaluate stages on files, as the workflow's jobs call them."""

from __future__ import annotations

import numpy as np
import pytest

from xaibench.datasets import make_dataset, save_dataset
from xaibench.evaluation import evaluate_explanations, metric_params
from xaibench.explaining import explain_subset
from xaibench.io import load_npz
from xaibench.models import save_model
from xaibench.training import train

METRICS = {"pointing_game": {"metric": "pointing_game"}, "sparseness": {"metric": "sparseness"}}
IDS = {"dataset": "d", "model": "m", "method": "saliency"}


@pytest.fixture(scope="module")
def stage_files(tmp_path_factory):
    """A tiny dataset without masks, a model trained on it, and saliency maps of 6 test images."""
    root = tmp_path_factory.mktemp("stages")
    dataset = make_dataset("triangles_squares", seed=0, n_train=64, n_val=8, n_test=16)
    dataset.masks = None
    save_dataset(str(root / "data.npz"), dataset)
    result = train(dataset, "small_cnn", {"width": 4}, epochs=1, batch_size=32, lr=0.003, seed=0)
    save_model(str(root / "model.pt"), result.model, result.spec)
    spec = {"method": "saliency", "params": {}}
    summary = explain_subset(
        data_path=str(root / "data.npz"),
        weights_path=str(root / "model.pt"),
        out_path=str(root / "saliency.npz"),
        spec=spec,
        seed=0,
        device="cpu",
        n_samples=6,
        batch_size=4,
        target="label",
    )
    return root, spec, summary


def test_explanation_file_holds_maps_and_provenance(stage_files):
    root, _, summary = stage_files
    expl = load_npz(str(root / "saliency.npz"))
    assert expl["attributions"].shape == (6, 1, 32, 32) and np.isfinite(expl["attributions"]).all()
    assert len(expl["indices"]) == len(expl["targets"]) == len(expl["predictions"]) == 6
    assert float(expl["seconds"]) > 0 and summary["n"] == 6


def test_localisation_is_skipped_visibly_without_masks(stage_files):
    root, spec, _ = stage_files
    scores, curves, timing = evaluate_explanations(
        data_path=str(root / "data.npz"),
        weights_path=str(root / "model.pt"),
        attributions_path=str(root / "saliency.npz"),
        metrics=METRICS,
        method=spec,
        ids=IDS,
        batch_size=4,
        seed=0,
        device="cpu",
    )
    pointing = scores[scores["metric"] == "pointing_game"]
    assert len(pointing) == 6 and pointing["score"].isna().all()
    assert pointing["note"].str.contains("no ground-truth masks").all()
    assert pointing["category"].iloc[0] == "Localisation"
    assert np.isfinite(scores.loc[scores["metric"] == "sparseness", "score"]).all()
    assert set(timing["metric"]) == set(METRICS) and curves == {}


def test_preset_params_are_overridden_by_own_params():
    entry = {"metric": "region_perturbation", "preset": "samek2017", "params": {"regions_evaluation": 10}}
    params = metric_params("x", entry)
    assert params["patch_size"] == 9 and params["regions_evaluation"] == 10
    with pytest.raises(ValueError, match="for metric"):
        metric_params("x", {"metric": "pixel_flipping", "preset": "samek2017"})


def test_method_not_applicable_is_recorded_not_fatal(stage_files, monkeypatch, tmp_path):
    import xaibench.explaining as explaining
    from xaibench.methods import MethodNotApplicable

    def refuse(*args, **kwargs):
        raise MethodNotApplicable("no rule for this layer")

    root, _, _ = stage_files
    monkeypatch.setattr(explaining, "explain", refuse)
    summary = explaining.explain_subset(
        data_path=str(root / "data.npz"),
        weights_path=str(root / "model.pt"),
        out_path=str(tmp_path / "lrp.npz"),
        spec={"method": "lrp", "params": {}},
        seed=0,
        device="cpu",
        n_samples=6,
        batch_size=4,
        target="label",
    )
    assert "no rule for this layer" in summary["note"]
    scores, _, _ = evaluate_explanations(
        data_path=str(root / "data.npz"),
        weights_path=str(root / "model.pt"),
        attributions_path=str(tmp_path / "lrp.npz"),
        metrics=METRICS,
        method={"method": "lrp", "params": {}},
        ids={**IDS, "method": "lrp"},
        batch_size=4,
        seed=0,
        device="cpu",
    )
    assert scores["score"].isna().all() and scores["note"].str.contains("not applicable").all()
