"""Figure layout in inches: grids of blocks of rows, and margins turned into figure fractions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec


def inch_margins(
    width: float, height: float, *, left: float, right: float, top: float, bottom: float
) -> dict[str, float]:
    """Margins given in inches of a ``width`` x ``height`` figure, as ``add_gridspec``'s figure fractions."""
    return {
        "left": left / width,
        "right": 1 - right / width,
        "top": 1 - top / height,
        "bottom": bottom / height,
    }


def gapped_rows(rows: Iterable[int], cell: float, gap: float) -> list[float]:
    """Height ratios of blocks of ``rows[i]`` rows of height ``cell``, with a ``gap`` row between blocks."""
    ratios: list[float] = []
    for i, n_rows in enumerate(rows):
        ratios += ([gap] if i else []) + [cell] * n_rows
    return ratios


def block_grid(
    fig: Figure,
    blocks: Sequence[int],
    widths: Sequence[float],
    *,
    cell: float,
    gap: float,
    left: float,
    right: float,
    top: float,
    height: float,
    hspace: float,
) -> tuple[GridSpec, list[int]]:
    """A grid of blocks of ``blocks[i]`` rows (:func:`gapped_rows`) by columns of ``widths``, from ``top`` to
    ``top + height`` inches below the top edge of ``fig`` and from ``left`` to ``right`` (figure fractions),
    and the first grid row of every block."""
    ratios = gapped_rows(blocks, cell, gap)
    fig_h = fig.get_figheight()
    grid = fig.add_gridspec(
        len(ratios),
        len(widths),
        height_ratios=ratios,
        width_ratios=widths,
        left=left,
        right=right,
        top=1 - top / fig_h,
        bottom=1 - (top + height) / fig_h,
        wspace=0.05,
        hspace=hspace,
    )
    starts = [sum(blocks[:i]) + i for i in range(len(blocks))]  # a gap row before every block but the first
    return grid, starts
