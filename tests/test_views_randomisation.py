"""The cascading randomisation view (Adebayo et al. 2018): layers re-initialised from the logits down, the
same images re-explained, each map compared with the original one.

On the small_cnn of conftest (trained to ~90 % on Triangles & Squares) saliency's Spearman ρ of |a| with the
original falls to ~0.13 (mean over 4 images) once every layer is re-initialised; sobel, which does not read
the model, stays exactly 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from xaibench.views import VIEWS
from xaibench.views import randomisation as rnd

pytestmark = pytest.mark.usefixtures("one_torch_thread")

METHODS = {name: {"method": name, "params": {}} for name in ("saliency", "guided_backprop", "sobel")}
SETTINGS = {"methods": METHODS, "n_samples": 4, "include_original": True, "n_show": 2, "batch_size": 64}


@pytest.fixture(scope="module")
def pair(trained_tiny_model):
    """The trained small_cnn of conftest with the dataset it was trained on."""
    from xaibench.datasets import make_dataset
    from xaibench.pairs import Pair

    data = make_dataset("triangles_squares", seed=0, image_size=32, n_train=1024, n_val=32, n_test=64)
    return Pair(data, trained_tiny_model, torch.device("cpu"))


@pytest.fixture(scope="module")
def state(pair):
    return {k: v.clone() for k, v in pair.model.state_dict().items()}


@pytest.fixture(scope="module")
def result(pair, state):
    """The view on the pair (through its registered compute function), after ``state`` was taken."""
    return VIEWS.get("cascading_randomisation").compute(pair, SETTINGS, 0)


def _layer_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]


def test_step_0_is_exactly_1_for_every_method(result):
    table = result.tables["similarity"]
    original = table[table["step"] == 0]
    assert len(original) == 4 * len(METHODS) and (original["layer"] == "original").all()
    assert (original[["spearman_abs", "spearman_signed", "ssim"]] == 1.0).all().all()


def test_the_pairs_model_is_unchanged(result, pair, state):
    after = pair.model.state_dict()
    assert set(after) == set(state)
    assert all(torch.equal(after[k], state[k]) for k in state)


def test_a_model_free_control_stays_1_while_saliency_falls(result):
    table = result.tables["similarity"]
    sobel = table[table["method"] == "sobel"]
    assert (sobel[["spearman_abs", "spearman_signed", "ssim"]] == 1.0).all().all()
    last = table[table["step"] == table["step"].max()].groupby("method")["spearman_abs"].mean()
    assert last["saliency"] < 0.5, last  # measured 0.13
    assert last["guided_backprop"] < 0.5, last  # measured 0.10: nothing trained is left
    first = table[table["step"] == 1].groupby("method")["spearman_abs"].mean()
    assert first["saliency"] > 0.5, first  # only the logits re-initialised: the gradients keep their shape


def test_layers_are_randomised_from_the_top_down(result, pair):
    names = _layer_names(pair.model)
    assert names == [n for n, _ in rnd.parameterised_layers(pair.model)]
    linear = [n for n, m in pair.model.named_modules() if isinstance(m, nn.Linear)]
    table = result.tables["similarity"]
    steps = table.drop_duplicates("step").sort_values("step")
    assert steps["layer"].tolist() == ["original", *reversed(names)]
    assert steps["layer"].iloc[1] == linear[-1] == "head.3"
    assert steps["layer_type"].iloc[1] == "Linear"
    np.testing.assert_array_equal(result.arrays["layers"], ["original", *reversed(names)])
    assert result.arrays["maps"].shape == (3, len(names) + 1, 2, 32, 32)


def test_each_step_reinitialises_exactly_the_top_layers(pair):
    names = _layer_names(pair.model)
    original = dict(pair.model.named_parameters())
    for step, layer, _, model in rnd.cascade(pair.model, seed=0):
        randomised = set(names[len(names) - step :]) if step else set()
        assert layer == (names[-step] if step else "original")
        for name, module in model.named_modules():
            if name in names:
                same = torch.equal(module.weight, original[f"{name}.weight"])
                assert same == (name not in randomised), (step, name)
        if step == 3:
            break


def _last_model(model: nn.Module, seed: int) -> nn.Module:
    *_, (*_, randomised) = rnd.cascade(model, seed)
    return randomised


def test_the_randomisation_is_seeded(pair, result):
    again = VIEWS.get("cascading_randomisation").compute(pair, SETTINGS, 0)
    pd.testing.assert_frame_equal(again.tables["similarity"], result.tables["similarity"])
    np.testing.assert_array_equal(again.arrays["maps"], result.arrays["maps"])
    a, b, c = (_last_model(pair.model, seed).state_dict() for seed in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    for name in ("features.0.weight", "features.3.weight", "head.3.weight", "head.3.bias"):
        assert not torch.equal(a[name], c[name]), name
        assert not torch.equal(a[name], pair.model.state_dict()[name]), name
    bn = pair.model.features[1]
    assert torch.equal(a["features.1.weight"], torch.ones_like(bn.weight))  # reset_parameters(): γ = 1
    assert torch.equal(a["features.1.running_var"], torch.ones_like(bn.running_var))


def test_randomising_does_not_touch_the_global_generator():
    layer = nn.Linear(4, 2)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    rnd.randomise_layer(layer, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_a_constant_re_explanation_is_nan_with_a_note(pair, monkeypatch):
    """A method whose map becomes flat once the logits are re-initialised, and one the model refuses."""
    from xaibench import methods

    head = pair.model.head[3].weight.detach().clone()

    def flat_once_random(model, inputs, targets):
        trained = torch.equal(model.head[3].weight, head)
        return inputs.clone() if trained else torch.zeros_like(inputs)

    def refuses(model, inputs, targets):
        raise methods.MethodNotApplicable("no rule for this model")

    for name, fn in (("flat", flat_once_random), ("refuses", refuses)):
        spec = methods.MethodSpec(fn=fn, library="control", description=name)
        monkeypatch.setitem(methods.METHODS._entries, name, spec)
    settings = {**SETTINGS, "n_samples": 2, "methods": {m: {"method": m} for m in ("flat", "refuses")}}
    table = rnd.randomisation_job(pair, settings, seed=0)["table"]
    flat = table[table["method"] == "flat"]
    assert (flat.loc[flat["step"] == 0, "spearman_abs"] == 1.0).all()
    later = flat[flat["step"] > 0]
    assert later[["spearman_abs", "spearman_signed", "ssim"]].isna().all().all()
    assert later["note"].str.contains("constant re-explanation").all()
    refused = table[table["method"] == "refuses"]
    assert refused["spearman_abs"].isna().all() and refused["note"].str.contains("not applicable").all()


def test_map_similarity():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 16))
    scores, note = rnd.map_similarity(a, a)
    assert scores == dict.fromkeys(rnd.SCORES, 1.0) and note == ""
    scores, _ = rnd.map_similarity(a, -a)
    assert scores["spearman_abs"] == pytest.approx(1.0) and scores["ssim"] == pytest.approx(1.0)
    assert scores["spearman_signed"] == pytest.approx(-1.0)
    scores, _ = rnd.map_similarity(a, rng.normal(size=(16, 16)))
    assert abs(scores["spearman_abs"]) < 0.3 and abs(scores["spearman_signed"]) < 0.3
    for other, why in (
        (np.zeros((16, 16)), "constant re-explanation"),
        (np.full((16, 16), np.nan), "non-finite"),
    ):
        scores, note = rnd.map_similarity(a, other)
        assert all(np.isnan(v) for v in scores.values()) and why in note
    assert "constant original" in rnd.map_similarity(np.ones((16, 16)), a)[1]


def test_include_original_false_drops_step_0(pair):
    settings = {**SETTINGS, "n_samples": 1, "include_original": False, "methods": {"sobel": METHODS["sobel"]}}
    table = rnd.randomisation_job(pair, settings, seed=0)["table"]
    assert table["step"].min() == 1 and len(table) == len(_layer_names(pair.model))


def test_summary_means_and_t_intervals():
    table = pd.DataFrame(
        {
            "method": "m",
            "step": 1,
            "layer": "x",
            "spearman_abs": [0.6, 0.8, 1.0],
            "spearman_signed": [1.0, 1.0, np.nan],
            "ssim": [np.nan, 0.5, np.nan],
            "note": ["", "", "constant"],
        }
    )
    row = rnd.summarise_randomisation(table).iloc[0]
    half = 4.302652729911275 * 0.2 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert row["spearman_abs_mean"] == pytest.approx(0.8)
    assert row["spearman_abs_ci_low"] == pytest.approx(0.8 - half)
    assert row["spearman_abs_ci_high"] == 1.0  # 0.8 + 0.497, clipped
    assert row["spearman_signed_n"] == 2 and row["spearman_signed_ci_low"] == 1.0
    assert row["ssim_n"] == 1 and np.isnan(row["ssim_ci_low"]) and row["note"] == "constant"


def test_run_view_writes_readable_figures(pair, tmp_path):
    from matplotlib.image import imread

    from xaibench.figures import plot_randomisation_maps
    from xaibench.io import load_npz
    from xaibench.views.jobs import run_view

    spec = VIEWS.get("cascading_randomisation")
    outputs = {"arrays": str(tmp_path / spec.arrays), "similarity": str(tmp_path / "similarity.tsv")}
    outputs |= {f"{f}_{ext}": str(tmp_path / f"{f}.{ext}") for f in spec.figures for ext in ("png", "pdf")}
    settings = {**SETTINGS, "n_samples": 2}
    run_view("cascading_randomisation", pair, settings, 0, {"dataset": "ds", "model": "net"}, outputs)
    table = pd.read_csv(outputs["similarity"], sep="\t")
    assert list(table.columns[:4]) == ["dataset", "model", "method", "step"]
    arrays = load_npz(outputs["arrays"])
    assert arrays["layers"][0] == "original" and list(arrays["methods"]) == list(METHODS)
    for name in spec.figures:
        height, width = imread(tmp_path / f"{name}.png").shape[:2]
        assert (tmp_path / f"{name}.pdf").stat().st_size > 10_000 and height <= 1.5 * width, name
    # 8 methods on a model of 2 layers: still not taller than 1.5 x its width
    maps = np.random.default_rng(0).random((8, 3, 8, 8))
    methods = [
        "saliency",
        "gradcam",
        "guided_backprop",
        "guided_gradcam",
        "lrp",
        "sobel",
        "random",
        "occlusion",
    ]
    png = tmp_path / "tall.png"
    plot_randomisation_maps(
        np.zeros((1, 8, 8)), maps, methods, ["original", "b", "a"], "input", (0, 1), "t", png
    )
    height, width = imread(png).shape[:2]
    assert height <= 1.5 * width
