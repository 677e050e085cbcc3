"""Batched Shapley value sampling over superpixels: the result of Captum 0.9's ``ShapleyValueSampling`` run
one image at a time (:func:`xaibench.methods.perturbation._sampled_attribution` with ``batched=False``),
without Captum's Python loop over the features.

Per image with k superpixels, Captum evaluates the model on the baseline, then, for each of ``n_samples``
orders of the superpixels (``torch.randperm(k)`` from torch's global CPU generator seeded with ``seed``),
adds the superpixels one by one in that order (``current * (mask != f) + x * (mask == f)``) and evaluates each
step, ``perturbations_per_eval`` steps per forward pass. A superpixel's value in one order is the change of
the target logit when it was added (float32); the map is the sum over the orders, in order, divided by
``n_samples``.

Here the orders are the same calls under the same seed (:func:`_orders`, cached), a step's image is built at
once (superpixels added by step k: those whose position in the order is <= k; the others hold the baseline, as
Captum's arithmetic leaves them exactly), the baseline is evaluated once per call, the steps of all images run
in forward passes of at most ``perturbations_per_eval`` images, and the differences and their sum are the same
float32 operations. The maps equal Captum's to float32 rounding of the forward passes (bitwise where the
model's outputs do not depend on the batch size). Assumes a forward pass that draws no random numbers (a
model in eval mode).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from xaibench.methods.params import seeded


@functools.lru_cache(maxsize=256)
def _orders(seed: int, k: int, n_samples: int) -> torch.Tensor:
    """(n_samples, k) int64 on the CPU: Captum's orders of k superpixels after ``seeded(seed)`` (its
    ``_perm_generator``: ``torch.randperm(k)`` per sample; the forward passes between draws draw nothing).
    Cached: do not modify the result."""
    with seeded(seed, torch.device("cpu")):
        return torch.stack([torch.randperm(k) for _ in range(n_samples)])


def sampled_shapley(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    masks: torch.Tensor,
    n_samples: int,
    perturbations_per_eval: int,
    baseline: float,
    seed: int,
) -> torch.Tensor:
    """``shapley_value_sampling`` of every image of ``inputs`` over its superpixels ``masks`` (n, 1, H, W)
    int64, ids 0..k-1 per image; (n, 1, H, W) float32, each superpixel's value. Arguments checked by the
    caller."""
    device = inputs.device
    n, _, height, width = inputs.shape
    targets = targets.to(device).long()
    ks = [int(masks[i].max()) + 1 for i in range(n)]
    orders = [_orders(seed, k, n_samples).to(device) for k in ks]
    # positions[i][s]: each superpixel's position in order s (the step at which it is added)
    positions = [torch.argsort(order, dim=1) for order in orders]
    # per pixel: the step at which its superpixel is added, per order (n, n_samples, H, W)
    pixel_steps = torch.stack(
        [
            position[:, masks[i, 0].reshape(-1)].reshape(n_samples, height, width)
            for i, position in enumerate(positions)
        ]
    )
    # the rows to evaluate, image-major, then order, then step: (image, order, step)
    rows = torch.cat(
        [
            torch.cartesian_prod(torch.tensor([i]), torch.arange(n_samples), torch.arange(k)).to(device)
            for i, k in enumerate(ks)
        ]
    )
    outputs = torch.empty(rows.shape[0], dtype=torch.float32, device=device)
    with torch.no_grad():
        base_image = torch.full_like(inputs[:1], baseline)
        initial = model(base_image)[0, targets].float()  # (n,): the baseline's target logit per image
        for start in range(0, rows.shape[0], perturbations_per_eval):
            image, order, step = rows[start : start + perturbations_per_eval].unbind(1)
            added = (pixel_steps[image, order] <= step[:, None, None])[:, None]
            batch = torch.where(added, inputs[image].detach(), base_image)
            logits = model(batch)
            picked = logits[torch.arange(logits.shape[0], device=device), targets[image]]
            outputs[start : start + picked.shape[0]] = picked.float()
    maps, first = [], 0
    for i, k in enumerate(ks):
        steps = outputs[first : first + n_samples * k].reshape(n_samples, k)
        first += n_samples * k
        previous = torch.cat([initial[i].expand(n_samples, 1), steps[:, :-1]], dim=1)
        gains = steps - previous  # (order, step): the logit change when the step's superpixel was added
        total = torch.zeros(k, dtype=torch.float32, device=device)
        for s in range(n_samples):  # Captum adds the orders one after another
            total = total + gains[s].index_select(0, positions[i][s])
        values = total / n_samples
        maps.append(values[masks[i : i + 1]])
    return torch.cat(maps)
