"""Running a view: one (dataset, model) pair (:func:`run_view`), and its table over every pair
(:func:`gather_view`); the scripts of the generated rules (scripts/view.py, scripts/view_table.py) call these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from xaibench.aggregate import concat_tables
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key
from xaibench.pairs import Pair
from xaibench.views import VIEWS, ViewOutput

__all__ = ["gather_view", "run_view"]


def run_view(
    name: str,
    pair: Pair,
    settings: dict[str, Any],
    seed: int,
    ids: Mapping[str, str],
    outputs: Mapping[str, str],
) -> ViewOutput:
    """Compute view ``name`` on ``pair`` and write its outputs: ``outputs`` maps ``arrays``, each table's
    output name and ``<figure>_png`` / ``<figure>_pdf`` to paths. ``ids`` (``dataset``, ``model``) name the
    pair: the first columns of its tables and the title of its figures."""
    spec = VIEWS.get(name)
    with config_key(f"views.{name}"):
        out = spec.compute(pair, settings, seed)
    for key, table in out.tables.items():
        if key not in spec.unlabelled:
            for column, value in reversed(list(ids.items())):
                table.insert(0, column, value)
    if spec.arrays:
        save_npz(outputs["arrays"], **out.arrays)
    for key in spec.tables:
        save_table(outputs[key], out.tables[key])
    title = " / ".join(ids.values())
    for figure, draw in spec.figures.items():
        draw(out, title, outputs[f"{figure}_png"], outputs[f"{figure}_pdf"])
    return out


def gather_view(name: str, tables: Sequence[str]) -> pd.DataFrame:
    """The gathered table of view ``name`` from every pair's table (through the view's ``summarise``)."""
    table = concat_tables(tables)
    summarise = VIEWS.get(name).summarise
    return summarise(table) if summarise else table
