"""Explanation methods: ``explain(name, model, inputs, targets, **params)`` -> (N, 1, H, W) maps.

:mod:`~xaibench.methods.core` holds the registry :data:`METHODS` of :class:`MethodSpec`, the decorator
:func:`register` and the entry points (:func:`explain`, :func:`quantus_explain_func`, :func:`method_params`);
one module per family registers its methods:

* :mod:`~xaibench.methods.gradients` (Captum): ``saliency``, ``input_x_gradient``, ``smoothgrad``,
  ``vargrad``;
* :mod:`~xaibench.methods.reference` (Captum): ``integrated_gradients``, ``deeplift``, ``gradient_shap``,
  ``deeplift_shap``;
* :mod:`~xaibench.methods.modified_backprop` (Captum): ``guided_backprop``, ``deconvolution``,
  ``guided_gradcam``;
* :mod:`~xaibench.methods.cam`: ``gradcam`` (Captum), ``cam`` (implemented there: no library has the original
  CAM), ``gradcam_plus_plus`` and ``score_cam`` (the ``grad-cam`` package);
* :mod:`~xaibench.methods.perturbation` (Captum): ``occlusion``, ``feature_ablation``,
  ``shapley_value_sampling``, ``lime``, ``kernel_shap``;
* :mod:`~xaibench.methods.lrp` (Zennit): ``lrp`` (Captum's LRP has no rule for ``nn.Flatten`` and gives ~1e16
  on residual networks);
* :mod:`~xaibench.methods.controls`: ``random`` (uniform noise) and ``sobel`` (edge magnitude), the baselines
  of Adebayo et al. (2018).

Libraries are imported lazily inside the methods: importing this package pulls in torch and numpy only, so a
job explaining with ``random`` or ``sobel`` never pays for ``import captum`` (~5 s), zennit or the grad-cam
package (~3 s, it imports OpenCV and matplotlib).

A method that cannot handle an architecture raises :class:`MethodNotApplicable` with the reason, before any
computation, instead of failing obscurely or silently computing something else. On xaibench's models:

* ``guided_backprop``, ``deconvolution``, ``guided_gradcam`` need a ReLU network: they only modify the
  backward pass of ``nn.ReLU`` modules, and would pass e.g. EfficientNet's SiLU gradients through unchanged;
* ``deeplift`` and ``deeplift_shap`` need every non-linearity to be a Captum-supported module used once per
  forward pass (so not on EfficientNet: SiLU has no DeepLIFT rule in Captum, nor has the squeeze-excitation
  product);
* ``cam`` needs logits = linear(global average pool of the CAM layer), checked numerically (all of
  xaibench's models qualify);
* ``lrp`` needs a known structure: Zennit canonizers are chosen per architecture by the models package
  (:func:`xaibench.models.traits.lrp_canonizers`); with activations that go negative (EfficientNet's SiLU)
  only composite ``epsilon_gamma_box`` conserves relevance, and the z+ / alpha-beta composites raise.

Stochastic methods (``lime``, ``kernel_shap``, ``smoothgrad``, ``vargrad``, ``gradient_shap``,
``deeplift_shap``'s noise baselines, ``shapley_value_sampling``) explain each image on its own under their
``seed``: a map depends on the image and the parameters, never on the batch, and the caller's torch and numpy
random states are restored. ``lime`` and ``kernel_shap`` (:mod:`~xaibench.methods.surrogate`) and
``shapley_value_sampling`` (:mod:`~xaibench.methods.shapley`) do what Captum does per image with Captum's
draws, but with the forward passes running over the samples of all images of a batch (Captum's own loop is
kept behind ``batched=False`` for the tests that compare the two: the same maps to float32 rounding of the
forward passes, which depend on their batch size only in the last bits).

Hook-based methods (guided ones, deeplift, CAMs, lrp) run on a deep copy with ``inplace=False`` activations
when the model has in-place ones (backward hooks fail on outputs modified in place); xaibench's models have
none.
"""

from __future__ import annotations

from xaibench.methods import (  # noqa: F401 (each family registers its methods)
    cam,
    controls,
    gradients,
    lrp,
    modified_backprop,
    perturbation,
    reference,
)
from xaibench.methods.cam import INTERPOLATE_MODES
from xaibench.methods.core import (
    METHODS,
    MethodNotApplicable,
    MethodSpec,
    explain,
    import_libraries,
    method_params,
    quantus_explain_func,
    register,
)
from xaibench.methods.lrp import LRP_COMPOSITES
from xaibench.methods.perturbation import superpixels
from xaibench.methods.reference import BASELINE_KINDS, baseline_distribution

__all__ = [
    "BASELINE_KINDS",
    "INTERPOLATE_MODES",
    "LRP_COMPOSITES",
    "METHODS",
    "MethodNotApplicable",
    "MethodSpec",
    "baseline_distribution",
    "explain",
    "import_libraries",
    "method_params",
    "quantus_explain_func",
    "register",
    "superpixels",
]
