"""tools/benchmark.py: the cost table built from benchmark: files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tools_loader import load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmark.py", "benchmark_tool")


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


def test_estimate_scales_per_image_costs_to_another_config(tool, tmp_path):
    import yaml

    from xaibench.datasets import make_dataset, save_dataset

    run = tmp_path / "run"
    (run / "config").mkdir(parents=True)
    (run / "results" / "tables").mkdir(parents=True)
    (run / "results" / "data").mkdir(parents=True)
    small = {"architecture": "small_cnn", "training": {"epochs": 2}}
    measured = {"datasets": {"d": {}}, "models": {"m": small}, "explain": {"n_samples": 4, "methods": {}}}
    (run / "config" / "config.yaml").write_text(yaml.safe_dump(measured))
    save_dataset(
        str(run / "results/data/d.npz"),
        make_dataset("triangles_squares", seed=0, n_train=50, n_val=5, n_test=5),
    )
    timing = pd.DataFrame(
        [
            {"dataset": "d", "model": "m", "method": "lime", "stage": "explain", "seconds": 4.0, "n": 4},
            {"dataset": "d", "model": "m", "method": "lime", "stage": "evaluate", "seconds": 8.0, "n": 4},
        ]
    )
    timing["seconds_per_image"] = timing["seconds"] / timing["n"]
    timing["metric"] = ["", "a"]
    timing.to_csv(run / "results/tables/timing.tsv", sep="\t", index=False)
    _bench(run / "benchmarks/explain/d/m/lime.tsv", 6.0, 5.0)  # 2 s overhead over 4 s compute
    _bench(run / "benchmarks/evaluate/d/m/lime.tsv", 18.0, 9.0)  # 10 s overhead
    _bench(run / "benchmarks/train/d/m.tsv", 20.0, 10.0)  # 10 cpu-s / (50 images x 2 epochs)
    (run / "results/scores/d/m").mkdir(parents=True)
    timing[timing["stage"] == "evaluate"].to_csv(
        run / "results/scores/d/m/lime_timing.tsv", sep="\t", index=False
    )

    paper = {
        "datasets": {"d": {"params": {"n_train": 500}}, "e": {"models": ["big"]}},
        "models": {
            "m": {"architecture": "small_cnn", "training": {"epochs": 4}},
            "big": {"architecture": "resnet18", "training": {"epochs": 1}},
        },
        "explain": {"n_samples": 100, "methods": {"lime": {"method": "lime"}, "cam": {"method": "cam"}}},
        "evaluate": {"methods_per_job": "all"},
    }
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(paper))
    table = tool.estimate(path, run).set_index("stage")
    pairs = 3  # d x {m, big} and e x big
    assert table.loc["explain", "jobs"] == pairs * 2 and table.loc["evaluate", "jobs"] == pairs
    assert table.loc["explain", "cpu_h"] * 3600 == pytest.approx(1.0 * 100 * pairs + 2.0 * pairs * 2)
    assert table.loc["evaluate", "cpu_h"] * 3600 == pytest.approx(2.0 * 100 * pairs + 10.0 * pairs)
    assert "cam" in table.loc["explain", "note"]
    assert table.loc["train", "cpu_h"] * 3600 == pytest.approx(0.1 * 500 * 4)  # only the measured pair d/m
    assert "2 of 3" in table.loc["train", "note"]


def test_report_is_a_markdown_page_of_the_run(tool, tmp_path):
    b = tmp_path / "benchmarks"
    _bench(b / "data" / "d.tsv", 36.0, 18.0)
    _bench(b / "explain" / "d" / "m" / "lime.tsv", 720.0, 360.0)
    _bench(b / "views" / "embeddings" / "d" / "m.tsv", 10.0, 5.0)
    (tmp_path / "results" / "tables").mkdir(parents=True)
    timing = pd.DataFrame(
        {
            "stage": ["explain"],
            "method": ["lime"],
            "metric": [""],
            "seconds": [2.0],
            "seconds_per_image": [0.5],
        }
    )
    timing.to_csv(tmp_path / "results/tables/timing.tsv", sep="\t", index=False)
    log = tmp_path / ".snakemake" / "log" / "2026-12-02T070000.snakemake.log"
    log.parent.mkdir(parents=True)
    log.write_text("[Wed Dec  2 07:00:00 2026]\nrule x:\n[Wed Dec  2 07:13:30 2026]\nFinished job 0.\n")
    page = tool.report(tmp_path)
    assert "3 jobs, 383 CPU-s in jobs" in page and "13.5 min" in page
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| d ")}
    assert [float(v) for v in rows["d"].split("|")[2:5]] == [36.0, 720.0, 10.0]  # data, explain, views of d
    per_image = next(line for line in page.splitlines() if line.startswith("| explain ") and "500.0" in line)
    assert per_image.split("|")[2].strip() == "lime"  # 0.5 s per image = 500 ms
