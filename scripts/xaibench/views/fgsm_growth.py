"""Controlled growth of a targeted FGSM attack (seed 004, Chen and Teuscher 2019, Fig. 3).

For each of ``n_samples`` seeded test images (:func:`xaibench.views.input_common.choose_samples`, cycling
through the classes) a target other than the clean prediction is chosen (``target: next``: prediction + 1
mod K; ``least``: the least likely class on the clean image) and the image is moved one signed-gradient step
at a time toward it (Goodfellow et al. 2015, iterated): ``x_{t+1} = clip(x_t - step * sign(grad_x CE(f(x_t),
target)), lower, upper)``, ``step`` a fraction of the data range (default 1/255) and ``lower``/``upper`` the
data's value range. Each image stops at the first step t whose ``p(target | x_t) >= threshold`` (its stop
step) or after ``max_steps`` steps (stop step NaN, not reached). Every step of every image is recorded:
p(target), p(original prediction), the predicted class and the L∞ and L2 norms of ``x_t - x_0`` divided by
the data range. Nothing is random but the choice of images; the model is used in eval mode and left as it was
(gradients are taken with respect to the input only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from xaibench.views.input_common import choose_samples

if TYPE_CHECKING:
    from xaibench.pairs import Pair

__all__ = ["FRACTIONS", "TARGETS", "Growth", "fgsm_growth_job", "grow_fgsm"]

TARGETS = ("next", "least")
#: Intermediate images kept for the figure, at these fractions of each shown image's stop (or last) step.
FRACTIONS = (0.25, 0.5, 0.75)


@dataclass
class Growth:
    """Per image (N) and step 0..max_steps (columns; NaN, or -1 for ``predicted``, after its stop): the
    target's and the original prediction's probabilities, the predicted class, the L∞ and L2 norms of
    ``x_t - x_0`` relative to the data range; ``stop`` (NaN if never reached), ``final`` (N, C, H, W; the
    image at the stop or after the last step), ``history`` (x_0, x_1, ... on the CPU; the first ``keep``)."""

    p_target: np.ndarray
    p_original: np.ndarray
    predicted: np.ndarray
    linf: np.ndarray
    l2: np.ndarray
    stop: np.ndarray
    final: torch.Tensor
    history: list[list[torch.Tensor]]


def grow_fgsm(
    model: nn.Module,
    x0: torch.Tensor,
    original: torch.Tensor,
    target: torch.Tensor,
    step: float,
    bounds: tuple[float, float],
    max_steps: int,
    threshold: float,
    keep: int = 0,
) -> Growth:
    """Targeted FGSM steps of size ``step`` (absolute, pixel value) on ``x0`` toward ``target`` until
    p(target) >= ``threshold`` (per image) or ``max_steps`` steps; ``model`` in eval mode."""
    lo, hi = bounds
    span = max(hi - lo, 1e-12)
    n, cols = len(x0), int(max_steps) + 1
    p_t, p_o, linf, l2 = (np.full((n, cols), np.nan) for _ in range(4))
    predicted = np.full((n, cols), -1, dtype=np.int64)
    stop = np.full(n, np.nan)
    active = np.ones(n, dtype=bool)
    x = x0.detach().clone()
    history = [[x0[i].detach().cpu()] for i in range(min(keep, n))]
    for t in range(cols):
        todo = np.flatnonzero(active)
        sel = torch.from_numpy(todo).to(x0.device)
        xs = x[sel].requires_grad_(True)
        logits = model(xs)
        probs = logits.detach().float().softmax(1)
        p_t[todo, t] = probs.gather(1, target[sel, None]).squeeze(1).cpu().numpy()
        p_o[todo, t] = probs.gather(1, original[sel, None]).squeeze(1).cpu().numpy()
        predicted[todo, t] = probs.argmax(1).cpu().numpy()
        delta = (xs.detach() - x0[sel]).flatten(1).double()
        linf[todo, t] = (delta.abs().amax(1) / span).cpu().numpy()
        l2[todo, t] = (delta.norm(dim=1) / span).cpu().numpy()
        done = p_t[todo, t] >= threshold
        stop[todo[done]] = t
        active[todo[done]] = False
        if t == cols - 1 or done.all():
            break
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, target[sel], reduction="sum"), xs)
        moved = torch.clamp(xs.detach() - step * grad.sign(), lo, hi)  # descend the target's loss
        go = torch.from_numpy(~done).to(x0.device)
        x[sel[go]] = moved[go]
        for i, frames in enumerate(history):
            if active[i]:
                frames.append(x[i].cpu())
    return Growth(p_t, p_o, predicted, linf, l2, stop, x, history)


def _settings(settings: dict[str, Any]) -> tuple[int, str, float, int, float, int]:
    n, rule = int(settings.get("n_samples", 8)), str(settings.get("target", "next"))
    step, max_steps = float(settings.get("step", 1 / 255)), int(settings.get("max_steps", 100))
    threshold, n_show = float(settings.get("threshold", 0.5)), int(settings.get("n_show", 3))
    if rule not in TARGETS:
        raise ValueError(f"target: expected one of {list(TARGETS)}, got {rule!r}")
    if not (step > 0 and max_steps >= 1 and 0 < threshold < 1 and n >= 1 and n_show >= 1):
        raise ValueError(
            f"need step > 0, max_steps >= 1, 0 < threshold < 1, n_samples >= 1 and n_show >= 1, got {step},"
            f" {max_steps}, {threshold}, {n}, {n_show}"
        )
    return n, rule, step, max_steps, threshold, min(n_show, 4, n)


def fgsm_growth_job(pair: Pair, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """The view on one pair: the tables ``trajectory`` (one row per image and step) and ``stops`` (one per
    image), the arrays of ``growth.npz`` and what the figure needs besides."""
    from xaibench.runtime import seed_everything

    n, rule, step, max_steps, threshold, n_show = _settings(settings)
    dataset, model, dev = pair.dataset, pair.model, pair.device
    seed_everything(seed)
    idx = choose_samples(dataset.labels, dataset.indices("test"), n, seed)
    x0 = torch.from_numpy(dataset.images[idx]).to(dev)
    bounds = (float(dataset.images.min()), float(dataset.images.max()))
    start, was_training = time.perf_counter(), model.training
    model.eval()
    try:
        with torch.no_grad():
            clean = model(x0).float().softmax(1)
        original = clean.argmax(1)
        target = (original + 1) % clean.shape[1] if rule == "next" else clean.argmin(1)
        growth = grow_fgsm(
            model, x0, original, target, step * (bounds[1] - bounds[0]), bounds, max_steps, threshold, n_show
        )
    finally:
        model.train(was_training)
    seconds = round(time.perf_counter() - start, 3)
    orig, tgt = original.cpu().numpy(), target.cpu().numpy()
    runs = (growth.predicted >= 0).sum(1)  # rows per image: steps 0..last
    last, rows = runs - 1, np.arange(n)
    per_image = {"sample": idx, "label": dataset.labels[idx], "original_class": orig, "target_class": tgt}
    trajectory = pd.DataFrame({key: np.repeat(values, runs) for key, values in per_image.items()})
    steps = np.concatenate([np.arange(r) for r in runs])
    picked = (np.repeat(rows, runs), steps)
    trajectory["step"] = steps
    for column, values in (("p_target", growth.p_target), ("p_original", growth.p_original)):
        trajectory[column] = values[picked]
    trajectory["predicted_class"] = growth.predicted[picked]
    trajectory["linf_rel"], trajectory["l2_rel"] = growth.linf[picked], growth.l2[picked]
    trajectory["reached"] = trajectory["p_target"] >= threshold
    stops = pd.DataFrame(per_image).assign(
        target_rule=rule,
        reached=np.isfinite(growth.stop),
        stop_step=growth.stop,
        steps_run=last,
        p_target_clean=growth.p_target[:, 0],
        p_target_stop=growth.p_target[rows, last],
        p_original_stop=growth.p_original[rows, last],
        predicted_stop=growth.predicted[rows, last],
        linf_rel_stop=growth.linf[rows, last],
        l2_rel_stop=growth.l2[rows, last],
        step_rel=step,
        threshold=threshold,
        max_steps=max_steps,
    )
    snap_steps = np.array([[int(np.floor(f * last[i] + 0.5)) for f in FRACTIONS] for i in range(n_show)])
    snapshots = [torch.stack([growth.history[i][s] for s in snap_steps[i]]) for i in range(n_show)]
    final = growth.final.cpu().numpy()
    arrays = {
        "indices": idx,
        "labels": dataset.labels[idx],
        "original": orig,
        "target": tgt,
        "stop_step": growth.stop,
        "steps_run": last,
        "clean": dataset.images[idx],
        "final": final,
        "perturbation": final - dataset.images[idx],
        "snapshots": torch.stack(snapshots).numpy(),
        "snapshot_steps": snap_steps.reshape(n_show, len(FRACTIONS)),
        "fractions": np.asarray(FRACTIONS),
        "value_range": np.asarray(bounds),
        "step_rel": np.asarray(step),
        "threshold": np.asarray(threshold),
        "max_steps": np.asarray(max_steps),
    }
    names = list(dataset.class_names)
    return {
        "trajectory": trajectory,
        "stops": stops,
        "arrays": arrays,
        "class_names": names,
        "seconds": seconds,
    }
