"""The batched ``lime`` and ``kernel_shap`` (xaibench.methods.surrogate) and ``shapley_value_sampling``
(xaibench.methods.shapley) give Captum's maps.

Each case runs ``_sampled_attribution`` twice, batched and with ``batched=False`` (Captum's ``Lime`` /
``KernelShap`` / ``ShapleyValueSampling`` one image at a time, the implementation the batched one replaces),
and compares the maps to rtol 1e-5, atol 1e-6 x max|map| (observed: equal to the bit on small_cnn on the
CPU; Shapley value sampling, whose arithmetic is the same float32 operations, is asserted bitwise). The
model is a random small_cnn with its logits scaled up, so that the Lasso keeps several coefficients and the
maps are not trivially zero; the cases cover SLIC and grid superpixels, several seeds and baselines,
n_samples below, above and not a multiple of perturbations_per_eval (chunks of the batched forward passes
spanning images), alpha > 0 (Lasso) and alpha = 0 (least squares), and images with a single superpixel
(Kernel SHAP's exact special case; LIME's one-coefficient fit) next to images with several.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from tiny_models import ScaledLogits
from torch import nn

from xaibench.methods import perturbation
from xaibench.methods.params import seeded
from xaibench.methods.surrogate import _draws
from xaibench.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 16


@functools.cache
def _model() -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(1)
        net = build_model("small_cnn", in_channels=3, num_classes=3, image_size=SIZE, width=4)
    return ScaledLogits(net, 1000.0).eval()


def _images(n: int = 3, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise with a brighter rectangle per image (SLIC finds several segments), targets 0, 1, 2, 0, ..."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.rand(n, 3, SIZE, SIZE, generator=gen)
    x[:, :, 3:11, 5:13] += torch.rand(n, 3, 1, 1, generator=gen)
    return x, torch.arange(n) % 3


def _both(method: str, x: torch.Tensor, targets: torch.Tensor, **params) -> tuple[np.ndarray, np.ndarray]:
    """(batched, Captum) maps of ``method`` with ``params`` (those of ``_sampled_attribution``)."""
    options = {
        "n_samples": 50,
        "perturbations_per_eval": 16,
        "baseline": 0.0,
        "seed": 0,
        "segmentation": None,
        **params,
    }
    maps, ends = [], []
    for batched in (True, False):  # from the same global random states
        torch.manual_seed(123)
        np.random.seed(123)  # noqa: NPY002
        maps.append(
            perturbation._sampled_attribution(method, _model(), x, targets, **options, batched=batched)
        )
        ends.append((torch.get_rng_state(), np.random.get_state()))  # noqa: NPY002
    # ... and leave them as Captum does (sklearn's Lasso draws from numpy's: key and position must agree),
    # else a metric's noise drawn after a re-explanation differs
    assert torch.equal(ends[0][0], ends[1][0])
    (_, key_a, *rest_a), (_, key_b, *rest_b) = ends[0][1], ends[1][1]
    assert np.array_equal(key_a, key_b) and rest_a == rest_b
    for m in maps:
        assert m.dtype == torch.float32 and m.shape == (x.shape[0], 1, *x.shape[2:])
    return maps[0].numpy(), maps[1].numpy()


def _assert_same(new: np.ndarray, old: np.ndarray, varied: bool = True) -> None:
    scale = float(np.abs(old).max())
    assert scale > 0, "degenerate case: all-zero maps"
    if varied:  # several distinct coefficients per image, not one value everywhere
        assert all(len(np.unique(m)) > 1 for m in old), "degenerate case: a constant map"
    np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 0.01},
        {"alpha": 0.01, "seed": 3, "n_samples": 40, "perturbations_per_eval": 64, "baseline": 0.3},
        {"alpha": 0.05, "seed": 11, "n_samples": 33, "perturbations_per_eval": 10},
        {"alpha": 0.0, "seed": 1, "n_samples": 60, "perturbations_per_eval": 25},
        {
            "alpha": 0.0,
            "seed": 4,
            "n_samples": 45,
            "segmentation": {"kind": "grid", "cell": 4},
            "baseline": 0.2,
        },
    ],
    ids=["lasso", "lasso-chunks-span-images", "lasso-ppe10", "least-squares", "least-squares-grid"],
)
def test_lime_equals_captum(params):
    x, targets = _images()
    _assert_same(*_both("lime", x, targets, **params))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"seed": 7, "n_samples": 45, "perturbations_per_eval": 64, "baseline": 0.3},
        {
            "seed": 2,
            "n_samples": 37,
            "perturbations_per_eval": 100,
            "segmentation": {"kind": "grid", "cell": 4},
        },
    ],
    ids=["slic", "chunks-span-images", "grid"],
)
def test_kernel_shap_equals_captum(params):
    x, targets = _images()
    _assert_same(*_both("kernel_shap", x, targets, **params))


@pytest.mark.parametrize(
    "params",
    [
        {"n_samples": 2},
        {"n_samples": 3, "seed": 5, "perturbations_per_eval": 7, "baseline": 0.3},
        {
            "n_samples": 1,
            "seed": 2,
            "perturbations_per_eval": 64,
            "segmentation": {"kind": "grid", "cell": 4},
        },
    ],
    ids=["slic", "chunks-span-images", "grid"],
)
def test_shapley_value_sampling_equals_captum(params):
    x, targets = _images()
    new, old = _both("shapley_value_sampling", x, targets, **params)
    _assert_same(new, old)
    np.testing.assert_array_equal(new, old)  # the same float32 operations: bitwise on small_cnn, CPU


def test_one_superpixel_equals_captum():
    """One grid cell as large as the image: Kernel SHAP's exact f(x) - f(baseline), LIME's one coefficient."""
    x, targets = _images()
    whole = {"kind": "grid", "cell": SIZE}
    _assert_same(*_both("kernel_shap", x, targets, segmentation=whole, baseline=0.1), varied=False)
    _assert_same(*_both("lime", x, targets, segmentation=whole, alpha=0.0, n_samples=20), varied=False)


def test_mixed_superpixel_counts_equal_captum(monkeypatch):
    """Images with 1, 2 and 6 superpixels in one batch: the one-player image is explained apart, the others'
    samples share chunks; the Lasso and least-squares fits are sized per image; Shapley value sampling's
    steps of images with different superpixel counts share chunks."""
    masks = torch.zeros(4, 1, SIZE, SIZE, dtype=torch.int64)
    masks[1, 0, :, SIZE // 2 :] = 1
    masks[2, 0] = (torch.arange(SIZE)[:, None] // 6) * 2 + torch.arange(SIZE)[None, :] // 8
    masks[3, 0] = (torch.arange(SIZE)[:, None] // 6) * 2 + torch.arange(SIZE)[None, :] // 8
    monkeypatch.setattr(perturbation, "_superpixel_masks", lambda method, inputs, segmentation: masks)
    x, targets = _images(4)
    for method, params in [
        ("kernel_shap", {"n_samples": 30}),
        ("lime", {"n_samples": 30, "alpha": 0.0}),
        ("lime", {"n_samples": 30, "alpha": 0.01}),
        ("shapley_value_sampling", {"n_samples": 3}),  # 3 orders of each image's superpixels
    ]:
        new, old = _both(method, x, targets, perturbations_per_eval=7, **params)
        _assert_same(new, old, varied=False)


@pytest.mark.parametrize("k", [2, 5, 33])
def test_draws_are_captums(k):
    """The interpretable samples are those Captum's samplers draw after ``seeded(seed)``."""
    from captum.attr import KernelShap
    from captum.attr._core.lime import default_perturb_func
    from torch.distributions.categorical import Categorical

    with seeded(5, torch.device("cpu")):
        lime = torch.cat([default_perturb_func(torch.zeros(1), num_interp_features=k) for _ in range(40)])
    assert torch.equal(_draws("lime", 5, k, 40), lime)

    features = torch.arange(k, dtype=torch.float)
    probs = torch.tensor(k - 1) / (features * (k - features))
    probs[0] = 0.0
    with seeded(5, torch.device("cpu")):
        generator = KernelShap(_model()).kernel_shap_perturb_generator(
            torch.zeros(1), num_select_distribution=Categorical(probs), num_interp_features=k
        )
        shap = torch.cat([next(generator) for _ in range(40)])
    assert torch.equal(_draws("kernel_shap", 5, k, 40), shap)


def test_independent_of_batch_and_chunking_and_restores_rng():
    """A map depends on its image only (not its batch or perturbations_per_eval); the caller's random state is
    kept; the cached draws are not altered by a call (a second call gives the same maps)."""
    x, targets = _images()
    options = {"n_samples": 50, "baseline": 0.0, "seed": 0, "segmentation": None, "alpha": 0.01}
    state = torch.get_rng_state()
    batch = perturbation._sampled_attribution(
        "lime", _model(), x, targets, perturbations_per_eval=16, **options
    ).numpy()
    assert torch.equal(torch.get_rng_state(), state)
    again = perturbation._sampled_attribution(
        "lime", _model(), x, targets, perturbations_per_eval=16, **options
    ).numpy()
    np.testing.assert_array_equal(again, batch)
    scale = float(np.abs(batch).max())
    for i in range(x.shape[0]):
        for ppe in (7, 64):
            alone = perturbation._sampled_attribution(
                "lime", _model(), x[i : i + 1], targets[i : i + 1], perturbations_per_eval=ppe, **options
            ).numpy()
            np.testing.assert_allclose(alone, batch[i : i + 1], rtol=1e-5, atol=1e-6 * scale)
