"""CAM-family methods: ``gradcam`` (Captum), ``cam``, ``gradcam_plus_plus``, ``score_cam``.

All four read the model's CAM layer (``model.cam_layer_name``, see :func:`xaibench.models.get_cam_layer`);
a model without one (``cam_layer_name = None``, e.g. ``mlp``) makes them not applicable.
``gradcam`` is Captum's ``LayerGradCam``, ReLU'd and upsampled with Captum's ``LayerAttribution.interpolate``.
The other three return maps of shape (n, 1, H, W): the channel-weighted sum of the layer's activations at
feature resolution, upsampled with ``torch.nn.functional.interpolate`` (bilinear by default, like
``gradcam``). The maps are **not normalised** (the evaluation normalises where a metric needs it), so they
compare in scale with ``gradcam``'s.

* ``cam``, the original Class Activation Map (Zhou et al. 2016): sum_k w_ck A_k for the weights w of the final
  linear layer. Neither Captum nor the ``grad-cam`` package has it (the package's ``GradCAM`` is the gradient
  variant; on a GAP -> linear head the two agree up to the factor h x w and the ReLU), so it is implemented
  here in a few lines. It is defined for heads that are exactly "global average pool, then one linear layer";
  rather than trusting module names, one forward pass checks that the logits equal
  ``linear(mean over positions of the CAM layer)``. xaibench's ``small_cnn``, ``resnet18/50``,
  ``densenet121`` and ``efficientnet_b0`` all pass (EfficientNet's head is avgpool, flatten, dropout,
  linear: dropout is the identity in eval mode, the mode explanations run in); any other head (hidden
  layers, no pooling, a softmax output) raises :class:`~xaibench.methods.MethodNotApplicable`.
* ``gradcam_plus_plus`` (Chattopadhyay et al. 2018) and ``score_cam`` (Wang et al. 2020) come from the
  ``grad-cam`` package (``pytorch_grad_cam`` 1.5.7): its classes compute the channel weights; its own
  post-processing (ReLU, per-image min-max scaling, ``cv2.resize``) is replaced by ReLU + the torch
  upsampling above, so the maps stay unnormalised and on the model's device. The package is imported only
  by these two methods (it pulls in OpenCV, matplotlib and ttach: ~3 s). Score-CAM's progress bars are
  silenced (they would flood the job logs: one bar per image).

The package's Score-CAM weights channel k by the softmax over channels of the target **logit** of the input
masked with the min-max-normalised, upsampled activation map A_k (the paper uses the class probability's
increase over a baseline image); it costs ceil(K / ``perturbations_per_eval``) forward passes per image for
a CAM layer of K channels: 32 for ``small_cnn`` width 8 at 32x32, but 512 / 1024 / 1280 for ResNet-18 /
DenseNet-121 / EfficientNet-B0, so prefer a GPU there.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from xaibench.methods.core import cam_layer, grad_input, named, not_applicable, register, without_inplace
from xaibench.methods.params import bad_param, positive_int


def _cam_method(
    method: str, body: Callable[..., torch.Tensor], relu_default: bool, doc: str | None
) -> Callable[..., torch.Tensor]:
    """Method ``method`` with the CAM family's parameters: ``body(model, inputs, targets, relu, mode)`` where
    ``relu`` is ``relu_attributions`` (default ``relu_default``) and ``mode`` is ``interpolate_mode``."""

    def explain(
        model,
        inputs,
        targets,
        relu_attributions: bool = relu_default,
        interpolate_mode: str = "bilinear",
    ) -> torch.Tensor:
        return body(model, inputs, targets, relu_attributions, interpolate_mode)

    return named(explain, method, doc)


def _gradcam(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, relu: bool, mode: str
) -> torch.Tensor:
    from captum.attr import LayerAttribution, LayerGradCam

    model = without_inplace(model)
    cam = LayerGradCam(model, cam_layer("gradcam", model)).attribute(
        grad_input(inputs), target=targets, relu_attributions=bool(relu)
    )
    return LayerAttribution.interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode=mode)


gradcam = register(
    "gradcam",
    library="captum",
    description="Grad-CAM on the model's CAM layer, ReLU'd and bilinearly upsampled (Selvaraju 2017)",
)(_cam_method("gradcam", _gradcam, True, None))


INTERPOLATE_MODES = ("nearest", "bilinear", "bicubic", "area")


def _upsample(cams: torch.Tensor, size: tuple[int, int], mode: str, method: str) -> torch.Tensor:
    """(n, h, w) or (n, 1, h, w) feature-resolution maps -> (n, 1, H, W) with ``interpolate(mode)``."""
    if mode not in INTERPOLATE_MODES:
        raise bad_param(method, "interpolate_mode", f"must be one of {list(INTERPOLATE_MODES)}, got {mode!r}")
    if cams.ndim == 3:
        cams = cams[:, None]
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return nn.functional.interpolate(cams, size=size, mode=mode, **kwargs)


def _layer_output(
    model: nn.Module, layer: nn.Module, inputs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(activations of ``layer``, logits) from one forward pass without gradients."""
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        with torch.no_grad():
            logits = model(inputs)
    finally:
        handle.remove()
    if len(captured) != 1 or not isinstance(captured[0], torch.Tensor) or captured[0].ndim != 4:
        raise not_applicable(
            "cam", model, "its CAM layer must produce one (n, K, h, w) feature map per forward pass"
        )
    return captured[0], logits


def _gap_linear_head(model: nn.Module, features: torch.Tensor, logits: torch.Tensor) -> nn.Linear:
    """The ``nn.Linear`` giving logits == linear(mean of ``features`` over positions); else not applicable."""
    n_channels, n_classes = features.shape[1], logits.shape[-1] if logits.ndim == 2 else -1
    candidates = [
        m
        for m in model.modules()
        if isinstance(m, nn.Linear) and m.in_features == n_channels and m.out_features == n_classes
    ]
    if not candidates:
        raise not_applicable(
            "cam",
            model,
            f"CAM needs a global-average-pool -> linear head, but no nn.Linear maps the CAM layer's "
            f"{n_channels} channels to the {n_classes if n_classes > 0 else '?'} logits",
        )
    pooled = features.mean(dim=(2, 3))
    tolerance = 1e-4 * (1.0 + float(logits.abs().max()))
    worst = float("inf")
    with torch.no_grad():
        for linear in candidates:
            error = float((linear(pooled) - logits).abs().max())
            if error <= tolerance:
                return linear
            worst = min(worst, error)
    raise not_applicable(
        "cam",
        model,
        "CAM needs logits = linear(global average pool of the CAM layer), but the model's head is something "
        f"else (hidden layers, no pooling or an output non-linearity; max logit difference {worst:.3g})",
    )


def _cam(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, relu: bool, mode: str
) -> torch.Tensor:
    features, logits = _layer_output(model, cam_layer("cam", model), inputs.detach())
    linear = _gap_linear_head(model, features, logits)
    weights = linear.weight.detach()[targets]  # (n, K)
    maps = torch.einsum("nk,nkhw->nhw", weights.to(features.dtype), features)
    if relu:
        maps = maps.clamp(min=0)
    return _upsample(maps, tuple(inputs.shape[-2:]), mode, "cam")


cam = register(
    "cam",
    library="xaibench",
    description="CAM: final linear weights x last conv feature maps, upsampled (Zhou et al. 2016)",
)(
    _cam_method(
        "cam",
        _cam,
        False,
        """M_c = sum_k w_ck A_k (the bias is left out, as in the paper: mean(M_c) + b_c is the logit), for
    models whose logits are linear(GAP(CAM layer)) (:class:`MethodNotApplicable` otherwise). Signed by default
    as in the paper; ``relu_attributions=True`` keeps the positive evidence only, like Grad-CAM.""",
    )
)


@functools.cache
def _raw_cam_classes() -> dict[str, type]:
    """Subclasses of the package's CAMs that return the unscaled (n, h, w) weighted sums of the activations
    (before the package's ReLU, min-max scaling and cv2 resizing), for the single target layer."""
    from pytorch_grad_cam import GradCAMPlusPlus, ScoreCAM

    class _Raw:
        def compute_cam_per_layer(self, input_tensor: torch.Tensor, targets: Any, eigen_smooth: bool) -> Any:
            store = self.activations_and_grads  # type: ignore[attr-defined]
            activations = store.activations[0].cpu().numpy()
            grads = store.gradients[0].cpu().numpy() if store.gradients else None
            return self.get_cam_image(  # type: ignore[attr-defined]
                input_tensor,
                self.target_layers[0],
                targets,
                activations,
                grads,
                eigen_smooth,  # type: ignore[attr-defined]
            )

        def aggregate_multi_layers(self, cam_per_target_layer: Any) -> Any:
            return cam_per_target_layer

    return {
        "gradcam_plus_plus": type("RawGradCAMPlusPlus", (_Raw, GradCAMPlusPlus), {}),
        "score_cam": type("RawScoreCAM", (_Raw, ScoreCAM), {}),
    }


@contextlib.contextmanager
def _kept_grads(model: nn.Module) -> Iterator[None]:
    """The package calls ``model.zero_grad()`` and ``loss.backward()``: restore the parameters' ``.grad``."""
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        yield
    finally:
        for param, grad in saved:
            param.grad = grad


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Score-CAM wraps its per-image loop in ``tqdm.tqdm``: swap it for a plain iterator in that module."""
    from types import SimpleNamespace

    from pytorch_grad_cam import score_cam as module

    original = module.tqdm
    module.tqdm = SimpleNamespace(tqdm=lambda iterable, *args, **kwargs: iterable)
    try:
        yield
    finally:
        module.tqdm = original


def _package_cam(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    relu_attributions: bool,
    interpolate_mode: str,
    batch_size: int | None = None,
) -> torch.Tensor:
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = without_inplace(model)
    layer = cam_layer(method, model)
    explainer = _raw_cam_classes()[method](model, [layer])
    if batch_size is not None:
        explainer.batch_size = batch_size  # Score-CAM: masked copies of one image per forward pass
    goals = [ClassifierOutputTarget(int(t)) for t in targets]
    try:
        with _kept_grads(model), _no_progress_bars() if method == "score_cam" else contextlib.nullcontext():
            if method == "score_cam":
                with torch.no_grad():
                    raw = explainer(inputs.detach(), goals)
            else:
                raw = explainer(grad_input(inputs), goals)  # the input needs grad if the body is frozen
    finally:
        explainer.activations_and_grads.release()
    maps = torch.as_tensor(raw, dtype=inputs.dtype).to(inputs.device)
    if relu_attributions:
        maps = maps.clamp(min=0)
    return _upsample(maps, tuple(inputs.shape[-2:]), interpolate_mode, method)


gradcam_plus_plus = register(
    "gradcam_plus_plus",
    library="grad-cam",
    description="Grad-CAM++: channel weights from 2nd/3rd-order gradient terms (Chattopadhyay et al. 2018)",
)(
    _cam_method(
        "gradcam_plus_plus",
        functools.partial(_package_cam, "gradcam_plus_plus"),
        True,
        """``pytorch_grad_cam.GradCAMPlusPlus`` weights (the paper's closed form with the exponential output
    replaced by the logit, eq. 19) on the CAM layer; ReLU'd (the paper's and the package's) unless
    ``relu_attributions=False``, upsampled, not normalised.""",
    )
)


@register(
    "score_cam",
    library="grad-cam",
    description=(
        "Score-CAM: activation maps weighted by the logit of the input masked with each (Wang et al. 2020)"
    ),
)
def score_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    perturbations_per_eval: int = 32,
    relu_attributions: bool = True,
    interpolate_mode: str = "bilinear",
) -> torch.Tensor:
    """``pytorch_grad_cam.ScoreCAM`` weights (module docstring) on the CAM layer; ReLU'd unless
    ``relu_attributions=False``, upsampled, not normalised. ``perturbations_per_eval``: masked copies of one
    image per forward pass (the package's ``batch_size``, 16 by default there); gradient-free."""
    perturbations_per_eval = positive_int("score_cam", "perturbations_per_eval", perturbations_per_eval)
    return _package_cam(
        "score_cam", model, inputs, targets, relu_attributions, interpolate_mode, perturbations_per_eval
    )
