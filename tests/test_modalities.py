"""Series and tables through the same chain (issue 14): the modality contract (which models take which data),
what the generic code does on (N, C, 1, L) and (N, 1, 1, F) inputs, their figures, and a run end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from workflow_cli import snakemake

from xaibench.datasets import DATASETS, ImageDataset, generator_modality, make_dataset, register
from xaibench.methods.params import int_pair
from xaibench.metrics.quantus_fixes import _mean_shift_model
from xaibench.models import MODELS, build_model, model_modalities
from xaibench.pairs import dataset_models

MODELS_CONFIG = {
    "small_cnn": {"architecture": "small_cnn"},
    "cnn1d": {"architecture": "cnn1d"},
    "mlp": {"architecture": "mlp"},
}


def test_every_generator_and_architecture_declares_known_modalities():
    assert {generator_modality(name) for name in DATASETS} == {"image", "series", "table"}
    assert generator_modality("ucr") == "series" and generator_modality("sklearn_table") == "table"
    for name in MODELS:
        assert set(model_modalities(name)) <= {"image", "series", "table"}
    assert model_modalities("cnn1d") == ("series",) and model_modalities("mlp") == ("table",)
    assert "series" not in model_modalities("small_cnn")


def test_datasets_pair_with_the_models_that_take_their_data():
    series = {"generator": "motif_series"}
    assert dataset_models("m", series, MODELS_CONFIG) == ["cnn1d"]
    assert dataset_models("t", {"generator": "sklearn_table"}, MODELS_CONFIG) == ["mlp"]
    assert dataset_models("i", {"generator": "counting"}, MODELS_CONFIG) == ["small_cnn"]
    with pytest.raises(ValueError, match=r"datasets\.m\.models: model 'small_cnn' takes image data.*series"):
        dataset_models("m", {**series, "models": ["small_cnn"]}, MODELS_CONFIG)
    with pytest.raises(ValueError, match=r"datasets\.m: no configured model takes series data"):
        dataset_models("m", series, {"small_cnn": {"architecture": "small_cnn"}})
    with pytest.raises(ValueError, match=r"'resnet' is not a configured model"):
        dataset_models("m", {**series, "models": ["resnet"]}, MODELS_CONFIG)


def test_a_generator_must_make_the_data_it_declares(monkeypatch):
    from xaibench.datasets import core

    # registered for this test only: the registries are restored afterwards (other tests list them)
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))
    monkeypatch.setattr(core, "_MODALITY", dict(core._MODALITY))
    with pytest.raises(ValueError, match="modality must be one of"):
        register("xaibench_test_bad_modality", modality="audio")

    @register("xaibench_test_lying_series", modality="series")
    def lying(seed: int) -> ImageDataset:
        return ImageDataset(
            images=np.zeros((3, 1, 4, 4), np.float32),
            labels=np.zeros(3, np.int64),
            split=np.zeros(3, np.int8),
            class_names=["a"],
        )

    with pytest.raises(ValueError, match="registered for 'series' data but made 'image' data"):
        make_dataset("xaibench_test_lying_series", seed=0)


def test_a_square_window_is_capped_at_a_series_height():
    assert int_pair("occlusion", "window", 4, extent=(1, 64)) == (1, 4)
    assert int_pair("occlusion", "window", 4, extent=(32, 32)) == (4, 4)
    assert int_pair("occlusion", "window", [2, 3], extent=(32, 32)) == (2, 3)


@pytest.mark.parametrize(("name", "shape"), [("cnn1d", (2, 1, 1, 32)), ("mlp", (2, 1, 1, 12))])
def test_input_invariance_shift_model_computes_f_of_the_shifted_input(name, shape):
    """Kindermans et al.'s mean shift absorbed by the first parametrised layer, whose own input is not the
    model's (a squeeze before the Conv1d, a flatten before the Linear): f'(x + shift) = f(x)."""
    torch.manual_seed(0)
    model = build_model(name, in_channels=shape[1], num_classes=3, image_size=shape[-1]).eval()
    x = torch.rand(shape)
    shifted = _mean_shift_model(model, 0.25, shape)
    with torch.no_grad():
        torch.testing.assert_close(shifted(x + 0.25), model(x), rtol=1e-5, atol=1e-5)
        assert not torch.allclose(model(x + 0.25), model(x), atol=1e-3)  # the shift matters to f


def test_series_and_table_figures_fit_a_screen_and_mark_what_does_not_apply(tmp_path):
    from matplotlib.image import imread

    from xaibench.figures.attributions import plot_series_attributions, plot_table_attributions

    rng = np.random.default_rng(0)
    series = rng.random((3, 2, 1, 64)).astype(np.float32)
    masks = np.zeros((3, 1, 1, 64), bool)
    masks[..., 10:20] = True
    maps = {m: rng.normal(size=(3, 1, 1, 64)) for m in ("saliency", "lime", "occlusion", "lrp", "sobel")}
    maps["gradcam"] = np.full((3, 1, 1, 64), np.nan)
    plot_series_attributions(
        series, maps, ["a", "b", "a"], ["a", "a", "a"], "t", tmp_path / "s.png", masks=masks,
        channel_names=["x", "y"],
    )  # fmt: skip
    height, width = imread(tmp_path / "s.png").shape[:2]
    assert height <= 1.5 * width
    table_maps = {m: rng.normal(size=(8, 1, 1, 30)) for m in ("saliency", "lime", "occlusion")}
    table_maps["gradcam"] = np.full((8, 1, 1, 30), np.nan)
    informative = np.zeros(30, bool)
    informative[:5] = True
    names = [f"feature {i}" for i in range(30)]
    plot_table_attributions(table_maps, names, "t", tmp_path / "t.png", informative=informative)
    height, width = imread(tmp_path / "t.png").shape[:2]
    assert height <= 1.5 * width


@pytest.fixture(scope="module")
def modality_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("modalities")
    config = {
        "datasets": {
            "motifs": {
                "generator": "motif_series",
                "params": {"length": 64, "n_train": 400, "n_val": 50, "n_test": 50, "motif_length": 12},
            },
            "table": {
                "generator": "informative_table",
                "params": {"n_train": 400, "n_val": 50, "n_test": 50, "class_sep": 2.0},
            },
        },
        "models": {
            "cnn1d": {
                "architecture": "cnn1d",
                "params": {"width": 8},
                "training": {"epochs": 8, "batch_size": 16, "lr": 0.003},
            },
            "mlp": {"architecture": "mlp", "training": {"epochs": 20, "batch_size": 32, "lr": 0.003}},
        },
        "explain": {
            "n_samples": 8,
            "in_evaluation_job": True,  # as config.yaml (the minimal run keeps explanation jobs)
            "methods": {
                "saliency": {"method": "saliency"},
                "occlusion": {"method": "occlusion", "params": {"window": 4, "stride": 2}},
                "gradcam": {"method": "gradcam"},
                "random": {"method": "random"},
            },
        },
        "evaluate": {
            "metrics": {
                "relevance_mass_accuracy": {"metric": "relevance_mass_accuracy"},
                "pixel_flipping": {"metric": "pixel_flipping"},
                "input_invariance": {"metric": "input_invariance"},
            }
        },
    }
    path = folder / "modalities.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake("--cores", "2", "--directory", str(folder), "--configfile", str(path), timeout=600)
    return folder


@pytest.mark.slow
def test_series_and_tables_run_end_to_end(modality_run):
    """A motif series with a 1-D CNN and a table with an MLP: trained well, every method scored where it
    applies (Grad-CAM on the MLP: not applicable), saliency's relevance on the ground truth far above the
    random map's, and each pair's attribution figure drawn (no image grid: there is no image)."""
    folder = modality_run
    training = pd.read_csv(folder / "results/tables/training.tsv", sep="\t").set_index("dataset")
    assert training.loc["motifs", "test_accuracy"] > 0.9 and training.loc["table", "test_accuracy"] > 0.85
    scores = pd.read_csv(folder / "results/tables/scores.tsv", sep="\t")
    assert set(scores["model"]) == {"cnn1d", "mlp"}
    gradcam_mlp = scores[(scores["model"] == "mlp") & (scores["method"] == "gradcam")]
    assert gradcam_mlp["score"].isna().all() and gradcam_mlp["note"].str.contains("not applicable").all()
    assert scores[scores["model"] == "cnn1d"]["score"].notna().all()
    mass = (
        scores[scores["metric"] == "relevance_mass_accuracy"].groupby(["dataset", "method"])["score"].mean()
    )
    for dataset in ("motifs", "table"):
        assert mass[dataset, "saliency"] > mass[dataset, "random"] + 0.1, mass
    figures = {p.relative_to(folder / "results/figures").as_posix() for p in folder.rglob("*.png")}
    assert {"attributions/motifs/cnn1d.png", "attributions/table/mlp.png"} <= figures
    assert not any(f.startswith("explanation_grid") for f in figures)
    assert {"metric_heatmap/motifs/cnn1d.png", "metric_heatmap/table/mlp.png"} <= figures
