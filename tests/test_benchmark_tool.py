"""tools/benchmark.py: the cost table built from benchmark: files; tools/bound.py: passes and the bound."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tools_loader import load_tool


@pytest.fixture(scope="module")
def tool():
    return load_tool("benchmark.py", "benchmark_tool")


@pytest.fixture(scope="module")
def bound(tool):
    return tool.load_bound()


def _bench(path: Path, wall: float, cpu: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"s": [wall], "max_rss": [100.0], "cpu_time": [cpu]}).to_csv(path, sep="\t", index=False)


def _explain_timing(run: Path, rows: list[tuple[str, float]]) -> None:
    """results/tables/timing.tsv with one explain row per (method, seconds) of pair d/m (4 images)."""
    frame = pd.DataFrame(
        [
            {"dataset": "d", "model": "m", "method": m, "stage": "explain", "seconds": t, "n": 4}
            for m, t in rows
        ]
    )
    frame["seconds_per_image"] = frame["seconds"] / frame["n"]
    frame["metric"] = ""
    (run / "results" / "tables").mkdir(parents=True, exist_ok=True)
    frame.to_csv(run / "results/tables/timing.tsv", sep="\t", index=False)


def test_costs_per_stage_and_method(tool, tmp_path):
    b = tmp_path / "benchmarks"
    _bench(b / "data" / "d.tsv", 36.0, 18.0)
    # explain.methods_per_job 2: one job explains lime and saliency (its file lists them), one sobel alone
    _bench(b / "explain" / "d" / "m" / "group1-of-2.tsv", 1080.0, 540.0)
    _bench(b / "explain" / "d" / "m" / "group2-of-2.tsv", 36.0, 18.0)
    (tmp_path / "results" / "explanations" / "d" / "m").mkdir(parents=True)
    np.savez(tmp_path / "results/explanations/d/m/group1-of-2.npz", methods=np.array(["lime", "saliency"]))
    (tmp_path / "config").mkdir()  # the second group's methods come from the run's config grouping
    (tmp_path / "config" / "config.yaml").write_text(
        "explain:\n  methods_per_job: 2\n  methods: {lime: {}, saliency: {}, sobel: {}}\n"
        "views:\n  embeddings: {}\n  adversarial: {enabled: false}\n"
    )
    _explain_timing(tmp_path, [("lime", 3.0), ("saliency", 1.0), ("sobel", 0.5)])
    _bench(b / "evaluate" / "d" / "m" / "group1-of-1.tsv", 3600.0, 1800.0)
    timing = pd.DataFrame(
        {"method": ["lime", "lime", "saliency"], "metric": ["a", "b", "a"], "seconds": [2, 1, 1], "n": 4}
    )
    (tmp_path / "results" / "scores" / "d" / "m").mkdir(parents=True)
    timing.to_csv(tmp_path / "results/scores/d/m/group1-of-1_timing.tsv", sep="\t", index=False)
    _bench(b / "views" / "all" / "d" / "m.tsv", 360.0, 180.0)  # rule views: every view of the pair
    _bench(b / "views" / "adversarial" / "d" / "m.tsv", 360.0, 180.0)  # rule view_adversarial (GPU)
    _bench(b / "views" / "adversarial.tsv", 36.0, 18.0)  # its gathering rule (CPU)

    per_stage, per_method = tool.costs(tmp_path)
    assert per_stage.loc["data", "gpu_h"] == 0 and per_stage.loc["data", "cpu_h"] == pytest.approx(0.005)
    # a GPU rule holds its GPU for the wall time
    assert per_stage.loc["evaluate", "gpu_h"] == pytest.approx(1.0)
    assert per_stage.loc["total", "jobs"] == 7
    # split by compute time
    assert per_method.loc[("evaluate", "lime"), "cpu_h"] == pytest.approx(0.5 * 3 / 4)
    assert per_method.loc[("evaluate", "saliency"), "gpu_h"] == pytest.approx(0.25)
    assert per_method.loc[("explain", "lime"), "wall_h"] == pytest.approx(0.3 * 3 / 4)
    assert per_method.loc[("explain", "saliency"), "jobs"] == pytest.approx(0.25)
    assert per_method.loc[("explain", "sobel"), "wall_h"] == pytest.approx(0.01)
    # only embeddings is on (not a GPU view): the views job books no GPU; view_adversarial does, gathering not
    assert per_stage.loc["views", "gpu_h"] == pytest.approx(0.1)

    table = tool.jobs(tmp_path).set_index("job")
    assert table.loc["d/m/group1-of-2", "compute_s"] == pytest.approx(4.0)  # lime + saliency
    assert table.loc["d/m/group1-of-2", "overhead_s"] == pytest.approx(1076.0)
    assert table.loc["d/m/group2-of-2", "compute_s"] == pytest.approx(0.5)
    assert table.loc["d/m/group1-of-1", "compute_s"] == pytest.approx(4.0)  # the evaluation job's timing


def test_evaluation_jobs_that_explained_count_the_explanations(tool, tmp_path):
    """explain.in_evaluation_job: a run without explanation jobs; each evaluation job explained its group
    (its file is named after the job), so its compute and its per-method shares include those seconds."""
    _bench(tmp_path / "benchmarks" / "evaluate" / "d" / "m" / "seed0" / "group1-of-1.tsv", 100.0, 80.0)
    folder = tmp_path / "results" / "explanations" / "d" / "m" / "seed0"
    folder.mkdir(parents=True)
    np.savez(folder / "group1-of-1.npz", methods=np.array(["lime", "saliency"]))
    _explain_timing(tmp_path, [("lime", 6.0), ("saliency", 2.0)])
    scores = tmp_path / "results" / "scores" / "d" / "m" / "seed0"
    scores.mkdir(parents=True)
    timing = pd.DataFrame({"method": ["lime", "saliency"], "metric": "a", "seconds": [10.0, 2.0], "n": 4})
    timing.to_csv(scores / "group1-of-1_timing.tsv", sep="\t", index=False)
    table = tool.jobs(tmp_path).set_index("job")
    assert table.loc["d/m/seed0/group1-of-1", "compute_s"] == pytest.approx(20.0)  # 12 scoring + 8 explaining
    assert table.loc["d/m/seed0/group1-of-1", "overhead_s"] == pytest.approx(80.0)
    _, per_method = tool.costs(tmp_path)
    assert per_method.loc[("evaluate", "lime"), "wall_h"] * 3600 == pytest.approx(100.0 * 16 / 20)
    assert "explain" not in per_method.index.get_level_values("stage")


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
        "explain": {
            "n_samples": 100,
            "methods_per_job": 2,
            "methods": {"lime": {"method": "lime"}, "cam": {"method": "cam"}},
        },
        "evaluate": {"methods_per_job": "all"},
    }
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(paper))
    table = tool.estimate(path, run).set_index("stage")
    pairs = 3  # d x {m, big} and e x big
    assert table.loc["explain", "jobs"] == pairs and table.loc["evaluate", "jobs"] == pairs  # both grouped
    assert table.loc["explain", "cpu_h"] * 3600 == pytest.approx(1.0 * 100 * pairs + 2.0 * pairs)
    assert table.loc["evaluate", "cpu_h"] * 3600 == pytest.approx(2.0 * 100 * pairs + 10.0 * pairs)
    assert "cam" in table.loc["explain", "note"]
    assert table.loc["train", "cpu_h"] * 3600 == pytest.approx(0.1 * 500 * 4)  # only the measured pair d/m
    assert "2 of 3" in table.loc["train", "note"]
    paper["explain"]["in_evaluation_job"] = True  # (with methods_per_job equal in both stages)
    path.write_text(yaml.safe_dump(paper))
    fused = tool.estimate(path, run).set_index("stage")
    assert fused.loc["explain", "jobs"] == 0  # the evaluation jobs explain: compute, no overhead of its own
    assert fused.loc["explain", "cpu_h"] * 3600 == pytest.approx(1.0 * 100 * pairs)


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
    report_log = log.with_name("2026-12-02T071500.snakemake.log")  # a later --report: no job, no timestamp
    report_log.write_text("Loading script code for rule x\nReport created.\n")
    page = tool.report(tmp_path)
    assert "3 jobs, 383 CPU-s in jobs" in page and "13.5 min" in page
    rows = {line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| d ")}
    assert [float(v) for v in rows["d"].split("|")[2:5]] == [36.0, 720.0, 10.0]  # data, explain, views of d
    per_image = next(line for line in page.splitlines() if line.startswith("| explain ") and "500.0" in line)
    assert per_image.split("|")[2].strip() == "lime"  # 0.5 s per image = 500 ms


# --- tools/bound.py -------------------------------------------------------------------------------------


@pytest.fixture()
def counted(bound, tiny_model):
    """A copy of the tiny model counting its passes (the session's model stays as it is)."""
    return bound.count_passes(copy.deepcopy(tiny_model))


def _passes(bound, model, method, n=2, size=32, **params):
    import torch

    from xaibench.methods import explain

    x = torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(0))
    bound.PASSES.reset()
    explain(method, model, x, torch.zeros(n, dtype=torch.long), **params)
    return bound.PASSES.forward, bound.PASSES.backward


def test_pass_counts_of_known_methods(bound, counted):
    # Captum's Saliency: one forward with gradients and one backward per image
    assert _passes(bound, counted, "saliency") == (2, 2)
    # Occlusion: one forward per window position and one of the unoccluded image, no backward
    window, stride, size = 4, 2, 32
    positions = math.ceil((size - window) / stride) + 1
    counts = _passes(bound, counted, "occlusion", window=window, stride=stride, perturbations_per_eval=4)
    assert counts == (2 * (positions**2 + 1), 0)
    # the control random never calls the model
    assert _passes(bound, counted, "random") == (0, 0)


def test_counting_survives_deep_copies_and_keeps_the_cache_working(bound, counted):
    from xaibench.methods import quantus_explain_func
    from xaibench.methods.cache import ExplanationCache

    copied = copy.deepcopy(counted)  # as Quantus copies a model to randomise it
    assert _passes(bound, copied, "saliency", n=3) == (3, 3)
    cache = ExplanationCache(quantus_explain_func)
    x, y = np.zeros((2, 1, 32, 32), np.float32), np.zeros(2, np.int64)
    for _ in range(2):
        cache(counted, x, y, method="saliency")
    assert cache.stats.hits == 1 and cache.stats.bypassed == 0  # no module hooks: replay still works
    assert repr(counted) == repr(copied) and type(counted).__name__ == "Sequential"


def test_bound_arithmetic_and_ratio(bound):
    assert bound.pass_bound(100, 10, 0.001, 0.002) == pytest.approx(0.12)
    pair = bound.Pair(
        32, None, np.zeros((4, 1, 32, 32)), np.zeros(4), None, forward_s=0.001, backward_s=0.002
    )
    passes = bound.Passes(forward=400, backward=40, calls=10, model_s=0.3)
    ours = bound.Measured(seconds=0.96, passes=passes)  # bound: 400 * 1 ms + 40 * 2 ms = 0.48 s
    lib = bound.Measured(seconds=2.88, passes=passes)
    row = bound._row(pair, "method", "lime", "", ours, lib, images=4)
    assert row["fwd"] == 100 and row["bwd"] == 10
    assert row["bound_ms"] == pytest.approx(120.0) and row["ours_ms"] == pytest.approx(240.0)
    assert row["ratio"] == pytest.approx(2.0) and row["lib_ms"] == pytest.approx(720.0)
    libraries = pd.DataFrame(
        {"share": [0.5, 0.3, 0.15], "top": [["conv.forward"], ["lime.default_exp_kernel"], ["slic.slic"]]},
        index=["model", "captum", "skimage"],
    )
    reason = bound.why(ours, libraries, cache=(4, 0))
    assert reason.startswith("Captum Python 30% (lime.default_exp_kernel); skimage (SLIC superpixels) 15%")
    assert reason.endswith("forward 31% of the time in 10 calls of 40 images")
    assert bound.why(bound.Measured(0.1, bound.Passes()), None, cache=(4, 4)).startswith(
        "no model pass; 4 of 4 re-explanations replayed from the cache"
    )
    row["why"], row["_measured"] = "", ours
    frame = bound.table([row, {**row, "kind": "metric", "ours_ms": 80.0, "lib_ms": 80.0}])
    total = bound.totals(frame).set_index(["size", "what"])
    assert total.loc[("all", "methods + metrics"), "speedup"] == pytest.approx(800 / 320)
    assert "| method lime |  | 240 | 100 | 10 | 120 | 2 | 720 | 3 |" in bound.markdown_table(frame)


def test_pass_times_are_per_image(bound, counted):
    import torch

    forward_s, backward_s = bound.pass_times(counted, torch.rand(8, 1, 32, 32), repeats=2)
    assert 0 < forward_s < 0.1 and 0 < backward_s < 0.1
    assert bound.PASSES.forward == 0  # the calibration's own passes are not counted


def test_later_method_replays_every_forward_call_of_a_shared_forward_metric(bound, counted):
    """A shared_forward metric run as each later method of a job runs it: every forward call replayed from the
    first method's, no image-pass counted on the model; the row's why and the totals say so."""
    import torch

    from xaibench.methods import explain

    x = np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    maps = explain("saliency", counted, torch.from_numpy(x), torch.from_numpy(y))
    pair = bound.Pair(32, counted, x, y, None, forward_s=0.001, backward_s=0.002)
    run = bound.MetricRun(pair, maps, {"method": "saliency", "device": "cpu"}, batch_size=64, seed=0)
    params = {"nr_runs": 5}
    ms, replayed, asked = bound.later_method(run, "faithfulness_correlation", params, images=4)
    assert asked == 1 + 5 and replayed == asked and ms > 0  # f(x) and 5 random subsets per batch
    bound.PASSES.reset()
    first = bound.measure(lambda: run.ours("faithfulness_correlation", params))
    assert first.passes.forward == 4 * (1 + 5)  # alone, the metric runs every pass itself
    row = bound._row(pair, "metric", "faithfulness_correlation", "saliency", first, first, images=4)
    row |= {"_shared": (ms, replayed, asked), "ratio": 1.0}  # within its bound: no profiled rerun
    bound.explain_reasons([row], print)
    assert row["why"].endswith(
        f"each later method of a job: {bound._fmt(ms)} ms/img, 6 of 6 forward calls replayed"
    )
    total = bound.totals(bound.table([row])).set_index(["size", "what"])
    assert total.loc[(32, "metrics, each later method of a job"), "ours_ms"] == pytest.approx(ms)


def test_layout_times_both_layouts_of_the_same_weights(tool):
    table = tool.layout([16], repeats=2)
    assert list(table["layout"]) == ["nchw", "channels_last"]
    assert (table[["forward_ms", "gradient_ms", "train_step_ms"]] > 0).all().all()
    # the same weights in both layouts: logits equal to float rounding (a weight mix-up moves them by ~0.1)
    assert (table["max_logit_diff"] < 1e-5).all()


def test_libraries_run_on_the_same_model_in_the_default_layout(bound, counted):
    """The libraries' column runs on the model as torch.nn builds it (NCHW strides, every 4-D tensor, the
    one-input-channel kernel too), with the same weights and so the same logits to float rounding; the pass
    counter survives the copy."""
    import torch

    default = bound.in_default_layout(counted)
    for (name, ours), theirs in zip(counted.state_dict().items(), default.state_dict().values(), strict=True):
        assert torch.equal(ours, theirs), name
        if ours.ndim == 4:
            assert theirs.stride() == torch.empty(ours.shape).stride(), name  # standard contiguous strides
            assert ours.stride() != theirs.stride(), name  # build_model's channels-last strides
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    bound.PASSES.reset()
    with torch.no_grad():
        difference = (default(x) - counted(x)).abs().max().item()
    assert difference < 1e-6 and bound.PASSES.forward == 8


@pytest.mark.parametrize("metric", ["efficient_mprt", "mprt"])
def test_libraries_run_quantus_randomisation_tests_which_explain_the_original_model(bound, counted, metric):
    """The randomisation tests' specs say Quantus's own classes compute them too (quantus_class_runs): the
    libraries' column runs quantus.EfficientMPRT and quantus.MPRT, which explain every image again on the
    original model, one saliency pass per image (a forward and a backward) more than xaibench's, which takes
    the maps it is given."""
    import torch

    from xaibench.methods import explain, quantus_explain_func
    from xaibench.metrics import METRICS, evaluate_metric

    assert METRICS.get(metric).quantus_class_runs
    n = 3
    x = torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(0)).numpy()
    y = np.zeros(n, dtype=np.int64)
    a = explain("saliency", counted, torch.from_numpy(x), torch.from_numpy(y))
    kwargs = {"method": "saliency", "device": "cpu"}
    bound.PASSES.reset()
    evaluate_metric(metric, counted, x, y, a, None, quantus_explain_func, kwargs, params={})
    ours = (bound.PASSES.forward, bound.PASSES.backward)
    bound.PASSES.reset()
    bound.quantus_call(metric, {}, counted, (x, y, a, None), kwargs, seed=0)
    libraries = (bound.PASSES.forward, bound.PASSES.backward)
    assert ours[1] == n  # the randomised model's saliency
    assert (libraries[0] - ours[0], libraries[1] - ours[1]) == (n, n)


def test_libraries_column_runs_captums_own_loop_for_the_sampled_methods(bound, counted, monkeypatch):
    """Under captum_loops, LIME / Kernel SHAP / Shapley value sampling go through Captum's per-image loop
    (xaibench's batched code is never called), and only for the duration."""
    import torch

    from xaibench.methods import explain, perturbation

    def batched(*args, **kwargs):
        raise RuntimeError("the batched path ran")

    monkeypatch.setattr(perturbation, "sampled_surrogates", batched)
    monkeypatch.setattr(perturbation, "sampled_shapley", batched)
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(2, dtype=torch.long)
    grid = {"kind": "grid", "cell": 16}
    for method in ("lime", "kernel_shap", "shapley_value_sampling"):
        maps = bound.library_explain(method, counted, x, y, 64, {"n_samples": 8, "segmentation": grid})
        assert maps.shape == (2, 1, 32, 32)
        with pytest.raises(RuntimeError, match="batched path"):
            explain(method, counted, x, y, n_samples=8, segmentation=grid)


STAGE_CONFIG = {
    "explain": {
        "batch_size": 64,
        "methods": {"saliency": {"method": "saliency"}, "input_x_gradient": {"method": "input_x_gradient"}},
    },
    "evaluate": {
        "batch_size": 64,
        "metrics": {
            "max_sensitivity": {"metric": "max_sensitivity", "params": {"nr_samples": 2}},
            "avg_sensitivity": {"metric": "avg_sensitivity", "params": {"nr_samples": 2}},
            "faithfulness_correlation": {"metric": "faithfulness_correlation", "params": {"nr_runs": 3}},
            "sparseness": {"metric": "sparseness"},
            "pointing_game": {"metric": "pointing_game"},  # needs masks: the pair has none, not run
        },
    },
}


def test_whole_stage_shares_what_an_evaluation_job_shares_and_the_libraries_do_not(bound, counted):
    """run_stage runs a job's sharing: AvgSensitivity replays MaxSensitivity's noisy re-explanations (the
    libraries explain them again: 2 noisy copies x 4 images, forward and backward), and the second method's
    FaithfulnessCorrelation replays the first's forward passes (4 images x (1 + 3 subsets)); the first
    method's FaithfulnessCorrelation is not shared. Everything else makes the same passes."""
    x = np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    pair = bound.Pair(32, counted, x, y, None, forward_s=0.001, backward_s=0.002)
    pair.library_model = bound.in_default_layout(counted)
    rows = bound.run_stage(pair, STAGE_CONFIG, images=4, seed=0, log=print)
    assert [r["method"] for r in rows] == ["saliency", "input_x_gradient"]
    assert all(r["failed"] == "" and r["images"] == 4 for r in rows)
    first, second = rows
    assert (first["lib_fwd"] - first["ours_fwd"], first["lib_bwd"] - first["ours_bwd"]) == (8, 8)
    assert (second["lib_fwd"] - second["ours_fwd"], second["lib_bwd"] - second["ours_bwd"]) == (8 + 16, 8)
    assert first["ours_fwd"] == 4 + 2 * 4 + 4 * (1 + 3)  # saliency, max sensitivity, faithfulness
    for row in rows:
        assert min(row[k] for k in ("ours_explain_s", "ours_metrics_s", "lib_explain_s", "lib_metrics_s")) > 0


def test_stage_totals_are_seconds_per_image_per_size_and_for_one_image_of_each(bound):
    row = {"images": 4, "ours_fwd": 8, "ours_bwd": 4, "lib_fwd": 16, "lib_bwd": 8, "failed": ""}
    frame = pd.DataFrame(
        [
            {**row, "size": 32, "method": "a", "ours_explain_s": 1.0, "ours_metrics_s": 3.0,
             "lib_explain_s": 2.0, "lib_metrics_s": 10.0},
            {**row, "size": 32, "method": "b", "ours_explain_s": 1.0, "ours_metrics_s": 3.0,
             "lib_explain_s": 2.0, "lib_metrics_s": 10.0},
            {**row, "images": 2, "size": 64, "method": "a", "ours_explain_s": 2.0, "ours_metrics_s": 4.0,
             "lib_explain_s": 4.0, "lib_metrics_s": 20.0},
        ]
    )  # fmt: skip
    total = bound.stage_totals(frame).set_index(["size", "what"])
    assert total.loc[(32, "explanations"), "ours_s"] == pytest.approx(0.5)  # 2 s over 4 images
    assert total.loc[(32, "explanations + metrics"), "speedup"] == pytest.approx(24 / 8)
    assert total.loc[(64, "metrics"), "lib_s"] == pytest.approx(10.0)  # 20 s over 2 images
    both = total.loc[("all", "explanations + metrics")]
    assert both["ours_s"] == pytest.approx(2.0 + 3.0) and both["lib_s"] == pytest.approx(6.0 + 12.0)
    assert both["ours_fwd"] == pytest.approx(16 / 4 + 8 / 2)  # passes per image, one image of each size
    section, whole = bound.stage_section(frame)
    assert whole["speedup"] == pytest.approx(18 / 5)
    assert "| 64 | a | 1 | 2 | 2 | 10 | 4 |  |" in section


def test_a_failing_library_call_is_timed_until_it_failed_and_named(bound):
    """The stage sums the libraries' seconds, so a failed call keeps the time it took (measure gives NaN);
    Quantus's refusal of an all-zero map is named as the rows name it."""

    def refused():
        time.sleep(0.05)
        raise AssertionError("The elements in the attribution vector are all equal to zero, which may cause")

    timed = bound._timed(refused)
    assert timed.seconds >= 0.05 and timed.output is None
    assert timed.error == "Quantus refused a re-explanation (all zero)"
    assert np.isnan(bound.measure(refused).seconds) and bound.measure(refused).error == timed.error
