"""tools/compare_runs.py: two runs are the same when every result is bit for bit the same, timing apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tools_loader import load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("compare_runs.py", "compare_runs")


def _run(root: Path, score: float = 0.5, seconds: float = 1.0, nan: bool = True) -> Path:
    (root / "results" / "explanations" / "d" / "m").mkdir(parents=True)
    (root / "results" / "tables").mkdir(parents=True)
    maps = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
    if nan:
        maps[1, 0, 0, 0] = np.nan
    arrays = {"methods": np.array(["saliency"]), "saliency.attributions": maps}
    np.savez(root / "results/explanations/d/m/g.npz", **arrays, **{"saliency.seconds": np.float64(seconds)})
    times = {name: [seconds] * 2 for name in ("seconds", "seconds_tsne", "train_seconds")}
    table = pd.DataFrame({"metric": ["a", "b"], "score": [score, np.nan], **times})
    table.to_csv(root / "results/tables/scores.tsv", sep="\t", index=False)
    return root


def test_same_results_are_identical_whatever_the_time(tool, tmp_path):
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b", seconds=9.0)
    assert tool.compare(a, b) == []


def test_a_changed_score_or_map_is_named(tool, tmp_path):
    a = _run(tmp_path / "a")
    lines = tool.compare(a, _run(tmp_path / "b", score=0.5 + 1e-15))
    assert lines == ["results/tables/scores.tsv: columns differ in value: ['score']"]
    lines = tool.compare(a, _run(tmp_path / "c", nan=False))
    assert lines == ["explanations of d/m/saliency: arrays differ: ['attributions']"]
    (tmp_path / "c" / "results/tables/scores.tsv").unlink()
    assert any("only in" in line for line in tool.compare(a, tmp_path / "c"))


def test_explanations_compare_per_method_whatever_the_grouping(tool, tmp_path):
    """A run with one file per method equals a run with one file per group holding the same maps."""
    a = _run(tmp_path / "a")
    maps = np.load(a / "results/explanations/d/m/g.npz")["saliency.attributions"]
    b = _run(tmp_path / "b")
    (b / "results/explanations/d/m/g.npz").unlink()
    np.savez(b / "results/explanations/d/m/saliency.npz", attributions=maps, seconds=np.float64(3.0))
    assert tool.compare(a, b) == []
    np.savez(b / "results/explanations/d/m/saliency.npz", attributions=maps + 1, seconds=np.float64(3.0))
    assert tool.compare(a, b) == ["explanations of d/m/saliency: arrays differ: ['attributions']"]
    np.savez(b / "results/explanations/d/m/lime.npz", attributions=maps)
    assert "explanations of d/m/lime: only in" in tool.compare(a, b)[0]
