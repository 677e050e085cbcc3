"""The targeted FGSM growth view (seed 004, Fig. 3): the trajectories' values, the stop rule, the sign-step
arithmetic, determinism, and a model left as it was. On the tiny trained small_cnn (Triangles & Squares, ~90 %
test accuracy) every image measured reaches p(target) >= 0.5 within 1-7 steps of 1/255 (32 of 32 images,
median 2 steps)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from xaibench.pairs import Pair
from xaibench.views import fgsm_growth as view

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEP = 1 / 255
SETTINGS = {"n_samples": 16, "max_steps": 30, "n_show": 2}


@pytest.fixture(scope="module")
def pair(trained_tiny_model):
    from xaibench.datasets import make_dataset

    data = make_dataset("triangles_squares", seed=0, image_size=32, n_train=1024, n_val=32, n_test=64)
    return Pair(data, trained_tiny_model, torch.device("cpu"))


@pytest.fixture(scope="module")
def out(pair):
    return view.fgsm_growth_job(pair, SETTINGS, 0)


def _clean(pair, out) -> tuple[torch.Tensor, torch.Tensor]:
    x0 = torch.from_numpy(pair.dataset.images[out["arrays"]["indices"]])
    with torch.no_grad():
        return x0, pair.model(x0).softmax(1)


def test_every_trajectory_starts_clean(pair, out):
    trajectory, stops = out["trajectory"], out["stops"]
    first = trajectory.groupby("sample", sort=False).head(1).set_index("sample").loc[stops["sample"]]
    assert (first["step"] == 0).all() and (first["linf_rel"] == 0).all() and (first["l2_rel"] == 0).all()
    probs = _clean(pair, out)[1].numpy()
    rows = np.arange(len(stops))
    np.testing.assert_allclose(first["p_target"], probs[rows, stops["target_class"].to_numpy()], atol=1e-6)
    np.testing.assert_allclose(
        first["p_original"], probs[rows, stops["original_class"].to_numpy()], atol=1e-6
    )
    assert (stops["original_class"] == probs.argmax(1)).all()
    assert (stops["target_class"] == (stops["original_class"] + 1) % 2).all()  # target: next


def test_norms_grow_at_most_one_step_per_step(out):
    trajectory = out["trajectory"]
    assert (trajectory["linf_rel"] <= trajectory["step"] * STEP + 1e-6).all()
    assert (trajectory["l2_rel"] >= trajectory["linf_rel"] - 1e-9).all()


def test_one_step_is_a_clipped_sign_step(pair, out):
    x0, probs = _clean(pair, out)
    original = probs.argmax(1)
    target = 1 - original
    lo, hi = out["arrays"]["value_range"]
    growth = view.grow_fgsm(pair.model, x0, original, target, STEP, (lo, hi), max_steps=1, threshold=0.999)
    x = x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(pair.model(x), target, reduction="sum"), x)
    torch.testing.assert_close(growth.final, torch.clamp(x0 - STEP * grad.sign(), lo, hi), rtol=0, atol=0)
    moved = (growth.final - x0).abs()
    unclipped = (growth.final > lo) & (growth.final < hi)
    assert unclipped.float().mean() > 0.5
    inside = moved[unclipped & (grad != 0)]
    torch.testing.assert_close(inside, torch.full_like(inside, STEP), rtol=0, atol=1e-6)  # exactly ±step
    assert (grad == 0).float().mean() < 0.05  # nearly every pixel moves


def test_stops_at_the_first_step_past_the_threshold(out):
    trajectory, stops = out["trajectory"], out["stops"]
    for _, rec in stops.iterrows():
        rows = trajectory[trajectory["sample"] == rec["sample"]].sort_values("step")
        assert rows["step"].tolist() == list(range(int(rec["steps_run"]) + 1))
        before = rows["p_target"].iloc[:-1]
        assert (before < 0.5).all() and not rows["reached"].iloc[:-1].any()
        if rec["reached"]:
            assert rec["stop_step"] == rec["steps_run"] and rows["p_target"].iloc[-1] >= 0.5
            assert rows["reached"].iloc[-1] and rec["p_target_stop"] == rows["p_target"].iloc[-1]
        else:
            assert np.isnan(rec["stop_step"]) and rec["steps_run"] == SETTINGS["max_steps"]


def test_most_images_reach_the_threshold_in_few_steps(out):
    stops = out["stops"]
    assert stops["reached"].mean() >= 0.75, stops  # measured: 16/16, at most 7 steps, median 2
    assert stops.loc[stops["reached"], "stop_step"].median() <= 10
    assert (
        stops.loc[stops["reached"], "predicted_stop"] == stops.loc[stops["reached"], "target_class"]
    ).all()


def test_an_image_that_cannot_reach_it_in_one_step_has_no_stop(pair):
    res = view.fgsm_growth_job(pair, {**SETTINGS, "max_steps": 1}, 0)
    stops, trajectory = res["stops"], res["trajectory"]
    never = stops[stops["p_target_stop"] < 0.5]
    assert len(never) >= 4  # measured: most images need 2 steps or more
    assert never["stop_step"].isna().all() and not never["reached"].any() and (never["steps_run"] == 1).all()
    assert (trajectory[trajectory["sample"].isin(never["sample"])].groupby("sample").size() == 2).all()
    assert np.isnan(res["arrays"]["stop_step"][stops.index[stops["p_target_stop"] < 0.5]]).all()


def test_deterministic(pair, out):
    again = view.fgsm_growth_job(pair, SETTINGS, 0)
    for name in ("trajectory", "stops"):
        pd.testing.assert_frame_equal(again[name], out[name])
    for key, value in out["arrays"].items():
        np.testing.assert_array_equal(again["arrays"][key], value, err_msg=key)


def test_arrays_hold_the_images_of_the_figure(out):
    arrays, stops = out["arrays"], out["stops"]
    n, n_show = SETTINGS["n_samples"], SETTINGS["n_show"]
    assert arrays["clean"].shape == arrays["final"].shape == (n, 1, 32, 32)
    np.testing.assert_allclose(arrays["perturbation"], arrays["final"] - arrays["clean"])
    assert arrays["snapshots"].shape == (n_show, len(view.FRACTIONS), 1, 32, 32)
    linf = np.abs(arrays["perturbation"]).reshape(n, -1).max(1) / np.ptp(arrays["value_range"])
    np.testing.assert_allclose(linf, stops["linf_rel_stop"], atol=1e-6)
    assert (arrays["snapshot_steps"] <= stops["steps_run"].to_numpy()[:n_show, None]).all()


def test_least_likely_target(pair):
    res = view.fgsm_growth_job(pair, {**SETTINGS, "target": "least", "n_samples": 4}, 0)
    x0 = torch.from_numpy(pair.dataset.images[res["arrays"]["indices"]])
    with torch.no_grad():
        least = pair.model(x0).argmin(1).numpy()
    assert (res["stops"]["target_class"] == least).all() and (res["stops"]["target_rule"] == "least").all()


def test_the_model_is_left_as_it_was(pair):
    model = copy.deepcopy(pair.model).train()  # a model in train mode is attacked in eval mode, then restored
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    res = view.fgsm_growth_job(Pair(pair.dataset, model, pair.device), {**SETTINGS, "n_samples": 4}, 0)
    assert model.training
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # BatchNorm statistics too
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    model.eval()
    _, probs = _clean(Pair(pair.dataset, model, pair.device), res)
    np.testing.assert_allclose(res["trajectory"].query("step == 0")["p_original"], probs.amax(1), atol=1e-6)


@pytest.mark.parametrize(
    "bad", [{"target": "random"}, {"step": 0}, {"max_steps": 0}, {"threshold": 1.0}, {"threshold": 0}]
)
def test_bad_settings_raise(pair, bad):
    with pytest.raises(ValueError):
        view.fgsm_growth_job(pair, {**SETTINGS, **bad}, 0)


def test_the_view_writes_its_outputs(pair, tmp_path):
    from PIL import Image

    from xaibench.views.jobs import run_view

    outputs = {"arrays": "growth.npz", "trajectory": "trajectory.tsv", "stops": "stops.tsv"}
    outputs = {k: str(tmp_path / v) for k, v in outputs.items()}
    outputs |= {"growth_png": str(tmp_path / "growth.png"), "growth_pdf": str(tmp_path / "growth.pdf")}
    run_view(
        "fgsm_growth", pair, {"n_samples": 3, "n_show": 2}, 0, {"dataset": "ts", "model": "cnn"}, outputs
    )
    table = pd.read_csv(outputs["trajectory"], sep="\t")
    assert list(table.columns[:3]) == ["dataset", "model", "sample"]
    width, height = Image.open(outputs["growth_png"]).size
    assert height <= 1.5 * width
