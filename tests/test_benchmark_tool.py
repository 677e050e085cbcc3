"""tools/benchmark.py: the cost table built from benchmark: files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("benchmark_tool", ROOT / "tools" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(path: Path, wall: float, cpu: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"s": [wall], "max_rss": [100.0], "cpu_time": [cpu]}).to_csv(path, sep="\t", index=False)


def test_costs_per_stage_and_method(tool, tmp_path):
    b = tmp_path / "benchmarks"
    _bench(b / "data" / "d.tsv", 36.0, 18.0)
    _bench(b / "explain" / "d" / "m" / "lime.tsv", 720.0, 360.0)
    _bench(b / "explain" / "d" / "m" / "saliency.tsv", 360.0, 180.0)
    _bench(b / "evaluate" / "d" / "m" / "group1-of-1.tsv", 3600.0, 1800.0)
    timing = pd.DataFrame(
        {"method": ["lime", "lime", "saliency"], "metric": ["a", "b", "a"], "seconds": [2, 1, 1]}
    )
    (tmp_path / "results" / "scores" / "d" / "m").mkdir(parents=True)
    timing.to_csv(tmp_path / "results/scores/d/m/group1-of-1_timing.tsv", sep="\t", index=False)

    per_stage, per_method = tool.costs(tmp_path)
    assert per_stage.loc["data", "gpu_h"] == 0 and per_stage.loc["data", "cpu_h"] == pytest.approx(0.005)
    assert per_stage.loc["evaluate", "gpu_h"] == pytest.approx(
        1.0
    )  # a GPU rule holds its GPU for the wall time
    assert per_stage.loc["total", "jobs"] == 4
    assert per_method.loc[("evaluate", "lime"), "cpu_h"] == pytest.approx(
        0.5 * 3 / 4
    )  # split by compute time
    assert per_method.loc[("evaluate", "saliency"), "gpu_h"] == pytest.approx(0.25)
    assert per_method.loc[("explain", "lime"), "wall_h"] == pytest.approx(0.2)
