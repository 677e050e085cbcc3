"""Figure layout in inches: grids of blocks of rows, and margins turned into figure fractions."""

from __future__ import annotations

from collections.abc import Iterable


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
