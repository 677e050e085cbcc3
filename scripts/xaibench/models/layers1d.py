"""The parameter-free modules of ``cnn1d`` that move between the 4-D layout of every stage, (N, C, 1, L),
and the 3-D one of 1-D convolutions, (N, C, L) (imported when a ``cnn1d`` is built: the registry needs no
torch)."""

from __future__ import annotations

from torch import Tensor, nn


class SqueezeHeight(nn.Module):
    """(N, C, 1, L) -> (N, C, L); anything else is an error (a series model given images)."""

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[2] != 1:
            raise ValueError(f"cnn1d expects series of shape (N, C, 1, L), got {tuple(x.shape)}")
        return x[:, :, 0]


class UnsqueezeHeight(nn.Module):
    """(N, C, L) -> (N, C, 1, L): back to the 4-D layout of image feature maps."""

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, None]
