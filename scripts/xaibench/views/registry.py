"""The views registry: every view is one :class:`ViewSpec` in :data:`VIEWS`, added by :func:`register`.

A view looks at one trained (dataset, model) pair beyond attribution heatmaps. It is a *compute* function with
one contract, ``compute(pair, settings, seed) -> ViewOutput``: ``pair`` is the :class:`xaibench.pairs.Pair`
(dataset, model, device) from :func:`xaibench.pairs.load_pair`, ``settings`` the view's config section
(``views.<name>`` without ``enabled``; a ``methods`` list of names under ``explain.methods`` arrives as a
mapping name -> ``{"method", "params"}``) and ``seed`` the global seed. Its spec says everything else the
workflow needs: the tables and arrays it writes, its figures (name -> figure function), whether it wants a
GPU, and its report captions and category. rules/views.smk generates the rules ``view_<name>`` (one job per
pair) and ``<name>`` (the gathered table) from the spec; :mod:`xaibench.views.jobs` runs them.

This module is imported when the workflow is parsed, so it stays light: no torch, numpy, pandas or matplotlib
here; compute and figure functions import what they need when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from xaibench.registry import Registry

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from xaibench.pairs import Pair

__all__ = ["INPUTS", "MODEL", "VIEWS", "Compute", "Figure", "ViewOutput", "ViewSpec", "register"]

#: Report categories of the figures.
INPUTS, MODEL = "Views of inputs", "Views of the model"


@dataclass
class ViewOutput:
    """What a view computed for one pair: ``tables`` (output name -> table, one per entry of the spec's
    ``tables``), ``arrays`` (the spec's ``.npz``; None without one), ``extra`` (whatever its figure
    functions need besides those) and ``note`` (one line for the job's log)."""

    tables: dict[str, pd.DataFrame]
    arrays: dict[str, np.ndarray] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""


Compute = Callable[["Pair", dict[str, Any], int], ViewOutput]
#: ``figure(output, title, png, pdf)``: draws one figure of an output; ``title`` names the pair; ``pdf`` is
#: None where no PDF is wanted (figures.pdf).
Figure = Callable[[ViewOutput, str, str, str | None], None]


@dataclass(frozen=True)
class ViewSpec:
    """One view, as the workflow sees it.

    ``tables``: output name -> file name of its per-pair tables (``results/views/<name>/<pair>/<file>``), the
    first of which is gathered over every pair into ``results/tables/views/<name>.tsv`` (through
    ``summarise`` when given); every table gets ``dataset`` and ``model`` columns first, except those in
    ``unlabelled``. ``arrays``: file name of the ``.npz`` (None: none). ``figures``: figure name -> figure
    function, each written as ``results/figures/<name>/<pair>/<figure>.png`` (and ``.pdf``). ``captions``:
    figure name (and ``"table"``) -> caption file under report/. ``title`` and ``category``: where the
    figures sit in the report.
    """

    name: str
    compute: Compute
    title: str
    category: str
    tables: Mapping[str, str]
    figures: Mapping[str, Figure]
    arrays: str | None = None
    gpu: bool = False
    unlabelled: tuple[str, ...] = ()
    summarise: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    captions: Mapping[str, str] = field(default_factory=dict)

    @property
    def gathered(self) -> str:
        """Output name of the table gathered over every pair."""
        return next(iter(self.tables))


VIEWS: Registry[ViewSpec] = Registry("view")


def default_captions(name: str, figures: Mapping[str, Any]) -> dict[str, str]:
    """report/view_<name>.rst for a single figure (view_<name>_<figure>.rst for each of several), and
    view_<name>_table.rst for the gathered table."""
    captions = {f: f"view_{name}.rst" if len(figures) == 1 else f"view_{name}_{f}.rst" for f in figures}
    return {**captions, "table": f"view_{name}_table.rst"}


def register(
    name: str,
    *,
    title: str,
    category: str,
    tables: Mapping[str, str],
    figures: Mapping[str, Figure],
    arrays: str | None = None,
    gpu: bool = False,
    unlabelled: tuple[str, ...] = (),
    summarise: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    captions: Mapping[str, str] | None = None,
) -> Callable[[Compute], Compute]:
    """Decorator adding its compute function to :data:`VIEWS` as view ``name`` (see :class:`ViewSpec`)."""
    if not tables:
        raise ValueError(f"view {name!r}: at least one table (the first is gathered over every pair)")
    unknown = set(unlabelled) - set(tables)
    if unknown:
        raise ValueError(f"view {name!r}: unlabelled names no table: {sorted(unknown)}")

    def decorator(compute: Compute) -> Compute:
        VIEWS.add(
            name,
            ViewSpec(
                name=name,
                compute=compute,
                title=title,
                category=category,
                tables=dict(tables),
                figures=dict(figures),
                arrays=arrays,
                gpu=gpu,
                unlabelled=tuple(unlabelled),
                summarise=summarise,
                captions=dict(captions or default_captions(name, figures)),
            ),
        )
        return compute

    return decorator
