"""Batched LIME and Kernel SHAP over superpixels: the result of Captum 0.9's ``Lime`` / ``KernelShap`` run one
image at a time (as :func:`xaibench.methods.perturbation._sampled_attribution` did), without Captum's Python
loop over the samples.

Per image, Captum draws ``n_samples`` binary vectors z over the k superpixels from torch's global CPU
generator seeded with ``seed``, builds ``z[mask] * x + (1 - z[mask]) * baseline`` one sample at a time, weighs
it (LIME: exp(-d^2 / 2) with d = 1 - cos(x, perturbed); Kernel SHAP: 1e6 for the all-on / all-off samples, 1
otherwise), evaluates the model ``perturbations_per_eval`` samples at a time and fits an sklearn linear model
(Lasso, or LinearRegression for alpha = 0 and Kernel SHAP) with the weights as sample weights; the map is the
coefficient of each superpixel.

Here the draws are the same torch calls in the same order under the same seed (:func:`_draws`; they depend
only on the method, the seed, k and ``n_samples``, so they are cached), the perturbed images, weights and
target logits are computed with the same tensor operations on whole chunks of samples, the chunks run over
the samples of all images (at most ``perturbations_per_eval`` per forward pass, as Captum's per-image passes),
and the surrogate is the same sklearn estimator on the same float32 arrays. The maps equal Captum's to
float32 rounding of the forward passes (bitwise where the model's outputs do not depend on the batch size).
Assumes a forward pass that does not draw random numbers (a model in eval mode), as Captum's result would
otherwise depend on the interleaving of draws and passes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from xaibench.methods.params import seeded

KERNEL_SHAP_INF_WEIGHT = 1e6  # Captum's KernelShap.inf_weight: the all-on and all-off samples
LIME_KERNEL_WIDTH = 1.0  # Captum's default exp kernel (cosine distance)


def one_player_shap(
    model: nn.Module, image: torch.Tensor, target: int, mask: torch.Tensor, baseline: float
) -> torch.Tensor:
    """Kernel SHAP of an image with one superpixel: its Shapley value is exact, f(x) - f(baseline) (Captum's
    sampler fails on it). (1, 1, H, W) float32, like ``mask``."""
    pair = torch.cat([image, torch.full_like(image, float(baseline))])
    logits = model(pair)[:, target]
    return (logits[0] - logits[1]).to(torch.float32).expand(mask.shape).clone()


@functools.lru_cache(maxsize=256)
def _draws(method: str, seed: int, k: int, n_samples: int) -> torch.Tensor:
    """(n_samples, k) int64 on the CPU: Captum's interpretable samples for an image with k superpixels.

    The same calls on the same generator as Captum's samplers after ``seeded(seed)``: LIME's
    ``default_perturb_func`` (``torch.bernoulli`` of a (1, k) tensor of 0.5 per sample); Kernel SHAP's
    ``kernel_shap_perturb_generator`` (all ones, all zeros, then per sample: the number s of "on" features
    from ``Categorical`` with weights (k - 1) / (i (k - i)), i = 0..k-1 (0 for i = 0), a
    ``torch.randn(1, k)``, and on = values above the (k - s)-th smallest; the thresholds are taken after the
    loop, they draw nothing).
    Cached: do not modify the result."""
    from torch.distributions.categorical import Categorical

    with seeded(seed, torch.device("cpu")):
        if method == "lime":
            return torch.cat([torch.bernoulli(torch.ones(1, k) * 0.5).long() for _ in range(n_samples)])
        num_features_list = torch.arange(k, dtype=torch.float)
        denom = num_features_list * (k - num_features_list)
        probs = torch.tensor(k - 1) / denom
        probs[0] = 0.0
        distribution = Categorical(probs)
        special = [torch.ones(1, k, dtype=torch.long), torch.zeros(1, k, dtype=torch.long)][:n_samples]
        n_random = max(0, n_samples - len(special))
        selected = torch.zeros(n_random, dtype=torch.long)
        values = torch.zeros(n_random, k)
        for j in range(n_random):
            selected[j] = distribution.sample()
            values[j] = torch.randn(1, k)[0]
    # kthvalue(v, k - s) is the (k - s)-th smallest: index k - s - 1 of the sorted values.
    thresholds = values.sort(dim=1).values.gather(1, (k - selected - 1)[:, None])
    return torch.cat([*special, (values > thresholds).long()])


def _kernel_shap_weights(draws: torch.Tensor) -> torch.Tensor:
    """Kernel SHAP's sample weights (n_samples,) float32 (Captum's ``kernel_shap_similarity_kernel``)."""
    on = draws.sum(dim=1)
    extreme = (on == 0) | (on == draws.shape[1])
    return torch.where(extreme, KERNEL_SHAP_INF_WEIGHT, 1.0).to(torch.float32)


def _chunks(n_images: int, n_samples: int, size: int) -> Iterator[tuple[int, list[tuple[int, int, int]]]]:
    """The samples of all images in order, ``size`` at a time: (index of the chunk's first sample, segments
    (image, first, stop))."""
    total = n_images * n_samples
    for start in range(0, total, size):
        stop, r, segments = min(start + size, total), start, []
        while r < stop:
            image, first = divmod(r, n_samples)
            last = min(n_samples, first + stop - r)
            segments.append((image, first, last))
            r += last - first
        yield start, segments


def _lime_exponents(image: torch.Tensor, perturbed: torch.Tensor) -> torch.Tensor:
    """The exponent of Captum's ``default_exp_kernel`` for each row of ``perturbed``, (m,) float32:
    -(1 - cos(x, perturbed))^2 / (2 width^2), the same ops as Captum's on its 0-d tensors (the caller takes
    math.exp in double, as Captum does)."""
    cos = nn.functional.cosine_similarity(
        image.flatten()[None].float(), perturbed.flatten(1).float(), dim=1, eps=1e-8
    )
    distance = 1 - cos
    return -1 * distance**2 / (2 * LIME_KERNEL_WIDTH**2)


def _fit(
    method: str, alpha: float, draws: torch.Tensor, outputs: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Coefficients (k,) float32 of the sklearn surrogate Captum fits (``SkLearnLasso(alpha)``, or
    ``SkLearnLinearRegression``) on float32 arrays with the weights as ``sample_weight``."""
    from sklearn.linear_model import Lasso, LinearRegression

    estimator = Lasso(alpha=alpha) if method == "lime" and alpha > 0 else LinearRegression()
    estimator.fit(
        draws.float().numpy(),
        outputs.float().cpu().numpy(),
        sample_weight=weights.float().cpu().numpy(),
    )
    return torch.as_tensor(np.asarray(estimator.coef_), dtype=torch.float32).reshape(-1)


def sampled_surrogates(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    masks: torch.Tensor,
    n_samples: int,
    perturbations_per_eval: int,
    baseline: float,
    seed: int,
    alpha: float = 0.0,
) -> torch.Tensor:
    """``lime`` (surrogate Lasso(alpha), least squares for alpha = 0) or ``kernel_shap`` of every image of
    ``inputs`` over its superpixels ``masks`` (n, 1, H, W) int64, ids 0..k-1 per image; (n, 1, H, W) float32,
    each superpixel's coefficient. Arguments checked by the caller."""
    baseline = float(baseline)
    device = inputs.device
    maps: list[torch.Tensor | None] = [None] * inputs.shape[0]
    with torch.no_grad():
        active = []  # (image index, draws) of the images with a fitted surrogate
        for i in range(inputs.shape[0]):
            k = int(masks[i].max()) + 1
            if method == "kernel_shap" and k == 1:
                image = inputs[i : i + 1].detach()
                maps[i] = one_player_shap(model, image, int(targets[i]), masks[i : i + 1], baseline)
            else:
                active.append((i, _draws(method, seed, k, n_samples)))
        draws_on = [draws.to(device).bool() for _, draws in active]
        pixels = [masks[i].reshape(-1) for i, _ in active]  # superpixel id of each pixel
        outputs = torch.empty(len(active) * n_samples, device=device)
        similarities = torch.empty(len(active), n_samples)  # LIME's weights (float32, as Captum's)
        targets = targets.to(device).long()
        for start, segments in _chunks(len(active), n_samples, perturbations_per_eval):
            batch, rows = [], []
            for a, first, last in segments:
                i = active[a][0]
                image = inputs[i : i + 1].detach()
                on = draws_on[a][first:last].index_select(1, pixels[a]).reshape(-1, 1, *image.shape[2:])
                perturbed = on.to(image.dtype) * image + (~on).to(image.dtype) * baseline
                batch.append(perturbed)
                rows.append(targets[i].expand(last - first))
                if method == "lime":  # math.exp in double, then float32: Captum's torch.tensor([float])
                    exponents = _lime_exponents(image, perturbed).tolist()
                    similarities[a, first:last] = torch.tensor([math.exp(v) for v in exponents])
            logits = model(batch[0] if len(batch) == 1 else torch.cat(batch))
            picked = logits[torch.arange(logits.shape[0], device=device), torch.cat(rows)]
            outputs[start : start + logits.shape[0]] = picked.float()
        for a, (i, draws) in enumerate(active):
            weights = _kernel_shap_weights(draws) if method == "kernel_shap" else similarities[a]
            # sklearn's coordinate descent draws a seed from numpy's global generator: fit where Captum
            # does, inside seeded(), so that the caller's generators end as Captum leaves them
            with seeded(seed, torch.device("cpu")):
                coefs = _fit(method, alpha, draws, outputs[a * n_samples : (a + 1) * n_samples], weights)
            maps[i] = coefs.to(masks.device)[masks[i : i + 1]]
    return torch.cat(maps)
