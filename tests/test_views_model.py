"""Views of the model: feature visualisation / Deep Dream, embeddings, adversarial attacks and maximisation.

Most tests use a small_cnn trained in seconds on a task it learns perfectly (horizontal vs vertical stripes):
an untrained network, or one trained for a few steps on Triangles & Squares, answers the same for every input,
so nothing would flip and no logit would move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from xaibench.views import adversarial as adv
from xaibench.views import embeddings as emb
from xaibench.views import feature_vis as fv

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def stripes(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sinusoidal stripes, horizontal (class 0) or vertical (class 1), random period and phase."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    yy, xx = np.mgrid[:size, :size]
    period = rng.uniform(4, 8, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    coord = np.where(labels[:, None, None] == 0, yy, xx)
    images = 0.5 + 0.3 * np.sin(2 * np.pi * coord / period + phase) + rng.normal(0, 0.05, (n, size, size))
    return np.clip(images, 0, 1).astype(np.float32)[:, None], labels


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_torch_thread):
    """A small_cnn trained to ~100 % on stripes, and the dataset, saved as the workflow saves them."""
    from xaibench.datasets import ImageDataset, save_dataset, split_labels
    from xaibench.models import save_model
    from xaibench.training import train

    root = tmp_path_factory.mktemp("views_model")
    images, labels = stripes(240)
    dataset = ImageDataset(images, labels, split_labels(200, 8, 32), ["horizontal", "vertical"])
    save_dataset(str(root / "data.npz"), dataset)
    result = train(dataset, "small_cnn", {"width": 4}, epochs=6, batch_size=16, lr=0.01, seed=0)
    assert result.test_metrics["test_accuracy"] > 0.9
    save_model(str(root / "model.pt"), result.model, result.spec)
    x = torch.from_numpy(dataset.images[dataset.indices("test")][:6])
    return root, result.model.eval(), x, dataset


# ---- feature visualisation ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def featvis(trained):
    _, model, x_test, dataset = trained
    x = dataset.images[dataset.indices("train")]
    return fv.run_feature_visualisation(
        model,
        x,
        dataset.class_names,
        start_images=x_test[:1].numpy(),
        channels=2,
        noise_starts=1,
        steps=15,
        lr=0.05,
        seed=0,
    )


def test_feature_visualisation_raises_every_target(featvis):
    kinds = [o.kind for o in featvis.objectives]
    assert kinds == ["logit", "logit", "channel", "channel", "dream"]
    assert featvis.images.shape == (2, 5, 1, 32, 32) and featvis.values_after.shape == (2, 5)
    gain = featvis.values_after - featvis.values_before
    logits = np.array([k == "logit" for k in kinds])
    assert (gain[:, logits] > 0.05).all(), gain  # the class logit really rises, from noise and from an image
    assert (gain > 0).all(), gain


def test_feature_visualisation_logit_image_is_classified_as_its_class(featvis):
    # maximising logit k from noise should end with class k predicted (two classes: a clear test)
    assert featvis.predictions[0, 0] == 0 and featvis.predictions[0, 1] == 1


def test_feature_visualisation_stays_in_the_data_range(featvis, trained):
    x = trained[3].images
    assert featvis.images.min() >= x.min() - 1e-6 and featvis.images.max() <= x.max() + 1e-6
    assert featvis.starts.min() >= x.min() - 1e-6


def test_feature_visualisation_is_deterministic(tiny_model, tiny_batch):
    x, _, _ = tiny_batch
    kwargs = dict(start_images=x[:1], channels=[0], steps=3, seed=1)
    a = fv.run_feature_visualisation(tiny_model, x, ["a", "b"], **kwargs)
    b = fv.run_feature_visualisation(tiny_model, x, ["a", "b"], **kwargs)
    np.testing.assert_array_equal(a.images, b.images)


def test_channels_are_checked_and_chosen_by_activity(tiny_model, tiny_batch):
    x, _, _ = tiny_batch
    layer = fv._layer(tiny_model, None)
    probe = torch.from_numpy(x)
    with pytest.raises(ValueError, match="channels"):
        fv._channels(tiny_model, layer, [0, 999], probe)
    with pytest.raises(ValueError, match="channels"):
        fv._channels(tiny_model, layer, 10_000, probe)
    top = fv._channels(tiny_model, layer, 3, probe)
    with torch.no_grad():
        act = tiny_model.features(probe).mean(dim=(0, 2, 3))
    assert set(top) == set(act.argsort(descending=True)[:3].tolist())
    with pytest.raises(ValueError, match="layer"):
        fv._layer(tiny_model, "no.such.layer")


def test_regularisation_rejects_bad_values():
    with pytest.raises(ValueError, match="steps"):
        fv.Regularisation(steps=0)
    with pytest.raises(ValueError, match="lr"):
        fv.Regularisation(lr=0)


def test_gaussian_blur_keeps_constants_and_smooths_noise():
    g = torch.Generator().manual_seed(0)
    noise = torch.rand((2, 3, 16, 16), generator=g)
    const = torch.full((1, 1, 8, 8), 0.3)
    assert torch.allclose(fv.gaussian_blur(const, 1.0), const, atol=1e-6)
    assert fv.gaussian_blur(noise, 1.0).std() < 0.6 * noise.std()
    assert torch.equal(fv.gaussian_blur(noise, 0.0), noise)


# ---- embeddings -----------------------------------------------------------------------------------------


def test_penultimate_features_are_the_classifier_input(tiny_model, tiny_batch):
    x, _, _ = tiny_batch
    feats, logits = emb.penultimate_features(tiny_model, x, batch_size=3)
    with torch.no_grad():
        expected = tiny_model.head[:3](tiny_model.features(torch.from_numpy(x)))
        out = tiny_model(torch.from_numpy(x))
    assert emb.final_linear(tiny_model)[0] == "head.3"
    np.testing.assert_allclose(feats, expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits, out.numpy(), rtol=1e-5, atol=1e-6)


def test_penultimate_features_of_a_torchvision_model(tiny_batch):
    from xaibench.models import build_model

    x, _, _ = tiny_batch
    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=1, num_classes=3, image_size=32).eval()
    feats, logits = emb.penultimate_features(model, x[:2])
    assert emb.final_linear(model)[0] == "fc"
    assert feats.shape == (2, 512) and logits.shape == (2, 3)


def test_a_linear_that_is_not_the_output_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Tanh()).eval()
    with pytest.raises(ValueError, match="not the model's output"):
        emb.penultimate_features(model, np.zeros((2, 1, 2, 2), dtype=np.float32))


@pytest.fixture(scope="module")
def clusters():
    rng = np.random.default_rng(0)
    centres = np.zeros((3, 10), dtype=np.float32)
    centres[np.arange(3), np.arange(3)] = 8.0
    labels = np.repeat(np.arange(3), 20)
    return (centres[labels] + rng.normal(size=(60, 10))).astype(np.float32), labels


def test_tsne_and_umap_separate_clusters_deterministically(clusters):
    points, labels = clusters
    tsne = emb.tsne_2d(points, perplexity=10, max_iter=400, seed=0)
    umap = emb.umap_2d(points, n_neighbors=10, seed=0)
    assert tsne.shape == umap.shape == (60, 2)
    np.testing.assert_array_equal(tsne, emb.tsne_2d(points, perplexity=10, max_iter=400, seed=0))
    np.testing.assert_array_equal(umap, emb.umap_2d(points, n_neighbors=10, seed=0))
    assert emb.silhouette(tsne, labels) > 0.5 and emb.silhouette(umap, labels) > 0.5
    shuffled = np.random.default_rng(1).permutation(labels)
    assert abs(emb.silhouette(points, shuffled)) < 0.1
    assert np.isnan(emb.silhouette(points, np.zeros(60, dtype=int)))


def test_umap_leaves_torchs_thread_count_as_it_was(clusters):
    """umap's parallel numba kernels set the OpenMP thread count torch shares to every core (here 2): without
    the reset, every torch call after an embedding (the rest of this module in the suite: 47 s instead of
    2.5 s for the adversarial test) ran two threads on cores another process keeps busy."""
    import numba

    points, _ = clusters
    before = torch.get_num_threads()
    try:
        for threads in (1, 3):
            torch.set_num_threads(threads)
            emb.umap_2d(points, n_neighbors=10, seed=0)
            assert torch.get_num_threads() == threads
        assert numba.config.NUMBA_NUM_THREADS >= 2  # on 2 cores, the leak this test guards against happens
    finally:
        torch.set_num_threads(before)


# ---- adversarial ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_flipped_samples_really_flip_within_their_budget(trained, attack):
    _, model, x, _ = trained
    grid = adv.epsilon_grid(0.002, 0.5, 10)
    res = adv.find_flips(model, x, attack, grid, (0.0, 1.0), pgd_steps=5)
    assert res.flipped.any(), "no sample flipped even at epsilon 0.5"
    with torch.no_grad():
        before = model(x).argmax(1).numpy()
        after = model(res.adversarial).argmax(1).numpy()
    np.testing.assert_array_equal(res.pred_before, before)
    np.testing.assert_array_equal(res.pred_after, after)
    assert (after[res.flipped] != before[res.flipped]).all()
    assert (after[~res.flipped] == before[~res.flipped]).all()
    linf = (res.adversarial - x).abs().flatten(1).amax(1).numpy()
    assert (linf[res.flipped] <= res.epsilon[res.flipped] + 1e-5).all()
    assert np.isin(res.epsilon[res.flipped], grid).all() and np.isnan(res.epsilon[~res.flipped]).all()
    assert res.adversarial.min() >= 0 and res.adversarial.max() <= 1


def test_the_smallest_budget_is_kept(trained):
    _, model, x, _ = trained
    grid = adv.epsilon_grid(0.002, 0.5, 10)
    res = adv.find_flips(model, x, "fgsm", grid, (0.0, 1.0))
    for i in np.flatnonzero(res.flipped):
        smaller = grid[grid < res.epsilon[i]]
        if len(smaller):  # one budget below did not flip it
            below = adv.fgsm(
                model, x[i : i + 1], torch.from_numpy(res.pred_before[i : i + 1]), smaller[-1], (0, 1)
            )
            with torch.no_grad():
                assert model(below).argmax(1).item() == res.pred_before[i]


def test_targeted_maximisation_raises_the_target_logit(trained):
    _, model, x, _ = trained
    maxi = adv.maximise_classes(model, x[:4], 2, epsilon=0.3, steps=10, bounds=(0, 1))
    images = maxi.images
    assert images.shape == (4, 2, 1, 32, 32)
    with torch.no_grad():
        pred = model(x[:4]).argmax(1).numpy()
        logits_after = model(images.reshape(8, 1, 32, 32)).reshape(4, 2, 2).numpy()
    other = np.arange(2)[None, :] != pred[:, None]
    np.testing.assert_array_equal(maxi.attacked, other)  # toward every class but the predicted one
    before, after = maxi.logit_before, maxi.logit_after
    assert (after[other] > before[other] + 1.0).all(), (before, after)  # the target logit really rises
    assert (logits_after.argmax(2)[other] == np.nonzero(other)[1]).all()  # and wins
    assert (maxi.margin_after[other] > 2.0).all(), maxi.margin_after  # far past the decision boundary
    assert (maxi.prob_after[other] > 0.8).all()
    torch.testing.assert_close(images[~other], x[:4])  # the predicted class: the input, unchanged
    assert (images - x[:4, None]).abs().max() <= 0.3 + 1e-5


def test_margin_loss_keeps_a_gradient_when_softmax_saturates():
    logits = torch.tensor([[60.0, -60.0]], requires_grad=True)
    loss = adv._loss("margin")(logits, torch.tensor([0]))
    assert loss.item() == pytest.approx(-120.0)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    assert grad.abs().sum() > 0
    ce = adv._loss()(logits, torch.tensor([0]))
    (grad_ce,) = torch.autograd.grad(ce.sum(), logits)
    assert grad_ce.abs().sum() == 0  # why cross-entropy cannot push past p = 1


def test_map_similarity():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16))
    assert adv.map_similarity(a, a) == pytest.approx((1.0, 1.0))
    assert adv.map_similarity(a, -2 * a) == pytest.approx((1.0, 1.0))  # on |a| / max |a|
    ssim, rho = adv.map_similarity(a, rng.random((16, 16)))
    assert ssim < 0.3 and abs(rho) < 0.3
    nan = a.copy()
    nan[0, 0] = np.nan
    assert all(np.isnan(adv.map_similarity(a, nan)))
    assert np.isnan(adv.map_similarity(a, np.zeros((16, 16)))[1])


def test_epsilon_grid_is_validated():
    grid = adv.epsilon_grid(0.001, 0.1, 3)
    np.testing.assert_allclose(grid, [0.001, 0.01, 0.1])
    with pytest.raises(ValueError, match="epsilon_min"):
        adv.epsilon_grid(0.2, 0.1, 3)


SETTINGS = {
    "n_samples": 4,
    "attacks": ["fgsm", "pgd"],
    "epsilon_min": 0.002,
    "epsilon_max": 0.5,
    "epsilon_steps": 8,
    "pgd_steps": 4,
    "target": "prediction",
    "n_show": 2,
    "maximise": {"n_samples": 1, "epsilon": 0.3, "steps": 5},
}


@pytest.fixture(scope="module")
def adv_out(trained):
    """The whole adversarial job on the stored pair, with saliency and a method that refuses the model."""
    from xaibench import methods
    from xaibench.pairs import load_pair

    root = trained[0]

    def refuses(model, inputs, targets):
        raise methods.MethodNotApplicable("no rule for this model")

    spec = methods.MethodSpec(fn=refuses, library="control", description="always not applicable")
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(methods.METHODS._entries, "refuses", spec)
        return adv.adversarial_job(
            load_pair(str(root / "data.npz"), str(root / "model.pt"), "cpu"),
            SETTINGS,
            {"saliency": {"method": "saliency", "params": {}}, "gradcam": {"method": "refuses"}},
            seed=0,
        )


def test_adversarial_job_tables(adv_out):
    out = adv_out
    sim = out["similarity"]
    sim = sim[~sim["attack"].str.startswith("noise_")]  # the noise controls: test_noise_rows_pair_...
    assert len(sim) == 4 * 2 * 2 and set(sim["method"]) == {"saliency", "gradcam"}
    grad = sim[sim["method"] == "gradcam"]
    assert grad["note"].str.contains("not applicable").all() and grad["ssim"].isna().all()
    sal = sim[(sim["method"] == "saliency") & sim["flipped"]]
    assert len(sal) and sal["ssim"].notna().all()
    flips = out["flips"]
    assert ((flips["pred_after"] != flips["pred_before"]) == flips["flipped"]).all()
    summary = adv.summarise_similarity(sim)
    assert set(summary.columns) >= {"n", "n_flipped", "median_epsilon", "ssim_mean", "spearman_mean", "note"}
    assert (summary["n"] == 4).all()
    maxi = out["maximisation"]
    other = maxi["target_class"] != maxi["pred_before"]
    assert len(maxi) == 2 and (maxi["attacked"] == other).all() and other.sum() == 1
    assert (maxi.loc[other, "margin_after"] > maxi.loc[other, "margin_before"]).all()
    assert (maxi.loc[other, "logit_after"] > maxi.loc[other, "logit_before"]).all()
    rows = adv.heatmap_rows(out, 2)
    assert len(rows["rows"]) == len(rows["clean"]) == 4  # 2 per attack
    assert {"ssim:saliency", "spearman:gradcam"} <= set(rows["rows"].columns)


# ---- noise control ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_noise_has_the_attacks_budget_and_keeps_the_prediction(trained, attack):
    import zlib

    _, model, x, _ = trained
    res = adv.find_flips(model, x, attack, adv.epsilon_grid(0.002, 0.5, 10), (0.0, 1.0), pgd_steps=5)
    assert res.flipped.any()
    samples = np.arange(100, 100 + len(x))
    noise = adv.noise_control(model, x, res.epsilon, (0.0, 1.0), samples, seed=3, key=attack, draws=10)
    with torch.no_grad():
        pred = model(noise.noisy).argmax(1).numpy()
    np.testing.assert_array_equal(noise.pred, pred)
    found = noise.found
    assert found.any() and (noise.draws == 1).any()  # the seeding check below runs
    assert (pred[found] == res.pred_before[found]).all()  # a kept draw does not flip the prediction
    unlucky = res.flipped & ~found  # every draw flipped: the last one is kept, and said so
    assert (pred[unlucky] != res.pred_before[unlucky]).all() and (noise.draws[unlucky] == 10).all()
    assert not found[~res.flipped].any() and (noise.draws[~res.flipped] == 0).all()
    torch.testing.assert_close(noise.noisy[~res.flipped], x[~res.flipped], rtol=0, atol=0)  # left alone
    delta = (noise.noisy - x).numpy()
    noisy = noise.noisy.numpy()
    for i in np.flatnonzero(res.flipped):
        eps = res.epsilon[i]
        inside = (noisy[i] > 0) & (noisy[i] < 1)  # not clipped to the data range
        assert inside.mean() > 0.5
        # ±ε exactly, up to float32 rounding of x + ε - x
        np.testing.assert_allclose(np.abs(delta[i][inside]), eps, rtol=0, atol=1e-6)
        assert np.abs(delta[i]).max() == pytest.approx(eps, abs=1e-6)  # the attack's L∞ norm
        assert (np.abs(delta[i][~inside]) <= eps + 1e-6).all()  # clipped: at most ε
        signs = np.sign(delta[i][inside])
        assert 0.4 < (signs > 0).mean() < 0.6  # random signs
        if noise.draws[i] == 1:  # the first draw of the sample's own generator: seeded per image
            rng = np.random.default_rng([3, int(samples[i]), zlib.crc32(attack.encode())])
            first = (rng.integers(0, 2, size=x.shape[1:]) * 2 - 1).astype(np.float32)
            expected = torch.clamp(x[i] + torch.from_numpy(first) * torch.tensor(eps, dtype=x.dtype), 0, 1)
            torch.testing.assert_close(noise.noisy[i], expected, rtol=0, atol=0)
    # each sample's noise depends on its seed, not on the batch
    part = adv.noise_control(model, x[2:], res.epsilon[2:], (0.0, 1.0), samples[2:], seed=3, key=attack)
    torch.testing.assert_close(part.noisy, noise.noisy[2:], rtol=0, atol=0)
    with pytest.raises(ValueError, match="noise_draws"):
        adv.noise_control(model, x, res.epsilon, (0.0, 1.0), samples, seed=3, key=attack, draws=0)


def test_noise_rows_pair_one_to_one_with_flipped_attack_rows(adv_out):
    sim = adv_out["similarity"]
    is_noise = sim["attack"].str.startswith("noise_")
    attacked, noise = sim[~is_noise], sim[is_noise]
    assert not is_noise[: len(attacked)].any()  # the attacks' rows first, as before
    assert list(sim.columns[:10]) == [
        "sample", "attack", "method", "epsilon", "flipped", "target_before", "target_after", "ssim",
        "spearman", "note",
    ]  # fmt: skip
    flipped = attacked[attacked["flipped"]]
    assert len(flipped) and len(noise) == len(flipped)
    np.testing.assert_array_equal(noise["attack"], "noise_" + noise["matched_attack"])
    key = ["sample", "method", "attack"]
    merged = flipped.merge(
        noise.assign(attack=noise["matched_attack"]), on=key, suffixes=("", "_n"), validate="one_to_one"
    )
    assert len(merged) == len(flipped)  # every flipped (sample, method, attack) has exactly one noise row
    np.testing.assert_array_equal(merged["epsilon_n"], merged["epsilon"])
    # the noise has the attack's L∞ norm; the attack at most that
    np.testing.assert_allclose(merged["linf_n"], merged["epsilon"], rtol=0, atol=1e-6)
    assert (merged["linf"] <= merged["epsilon"] + 1e-5).all()
    assert (attacked["noise_draws"] == 0).all() and noise["noise_draws"].between(1, 10).all()
    kept = ~noise["note"].str.contains("noise draws flipped")
    assert (noise.loc[kept, "target_after"] == noise.loc[kept, "target_before"]).all()
    unlucky = noise[noise["note"].str.contains("all 10 noise draws flipped")]
    assert unlucky["ssim"].isna().all() and unlucky["spearman"].isna().all()
    sal = noise[(noise["method"] == "saliency") & noise["note"].eq("")]
    assert len(sal) and sal["ssim"].notna().all() and sal["spearman"].notna().all()
    refused = noise[noise["method"] == "gradcam"]  # not applicable: a paired row all the same, with the note
    assert refused["note"].str.contains("not applicable").all() and refused["ssim"].isna().all()
    for attack in ("fgsm", "pgd"):
        draws = adv_out["arrays"][f"noise_{attack}_draws"]
        maps = adv_out["arrays"][f"noise_{attack}_saliency_after"]
        assert maps.shape == adv_out["arrays"][f"{attack}_saliency_after"].shape
        assert np.isnan(maps[draws == 0]).all()
    summary = adv.summarise_similarity(sim).set_index(["attack", "method"])
    for attack in ("fgsm", "pgd"):  # the noise control is an "attack" of its own, on the flipped samples
        n_flipped = summary.at[(attack, "saliency"), "n_flipped"]
        assert summary.at[(f"noise_{attack}", "saliency"), "n"] == n_flipped
        assert summary.at[(f"noise_{attack}", "saliency"), "median_epsilon"] == pytest.approx(
            summary.at[(attack, "saliency"), "median_epsilon"], nan_ok=True
        )
    pairs = adv.attack_vs_noise(sim)
    assert len(pairs) == len(flipped)
    one = pairs[(pairs["method"] == "saliency") & pairs["ssim_noise"].notna()].iloc[0]
    mine = sim[(sim["sample"] == one["sample"]) & (sim["method"] == one["method"])].set_index("attack")
    assert one["spearman_attack"] == mine.at[one["attack"], "spearman"]
    assert one["ssim_noise"] == mine.at[f"noise_{one['attack']}", "ssim"]


def test_attack_vs_noise_on_a_hand_made_table():
    rows = [
        # sample, attack, method, epsilon, flipped, ssim, spearman, note
        (0, "fgsm", "saliency", 0.01, True, 0.2, 0.1, ""),
        (0, "noise_fgsm", "saliency", 0.01, True, 0.9, 0.8, ""),
        (1, "fgsm", "saliency", np.nan, False, 0.7, 0.6, ""),  # not flipped: no noise row, no pair
        (2, "fgsm", "saliency", 0.02, True, 0.5, 0.5, ""),
        (2, "noise_fgsm", "saliency", 0.02, True, np.nan, np.nan, "all 10 noise draws flipped it"),
        (0, "pgd", "saliency", 0.005, True, 0.6, 0.7, ""),
        (0, "noise_pgd", "saliency", 0.005, True, 0.4, 0.3, ""),  # the attack changes it *less* than noise
        (0, "fgsm", "gradcam", 0.01, True, 0.3, -0.2, ""),
        (0, "noise_fgsm", "gradcam", 0.01, True, 0.8, 0.9, ""),
    ]
    table = pd.DataFrame(
        rows, columns=["sample", "attack", "method", "epsilon", "flipped", "ssim", "spearman", "note"]
    )
    table["matched_attack"] = table["attack"].str.removeprefix("noise_")
    table["noise_draws"] = np.where(table["attack"].str.startswith("noise_"), 1, 0)
    gathered = pd.concat([table.assign(dataset="d", model="m1"), table.assign(dataset="d", model="m2")])
    for similarity in (table, table.drop(columns=["matched_attack", "noise_draws"]), gathered):
        pairs = adv.attack_vs_noise(similarity)
        # (0, saliency, fgsm), (2, saliency, fgsm), (0, saliency, pgd), (0, gradcam, fgsm) per model
        assert len(pairs) == 4 * (2 if "model" in similarity else 1)
        got = pairs.set_index(["sample", "method", "attack"]).loc[lambda d: ~d.index.duplicated()]
        assert got.at[(0, "saliency", "fgsm"), "spearman_diff"] == pytest.approx(0.8 - 0.1)
        assert got.at[(0, "saliency", "fgsm"), "ssim_diff"] == pytest.approx(0.9 - 0.2)
        assert got.at[(0, "saliency", "pgd"), "spearman_diff"] == pytest.approx(0.3 - 0.7)  # negative
        assert got.at[(0, "gradcam", "fgsm"), "spearman_diff"] == pytest.approx(0.9 + 0.2)
        assert got.at[(0, "gradcam", "fgsm"), "spearman_attack"] == -0.2
        assert got.at[(0, "gradcam", "fgsm"), "spearman_noise"] == 0.9
        assert got.at[(0, "saliency", "pgd"), "epsilon"] == 0.005
        assert np.isnan(got.at[(2, "saliency", "fgsm"), "spearman_diff"])
        assert "noise draws flipped" in got.at[(2, "saliency", "fgsm"), "note"]
    assert {"dataset", "model"} <= set(pairs.columns) and set(pairs["model"]) == {"m1", "m2"}
    duplicated = pd.concat([table, table.iloc[[1]]])
    with pytest.raises(pd.errors.MergeError):
        adv.attack_vs_noise(duplicated)


def test_gradcam_changes_more_under_the_attack_than_under_noise_and_rows_are_deterministic(trained):
    """Measured on the stripes model, 32 test images, PGD (16 budgets), noise seeds 0-4: the mean Spearman
    ρ of Grad-CAM's maps is 0.51 under the attack and 0.92-0.94 under sign noise of the same ε (difference
    0.41-0.42, every seed); saliency's changes as much under noise (0.28 vs 0.29-0.30, difference +0.01-0.02;
    FGSM: -0.10 to -0.12), so only Grad-CAM's is asserted."""
    from xaibench.pairs import load_pair

    root = trained[0]
    pair = load_pair(str(root / "data.npz"), str(root / "model.pt"), "cpu")
    settings = {**SETTINGS, "n_samples": 32, "attacks": ["pgd"], "epsilon_steps": 16}
    methods = {"saliency": {"method": "saliency"}, "gradcam": {"method": "gradcam"}}
    runs = {seed: adv.adversarial_job(pair, settings, methods, seed=seed)["similarity"] for seed in (0, 1)}
    for sim in runs.values():
        pairs = adv.attack_vs_noise(sim)
        grad = pairs[pairs["method"] == "gradcam"]
        assert len(grad) >= 20 and grad["spearman_diff"].notna().all()
        assert grad["spearman_diff"].mean() > 0.2, grad["spearman_diff"].describe()
        assert grad["ssim_diff"].mean() > 0.1
    again = adv.adversarial_job(pair, settings, methods, seed=0)["similarity"]
    pd.testing.assert_frame_equal(again, runs[0])  # same seed: identical rows
    attack_rows = runs[0]["attack"] == "pgd"
    pd.testing.assert_frame_equal(runs[1][attack_rows], runs[0][attack_rows])  # the attack does not use it
    assert not runs[1][~attack_rows]["spearman"].equals(runs[0][~attack_rows]["spearman"])  # the noise does


# ---- figures -------------------------------------------------------------------------------------------


def test_figures_are_written(tmp_path, featvis, adv_out):
    from xaibench.figures import views_model as plots

    names = ["noise 1", "test #0 (triangle)"]
    table = fv.result_table(featvis, names, [-1, 0])
    plots.plot_feature_visualisation(
        featvis.images, featvis.starts, table, ["triangle", "square"], (0.0, 1.0), "t", tmp_path / "fv.png"
    )
    rng = np.random.default_rng(0)
    coords = pd.DataFrame(
        {
            "label": np.repeat([0, 1], 10),
            "prediction": np.r_[np.repeat([0, 1], 10)[:-1], 0],
            **{c: rng.normal(size=20) for c in ("tsne_x", "tsne_y", "umap_x", "umap_y")},
        }
    )
    plots.plot_embeddings(coords, ["a", "b"], [("tsne", "t-SNE"), ("umap", "UMAP")], "t", tmp_path / "e.png")
    rows = adv.heatmap_rows(adv_out, 2)
    names = adv_out["class_names"]
    plots.plot_adversarial_heatmaps(
        rows["clean"], rows["adversarial"], rows["maps_before"], rows["maps_after"], rows["rows"],
        names, (0.0, 1.0), "t", tmp_path / "h.png",
    )  # fmt: skip
    plots.plot_adversarial_similarity(
        adv_out["similarity"], adv_out["flips"], (0.002, 0.5), "t", tmp_path / "s.png"
    )
    maxi = adv_out["arrays"]["maximised"]
    images = adv_out["arrays"]["images"][: len(maxi)]
    plots.plot_maximisation(images, maxi, adv_out["maximisation"], names, (0.0, 1.0), "t", tmp_path / "m.png")
    from matplotlib.image import imread

    for name in ("fv.png", "e.png", "h.png", "s.png", "m.png"):
        rgb = (imread(tmp_path / name)[..., :3] * 255).round().astype(np.uint32)
        colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
        assert min(rgb.shape[:2]) > 200 and len(colours) > 20, name
