"""Running a view: one (dataset, model) pair (:func:`run_view`), several views of one pair in one process
(:func:`run_views`), and a view's table over every pair (:func:`gather_view`); the scripts of the generated
rules (scripts/view.py, scripts/view_table.py) call these.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from xaibench.aggregate import concat_tables
from xaibench.io import save_npz, save_table
from xaibench.logs import config_key
from xaibench.views import VIEWS, ViewOutput

if TYPE_CHECKING:  # gathering a view's tables (rule <view>) needs no torch
    from xaibench.pairs import Pair

__all__ = ["gather_view", "outputs_by_view", "run_view", "run_views"]

log = logging.getLogger(__name__)


def run_view(
    name: str,
    pair: Pair,
    settings: dict[str, Any],
    seed: int,
    ids: Mapping[str, str],
    outputs: Mapping[str, str],
) -> ViewOutput:
    """Compute view ``name`` on ``pair`` and write its outputs: ``outputs`` maps ``arrays``, each table's
    output name and ``<figure>_png`` (and ``<figure>_pdf`` where PDFs are wanted: figures.pdf) to paths.
    ``ids`` (``dataset``, ``model``) name the pair: the first columns of its tables and the title of its
    figures."""
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
        draw(out, title, outputs[f"{figure}_png"], outputs.get(f"{figure}_pdf"))
    return out


def outputs_by_view(outputs: Mapping[str, str], views: Sequence[str]) -> dict[str, dict[str, str]]:
    """The outputs of rule views (named ``<view>__<output>``) as view -> the outputs of that view's rule
    view_<view> (``arrays``, a table's name, ``<figure>_png``, ...). Every output belongs to one view."""
    by_view: dict[str, dict[str, str]] = {view: {} for view in views}
    for key, path in outputs.items():
        view, sep, name = key.partition("__")
        if not sep or view not in by_view:
            raise ValueError(f"output {key!r} names none of the views {list(views)}")
        by_view[view][name] = path
    return by_view


def run_views(
    load: Callable[[], Pair],
    settings: Mapping[str, dict[str, Any]],
    seed: int,
    ids: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, str]],
) -> dict[str, ViewOutput]:
    """Run every view of ``settings`` (view -> its settings, in that order) on one pair, each as if alone in
    its process: on a pair of its own from ``load()`` (a view may leave hooks, gradients or modes on the
    model), with the random generators (Python, numpy, torch CPU and CUDA) and torch's determinism flags and
    threads as they were before the first view. A view that seeds itself does not need this; one that draws
    from a global generator, or runs after one that switches deterministic algorithms on, would otherwise
    depend on the views before it. ``outputs``: view -> its outputs (see :func:`run_view`). Logs each view's
    note and seconds as it is done."""
    start = _process_state()
    done: dict[str, ViewOutput] = {}
    for name, view_settings in settings.items():
        if done:
            _restore_process_state(start)
        began = time.perf_counter()
        done[name] = run_view(name, load(), view_settings, seed, ids, outputs[name])
        log.info("%s (%.1f s): %s", name, time.perf_counter() - began, done[name].note)
    return done


def _process_state() -> dict[str, Any]:
    """What a view could change in the process and a later view could depend on."""
    import numpy as np
    import torch

    cuda = torch.cuda.is_initialized()
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - the global generator, which libraries use
        "torch": torch.get_rng_state(),
        # CUDA not started yet: its generators start from the CPU generator's seed when it starts
        "cuda": torch.cuda.get_rng_state_all() if cuda else None,
        "cuda_seed": torch.initial_seed(),
        "deterministic": _deterministic(),
        "cudnn": (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic),
        "threads": torch.get_num_threads(),
        "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def _restore_process_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])
    elif torch.cuda.is_initialized():
        torch.cuda.manual_seed_all(state["cuda_seed"])
    if _deterministic() != state["deterministic"]:  # the call imports TorchDynamo (~2 s): only if due
        enabled, warn_only = state["deterministic"]
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = state["cudnn"]
    if torch.get_num_threads() != state["threads"]:
        torch.set_num_threads(state["threads"])
    if state["cublas"] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = state["cublas"]


def _deterministic() -> tuple[bool, bool]:
    import torch

    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()


def gather_view(name: str, tables: Sequence[str]) -> pd.DataFrame:
    """The gathered table of view ``name`` from every pair's table (through the view's ``summarise``)."""
    table = concat_tables(tables)
    summarise = VIEWS.get(name).summarise
    return summarise(table) if summarise else table
