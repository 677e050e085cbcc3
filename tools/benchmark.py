#!/usr/bin/env python
"""Measure xaibench's costs: per-job fixed overhead and per-image time of every method and metric.

    .venv/bin/python tools/benchmark.py imports          # import cost per stage script, fresh processes
    .venv/bin/python tools/benchmark.py jobs [RUN_DIR]   # job wall time vs in-job compute, finished run

``jobs`` reads the ``benchmark:`` files (whole job wall time, as Snakemake measured it) and
``results/tables/timing.tsv`` (compute time measured inside the job) of a finished run, and prints per job
the fixed overhead (wall - compute: interpreter start, imports, loading data and model, writing outputs)
and the per-image times. Timings are only honest on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

# What each stage's script imports (keep in sync with scripts/*.py).
STAGE_IMPORTS = {
    "generate_dataset": "xaibench.datasets",
    "train_model": "xaibench.training, xaibench.models",
    "explain (gradient method)": "xaibench.explaining, captum.attr",
    "explain (control method)": "xaibench.explaining",
    "explain (lrp)": "xaibench.explaining, zennit.composites",
    "evaluate": "xaibench.evaluation, quantus",
    "aggregate_scores": "xaibench.aggregate, xaibench.tables",
    "figures": "xaibench.plots, seaborn, matplotlib.pyplot",
    "snakemake script preamble": "snakemake.script",
}


def _import_seconds(modules: str, repeats: int) -> float:
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import {modules}"
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return best


def imports(repeats: int) -> pd.DataFrame:
    rows = [
        {"stage": stage, "imports": modules, "best_of": repeats, "seconds": _import_seconds(modules, repeats)}
        for stage, modules in STAGE_IMPORTS.items()
    ]
    return pd.DataFrame(rows)


def _benchmarks(run_dir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((run_dir / "benchmarks").rglob("*.tsv")):
        rel = path.relative_to(run_dir / "benchmarks").with_suffix("")
        parts = rel.parts
        bench = pd.read_csv(path, sep="\t")
        row = {"stage": parts[0], "job": "/".join(parts[1:]) or parts[0], "wall_s": bench["s"].mean()}
        row["max_rss_mb"] = bench["max_rss"].mean() if "max_rss" in bench else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def jobs(run_dir: Path) -> pd.DataFrame:
    bench = _benchmarks(run_dir)
    timing = pd.read_csv(run_dir / "results/tables/timing.tsv", sep="\t")
    timing["job"] = timing["dataset"] + "/" + timing["model"] + "/" + timing["method"]
    compute = timing.groupby(["stage", "job"], as_index=False).agg(
        compute_s=("seconds", "sum"), n=("n", "first")
    )
    merged = bench.merge(compute, on=["stage", "job"], how="left")
    merged["overhead_s"] = merged["wall_s"] - merged["compute_s"]
    return merged


def per_image(run_dir: Path) -> pd.DataFrame:
    timing = pd.read_csv(run_dir / "results/tables/timing.tsv", sep="\t")
    timing["what"] = timing["method"].where(timing["stage"] == "explain", timing["metric"])
    return (
        timing.groupby(["stage", "what"], as_index=False)
        .agg(ms_per_image=("seconds_per_image", lambda s: 1000 * s.mean()), jobs=("seconds", "size"))
        .sort_values(["stage", "ms_per_image"])
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_imp = sub.add_parser("imports")
    p_imp.add_argument("--repeats", type=int, default=3)
    p_jobs = sub.add_parser("jobs")
    p_jobs.add_argument("run_dir", nargs="?", default=str(ROOT), type=str)
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    pd.set_option("display.max_rows", 500)
    if args.command == "imports":
        print(imports(args.repeats).to_string(index=False, float_format="%.2f"))
    else:
        run_dir = Path(args.run_dir)
        table = jobs(run_dir)
        print(table.to_string(index=False, float_format="%.2f"))
        summary = table.groupby("stage").agg(
            jobs=("job", "size"), wall_s=("wall_s", "sum"), mean_overhead_s=("overhead_s", "mean")
        )
        print("\nper stage:\n" + summary.to_string(float_format="%.2f"))
        print("\nper image:\n" + per_image(run_dir).to_string(index=False, float_format="%.2f"))


if __name__ == "__main__":
    main()
