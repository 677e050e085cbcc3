"""Adversarial views (seed 004): explanations before/after an imperceptible attack; adversarial maximisation.

**Flip search.** For each attack of :data:`ATTACKS` (Captum's ``captum.robust`` FGSM and PGD, L∞, untargeted,
cross-entropy against the model's own clean prediction) the budget ε runs up a geometric grid from
``epsilon_min`` to ``epsilon_max``; each sample keeps the attacked image of the *smallest* ε whose prediction
differs from the clean one (checked by a fresh forward pass), and that ε is recorded. Samples that never flip
keep the image attacked at ``epsilon_max`` and are recorded with ``flipped = False`` and ε = NaN. PGD runs
``pgd_steps`` steps of size ``2.5 ε / pgd_steps`` (Madry et al. 2018). Images stay in the data's value range
(the attacks' ``lower_bound`` / ``upper_bound``).

**Heatmaps before vs after.** Every method of the configured list is run through
:func:`xaibench.methods.explain` on the clean and on the attacked image, each for the model's prediction on
that image (``target: prediction``, the default: the explanation of the decision the model makes) or for the
clean prediction on both (``target: original``). A method that cannot explain the model
(``MethodNotApplicable``) is recorded with its reason and NaN scores. Similarity of the two maps: SSIM
(``skimage.metrics.structural_similarity``, data range 1) and Spearman's rank correlation, both on ``|a| /
max |a|`` of each map (the ranking of importance, as in Adebayo et al. 2018, whatever the sign convention of
the method).

**Noise control.** A heatmap may change under any small perturbation, not only under an attack. For every
sample that an attack flipped, random sign noise ``±ε`` per pixel (ε = that attack's flipping budget, so the
same L∞ norm; clipped to the data's value range as the attacks are: ``clamp(x + δ, lower, upper)``) is drawn
up to ``noise_draws`` times (default 10) from a generator seeded by (seed, sample, attack), and the first draw
that does *not* flip the prediction is kept (:func:`noise_control`). It is explained with the same methods for
the clean prediction, and its similarity to the clean map is recorded as the "attack" ``noise_<attack>``
(``matched_attack``: the attack whose ε it has). Each (sample, method) flipped by an attack thus has a paired
noise row (:func:`attack_vs_noise`): the claim "heatmaps change under adversarial attack" (seed 004) is
attributable to the attack only if the attack changes them more than noise of the same size. If every draw
flips the prediction, the noise row has NaN scores and says so in ``note``. Columns of the similarity table
after the original ones: ``matched_attack`` (the attack whose ε the row's perturbation has: its own for an
attack row), ``noise_draws`` (draws made; 0 for an attack row) and ``linf`` (the L∞ norm of the perturbation
applied). A noise row's ``flipped`` is its attack's (True), its ``epsilon`` the attack's ε.

**Adversarial maximisation.** Targeted PGD toward every class but the predicted one, on the margin
``z_t - logsumexp_{j≠t} z_j`` (which, unlike cross-entropy, does not saturate once the softmax reaches 1),
with a large budget (``maximise.epsilon``, ``maximise.steps`` steps), pushes the image far past the decision
boundary; the images and perturbations show what the model takes as evidence for each other class (the
column of the predicted class shows the input itself). The target logit and the margin before and after
are recorded.
"""

from __future__ import annotations

import logging
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.registry import Registry
from xaibench.views.adversarial_tables import (
    NOISE_PREFIX,
    attack_vs_noise,
    heatmap_rows,
    map_similarity,
    summarise_similarity,
)

if TYPE_CHECKING:
    from xaibench.pairs import Pair

log = logging.getLogger(__name__)

__all__ = [
    "ATTACKS",
    "FlipResult",
    "Maximisation",
    "NoiseControl",
    "adversarial_job",
    "attack_vs_noise",
    "epsilon_grid",
    "find_flips",
    "heatmap_rows",
    "map_similarity",
    "maximise_classes",
    "noise_control",
    "summarise_similarity",
]


Attack = Callable[..., torch.Tensor]
ATTACKS: Registry[Attack] = Registry("attack")


_QUIET = "Input Tensor 0 did not already require gradients"  # Captum, on every attack step


def _loss(kind: str = "cross_entropy") -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Per-sample loss of the attacks: cross-entropy, or ``margin`` = -(z_t - logsumexp_{j != t} z_j), a
    smooth margin (the max of the other logits, softened so that every other class pulls) which, unlike
    cross-entropy, keeps its gradient when the softmax has saturated (an attack goes on past p = 1)."""
    if kind == "cross_entropy":
        return nn.CrossEntropyLoss(reduction="none")
    if kind != "margin":
        raise ValueError(f"unknown attack loss {kind!r}")

    def margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = torch.as_tensor(target, device=logits.device).reshape(-1).expand(len(logits))
        own = logits.gather(1, target[:, None]).squeeze(1)
        others = logits.scatter(1, target[:, None], float("-inf")).logsumexp(1)
        return others - own

    return margin


def _captum_attack(
    name: str, default_steps: int, doc: str, perturb_args: Callable[[float, int], dict]
) -> Attack:
    """A registry attack: Captum's ``captum.robust.<name>`` with ``perturb_args(epsilon, steps)``.

    ``doc`` becomes its docstring.
    """

    def attack(
        model: nn.Module,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        epsilon: float,
        bounds: tuple[float, float],
        targeted: bool = False,
        steps: int = default_steps,
        loss: str = "cross_entropy",
    ) -> torch.Tensor:
        from captum import robust

        algorithm = getattr(robust, name)(
            model, loss_func=_loss(loss), lower_bound=bounds[0], upper_bound=bounds[1]
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_QUIET)
            return algorithm.perturb(
                inputs, target=targets, targeted=targeted, **perturb_args(epsilon, steps)
            ).detach()

    attack.__name__ = attack.__qualname__ = name.lower()
    attack.__doc__ = doc
    return attack


fgsm = ATTACKS.register("fgsm")(
    _captum_attack(
        "FGSM",
        1,
        "One signed-gradient step of size ``epsilon`` (Goodfellow et al. 2015), Captum's ``FGSM``.",
        lambda epsilon, steps: {"epsilon": epsilon},
    )
)
pgd = ATTACKS.register("pgd")(
    _captum_attack(
        "PGD",
        10,
        "Projected gradient descent in the L∞ ball of radius ``epsilon``, Captum's ``PGD``.",
        lambda epsilon, steps: {"radius": epsilon, "step_size": 2.5 * epsilon / steps, "step_num": steps},
    )
)


def epsilon_grid(epsilon_min: float, epsilon_max: float, n: int) -> np.ndarray:
    """``n`` geometrically spaced budgets from ``epsilon_min`` to ``epsilon_max``."""
    if not 0 < epsilon_min <= epsilon_max:
        raise ValueError(f"epsilon_min/epsilon_max: need 0 < min <= max, got {epsilon_min}, {epsilon_max}")
    if n < 1:
        raise ValueError(f"epsilon_steps: need >= 1, got {n}")
    return np.geomspace(epsilon_min, epsilon_max, n)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1)


@dataclass
class FlipResult:
    """Attacked images (N, C, H, W), the ε at the flip (NaN if never), flags and predictions."""

    adversarial: torch.Tensor
    epsilon: np.ndarray
    flipped: np.ndarray
    pred_before: np.ndarray
    pred_after: np.ndarray


def find_flips(
    model: nn.Module,
    inputs: torch.Tensor,
    attack: str,
    epsilons: np.ndarray,
    bounds: tuple[float, float],
    pgd_steps: int = 10,
) -> FlipResult:
    """Smallest ε of ``epsilons`` (increasing) at which ``attack`` changes each sample's prediction."""
    fn = ATTACKS.get(attack)
    model.eval()
    clean_pred = _predict(model, inputs)
    adversarial = inputs.clone()
    eps_at_flip = np.full(len(inputs), np.nan)
    flipped = np.zeros(len(inputs), dtype=bool)
    for eps in epsilons:
        todo = np.flatnonzero(~flipped)
        if len(todo) == 0:
            break
        sel = torch.from_numpy(todo).to(inputs.device)
        x_adv = fn(model, inputs[sel], clean_pred[sel], float(eps), bounds, steps=pgd_steps)
        now = (_predict(model, x_adv) != clean_pred[sel]).cpu().numpy()
        adversarial[sel] = x_adv  # the last attempt stays for samples that never flip (ε = epsilon_max)
        flipped[todo[now]] = True
        eps_at_flip[todo[now]] = float(eps)
    return FlipResult(
        adversarial=adversarial,
        epsilon=eps_at_flip,
        flipped=flipped,
        pred_before=clean_pred.cpu().numpy(),
        pred_after=_predict(model, adversarial).cpu().numpy(),
    )


@dataclass
class NoiseControl:
    """Sign-noise images matched to the attacks' budgets, per sample: ``noisy`` (N, C, H, W; the input itself
    where no noise was drawn), ``draws`` (draws made; 0 where ε is NaN, i.e. the attack did not flip the
    sample), ``found`` (a draw kept the prediction; the image is that draw, else the last one) and ``pred``
    (the prediction on ``noisy``)."""

    noisy: torch.Tensor
    draws: np.ndarray
    found: np.ndarray
    pred: np.ndarray


def noise_control(
    model: nn.Module,
    inputs: torch.Tensor,
    epsilon: np.ndarray,
    bounds: tuple[float, float],
    samples: np.ndarray,
    seed: int,
    key: str,
    draws: int = 10,
) -> NoiseControl:
    """Random sign noise of L∞ norm ``epsilon[i]`` (per pixel ``±epsilon[i]``, then clipped to ``bounds`` as
    the attacks clip) that does not change the prediction of ``inputs[i]``: up to ``draws`` draws per
    sample, the first non-flipping one kept. Samples with ``epsilon`` NaN are left alone. Sample ``i`` draws
    from ``numpy.random.default_rng([seed, samples[i], crc32(key)])`` (``key``: the attack's name), so its
    noise does not depend on the other samples or on the batch."""
    if int(draws) < 1:
        raise ValueError(f"noise_draws: need >= 1, got {draws}")
    model.eval()
    clean_pred = _predict(model, inputs).cpu().numpy()
    n = len(inputs)
    noisy = inputs.clone()
    used = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    pred = clean_pred.copy()
    todo = np.flatnonzero(np.isfinite(np.asarray(epsilon, dtype=np.float64)))
    tag = zlib.crc32(key.encode())
    rngs = {int(i): np.random.default_rng([int(seed), int(samples[i]), tag]) for i in todo}
    shape = tuple(inputs.shape[1:])
    for draw in range(1, int(draws) + 1):
        todo = todo[~found[todo]]
        if len(todo) == 0:
            break
        signs = np.stack([rngs[int(i)].integers(0, 2, size=shape) * 2 - 1 for i in todo]).astype(np.float32)
        eps = torch.tensor(np.asarray(epsilon)[todo], dtype=inputs.dtype, device=inputs.device)
        sel = torch.from_numpy(todo).to(inputs.device)
        delta = torch.from_numpy(signs).to(inputs) * eps.reshape(-1, *[1] * len(shape))
        x = torch.clamp(inputs[sel] + delta, min=bounds[0], max=bounds[1])
        now = _predict(model, x).cpu().numpy()
        noisy[sel] = x
        used[todo] = draw
        pred[todo] = now
        found[todo[now == clean_pred[todo]]] = True
    return NoiseControl(noisy=noisy, draws=used, found=found, pred=pred)


@dataclass
class Maximisation:
    """Images pushed toward every other class (N, K, C, H, W; the input itself where ``attacked`` is False,
    i.e. for the class already predicted) and, per (input, target class) (N, K): the target logit and the
    margin ``z_t - logsumexp_{j != t} z_j`` before and after, and the target's probability after."""

    images: torch.Tensor
    attacked: np.ndarray
    logit_before: np.ndarray
    logit_after: np.ndarray
    margin_before: np.ndarray
    margin_after: np.ndarray
    prob_after: np.ndarray


def maximise_classes(
    model: nn.Module,
    inputs: torch.Tensor,
    num_classes: int,
    epsilon: float,
    steps: int,
    bounds: tuple[float, float],
) -> Maximisation:
    """Targeted PGD (margin loss) of every input toward every class other than its prediction (seed 004:
    explanations of the classes other than the original one)."""
    model.eval()
    n = len(inputs)
    x = inputs.repeat_interleave(num_classes, dim=0)
    targets = torch.arange(num_classes, device=inputs.device).repeat(n)
    with torch.no_grad():
        before = model(x)
    attacked = before.argmax(1) != targets
    x_adv = x.clone()
    if attacked.any():
        x_adv[attacked] = pgd(
            model, x[attacked], targets[attacked], epsilon, bounds, targeted=True, steps=steps, loss="margin"
        )
    margin = _loss("margin")
    with torch.no_grad():
        after = model(x_adv)

    def per_pair(values: torch.Tensor) -> np.ndarray:
        return values.cpu().numpy().reshape(n, num_classes)

    return Maximisation(
        images=x_adv.reshape(n, num_classes, *inputs.shape[1:]),
        attacked=per_pair(attacked),
        logit_before=per_pair(before.gather(1, targets[:, None]).squeeze(1)),
        logit_after=per_pair(after.gather(1, targets[:, None]).squeeze(1)),
        margin_before=per_pair(-margin(before, targets)),
        margin_after=per_pair(-margin(after, targets)),
        prob_after=per_pair(after.softmax(1).gather(1, targets[:, None]).squeeze(1)),
    )


def _explain(spec: dict[str, Any], model: nn.Module, x: torch.Tensor, targets) -> np.ndarray:
    from xaibench.methods import explain

    return explain(spec["method"], model, x, targets, **spec.get("params", {}))


def _explain_pair(
    spec: dict[str, Any], model: nn.Module, clean: torch.Tensor, adv: torch.Tensor, t_clean, t_adv
) -> tuple[np.ndarray, np.ndarray, str]:
    from xaibench.methods import MethodNotApplicable

    try:
        before = _explain(spec, model, clean, t_clean)
        after = _explain(spec, model, adv, t_adv)
        return before, after, ""
    except MethodNotApplicable as exc:
        nan = np.full((len(clean), 1, *clean.shape[2:]), np.nan, dtype=np.float32)
        return nan, nan, f"not applicable to this model: {exc}"


def adversarial_job(
    pair: Pair, settings: dict[str, Any], methods: dict[str, dict[str, Any]], seed: int
) -> dict[str, Any]:
    """The whole view for one (dataset, model) pair: flips, maps, similarity table and maximisation.

    ``methods`` maps a name (of ``explain.methods``) to its spec ``{"method": ..., "params": ...}``.
    Returns a dict with the tables (``similarity``, ``flips``, ``maximisation``), the arrays to save (with,
    per attack, the noise control's ``noise_<attack>_draws`` and ``noise_<attack>_<method>_after``, NaN where
    no noise was explained) and what the figures need. ``settings["noise_draws"]`` (default 10): the noise
    control's draws per sample.
    """
    from xaibench.datasets import evaluation_subset
    from xaibench.runtime import seed_everything

    dataset, model, dev = pair.dataset, pair.model, pair.device
    seed_everything(seed)
    n = min(int(settings["n_samples"]), len(dataset.indices("test")))
    idx = evaluation_subset(dataset, n, seed)
    x = torch.from_numpy(dataset.images[idx]).to(dev)
    bounds = (float(dataset.images.min()), float(dataset.images.max()))
    epsilons = epsilon_grid(settings["epsilon_min"], settings["epsilon_max"], int(settings["epsilon_steps"]))
    times: dict[str, float] = {}
    draws = int(settings.get("noise_draws", 10))
    flips, sim_rows, noise_rows = [], [], []
    arrays = {"indices": idx, "images": dataset.images[idx], "epsilons": epsilons}
    for attack in settings["attacks"]:
        start = time.perf_counter()
        res = find_flips(model, x, attack, epsilons, bounds, int(settings["pgd_steps"]))
        times[f"attack_{attack}"] = time.perf_counter() - start
        arrays[f"{attack}_adversarial"] = res.adversarial.cpu().numpy()
        for key in ("epsilon", "flipped", "pred_before", "pred_after"):
            arrays[f"{attack}_{key}"] = getattr(res, key)
        delta = (res.adversarial - x).abs().flatten(1).amax(1).cpu().numpy()
        flips.append(
            pd.DataFrame(
                {
                    "sample": idx,
                    "label": dataset.labels[idx],
                    "attack": attack,
                    "epsilon": res.epsilon,
                    "flipped": res.flipped,
                    "linf": delta,
                    "pred_before": res.pred_before,
                    "pred_after": res.pred_after,
                }
            )
        )
        t_clean = torch.from_numpy(res.pred_before).to(dev)
        t_adv = t_clean if settings["target"] == "original" else torch.from_numpy(res.pred_after).to(dev)
        start = time.perf_counter()
        noise = noise_control(model, x, res.epsilon, bounds, idx, seed, attack, draws)
        times[f"noise_{attack}"] = time.perf_counter() - start
        arrays[f"{NOISE_PREFIX}{attack}_draws"] = noise.draws
        noise_linf = (noise.noisy - x).abs().flatten(1).amax(1).cpu().numpy()
        t_noise = noise.pred if settings["target"] == "prediction" else res.pred_before
        keep = np.flatnonzero(noise.found)  # explained: the kept draws (their prediction is the clean one)
        for name, spec in methods.items():
            start = time.perf_counter()
            before, after, note = _explain_pair(spec, model, x, res.adversarial, t_clean, t_adv)
            times[f"explain_{attack}_{name}"] = time.perf_counter() - start
            arrays[f"{attack}_{name}_before"], arrays[f"{attack}_{name}_after"] = before, after
            for i in range(n):
                ssim, rho = map_similarity(before[i, 0], after[i, 0])
                sim_rows.append(
                    {
                        "sample": int(idx[i]),
                        "attack": attack,
                        "method": name,
                        "epsilon": res.epsilon[i],
                        "flipped": bool(res.flipped[i]),
                        "target_before": int(t_clean[i]),
                        "target_after": int(t_adv[i]),
                        "ssim": ssim,
                        "spearman": rho,
                        "note": note,
                        "matched_attack": attack,
                        "noise_draws": 0,
                        "linf": float(delta[i]),
                    }
                )
            start = time.perf_counter()
            noisy_maps = np.full_like(before, np.nan)
            if len(keep) and not note:
                sel = torch.from_numpy(keep).to(dev)
                noisy_maps[keep] = _explain(spec, model, noise.noisy[sel], t_clean[sel])
            times[f"explain_{NOISE_PREFIX}{attack}_{name}"] = time.perf_counter() - start
            arrays[f"{NOISE_PREFIX}{attack}_{name}_after"] = noisy_maps
            for i in np.flatnonzero(res.flipped):
                ssim, rho = map_similarity(before[i, 0], noisy_maps[i, 0])
                # (the similarity figure counts the notes with "noise draws flipped")
                flips_too = "" if noise.found[i] else f"all {draws} noise draws flipped the prediction"
                noise_rows.append(
                    {
                        "sample": int(idx[i]),
                        "attack": f"{NOISE_PREFIX}{attack}",
                        "method": name,
                        "epsilon": res.epsilon[i],
                        "flipped": True,  # by the matched attack (only such samples get noise)
                        "target_before": int(t_clean[i]),
                        "target_after": int(t_noise[i]),
                        "ssim": ssim,
                        "spearman": rho,
                        "note": "; ".join(text for text in (note, flips_too) if text),
                        "matched_attack": attack,
                        "noise_draws": int(noise.draws[i]),
                        "linf": float(noise_linf[i]),
                    }
                )
    max_cfg = settings["maximise"]
    m = min(int(max_cfg["n_samples"]), n)
    start = time.perf_counter()
    maxi = maximise_classes(
        model, x[:m], len(dataset.class_names), float(max_cfg["epsilon"]), int(max_cfg["steps"]), bounds
    )
    images = maxi.images
    times["maximise"] = time.perf_counter() - start
    k = len(dataset.class_names)
    clean_pred = _predict(model, x[:m]).cpu().numpy()
    maximisation = pd.DataFrame(
        {
            "sample": np.repeat(idx[:m], k),
            "label": np.repeat(dataset.labels[idx[:m]], k),
            "pred_before": np.repeat(clean_pred, k),
            "target_class": np.tile(np.arange(k), m),
            "attacked": maxi.attacked.ravel(),
            "logit_before": maxi.logit_before.ravel(),
            "logit_after": maxi.logit_after.ravel(),
            "margin_before": maxi.margin_before.ravel(),
            "margin_after": maxi.margin_after.ravel(),
            "prob_after": maxi.prob_after.ravel(),
            "pred_after": _predict(model, images.reshape(m * k, *x.shape[1:])).cpu().numpy(),
            "linf": (images - x[:m, None]).abs().flatten(2).amax(2).cpu().numpy().ravel(),
            "epsilon": float(max_cfg["epsilon"]),
            "steps": int(max_cfg["steps"]),
        }
    )
    arrays["maximised"] = images.cpu().numpy()
    return {
        "similarity": pd.DataFrame(sim_rows + noise_rows),  # the attacks' rows first, then the noise controls
        "flips": pd.concat(flips, ignore_index=True),
        "maximisation": maximisation,
        "arrays": arrays,
        "class_names": dataset.class_names,
        "value_range": bounds,
        "seconds": {k: round(v, 3) for k, v in times.items()},
    }
