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
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaibench.registry import Registry

if TYPE_CHECKING:
    from xaibench.pairs import Pair

log = logging.getLogger(__name__)

__all__ = [
    "ATTACKS",
    "FlipResult",
    "Maximisation",
    "adversarial_job",
    "epsilon_grid",
    "find_flips",
    "heatmap_rows",
    "map_similarity",
    "maximise_classes",
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


def _unit_abs(a: np.ndarray) -> np.ndarray:
    a = np.abs(a.astype(np.float64))
    top = a.max()
    return a / top if top > 0 else a


def map_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """SSIM and Spearman ρ of two maps (H, W) on ``|a| / max |a|``; NaN for non-finite or constant maps."""
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan"), float("nan")
    ua, ub = _unit_abs(a), _unit_abs(b)
    side = min(ua.shape)
    win = min(7, side if side % 2 else side - 1)
    ssim = float(structural_similarity(ua, ub, data_range=1.0, win_size=win)) if win >= 3 else float("nan")
    if ua.std() == 0 or ub.std() == 0:
        return ssim, float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(ua.ravel(), ub.ravel()).statistic)
    return ssim, rho


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


def _explain_pair(
    spec: dict[str, Any], model: nn.Module, clean: torch.Tensor, adv: torch.Tensor, t_clean, t_adv
) -> tuple[np.ndarray, np.ndarray, str]:
    from xaibench.methods import MethodNotApplicable, explain

    try:
        before = explain(spec["method"], model, clean, t_clean, **spec.get("params", {}))
        after = explain(spec["method"], model, adv, t_adv, **spec.get("params", {}))
        return before, after, ""
    except MethodNotApplicable as exc:
        nan = np.full((len(clean), 1, *clean.shape[2:]), np.nan, dtype=np.float32)
        return nan, nan, f"not applicable to this model: {exc}"


def adversarial_job(
    pair: Pair, settings: dict[str, Any], methods: dict[str, dict[str, Any]], seed: int
) -> dict[str, Any]:
    """The whole view for one (dataset, model) pair: flips, maps, similarity table and maximisation.

    ``methods`` maps a name (of ``explain.methods``) to its spec ``{"method": ..., "params": ...}``.
    Returns a dict with the tables (``similarity``, ``flips``, ``maximisation``), the arrays to save and
    what the figures need.
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
    flips, sim_rows, arrays = [], [], {"indices": idx, "images": dataset.images[idx], "epsilons": epsilons}
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
        "similarity": pd.DataFrame(sim_rows),
        "flips": pd.concat(flips, ignore_index=True),
        "maximisation": maximisation,
        "arrays": arrays,
        "class_names": dataset.class_names,
        "value_range": bounds,
        "seconds": {k: round(v, 3) for k, v in times.items()},
    }


def heatmap_rows(result: dict[str, Any], n_show: int) -> dict[str, Any]:
    """What :func:`xaibench.figures.plot_adversarial_heatmaps` draws: per attack, ``n_show``
    samples (flipped ones first, in sample order), their clean/attacked images and maps, and one row of
    metadata each (with ``ssim:<method>`` and ``spearman:<method>`` columns)."""
    arrays, flips, sim = result["arrays"], result["flips"], result["similarity"]
    methods = list(dict.fromkeys(sim["method"]))
    position = {int(s): i for i, s in enumerate(arrays["indices"])}
    rows, clean, adversarial = [], [], []
    before: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    after: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for attack, part in flips.groupby("attack", sort=False):
        part = part.sort_values(["flipped", "sample"], ascending=[False, True]).head(n_show)
        for rec in part.to_dict("records"):
            i = position[int(rec["sample"])]
            clean.append(arrays["images"][i])
            adversarial.append(arrays[f"{attack}_adversarial"][i])
            scores = sim[(sim["attack"] == attack) & (sim["sample"] == rec["sample"])].set_index("method")
            for m in methods:
                before[m].append(arrays[f"{attack}_{m}_before"][i])
                after[m].append(arrays[f"{attack}_{m}_after"][i])
                rec[f"ssim:{m}"], rec[f"spearman:{m}"] = scores.at[m, "ssim"], scores.at[m, "spearman"]
            rows.append(rec)
    return {
        "clean": np.stack(clean),
        "adversarial": np.stack(adversarial),
        "maps_before": {m: np.stack(v) for m, v in before.items()},
        "maps_after": {m: np.stack(v) for m, v in after.items()},
        "rows": pd.DataFrame(rows),
    }


def summarise_similarity(similarity: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, model, attack, method): samples, flips, median ε at the flip, and the mean / median SSIM
    and Spearman ρ over the flipped samples (NaN where none flipped or the method was not applicable)."""
    keys = [k for k in ("dataset", "model", "attack", "method") if k in similarity.columns]
    rows = []
    for key, part in similarity.groupby(keys, sort=False):
        flipped = part[part["flipped"].astype(bool)]
        notes = sorted({str(n) for n in part["note"].dropna() if str(n)})
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n": len(part),
                "n_flipped": len(flipped),
                "median_epsilon": float(flipped["epsilon"].median()) if len(flipped) else float("nan"),
                "ssim_mean": float(flipped["ssim"].mean()),
                "ssim_median": float(flipped["ssim"].median()),
                "spearman_mean": float(flipped["spearman"].mean()),
                "spearman_median": float(flipped["spearman"].median()),
                "note": "; ".join(notes),
            }
        )
    return pd.DataFrame(rows)
