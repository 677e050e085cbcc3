"""Views of inputs: occlusion sweep, activation maps, max/min activating images, guided Grad-CAM composite."""

from __future__ import annotations

from collections import OrderedDict

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch
from torch import nn

from xaibench.datasets import ImageDataset
from xaibench.figures import (
    plot_activation_maps,
    plot_guided_gradcam_composite,
    plot_max_activating,
    plot_occlusion_sweep,
)
from xaibench.pairs import Pair
from xaibench.views.activations import activation_maps, activation_table, class_means, most_variable_channels
from xaibench.views.composite import composite_table, guided_gradcam_composite
from xaibench.views.input_common import (
    choose_samples,
    layer_outputs,
    pixels,
    resolve_layers,
    seeded_test_indices,
    stage_layers,
)
from xaibench.views.max_activating import extremes, max_activating
from xaibench.views.occlusion_sweep import (
    occlusion_sweep,
    occlusion_table,
    positions,
    positions_to_pixels,
    single_window_drops,
    true_class_probability,
    two_window_drops,
    window_probabilities,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SWEEP = {
    "n_samples": 2,
    "windows": [0.25, 8],
    "strides": [0.125],
    "two_window": {"windows": [8, 8], "stride": 8},
    "baseline": 0.0,
}


@pytest.fixture(scope="module")
def pair(tiny_model, tiny_batch):
    """16 test images (the 4 of tiny_batch and 12 seeded noise images), 2 classes, with the tiny model."""
    x, y, _ = tiny_batch
    rng = np.random.default_rng(1)
    noise = rng.uniform(0, 1, size=(12, *x.shape[1:])).astype(np.float32)
    images = np.concatenate([x, noise])
    labels = np.concatenate([y, rng.integers(0, 2, size=12)]).astype(np.int64)
    split = np.full(len(images), 2, dtype=np.int8)
    data = ImageDataset(images=images, labels=labels, split=split, class_names=["square", "other"])
    return Pair(data, tiny_model, torch.device("cpu"))


@pytest.fixture(scope="module")
def trained_pair(pair, trained_tiny_model):
    """The images of ``pair`` with a trained model: occluding a window changes its probabilities by
    1e-3 to 0.2, far above the tolerances below (the untrained model moves by ~1e-7)."""
    return Pair(pair.dataset, trained_tiny_model, torch.device("cpu"))


def probability(model, image, target):
    with torch.no_grad():
        return torch.softmax(model(image[None]), 1)[0, target].item()


# ---- shared helpers -----------------------------------------------------------------------------------


def test_pixels_from_ints_and_fractions():
    assert pixels(4, 32, "k") == 4
    assert pixels(0.125, 32, "k") == 4
    assert pixels(0.125, 64, "k") == 8
    assert pixels(1.0, 32, "k") == 32
    for bad in (0, 33, 1.5, -0.1, "4", True):
        with pytest.raises(ValueError, match=r"views.x"):
            pixels(bad, 32, "views.x")


def test_choose_samples_cycles_through_classes():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 0])
    candidates = np.arange(8)
    chosen = choose_samples(labels, candidates, 5, seed=0)
    assert len(set(chosen)) == 5 and set(chosen) <= set(candidates)
    assert sorted(labels[chosen[:3]]) == [0, 1, 2]  # one of each class first
    assert np.array_equal(chosen, choose_samples(labels, candidates, 5, seed=0))
    with pytest.raises(ValueError, match="exceeds"):
        choose_samples(labels, candidates, 9, seed=0)


def test_seeded_test_indices_are_sorted_test_images(pair):
    assert len(seeded_test_indices(pair.dataset, 0, 0)) == 16
    sub = seeded_test_indices(pair.dataset, 5, 0)
    assert len(sub) == 5 and np.all(np.diff(sub) > 0)


def test_stage_layers_find_each_resolution(tiny_model):
    example = torch.zeros(1, 1, 32, 32)
    names = stage_layers(tiny_model, example)
    assert names == ["features.5", "features.12", "features"]
    outputs, _ = layer_outputs(tiny_model, np.zeros((1, 1, 32, 32), np.float32), names, torch.device("cpu"))
    assert [outputs[n].shape[2] for n in names] == [32, 16, 8]


def test_stage_layers_on_a_resnet():
    from xaibench.models import build_model

    model = build_model("resnet18", in_channels=1, num_classes=2, image_size=32).eval()
    assert stage_layers(model, torch.zeros(1, 1, 32, 32)) == ["layer1", "layer2", "layer3", "layer4"]


def test_resolve_layers_checks_names(tiny_model):
    example = torch.zeros(1, 1, 32, 32)
    assert resolve_layers(tiny_model, example, ["features.2"], "k") == ["features.2"]
    with pytest.raises(ValueError, match=r"views.l.*no module 'nope'"):
        resolve_layers(tiny_model, example, ["nope"], "views.l")
    with pytest.raises(ValueError, match="does not output"):
        resolve_layers(tiny_model, example, ["head.1"], "views.l")  # Flatten: 2-D output


def test_layer_outputs_match_a_manual_forward(tiny_model, tiny_batch):
    x = tiny_batch[0]
    outputs, logits = layer_outputs(
        tiny_model, x, ["features"], torch.device("cpu"), reduce="mean", batch_size=3
    )
    with torch.no_grad():
        features = tiny_model.features(torch.from_numpy(x))
        expected_logits = tiny_model(torch.from_numpy(x))
    np.testing.assert_allclose(outputs["features"], features.mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, expected_logits.numpy(), rtol=1e-5, atol=1e-6)


# ---- occlusion sweep ----------------------------------------------------------------------------------


def test_positions_follow_captum():
    assert positions(32, 8, 4).tolist() == [0, 4, 8, 12, 16, 20, 24]
    assert positions(10, 4, 3).tolist() == [0, 3, 6]
    with pytest.raises(ValueError):
        positions(8, 9, 1)


def test_single_window_drop_is_the_probability_difference(trained_tiny_model, tiny_batch):
    model = trained_tiny_model
    x = torch.from_numpy(tiny_batch[0][3])
    p0 = probability(model, x, 1)
    drops = single_window_drops(model, x, 1, p0, 8, 8, baseline=0.3)
    assert drops.shape == (4, 4)
    for row, col in [(0, 0), (1, 2), (3, 1)]:
        occluded = x.clone()
        occluded[:, 8 * row : 8 * row + 8, 8 * col : 8 * col + 8] = 0.3
        expected = p0 - probability(model, occluded, 1)
        assert drops[row, col] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert np.abs(drops).max() > 1e-2  # the signal is far above the tolerance


def test_mean_baseline_fills_with_the_image_mean(trained_tiny_model, tiny_batch):
    x = torch.from_numpy(tiny_batch[0][1])
    p = window_probabilities(trained_tiny_model, x, 0, [(0, 0, 32), (4, 4, 12)], baseline="mean")
    flat = torch.full_like(x, x.mean().item())
    assert p[0] == pytest.approx(probability(trained_tiny_model, flat, 0), rel=1e-5, abs=1e-7)
    partly = x.clone()
    partly[:, 4:16, 4:16] = x.mean()
    assert p[1] == pytest.approx(probability(trained_tiny_model, partly, 0), rel=1e-5, abs=1e-7)
    assert abs(p[1] - probability(trained_tiny_model, x, 0)) > 1e-3  # the window matters


def test_two_window_drops(trained_tiny_model, tiny_batch):
    tiny_model = trained_tiny_model
    x = torch.from_numpy(tiny_batch[0][2])
    p0 = probability(tiny_model, x, 0)
    pairs = two_window_drops(tiny_model, x, 0, p0, 8, 8, 8)
    single = single_window_drops(tiny_model, x, 0, p0, 8, 8)
    assert np.abs(pairs).max() > 1e-2
    assert pairs.shape == (16, 16) and np.isfinite(pairs).all()
    np.testing.assert_allclose(pairs, pairs.T)  # equal sizes: symmetric
    np.testing.assert_allclose(np.diag(pairs), single.ravel(), atol=1e-6)  # A on B = one window
    occluded = x.clone()
    occluded[:, 0:8, 8:16] = 0.0  # A at position 1
    occluded[:, 24:32, 16:24] = 0.0  # B at position 14
    assert pairs[1, 14] == pytest.approx(p0 - probability(tiny_model, occluded, 0), rel=1e-4, abs=1e-7)
    uneven = two_window_drops(tiny_model, x, 0, p0, 8, 16, 8)
    assert uneven.shape == (16, 9) and np.isfinite(uneven).all()


def test_occlusion_map_equals_captum(trained_tiny_model, tiny_batch):
    from captum.attr import Occlusion

    tiny_model = trained_tiny_model

    x = torch.from_numpy(tiny_batch[0][:2])
    targets = torch.tensor([0, 1])

    def softmax(inputs):
        return torch.softmax(tiny_model(inputs), 1)

    with torch.no_grad():
        expected = Occlusion(softmax).attribute(
            x, sliding_window_shapes=(1, 8, 8), strides=(1, 6, 6), baselines=0.0, target=targets
        )
    for i in range(2):
        p0 = probability(tiny_model, x[i], int(targets[i]))
        drops = single_window_drops(tiny_model, x[i], int(targets[i]), p0, 8, 6)
        ours = positions_to_pixels(drops, 32, 32, 8, 6)
        np.testing.assert_allclose(ours, expected[i, 0].double().numpy(), atol=1e-6)
    assert float(expected.abs().max()) > 1e-2  # far above the tolerance


def test_occlusion_sweep(trained_pair):
    pair = trained_pair
    result = occlusion_sweep(pair, **SWEEP, seed=0)
    n = SWEEP["n_samples"]
    assert result["maps"].shape == (2, n, 32, 32)  # windows 0.25 (= 8 px) and 8 px, one stride
    assert result["window_px"].tolist() == [8, 8] and result["stride_px"].tolist() == [4, 4]
    assert result["two_window_drops"].shape == (n, 16, 16)
    assert result["two_window_map"].shape == (n, 32, 32)
    assert result["max_drop"].shape == result["mean_drop"].shape == (3, n)
    for key in ("maps", "two_window_drops", "max_drop", "mean_drop", "p_true"):
        assert np.isfinite(result[key]).all(), key
    assert (result["max_drop"] >= result["mean_drop"] - 1e-12).all()
    # the drops the sweep reports are p(x) - p(occluded) of the true class
    i, data = 0, pair.dataset
    x = torch.from_numpy(data.images[result["indices"][i]])
    label = int(data.labels[result["indices"][i]])
    assert result["p_true"][i] == pytest.approx(probability(pair.model, x, label), abs=1e-6)
    occluded = x.clone()
    occluded[:, 4:12, 8:16] = 0.0  # position (1, 2) of an 8 px window at stride 4
    expected = result["p_true"][i] - probability(pair.model, occluded, label)
    assert result["drops_0"][i, 1, 2] == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert np.abs(result["drops_0"]).max() > 1e-2  # the signal is far above the tolerances
    np.testing.assert_allclose(result["max_drop"][0], result["drops_0"].max(axis=(1, 2)), atol=1e-6)

    table = occlusion_table(result)
    assert len(table) == 3 * n
    assert table["kind"].tolist().count("two_windows") == n
    with pytest.raises(ValueError, match=r"views.occlusion_sweep.windows"):
        occlusion_sweep(pair, **{**SWEEP, "windows": [40]}, seed=0)
    with pytest.raises(ValueError, match="baseline"):
        occlusion_sweep(pair, **{**SWEEP, "baseline": "median"}, seed=0)


def test_true_class_probability_batches(tiny_model, tiny_batch):
    x, y = torch.from_numpy(tiny_batch[0]), torch.from_numpy(tiny_batch[1])
    whole = true_class_probability(tiny_model, x, y, batch_size=64)
    assert np.allclose(whole, true_class_probability(tiny_model, x, y, batch_size=1))
    assert ((whole > 0) & (whole < 1)).all()


# ---- activation maps ----------------------------------------------------------------------------------


def test_most_variable_channels_and_class_means():
    acts = np.array([[0.0, 1.0, 5.0, 2.0], [0.0, 3.0, -5.0, 2.0], [0.0, 2.0, 0.0, 2.1]])
    assert most_variable_channels(acts, 2).tolist() == [1, 2]
    assert most_variable_channels(acts, 10).tolist() == [0, 1, 2, 3]
    means = class_means(acts, np.array([0, 1, 0]), 3)
    np.testing.assert_allclose(means[0], acts[[0, 2]].mean(axis=0))
    assert np.isnan(means[2]).all()


def test_activation_maps(pair):
    result = activation_maps(pair, n_samples=2, max_channels=3, n_images=0, seed=0)
    assert result["layers"].tolist() == ["features.5", "features.12", "features"]
    sizes = [32, 16, 8]
    for i, size in enumerate(sizes):
        maps = result[f"maps_{i}"]
        assert len(result[f"channels_{i}"]) == 3
        assert maps.shape == (2, 3, size, size) and np.isfinite(maps).all()
        assert (maps >= 0).all()  # ReLU outputs
        assert result[f"class_mean_{i}"].shape == (2, result["layer_shapes"][i][0])
    # the shown maps are the layer's outputs for the chosen channels
    x = torch.from_numpy(pair.dataset.images[result["indices"]])
    with torch.no_grad():
        features = pair.model.features(x).numpy()
    np.testing.assert_allclose(result["maps_2"], features[:, result["channels_2"]], rtol=1e-5, atol=1e-6)
    # class means over the whole test split
    data = pair.dataset
    with torch.no_grad():
        pooled = pair.model.features(torch.from_numpy(data.images)).mean(dim=(2, 3)).numpy()
    expected = np.stack([pooled[data.labels == c].mean(axis=0) for c in (0, 1)])
    np.testing.assert_allclose(result["class_mean_2"], expected, rtol=1e-4, atol=1e-6)
    table = activation_table(result)
    assert len(table) == sum(2 * s[0] for s in result["layer_shapes"])
    assert table["shown"].sum() == 2 * 3 * 3


def test_activation_maps_rejects_bad_settings(pair):
    with pytest.raises(ValueError, match=r"views.activation_maps.layers"):
        activation_maps(pair, n_samples=1, layers=["nope"])
    with pytest.raises(ValueError, match="max_channels"):
        activation_maps(pair, n_samples=1, max_channels=0)


# ---- max / min activating ---------------------------------------------------------------------------


def test_extremes_are_the_k_highest_and_lowest():
    values = np.array([3.0, -1.0, 7.0, 7.0, 0.0, 2.0])
    top, bottom = extremes(values, 3)
    assert top.tolist() == [2, 3, 0]  # ties keep the order
    assert bottom.tolist() == [1, 4, 5]
    assert len(extremes(values, 10)[0]) == 6


def test_max_activating_ranks_every_unit(pair):
    table, info = max_activating(pair, channels=[0, 3], k=3, n_images=0, seed=0)
    data = pair.dataset
    assert info["layer"] == pair.model.cam_layer_name and info["n_images"] == 16
    with torch.no_grad():
        logits = pair.model(torch.from_numpy(data.images)).numpy()
        feats = pair.model.features(torch.from_numpy(data.images)).mean(dim=(2, 3)).numpy()
    units = {
        ("class", "square"): logits[:, 0],
        ("class", "other"): logits[:, 1],
        ("channel", "0"): feats[:, 0],
        ("channel", "3"): feats[:, 3],
    }
    assert len(table) == len(units) * 2 * 3
    for (kind, unit), values in units.items():
        rows = table[(table["unit_kind"] == kind) & (table["unit"] == unit)]
        top = rows[rows["extreme"] == "top"].sort_values("rank")
        bottom = rows[rows["extreme"] == "bottom"].sort_values("rank")
        np.testing.assert_allclose(top["value"], np.sort(values)[::-1][:3], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bottom["value"], np.sort(values)[:3], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(values[top["index"].to_numpy()], top["value"], rtol=1e-5, atol=1e-6)
        kth = np.sort(values)[::-1][2]
        assert (values > kth + 1e-6).sum() <= 2  # no image outside the top 3 beats the third
    counted = table.loc[table["unit_kind"] == "channel", "n_at_value"]
    assert (counted >= 1).all()


def test_max_activating_channel_count_and_errors(pair):
    table, _ = max_activating(pair, channels=2, k=2, reduce="max", n_images=8, seed=0)
    assert table.loc[table["unit_kind"] == "channel", "unit"].nunique() == 2
    assert table["index"].isin(seeded_test_indices(pair.dataset, 8, 0)).all()
    with pytest.raises(ValueError, match=r"views.max_activating.channels"):
        max_activating(pair, channels=[999])
    with pytest.raises(ValueError, match=r"views.max_activating.layer"):
        max_activating(pair, layer="nope")
    with pytest.raises(ValueError, match="reduce"):
        max_activating(pair, reduce="median")


# ---- guided Grad-CAM composite ----------------------------------------------------------------------


def test_composite_is_the_product_of_its_parts(pair):
    result = guided_gradcam_composite(pair, n_samples=3, seed=0)
    for method in ("gradcam", "guided_backprop", "guided_gradcam"):
        assert result[method].shape == (3, 1, 32, 32) and np.isfinite(result[method]).all()
        assert str(result[f"note_{method}"]) == ""
    product = result["gradcam"] * result["guided_backprop"]
    np.testing.assert_allclose(result["guided_gradcam"], product, atol=1e-5 * np.abs(product).max() + 1e-12)
    assert result["max_product_error"] < 1e-4 * max(1e-12, np.abs(product).max()) + 1e-9
    assert (result["gradcam"] >= 0).all()  # ReLU'd
    assert np.array_equal(result["targets"], pair.dataset.labels[result["indices"]])
    table = composite_table(result)
    assert len(table) == 9 and set(table["method"]) == {"gradcam", "guided_backprop", "guided_gradcam"}
    with pytest.raises(ValueError, match="target"):
        guided_gradcam_composite(pair, n_samples=1, target="logit")


def silu_model() -> nn.Module:
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.SiLU())
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    model = nn.Sequential(OrderedDict(features=features, head=head))
    model.cam_layer_name = "features.1"
    return model.eval()


def test_composite_records_not_applicable_methods(pair, tmp_path):
    silu = Pair(pair.dataset, silu_model(), pair.device)
    result = guided_gradcam_composite(silu, n_samples=2, seed=0)
    assert np.isfinite(result["gradcam"]).all() and str(result["note_gradcam"]) == ""
    for method in ("guided_backprop", "guided_gradcam"):
        assert np.isnan(result[method]).all()
        assert "SiLU" in str(result[f"note_{method}"])
    assert np.isnan(result["max_product_error"])
    png = tmp_path / "na.png"
    plot_guided_gradcam_composite(result, "silu", png, None)
    assert_png(png)


# ---- figures ------------------------------------------------------------------------------------------


def assert_png(path) -> None:
    image = mpimg.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert np.ptp(image[..., :3]) > 0.1


def test_figures(pair, tmp_path):
    plot_occlusion_sweep(
        occlusion_sweep(pair, **SWEEP, seed=0), "tiny", tmp_path / "o.png", tmp_path / "o.pdf"
    )
    plot_activation_maps(activation_maps(pair, n_samples=2, max_channels=3), "tiny", tmp_path / "a.png", None)
    table, info = max_activating(pair, channels=1, k=2)
    plot_max_activating(table, pair.dataset.images, info, "tiny", tmp_path / "m.png", None)
    plot_guided_gradcam_composite(
        guided_gradcam_composite(pair, n_samples=2), "tiny", tmp_path / "c.png", None
    )
    for name in ("o", "a", "m", "c"):
        assert_png(tmp_path / f"{name}.png")
    assert (tmp_path / "o.pdf").stat().st_size > 1000


def test_max_activating_figure_sets_many_units_side_by_side(tmp_path):
    """Ten class logits and four channels (a digits model): the units fill side-by-side blocks, so the figure
    stays whole on a screen (it was 2.6 times taller than wide)."""
    from matplotlib.image import imread

    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 8, 8)).astype(np.float32)
    rows = []
    units = [("class", c) for c in range(10)] + [("channel", c) for c in range(4)]
    for kind, unit in units:
        for extreme in ("top", "bottom"):
            for rank in (1, 2, 3):
                rows.append(
                    dict(unit_kind=kind, unit=unit, extreme=extreme, rank=rank, index=int(rng.integers(40)),
                         value=float(rng.normal()), label="a", prediction="a", layer="l", n_at_value=1)
                )  # fmt: skip
    import pandas as pd

    plot_max_activating(pd.DataFrame(rows), images, {"n_images": 40}, "digits", tmp_path / "m.png", None)
    height, width = imread(tmp_path / "m.png").shape[:2]
    assert height <= 1.5 * width
