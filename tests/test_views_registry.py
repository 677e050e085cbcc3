"""The view contract: a view is one register() entry; run_view (run_views: several in one job) and
gather_view do the rest of a job."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from xaibench.io import load_npz
from xaibench.pairs import Pair
from xaibench.views import VIEWS, ViewOutput, register
from xaibench.views.jobs import gather_view, outputs_by_view, run_view, run_views


@pytest.fixture
def registry(monkeypatch):
    """VIEWS as it is, restored after the test (which may register views)."""
    monkeypatch.setattr(VIEWS, "_entries", dict(VIEWS._entries))
    return VIEWS


def _draw(out: ViewOutput, title: str, png: str, pdf: str) -> None:
    Path(png).write_text(f"{title}: {len(out.tables['rows'])} rows, {out.extra['label']}")
    Path(pdf).write_text(title)


def _register_toy(registry) -> None:
    @register(
        "toy",
        title="Toy",
        category="Views of inputs",
        arrays="toy.npz",
        tables={"rows": "rows.tsv", "raw": "raw.tsv"},
        unlabelled=("raw",),
        figures={"picture": _draw},
        summarise=lambda table: table.groupby(["dataset", "model"], as_index=False)["value"].sum(),
    )
    def toy(pair: Pair, settings: dict, seed: int) -> ViewOutput:
        values = np.arange(settings["n"]) + seed
        rows = pd.DataFrame({"value": values})
        return ViewOutput(
            tables={"rows": rows, "raw": rows.copy()}, arrays={"values": values}, extra={"label": "toy"}
        )


def test_a_registered_view_runs_writes_and_gathers(registry, tmp_path):
    _register_toy(registry)
    spec = registry.get("toy")
    assert spec.gathered == "rows" and not spec.gpu
    assert spec.captions == {"picture": "view_toy.rst", "table": "view_toy_table.rst"}
    outputs = {name: str(tmp_path / f"{name}.out") for name in ("arrays", "rows", "raw")}
    outputs |= {"picture_png": str(tmp_path / "p.png"), "picture_pdf": str(tmp_path / "p.pdf")}
    pair = Pair(dataset=None, model=None, device="cpu")
    run_view("toy", pair, {"n": 3}, 10, {"dataset": "ds", "model": "net"}, outputs)

    rows = pd.read_csv(outputs["rows"], sep="\t")
    assert list(rows.columns) == ["dataset", "model", "value"] and rows["value"].tolist() == [10, 11, 12]
    assert list(pd.read_csv(outputs["raw"], sep="\t").columns) == ["value"]  # unlabelled
    np.testing.assert_array_equal(load_npz(outputs["arrays"])["values"], [10, 11, 12])
    assert Path(outputs["picture_png"]).read_text() == "ds / net: 3 rows, toy"

    gathered = gather_view("toy", [outputs["rows"], outputs["rows"]])
    assert gathered.to_dict("records") == [{"dataset": "ds", "model": "net", "value": 66}]


def _register_draws(registry, names) -> None:
    """Views that draw from every global generator without seeding, and leave torch with one thread."""

    def draw(pair: Pair, settings: dict, seed: int) -> ViewOutput:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        values = [random.random(), np.random.rand(), float(torch.rand(1)), threads]  # noqa: NPY002
        return ViewOutput(tables={"rows": pd.DataFrame({"value": values})})

    for name in names:
        register(name, title=name, category="Views of inputs", tables={"rows": "rows.tsv"}, figures={})(draw)


def test_views_in_one_job_run_as_if_alone(registry, tmp_path):
    """run_views: each view gets a pair of its own and the generators and torch threads as they were before
    the first view, so a view's result does not depend on the views that ran before it in the process."""
    import torch

    _register_draws(registry, ["first", "second"])
    outputs = {v: {"rows": str(tmp_path / f"{v}.tsv")} for v in ("first", "second")}
    loaded = []

    def load() -> Pair:
        loaded.append(Pair(dataset=None, model=None, device="cpu"))
        return loaded[-1]

    ids = {"dataset": "ds", "model": "net"}
    before = torch.get_num_threads()
    threads = 2  # not the one thread each view leaves behind (nor the suite's)
    torch.set_num_threads(threads)
    state = random.getstate(), np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    try:
        together = run_views(load, {"first": {}, "second": {}}, 0, ids, outputs)
        random.setstate(state[0])
        np.random.set_state(state[1])  # noqa: NPY002
        torch.set_rng_state(state[2])
        torch.set_num_threads(threads)
        alone = run_views(load, {"second": {}}, 0, ids, {"second": outputs["second"]})
    finally:
        torch.set_num_threads(before)
    assert list(together) == ["first", "second"] and len(loaded) == 3  # a pair per view
    second = together["second"].tables["rows"]
    pd.testing.assert_frame_equal(second, together["first"].tables["rows"])
    pd.testing.assert_frame_equal(second, alone["second"].tables["rows"])
    assert second["value"].iloc[3] == threads


def test_outputs_by_view_splits_the_grouped_outputs():
    outputs = {"a__arrays": "a.npz", "a__table": "a.tsv", "b__x_png": "b.png"}
    assert outputs_by_view(outputs, ["a", "b"]) == {
        "a": {"arrays": "a.npz", "table": "a.tsv"},
        "b": {"x_png": "b.png"},
    }
    with pytest.raises(ValueError, match="names none of the views"):
        outputs_by_view({"c__table": "c.tsv"}, ["a", "b"])


def test_register_refuses_bad_entries(registry):
    with pytest.raises(ValueError, match="at least one table"):
        register("bad", title="t", category="c", tables={}, figures={})
    with pytest.raises(ValueError, match="unlabelled"):
        register("bad", title="t", category="c", tables={"a": "a.tsv"}, figures={}, unlabelled=("b",))
    with pytest.raises(ValueError, match="already registered"):
        register("adversarial", title="t", category="c", tables={"a": "a.tsv"}, figures={})(lambda *a: None)


def test_every_view_declares_consistent_outputs():
    for name in VIEWS:
        spec = VIEWS.get(name)
        assert spec.name == name and spec.tables and spec.figures, name
        files = [*spec.tables.values(), *([spec.arrays] if spec.arrays else [])]
        assert len(set(files)) == len(files), f"view {name}: two outputs share a file name"
        assert spec.category in ("Views of inputs", "Views of the model"), name


def test_importing_the_views_is_light(heavy_imports):
    """The workflow imports xaibench.views when it is parsed (every dry run, every cluster job)."""
    assert heavy_imports("xaibench.views", ("torch", "matplotlib", "numpy", "pandas")) == []
    # gathering a view's tables (rule <view>, one job per view) needs pandas, not torch (~2 s per job)
    assert heavy_imports("xaibench.views.jobs", ("torch", "matplotlib", "captum", "quantus")) == []


def test_gathering_the_model_views_tables_imports_no_torch(tmp_path):
    """Rules adversarial and cascading_randomisation gather every pair's table through the registry's
    ``summarise``: it lives in a module without torch (~2 s of a job that only reads tables), and gives
    the summaries of the view modules (known values: two flipped of three samples, a mean of 0.8)."""
    import subprocess
    import sys

    similarity = pd.DataFrame(
        {
            "dataset": "d", "model": "m", "sample": [0, 1, 2], "attack": "fgsm", "method": "saliency",
            "epsilon": [0.1, 0.3, 0.2], "flipped": [True, True, False], "ssim": [0.2, 0.4, 0.9],
            "spearman": [0.5, 0.7, 0.9], "note": "",
        }
    )  # fmt: skip
    randomisation = pd.DataFrame(
        {
            "dataset": "d", "model": "m", "method": "saliency", "step": 1, "layer": "fc",
            "spearman_abs": [0.6, 0.8, 1.0], "spearman_signed": 0.5, "ssim": 0.1, "note": "",
        }
    )  # fmt: skip
    similarity.to_csv(tmp_path / "similarity.tsv", sep="\t", index=False)
    randomisation.to_csv(tmp_path / "randomisation.tsv", sep="\t", index=False)
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    code = f"""
import sys
sys.path.insert(0, {str(scripts)!r})
from xaibench.views.jobs import gather_view
adversarial = gather_view("adversarial", [{str(tmp_path / "similarity.tsv")!r}])
randomised = gather_view("cascading_randomisation", [{str(tmp_path / "randomisation.tsv")!r}])
print("torch" in sys.modules, adversarial["n_flipped"].item(), adversarial["ssim_mean"].item(),
      randomised["spearman_abs_mean"].item())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    torch_imported, n_flipped, ssim_mean, spearman_abs_mean = out.split()
    assert torch_imported == "False"
    assert int(n_flipped) == 2 and float(ssim_mean) == pytest.approx(0.3)
    assert float(spearman_abs_mean) == pytest.approx(0.8)
