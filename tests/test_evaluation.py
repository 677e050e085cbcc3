"""The explain and evaluate stages on files, as the workflow's jobs call them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xaibench.datasets import make_dataset, save_dataset
from xaibench.evaluation import evaluate_explanations, evaluate_methods, metric_params
from xaibench.explaining import explain_group, explain_subset
from xaibench.explanations import explained_methods, load_explanation
from xaibench.models import save_model
from xaibench.training import train

METRICS = {"pointing_game": {"metric": "pointing_game"}, "sparseness": {"metric": "sparseness"}}
IDS = {"dataset": "d", "model": "m", "replicate": 0, "method": "saliency"}


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
    summary = _explain_stage(root, root / "saliency.npz", spec)
    return root, spec, summary


def _explain_stage(root, out_path, spec, **overrides):
    """The explain stage (6 test images, seed 0, cpu, target label) on the files of ``stage_files``."""
    kwargs = {"data_path": str(root / "data.npz"), "weights_path": str(root / "model.pt"), "seed": 0}
    kwargs |= {"device": "cpu", "n_samples": 6, "batch_size": 4, "target": "label"}
    return explain_subset(out_path=str(out_path), spec=spec, **(kwargs | overrides))


def _evaluate_saliency(root, spec, metrics, seed):
    """The evaluate stage on the stored saliency maps of ``stage_files``."""
    return evaluate_explanations(
        data_path=str(root / "data.npz"),
        weights_path=str(root / "model.pt"),
        attributions_path=str(root / "saliency.npz"),
        metrics=metrics,
        method=spec,
        ids=IDS,
        batch_size=4,
        seed=seed,
        device="cpu",
    )


def test_explanation_file_holds_maps_and_provenance(stage_files):
    root, _, summary = stage_files
    expl = load_explanation(str(root / "saliency.npz"))
    assert expl["attributions"].shape == (6, 1, 32, 32) and np.isfinite(expl["attributions"]).all()
    assert len(expl["indices"]) == len(expl["targets"]) == len(expl["predictions"]) == 6
    assert float(expl["seconds"]) > 0 and summary["n"] == 6


def test_localisation_is_skipped_visibly_without_masks(stage_files):
    root, spec, _ = stage_files
    scores, curves, timing = _evaluate_saliency(root, spec, METRICS, seed=0)
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
    summary = _explain_stage(root, tmp_path / "lrp.npz", {"method": "lrp", "params": {}})
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


def test_grouped_evaluation_equals_one_job_per_method(stage_files):
    """evaluate_methods (one job scoring several methods) gives each method exactly the rows and curves it
    gets alone; curves are keyed '<method>.<metric>'."""
    root, spec, _ = stage_files
    _explain_stage(root, root / "random.npz", {"method": "random", "params": {}})
    metrics = {**METRICS, "pf": {"metric": "pixel_flipping", "params": {"features_in_step": 128}}}
    methods = {"saliency": spec, "random": {"method": "random", "params": {}}}
    common = {"data_path": str(root / "data.npz"), "weights_path": str(root / "model.pt"), "metrics": metrics}
    common |= {"batch_size": 4, "seed": 0, "device": "cpu"}
    scores, curves, timing = evaluate_methods(
        attributions={name: str(root / f"{name}.npz") for name in methods},
        methods=methods,
        ids={"dataset": "d", "model": "m", "replicate": 0},
        **common,
    )
    assert set(curves) == {"saliency.pf", "random.pf"}
    assert list(timing["method"].unique()) == ["saliency", "random"]
    for name, method in methods.items():
        alone, alone_curves, _ = evaluate_explanations(
            attributions_path=str(root / f"{name}.npz"), method=method, ids={**IDS, "method": name}, **common
        )
        mine = scores[scores["method"] == name].reset_index(drop=True)
        assert len(mine) == len(alone) == 6 * len(metrics)
        np.testing.assert_array_equal(mine["score"].to_numpy(), alone["score"].to_numpy())
        np.testing.assert_array_equal(curves[f"{name}.pf"], alone_curves["pf"])
    with pytest.raises(ValueError, match="attributions for"):
        evaluate_methods(attributions={}, methods=methods, ids={}, **common)


def test_grouped_explanation_equals_one_job_per_method(stage_files, tmp_path):
    """explain_group (one job explaining several methods, stochastic ones between deterministic ones) stores
    for each method exactly the maps, subset and metadata that a job of its own stores."""
    root, _, _ = stage_files
    specs = {
        "lime_small": {"method": "lime", "params": {"n_samples": 20, "perturbations_per_eval": 10}},
        "saliency": {"method": "saliency", "params": {}},
        "smoothgrad": {"method": "smoothgrad", "params": {"n_samples": 3}},
        "random": {"method": "random", "params": {}},
    }
    kwargs = {"data_path": str(root / "data.npz"), "weights_path": str(root / "model.pt"), "seed": 0}
    kwargs |= {"device": "cpu", "n_samples": 6, "batch_size": 4, "target": "label"}
    group = str(tmp_path / "group.npz")
    summaries = explain_group(out_path=group, specs=specs, **kwargs)
    assert [s["name"] for s in summaries] == explained_methods(group) == list(specs)
    for name, spec in specs.items():
        alone = str(tmp_path / f"{name}.npz")
        explain_subset(out_path=alone, spec=spec, name=name, **kwargs)
        mine, theirs = load_explanation(group, name), load_explanation(alone)
        assert set(mine) == set(theirs)
        for key in set(mine) - {"seconds"}:
            np.testing.assert_array_equal(mine[key], theirs[key], err_msg=f"{name}: {key}")
    assert not np.array_equal(load_explanation(group, "lime_small")["attributions"], mine["attributions"])
    with pytest.raises(ValueError, match="holds 4 methods"):
        load_explanation(group)
    with pytest.raises(ValueError, match="no explanations of method 'gradcam'"):
        load_explanation(group, "gradcam")
    with pytest.raises(ValueError, match="cannot contain"):
        explain_group(out_path=group, specs={"a.b": specs["saliency"]}, **kwargs)


# ---- stages equal their functions ------------------------------------------------------------------------


def _stage_inputs(root):

    from xaibench.pairs import load_pair

    pair = load_pair(str(root / "data.npz"), str(root / "model.pt"), "cpu")
    return pair.dataset, pair.model


@pytest.mark.usefixtures("one_torch_thread")  # the rules run with threads: 1 (same kernels, same bits)
def test_stored_explanation_equals_explain(stage_files):
    """The explain stage's file holds exactly explain(...) of the model on the images it names."""
    import torch

    from xaibench.methods import explain

    root, _, _ = stage_files
    dataset, model = _stage_inputs(root)
    stored = load_explanation(str(root / "saliency.npz"))
    idx = stored["indices"]
    np.testing.assert_array_equal(stored["labels"], dataset.labels[idx])
    np.testing.assert_array_equal(stored["targets"], dataset.labels[idx])  # target: label
    with torch.no_grad():
        predictions = model(torch.from_numpy(dataset.images[idx])).argmax(1).numpy()
    np.testing.assert_array_equal(stored["predictions"], predictions)
    expected = explain(
        "saliency", model, torch.from_numpy(dataset.images[idx]), torch.from_numpy(dataset.labels[idx])
    )
    np.testing.assert_array_equal(stored["attributions"], expected)


@pytest.mark.usefixtures("one_torch_thread")  # the rules run with threads: 1 (same kernels, same bits)
def test_target_prediction_explains_the_predicted_class(stage_files, tmp_path):
    """explain.target: prediction explains the model's predicted class (not the label) of each image."""
    import torch

    from xaibench.methods import explain

    root, _, _ = stage_files
    dataset, model = _stage_inputs(root)
    spec = {"method": "input_x_gradient", "params": {}}
    _explain_stage(root, tmp_path / "pred.npz", spec, target="prediction")
    _explain_stage(root, tmp_path / "label.npz", spec)
    pred, label = load_explanation(str(tmp_path / "pred.npz")), load_explanation(str(tmp_path / "label.npz"))
    np.testing.assert_array_equal(pred["targets"], pred["predictions"])
    differs = pred["predictions"] != pred["labels"]
    assert differs.any() and not differs.all()  # the one-epoch model gets some images wrong
    images = torch.from_numpy(dataset.images[pred["indices"]])
    expected = explain("input_x_gradient", model, images, torch.from_numpy(pred["predictions"]))
    np.testing.assert_array_equal(pred["attributions"], expected)
    np.testing.assert_array_equal(pred["attributions"][~differs], label["attributions"][~differs])
    assert not np.allclose(pred["attributions"][differs], label["attributions"][differs])


def test_explained_targets_of_every_kind():
    from xaibench.explaining import explained_targets

    labels = np.array([0, 1, 2, 1])
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0], [1.0, 2.0, 0.5], [2.0, 2.0, 1.0]])
    names = ["cat", "dog", "fox"]
    np.testing.assert_array_equal(explained_targets("label", labels, logits, names), labels)
    np.testing.assert_array_equal(explained_targets("prediction", labels, logits, names), logits.argmax(1))
    # the runner-up: the second-highest logit (ties: the lower index first, as argmax)
    np.testing.assert_array_equal(explained_targets("second", labels, logits, names), [2, 2, 0, 1])
    np.testing.assert_array_equal(explained_targets("fox", labels, logits, names), [2, 2, 2, 2])
    np.testing.assert_array_equal(explained_targets(1, labels, logits, names), [1, 1, 1, 1])
    for bad in ("wolf", 3, -1, True):
        with pytest.raises(ValueError, match=r"explain.target: .*cat"):
            explained_targets(bad, labels, logits, names)


@pytest.mark.usefixtures("one_torch_thread")
def test_target_second_explains_a_class_the_model_did_not_choose(stage_files, tmp_path):
    """explain.target: second explains each image's runner-up class: never the prediction, and the maps are
    the method's for that class."""
    import torch

    from xaibench.methods import explain

    root, _, _ = stage_files
    dataset, model = _stage_inputs(root)
    spec = {"method": "input_x_gradient", "params": {}}
    _explain_stage(root, tmp_path / "second.npz", spec, target="second")
    stored = load_explanation(str(tmp_path / "second.npz"))
    assert (stored["targets"] != stored["predictions"]).all()
    images = torch.from_numpy(dataset.images[stored["indices"]])
    with torch.no_grad():
        expected_targets = torch.argsort(model(images), dim=1, descending=True, stable=True)[:, 1].numpy()
    np.testing.assert_array_equal(stored["targets"], expected_targets)
    np.testing.assert_array_equal(
        stored["attributions"], explain("input_x_gradient", model, images, torch.from_numpy(expected_targets))
    )


@pytest.mark.usefixtures("one_torch_thread")  # the rules run with threads: 1 (same kernels, same bits)
def test_stored_score_equals_the_metric(stage_files):
    """A score row of the evaluate stage is evaluate_metric(...) on the same model, images, targets, maps."""
    from xaibench.methods import quantus_explain_func
    from xaibench.metrics import evaluate_metric

    root, spec, _ = stage_files
    dataset, model = _stage_inputs(root)
    metrics = {
        "sparseness": {"metric": "sparseness"},
        "pf": {"metric": "pixel_flipping", "params": {"features_in_step": 128}},
        "sens": {"metric": "max_sensitivity", "params": {"nr_samples": 2}},
    }
    scores, curves, _ = _evaluate_saliency(root, spec, metrics, seed=3)
    stored = load_explanation(str(root / "saliency.npz"))
    x = dataset.images[stored["indices"]]
    for name, entry in metrics.items():
        direct = evaluate_metric(
            entry["metric"],
            model,
            x,
            stored["targets"],
            stored["attributions"],
            None,
            explain_func=quantus_explain_func,
            explain_func_kwargs={"method": "saliency"},
            params=entry.get("params"),
            batch_size=4,
            seed=3,
        )
        rows = scores[scores["metric"] == name]
        np.testing.assert_array_equal(rows["sample"].to_numpy(), stored["indices"])
        np.testing.assert_array_equal(rows["score"].to_numpy(), direct.scores)
        assert np.ptp(direct.scores) > 0, name  # distinct per-image scores: a misaligned row would show
        if direct.curves is not None:
            np.testing.assert_array_equal(curves[name], direct.curves)
    assert set(curves) == {"pf"}


def test_max_images_scores_the_first_images_only(stage_files):
    """A metric entry with max_images k has rows for the cell's first k images only, scored as the metric
    scores those k images (max_sensitivity: evaluate_metric on the first k, same seed); the other metrics keep
    all 6 rows; a bad value is refused naming the key."""
    from xaibench.methods import quantus_explain_func
    from xaibench.metrics import evaluate_metric

    root, spec, _ = stage_files
    dataset, model = _stage_inputs(root)
    metrics = {
        "sparseness": {"metric": "sparseness"},
        "sens": {"metric": "max_sensitivity", "params": {"nr_samples": 2}, "max_images": 4},
        "pf": {"metric": "pixel_flipping", "params": {"features_in_step": 128}, "max_images": 2},
    }
    scores, curves, timing = _evaluate_saliency(root, spec, metrics, seed=3)
    stored = load_explanation(str(root / "saliency.npz"))
    x = dataset.images[stored["indices"]]
    assert scores.groupby("metric", sort=False).size().to_dict() == {"sparseness": 6, "sens": 4, "pf": 2}
    assert timing.set_index("metric")["n"].to_dict() == {"sparseness": 6, "sens": 4, "pf": 2}
    assert curves["pf"].shape[0] == 2
    for name, k in (("sens", 4), ("pf", 2)):
        entry = metrics[name]
        direct = evaluate_metric(
            entry["metric"],
            model,
            x[:k],
            stored["targets"][:k],
            stored["attributions"][:k],
            None,
            explain_func=quantus_explain_func,
            explain_func_kwargs={"method": "saliency"},
            params=entry["params"],
            batch_size=4,
            seed=3,
        )
        rows = scores[scores["metric"] == name]
        np.testing.assert_array_equal(rows["sample"].to_numpy(), stored["indices"][:k])
        np.testing.assert_array_equal(rows["score"].to_numpy(), direct.scores)
        assert np.ptp(direct.scores) > 0, name
        assert (rows["note"] == f"scored on the first {k} of 6 images (max_images)").all()
        assert json.loads(rows["params"].iloc[0])["max_images"] == k
    with pytest.raises(ValueError, match=r"evaluate\.metrics\.sens.*max_images must be a positive int"):
        _evaluate_saliency(root, spec, {"sens": {"metric": "sparseness", "max_images": 0}}, seed=3)
