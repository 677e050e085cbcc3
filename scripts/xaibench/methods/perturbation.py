"""Perturbation methods (Captum): ``occlusion``, ``lime``, ``kernel_shap``, ``feature_ablation``,
``shapley_value_sampling``, and :func:`superpixels`, the feature masks of all but occlusion.

The stochastic ones explain each image on its own under their ``seed`` (a map depends on the image and the
parameters, never on the batch); the caller's random states are restored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from xaibench.methods.core import named, register
from xaibench.methods.params import bad_param, int_pair, positive_int, seed_value, seeded
from xaibench.methods.shapley import sampled_shapley
from xaibench.methods.surrogate import one_player_shap, sampled_surrogates

# What the superpixel methods import on their first call (see xaibench.methods.core.import_libraries).
_SUPERPIXEL_IMPORTS = ("skimage.segmentation",)
_SURROGATE_IMPORTS = (*_SUPERPIXEL_IMPORTS, "sklearn.linear_model")


@register(
    "occlusion",
    library="captum",
    description="Occlusion: logit drop when a sliding window is set to a baseline (Zeiler 2014)",
)
def occlusion(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    window: float | tuple[float, float] = 4,
    stride: float | tuple[float, float] = 2,
    baseline: float = 0.0,
    perturbations_per_eval: int = 4,
) -> torch.Tensor:
    """The window spans all channels. A forward pass holds n x perturbations_per_eval images (Captum's
    meaning): the default 4 gives 256-image passes at batch_size 64; 64 (4096-image passes) was 1.2-2x slower
    on 2 CPU cores (small_cnn, 32x32). On a GPU raise it.

    ``window`` and ``stride`` are pixels (int) or fractions of the image size (float in (0, 1)): 0.125 and
    0.0625 give 4/2 px at 32x32 and 8/4 px at 64x64. Captum places windows at 0, stride, 2 stride, ... and,
    when (H - window) is not a multiple of stride, one more window clipped at the border: every pixel is
    covered, and each gets the mean drop of the windows covering it.
    """
    from captum.attr import Occlusion

    n_channels = inputs.shape[1]
    extent = (inputs.shape[2], inputs.shape[3])
    win = int_pair("occlusion", "window", window, extent)
    step = int_pair("occlusion", "stride", stride, extent)
    if win[0] > inputs.shape[2] or win[1] > inputs.shape[3]:
        raise bad_param(
            "occlusion", "window", f"{window!r} is larger than the image {tuple(inputs.shape[2:])}"
        )
    with torch.no_grad():
        return Occlusion(model).attribute(
            inputs.detach(),
            sliding_window_shapes=(n_channels, *win),
            strides=(n_channels, *step),
            baselines=float(baseline),
            target=targets,
            perturbations_per_eval=positive_int(
                "occlusion", "perturbations_per_eval", perturbations_per_eval
            ),
        )


_SEGMENTATION_DEFAULTS: dict[str, dict[str, Any]] = {
    "slic": {"kind": "slic", "n_segments": 32, "compactness": 0.1},
    "grid": {"kind": "grid", "cell": 4},
}


def _segmentation_spec(method: str, segmentation: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge a config's segmentation with the defaults of its kind; unknown kinds or keys are errors."""
    if segmentation is None:
        return dict(_SEGMENTATION_DEFAULTS["slic"])
    if not isinstance(segmentation, Mapping):
        raise bad_param(method, "segmentation", f"must be a mapping with a 'kind', got {segmentation!r}")
    kind = segmentation.get("kind", "slic")
    if kind not in _SEGMENTATION_DEFAULTS:
        raise bad_param(
            method, "segmentation", f"kind must be one of {sorted(_SEGMENTATION_DEFAULTS)}, got {kind!r}"
        )
    spec = dict(_SEGMENTATION_DEFAULTS[kind])
    unknown = sorted(set(segmentation) - set(spec))
    if unknown:
        raise bad_param(
            method, "segmentation", f"has unknown key(s) {unknown} for kind {kind!r}; allowed: {sorted(spec)}"
        )
    spec.update(segmentation)
    return spec


def superpixels(
    images: np.ndarray, segmentation: Mapping[str, Any] | None = None, method: str = "lime"
) -> np.ndarray:
    """Per-image feature masks (N, 1, H, W) int64 for (N, C, H, W) images; each image's ids are 0..k-1.

    ``slic``: skimage SLIC on each image min-max scaled to [0, 1] (so ``compactness`` means the same for every
    dataset and channel count; no Lab conversion, the channels may not be RGB). ``grid``: square cells of
    ``cell`` pixels (the last row/column of cells may be smaller). An image that SLIC leaves in one piece (low
    compactness on noise) gets a grid of about ``n_segments`` cells instead.
    """
    spec = _segmentation_spec(method, segmentation)
    n, n_channels, height, width = images.shape
    masks = np.zeros((n, 1, height, width), dtype=np.int64)
    if spec["kind"] == "grid":
        cell = int_pair(method, "segmentation.cell", spec["cell"])
        rows = np.arange(height) // cell[0]
        cols = np.arange(width) // cell[1]
        n_cols = -(-width // cell[1])
        masks[:] = (rows[:, None] * n_cols + cols[None, :])[None, None]
        return masks

    from skimage.segmentation import slic

    n_segments = positive_int(method, "segmentation.n_segments", spec["n_segments"])
    compactness = float(spec["compactness"])
    if compactness <= 0:
        raise bad_param(method, "segmentation.compactness", f"must be > 0, got {compactness}")
    for i in range(n):
        img = np.asarray(images[i], dtype=np.float64)
        lo, hi = np.nanmin(img), np.nanmax(img)
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        if n_channels == 1:
            labels = slic(
                img[0], n_segments=n_segments, compactness=compactness, channel_axis=None, start_label=0
            )
        else:
            labels = slic(
                np.moveaxis(img, 0, -1),
                n_segments=n_segments,
                compactness=compactness,
                channel_axis=-1,
                convert2lab=False,
                start_label=0,
            )
        labels = np.unique(labels, return_inverse=True)[1].reshape(height, width)
        if labels.max() == 0 and n_segments > 1:
            # SLIC with a low compactness on a noisy image merges everything into one segment (connectivity
            # enforcement); a one-feature surrogate gives a constant map, which Quantus rejects. Fall back to
            # the grid with about n_segments cells.
            side = max(1, round(n_segments**0.5))
            cell = (-(-height // side), -(-width // side))
            labels = superpixels(images[i : i + 1], {"kind": "grid", "cell": list(cell)}, method)[0, 0]
        masks[i, 0] = labels  # consecutive ids from 0: Captum sizes its surrogate by the largest id
    return masks


def _superpixel_masks(
    method: str, inputs: torch.Tensor, segmentation: Mapping[str, Any] | None
) -> torch.Tensor:
    """(n, 1, H, W) int64 superpixel ids on the inputs' device (see :func:`superpixels`)."""
    return torch.from_numpy(superpixels(inputs.detach().cpu().numpy(), segmentation, method)).to(
        inputs.device
    )


def _sampled_attribution(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int,
    perturbations_per_eval: int,
    baseline: float,
    seed: int,
    segmentation: Mapping[str, Any] | None,
    alpha: float | None = None,
    batched: bool = True,
) -> torch.Tensor:
    """Lime / KernelShap / ShapleyValueSampling over superpixels, one image at a time, seeded with ``seed``.

    We loop ourselves (Captum would loop too, but sizes every image's surrogate by the batch's largest segment
    id): each image gets its own (1, 1, H, W) mask broadcast over the channels, and the same seed, so a map
    depends on the image and the parameters only, not on its position in the batch or the chunk size. The
    torch RNG state of the caller is restored afterwards. Returns (n, 1, H, W): one coefficient (Shapley
    value) per superpixel.

    ``lime`` and ``kernel_shap`` run batched (:mod:`xaibench.methods.surrogate`: Captum's draws, weights and
    sklearn fit without its per-sample Python loop, forward passes of ``perturbations_per_eval`` samples
    running over the images; the same maps to float32 rounding), and so does ``shapley_value_sampling``
    (:mod:`xaibench.methods.shapley`: Captum's orders, each step's image built at once);
    ``batched=False`` runs Captum itself (kept for the tests that compare the two).
    """
    n_samples = positive_int(method, "n_samples", n_samples)
    perturbations_per_eval = positive_int(method, "perturbations_per_eval", perturbations_per_eval)
    seed = seed_value(method, seed)
    masks = _superpixel_masks(method, inputs, segmentation)
    if method == "lime" and (alpha is None or float(alpha) < 0):
        raise bad_param(method, "alpha", f"must be >= 0, got {alpha!r}")
    if batched and method == "shapley_value_sampling":
        return sampled_shapley(
            model, inputs, targets, masks, n_samples, perturbations_per_eval, float(baseline), seed
        )
    if batched and method in ("lime", "kernel_shap"):
        return sampled_surrogates(
            method,
            model,
            inputs,
            targets,
            masks,
            n_samples,
            perturbations_per_eval,
            baseline,
            seed,
            float(alpha or 0.0),
        )
    from captum.attr import KernelShap, Lime, ShapleyValueSampling

    if method == "lime":
        from captum._utils.models.linear_model import SkLearnLasso, SkLearnLinearRegression

        surrogate = SkLearnLasso(alpha=float(alpha)) if float(alpha) > 0 else SkLearnLinearRegression()
        explainer: Any = Lime(model, interpretable_model=surrogate)
    elif method == "kernel_shap":
        explainer = KernelShap(model)
    else:
        explainer = ShapleyValueSampling(model)
    maps = []
    with torch.no_grad():
        for i in range(inputs.shape[0]):
            mask = masks[i : i + 1]
            if method == "kernel_shap" and int(mask.max()) == 0:
                maps.append(
                    one_player_shap(model, inputs[i : i + 1].detach(), int(targets[i]), mask, baseline)
                )
                continue
            image = inputs[i : i + 1].detach()
            options = {
                "baselines": float(baseline),
                "feature_mask": mask,
                "n_samples": n_samples,
                "perturbations_per_eval": perturbations_per_eval,
            }
            with seeded(seed, inputs.device):
                if method == "shapley_value_sampling":  # the mask spans the channels: keep the first
                    maps.append(explainer.attribute(image, target=targets[i : i + 1], **options)[:, :1])
                    continue
                coefs = explainer.attribute(
                    image, target=int(targets[i]), return_input_shape=False, **options
                )
            maps.append(coefs.reshape(-1).to(mask.device, torch.float32)[mask])
    return torch.cat(maps)


@register(
    "lime",
    library="captum",
    imports=_SURROGATE_IMPORTS,
    description="LIME: sparse linear surrogate (Lasso) over superpixels (Ribeiro et al. 2016)",
)
def lime(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int = 200,
    perturbations_per_eval: int = 64,
    baseline: float = 0.0,
    seed: int = 0,
    segmentation: Mapping[str, Any] | None = None,
    alpha: float = 0.01,
) -> torch.Tensor:
    """``alpha``: Lasso penalty of the surrogate (Captum's default 0.01; 0 gives ordinary least squares)."""
    return _sampled_attribution(
        "lime", model, inputs, targets, n_samples, perturbations_per_eval, baseline, seed, segmentation, alpha
    )


def _sampled_method(
    method: str, doc: str | None, *, n_samples_default: int, perturbations_per_eval_default: int
) -> Callable[..., torch.Tensor]:
    """Method ``method`` (``kernel_shap`` or ``shapley_value_sampling``): :func:`_sampled_attribution`."""

    def explain(
        model,
        inputs,
        targets,
        n_samples: int = n_samples_default,
        perturbations_per_eval: int = perturbations_per_eval_default,
        baseline: float = 0.0,
        seed: int = 0,
        segmentation: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        return _sampled_attribution(
            method, model, inputs, targets, n_samples, perturbations_per_eval, baseline, seed, segmentation
        )

    return named(explain, method, doc)


kernel_shap = register(
    "kernel_shap",
    library="captum",
    imports=_SURROGATE_IMPORTS,
    description="Kernel SHAP: Shapley-kernel weighted linear surrogate over superpixels",
)(_sampled_method("kernel_shap", None, n_samples_default=200, perturbations_per_eval_default=64))


@register(
    "feature_ablation",
    library="captum",
    imports=_SUPERPIXEL_IMPORTS,
    description="Feature ablation: logit drop when one superpixel at a time is set to a baseline",
)
def feature_ablation(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    baseline: float = 0.0,
    perturbations_per_eval: int = 16,
    segmentation: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """Captum ``FeatureAblation`` with each image's own superpixel mask (``segmentation`` as for LIME): every
    pixel of a superpixel gets f(x) - f(x with the superpixel set to ``baseline``), all channels at once.
    Deterministic; one forward pass holds n x ``perturbations_per_eval`` images (Captum's meaning)."""
    from captum.attr import FeatureAblation

    perturbations_per_eval = positive_int(
        "feature_ablation", "perturbations_per_eval", perturbations_per_eval
    )
    masks = _superpixel_masks("feature_ablation", inputs, segmentation)
    with torch.no_grad():
        attr = FeatureAblation(model).attribute(
            inputs.detach(),
            baselines=float(baseline),
            target=targets,
            feature_mask=masks,
            perturbations_per_eval=perturbations_per_eval,
        )
    return attr[:, :1]  # the mask spans the channels: every channel holds the superpixel's value


shapley_value_sampling = register(
    "shapley_value_sampling",
    library="captum",
    imports=_SUPERPIXEL_IMPORTS,
    description=(
        "Shapley value sampling over superpixels: marginal logit changes along random orders (Castro 2009)"
    ),
)(
    _sampled_method(
        "shapley_value_sampling",
        """Captum ``ShapleyValueSampling`` with each image's superpixel mask: ``n_samples`` random orders of
    the superpixels, each adding them one at a time from the ``baseline`` image, so (k + 1) x n_samples
    forward evaluations for k superpixels, ``perturbations_per_eval`` per pass. Each image is explained on its
    own with the same ``seed`` (map independent of the batch); the caller's RNG state is restored.""",
        n_samples_default=4,
        perturbations_per_eval_default=16,
    )
)
