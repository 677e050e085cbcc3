"""``cnn1d``: a 1-D CNN for time series stored as (N, C, 1, L) (C variables of length L).

The convolutions are 1-D, but the model's input and its CAM layer's output are 4-D, so every explanation
method (which work on (N, C, H, W) inputs) and the CAM methods (which read (N, K, h, w) activations and
upsample them to (H, W)) handle it unchanged: parameter-free modules squeeze the height axis after the input
and unsqueeze it again after the last convolution block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xaibench.models.core import conv_stages, gap_linear_model, register

if TYPE_CHECKING:
    from torch import nn

MAX_STAGES = 5


def receptive_field(stages: int, kernel_size: int) -> int:
    """Samples of the input one output position of the last stage sees (2 convolutions per stage, a max-pool
    of 2 between stages)."""
    field, jump = 1, 1
    for stage in range(stages):
        field += 2 * (kernel_size - 1) * jump
        if stage < stages - 1:
            field += jump
            jump *= 2
    return field


def max_stages(length: int) -> int:
    """The most stages a series of ``length`` allows: each of the stages - 1 max-pools halves it (rounding
    down), and it must keep at least one sample."""
    return min(MAX_STAGES, length.bit_length())


def default_stages(length: int, kernel_size: int) -> int:
    """The fewest stages (at most :data:`MAX_STAGES`, and no more than the length allows) whose receptive
    field covers half the series: 1 for L = 24, 2 for 64, 3 for 128, 4 for 256 at ``kernel_size`` 7."""
    stages = 1
    while stages < max_stages(length) and receptive_field(stages, kernel_size) < length / 2:
        stages += 1
    return stages


@register("cnn1d", modalities=("series",))
def cnn1d(
    in_channels: int,
    num_classes: int,
    image_size: int,
    width: int = 16,
    stages: int | None = None,
    kernel_size: int = 7,
    dropout: float = 0.0,
    batch_norm: bool = True,
) -> nn.Module:
    """A VGG-style 1-D CNN for series (N, C, 1, L), ``image_size`` = L: ``stages`` stages of 2x (Conv1d of
    ``kernel_size`` with "same" padding, BatchNorm1d if ``batch_norm``, ReLU), width ``width`` doubling per
    stage (capped at 8x, like ``small_cnn``), max-pool of 2 between stages, then global average pool, dropout
    and one linear layer (so the original CAM applies).

    ``kernel_size`` must be odd (padding k // 2 keeps the length). ``stages`` defaults to the fewest whose
    receptive field covers half the series (:func:`default_stages`); more stages than the length allows (a
    max-pool would leave no sample) is an error naming ``stages``. The CAM layer is ``features.<last>``, the
    (N, C', 1, L') output of the last block after the height axis is restored.
    """
    from torch import nn

    from xaibench.models.layers1d import SqueezeHeight, UnsqueezeHeight

    length = int(image_size)
    if length != image_size or length < 1:
        raise ValueError(
            f"cnn1d: the series length (image_size) must be a positive integer, got {image_size!r}"
        )
    if (
        isinstance(kernel_size, bool)
        or int(kernel_size) != kernel_size
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise ValueError(
            f"cnn1d: kernel_size must be an odd positive integer (same padding), got {kernel_size!r}"
        )
    if int(width) != width or width < 1:
        raise ValueError(f"cnn1d: width must be a positive integer, got {width!r}")
    kernel_size, width = int(kernel_size), int(width)
    if stages is None:
        stages = default_stages(length, kernel_size)
    if isinstance(stages, bool) or int(stages) != stages or not 1 <= stages <= max_stages(length):
        raise ValueError(
            f"cnn1d: stages must be an integer from 1 to {max_stages(length)} for a series of length "
            f"{length} (each of the stages - 1 max-pools halves it), got stages={stages!r}"
        )
    stages = int(stages)
    stage_layers, channels = conv_stages(
        nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, in_channels, width, stages, batch_norm,
        kernel_size=kernel_size, padding=kernel_size // 2,
    )  # fmt: skip
    layers = [SqueezeHeight(), *stage_layers, UnsqueezeHeight()]
    return gap_linear_model(
        layers, channels, num_classes, dropout
    )  # CAM layer: the last block, made 4-D again
