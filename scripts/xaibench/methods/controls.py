"""Controls: ``random`` (uniform noise) and ``sobel`` (edge magnitude), the baselines of Adebayo et al.
(2018). Neither reads the model.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from xaibench.methods.core import register
from xaibench.methods.params import seed_value


@register(
    "random",
    library="control",
    description="Control: uniform random map, a deterministic function of the seed and the image",
)
def random(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """U(0, 1) per pixel, from a generator seeded with (seed, hash of the image's bytes).

    Model-independent by construction (MPRT must find it unchanged); identical for an image whatever its
    position in the batch or the chunk size.
    """
    del model, targets
    seed = seed_value("random", seed)
    images = inputs.detach().to("cpu", torch.float32).numpy()
    maps = np.empty((images.shape[0], 1, *images.shape[2:]), dtype=np.float32)
    for i, image in enumerate(images):
        digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=8).digest()
        rng = np.random.default_rng([seed, int.from_bytes(digest, "little")])
        maps[i, 0] = rng.random(image.shape[1:], dtype=np.float32)
    return torch.from_numpy(maps).to(inputs.device)


@register(
    "sobel",
    library="control",
    description="Control: Sobel edge magnitude of the input, summed over channels (model-free)",
)
def sobel(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per channel the same as ``skimage.filters.sobel(image, mode="nearest")``: sqrt((gx^2 + gy^2) / 2)
    with kernels scaled by 1/4 and replicated borders. Computed separably in torch (smooth with [1, 2, 1],
    then take differences) so that flat regions give exact zeros and skimage need not be imported.
    """
    del model, targets
    x = inputs.detach().to(torch.float32)
    n, n_channels, height, width = x.shape
    p = nn.functional.pad(x.reshape(n * n_channels, 1, height, width), (1, 1, 1, 1), mode="replicate")[:, 0]
    smooth_rows = p[:, :-2, :] + 2 * p[:, 1:-1, :] + p[:, 2:, :]  # (m, H, W + 2)
    smooth_cols = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]  # (m, H + 2, W)
    gx = (smooth_rows[:, :, 2:] - smooth_rows[:, :, :-2]) / 4
    gy = (smooth_cols[:, 2:, :] - smooth_cols[:, :-2, :]) / 4
    magnitude = torch.sqrt((gx * gx + gy * gy) / 2)
    return magnitude.reshape(n, n_channels, height, width).sum(dim=1, keepdim=True)
