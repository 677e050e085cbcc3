"""Gradient methods (Captum): ``saliency``, ``input_x_gradient``, ``smoothgrad``, ``vargrad``.

SmoothGrad and VarGrad explain each image on its own with the same seed (like LIME), so its map depends on
the image and the parameters only, not on its position in the batch or the chunk size; the batching is over
the ``n_samples`` noisy copies of one image. Noise scales are fractions of the image's value range (max - min
over all channels), as in Smilkov et al. (2017), so one config serves datasets of any intensity scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from xaibench.methods.core import grad_input, named, register
from xaibench.methods.params import nonnegative_float, per_image, positive_int, seed_value, value_range


@register(
    "saliency",
    library="captum",
    description="Saliency: absolute input gradient of the target logit (Simonyan et al. 2014)",
)
def saliency(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, abs: bool = True) -> torch.Tensor:
    from captum.attr import Saliency

    return Saliency(model).attribute(grad_input(inputs), target=targets, abs=bool(abs))


@register(
    "input_x_gradient",
    library="captum",
    description="Input x Gradient of the target logit (Shrikumar et al. 2016)",
)
def input_x_gradient(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    from captum.attr import InputXGradient

    return InputXGradient(model).attribute(grad_input(inputs), target=targets)


def _noise_tunnel(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    n_samples: int,
    stdevs: float,
    nt_samples_batch_size: int | None,
    abs: bool,
    seed: int,
) -> torch.Tensor:
    from captum.attr import NoiseTunnel, Saliency

    n_samples = positive_int(method, "n_samples", n_samples)
    stdevs = nonnegative_float(method, "stdevs", stdevs)
    if nt_samples_batch_size is not None:
        nt_samples_batch_size = min(
            n_samples, positive_int(method, "nt_samples_batch_size", nt_samples_batch_size)
        )
    seed = seed_value(method, seed)
    tunnel = NoiseTunnel(Saliency(model))
    return per_image(
        inputs,
        seed,
        lambda i, image: tunnel.attribute(
            image,
            nt_type=method,
            nt_samples=n_samples,
            nt_samples_batch_size=nt_samples_batch_size,
            stdevs=stdevs * value_range(image),
            target=targets[i : i + 1],
            abs=bool(abs),
        ),
    )


def _noise_tunnel_method(nt_type: str, doc: str) -> Callable[..., torch.Tensor]:
    """Method ``nt_type`` ("smoothgrad" or "vargrad"): :func:`_noise_tunnel` with the shared parameters."""

    def method(
        model,
        inputs,
        targets,
        n_samples: int = 16,
        stdevs: float = 0.15,
        nt_samples_batch_size: int | None = None,
        abs: bool = False,
        seed: int = 0,
    ) -> torch.Tensor:
        return _noise_tunnel(
            nt_type, model, inputs, targets, n_samples, stdevs, nt_samples_batch_size, abs, seed
        )

    return named(method, nt_type, doc)


smoothgrad = register(
    "smoothgrad",
    library="captum",
    description="SmoothGrad: input gradient averaged over noisy copies (Smilkov et al. 2017)",
)(
    _noise_tunnel_method(
        "smoothgrad",
        """Captum ``NoiseTunnel(Saliency)``, ``nt_type="smoothgrad"``: the mean gradient of the target logit
    over ``n_samples`` copies with Gaussian noise of standard deviation ``stdevs`` x (max - min of the image)
    (Smilkov et al.: 10-20% works best). ``abs=False`` averages the signed gradients (the paper's definition);
    ``abs=True`` their magnitudes. ``nt_samples_batch_size``: noisy copies per forward pass (None: all).""",
    )
)

vargrad = register(
    "vargrad",
    library="captum",
    description="VarGrad: variance of the input gradient over noisy copies (Adebayo et al. 2018)",
)(
    _noise_tunnel_method(
        "vargrad",
        """Captum ``NoiseTunnel(Saliency)``, ``nt_type="vargrad"``: the per-pixel variance of the gradient
    over the noisy copies (non-negative); parameters as :func:`smoothgrad`.""",
    )
)
