"""A real SLURM run. tools/slurm brings up a throwaway single-node cluster (Debian's slurmctld, slurmd and
munge; two fake GPUs), a slice of config/test.yaml runs through profiles/slurm and the executor plugin, and
the results must equal those of a local run.

Needs root and apt-get (the CI machine kind: a Debian container); elsewhere the SLURM tests are skipped with
the reason, except with ``CI=true``, where a cluster that cannot be set up fails the tests. Deselect them
with ``-m "not slurm"``. Every subprocess is time-bounded, the module shares one budget, and the cluster is
stopped (its three daemons, by PID) whatever happens.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from environment import unavailable
from workflow_rules import workflow_rules

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOOLS = ROOT / "tools" / "slurm"
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
ENV = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}

BUDGET_S = 480  # install, cluster, the three runs (concurrent); measured 2 to 2.5 min on 2 busy cores
PLACEHOLDERS = {"YOUR_CPU_PARTITION": "cpu", "YOUR_GPU_PARTITION": "gpu", "YOUR_ACCOUNT": "xaibench"}
GPU_RULES = {"train_model", "explain", "evaluate"}
CPU_RULES = {"generate_dataset", "aggregate_scores", "figure_faithfulness_curves"}
PAIR = "ts_rotation/small_cnn"
TARGETS = ("results/tables/scores.tsv", f"results/figures/faithfulness/{PAIR}/pixel_flipping.png")
TIMING_KEYS = {"seconds", "seconds_per_image"}  # wall-clock measurements differ between any two runs
# The plugin's default status command is sacct, which needs slurmdbd; the test cluster has none.
# A first status check after 1 s (the plugin then adds 10 s per check until a job finishes).
TEST_CLUSTER_ARGS = (
    "--slurm-status-command=squeue",
    "--slurm-init-seconds-before-status-checks=1",
    "--slurm-keep-successful-logs",
    "--verbose",  # logs every sbatch call, and each job logs its environment
)

# ---- bounded subprocesses ------------------------------------------------------------------------------


class Budget:
    """Seconds left for the whole module, so that a hang anywhere cannot eat the CI job."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


class Process:
    """A subprocess in a session of its own, its output (stdout and stderr) in a temporary file, so that it
    can run in the background; on a timeout or an interrupt its whole process group is killed."""

    def __init__(self, args, *, cwd: Path = ROOT) -> None:
        self.args = [str(a) for a in args]
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            self.args, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            text=True, start_new_session=True,
        )  # fmt: skip

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait(self, *, limit: float, budget: Budget | None = None) -> subprocess.CompletedProcess:
        """Wait at most ``limit`` seconds and what the budget has left."""
        timeout = limit if budget is None else min(limit, budget.left())
        try:
            self.proc.wait(timeout=max(timeout, 1))
        except BaseException as exc:
            self.kill()
            if isinstance(exc, subprocess.TimeoutExpired):
                pytest.fail(
                    f"{' '.join(self.args)} ran over {timeout:.0f} s; output:\n{self.output()[-6000:]}"
                )
            raise
        out = self.output()
        self.log.close()
        return subprocess.CompletedProcess(self.args, self.proc.returncode, out, "")


def run(args, *, limit: float, budget: Budget | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    if budget is not None and budget.left() < 5:
        pytest.fail(f"SLURM test budget ({BUDGET_S} s) spent before: {' '.join(map(str, args))}")
    return Process(args, cwd=cwd).wait(limit=limit, budget=budget)


def snakemake(*args, workdir: Path) -> list:
    return [BIN / "snakemake", "--snakefile", ROOT / "Snakefile", "--directory", workdir, *args]


# ---- the cluster ---------------------------------------------------------------------------------------


def _cannot_run() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"SLURM test cluster needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "SLURM test cluster needs root (munged, slurmd, apt-get, /etc/slurm)"
    have_slurm = all(shutil.which(c) for c in ("munged", "slurmctld", "slurmd", "sbatch"))
    if not have_slurm and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def budget() -> Budget:
    return Budget(BUDGET_S)


@pytest.fixture(scope="module")
def cluster(budget):
    """Install the packages (if missing), start munged/slurmctld/slurmd, and always stop them again."""
    reason = _cannot_run()
    if reason:
        unavailable(reason)
    start = time.perf_counter()
    install = run(["bash", TOOLS / "install.sh"], limit=300, budget=budget)
    if install.returncode != 0:
        unavailable(f"cannot install SLURM (tools/slurm/install.sh): {install.stdout[-1500:]}")
    installed = time.perf_counter() - start

    # A short path: the munge socket lives inside and UNIX socket paths are limited to 107 bytes.
    state = Path(tempfile.mkdtemp(prefix="xaibench-slurm-", dir="/tmp"))
    # A CI runner stops jobs with SIGTERM: turn it into KeyboardInterrupt so the finally below still runs.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        up = run(["bash", TOOLS / "up.sh", state], limit=90, budget=budget)
        if up.returncode == 3:
            unavailable(f"no SLURM test cluster here: {up.stdout.strip()[-800:]}")
        if up.returncode != 0:
            pytest.fail(f"tools/slurm/up.sh failed:\n{up.stdout[-3000:]}\n{_logs(state)}")
        print(
            f"\nSLURM: install {installed:.0f} s, cluster up {time.perf_counter() - start - installed:.0f} s"
        )
        yield state
    finally:
        down = run(["bash", TOOLS / "down.sh", state], limit=60)
        signal.signal(signal.SIGTERM, previous)
        print(down.stdout)
        assert down.returncode == 0, down.stdout
        shutil.rmtree(state, ignore_errors=True)


def _logs(state: Path) -> str:
    return "\n".join(f"== {p}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(state.glob("log/*")))


def slurm_jobs(name: str) -> list[dict[str, str]]:
    """`scontrol show job` records of the jobs named ``name`` (the executor names them by its run ID).

    Finished jobs stay in slurmctld for MinJobAge (600 s in tools/slurm/slurm.conf.in)."""
    out = run(["scontrol", "show", "job", "--oneliner"], limit=30).stdout
    records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines()]
    return [r for r in records if r.get("JobName") == name]


def rule_of(job: dict[str, str]) -> str:
    """The rule name from the plugin's job comment `rule_<rule>[_wildcards_<values>]`."""
    return re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", job["Comment"])[1]


# ---- the workflow slice --------------------------------------------------------------------------------


def write_inputs(workdir: Path) -> tuple[Path, Path]:
    """A restricted config/test.yaml (one dataset, model and method, two metrics) and profiles/slurm with
    the placeholders filled in for the test cluster's partitions."""
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    config["datasets"] = {
        "ts_rotation": {
            "generator": "triangles_squares",
            "params": {"image_size": 32, "n_train": 300, "n_val": 50, "n_test": 50},
        }
    }
    config["models"] = {
        "small_cnn": {
            "architecture": "small_cnn",
            "params": {"width": 8},
            "training": {"epochs": 1, "batch_size": 32, "lr": 0.003},
        }
    }
    config["explain"]["methods"] = {"gradcam": {"method": "gradcam"}}
    config["explain"]["in_evaluation_job"] = False  # as config/paper.yaml: explanation jobs of their own
    config["evaluate"]["metrics"] = {
        "pixel_flipping": {"metric": "pixel_flipping"},
        "sparseness": {"metric": "sparseness"},
    }
    config["figures"].update(grid_methods=["gradcam"], curve_metrics=["pixel_flipping"])
    config["sweeps"] = {}  # they name other methods and metrics
    # Views are not among the targets, but views naming explain methods must name only the one kept here.
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    for view, spec in schema["properties"].get("views", {}).get("properties", {}).items():
        if "methods" in spec.get("properties", {}):
            config.setdefault("views", {}).setdefault(view, {})["methods"] = ["gradcam"]
    config_path = workdir / "slurm_test.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    text = PROFILE.read_text()
    for placeholder, value in PLACEHOLDERS.items():
        assert placeholder in text, f"{placeholder} is no longer in profiles/slurm/config.yaml"
        text = text.replace(placeholder, value)
    (workdir / "profile").mkdir()
    (workdir / "profile" / "config.yaml").write_text(text)
    return config_path, workdir / "profile"


def job_total(output: str) -> int:
    return int(re.search(r"^total\s+(\d+)$", output.split("Job stats:", 1)[1], re.M)[1])


@pytest.fixture(scope="module")
def local_run_started(cluster, tmp_path_factory):
    """The same targets and config, run locally alongside the SLURM run.

    Every rule runs one torch thread (`threads: 1`), in a SLURM job as here: the number of torch threads
    changes trained weights slightly, so results are equal whatever `--cores` says."""
    workdir = tmp_path_factory.mktemp("local-run")
    config, _ = write_inputs(workdir)
    # Niced: it takes the CPU the SLURM jobs leave while their executor waits between status checks.
    local = snakemake("--configfile", config, "--cores", "all", *TARGETS, workdir=workdir)
    process = Process(["nice", "-n", "19", *local], cwd=workdir)
    yield SimpleNamespace(workdir=workdir, process=process)
    process.kill()


@pytest.fixture(scope="module")
def failing_run_started(cluster, tmp_path_factory):
    """A run that must fail in SLURM, alongside the others: device=cuda where the GPUs are fake."""
    workdir = tmp_path_factory.mktemp("slurm-fail")
    config, profile = write_inputs(workdir)
    args = (f"results/models/{PAIR}/seed0/model.pt", "--configfile", config, "--workflow-profile", profile)
    args += (*TEST_CLUSTER_ARGS, "--retries", "0", "--config", "device=cuda")
    process = Process(snakemake(*args, workdir=workdir), cwd=workdir)
    yield SimpleNamespace(workdir=workdir, process=process)
    process.kill()


@pytest.fixture(scope="module")
def slurm_run(cluster, local_run_started, failing_run_started, budget, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm-run")
    config, profile = write_inputs(workdir)
    start = time.perf_counter()
    args = ("--configfile", config, "--workflow-profile", profile, *TEST_CLUSTER_ARGS, *TARGETS)
    out = run(snakemake(*args, workdir=workdir), limit=300, budget=budget, cwd=workdir)
    print(f"\nSLURM run of {len(TARGETS)} targets: {time.perf_counter() - start:.0f} s")
    if out.returncode != 0:
        pytest.fail(f"SLURM run failed:\n{out.stdout[-6000:]}\n{_logs(cluster)}")
    run_id = re.search(r"SLURM run ID: (\S+)", out.stdout)[1]
    return SimpleNamespace(workdir=workdir, output=out.stdout, jobs=slurm_jobs(run_id))


@pytest.fixture(scope="module")
def local_run(local_run_started, budget):
    out = local_run_started.process.wait(limit=240, budget=budget)
    assert out.returncode == 0, out.stdout[-6000:]
    return local_run_started.workdir


# ---- static: the profile and the rules agree -----------------------------------------------------------


def test_profile_gives_every_gpu_rule_a_gpu_and_the_gpu_partition():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm" and profile["retries"] >= 1
    defaults = profile["default-resources"]
    assert defaults["slurm_partition"] == "YOUR_CPU_PARTITION" and defaults["slurm_account"] == "YOUR_ACCOUNT"
    rules = workflow_rules()  # with config/test.yaml: every view on, generated rules included
    gpu_rules = {name for name, rule in rules.items() if "gpu" in rule["resources"]}
    assert GPU_RULES <= gpu_rules
    per_rule = profile["set-resources"]
    assert set(per_rule) <= set(rules), f"profile names unknown rules: {set(per_rule) - set(rules)}"
    missing = sorted(gpu_rules - set(per_rule))
    assert not missing, f"rules declaring gpu= but without GPU settings in profiles/slurm: {missing}"
    for name in gpu_rules:
        assert per_rule[name]["gpu"] == 1 and per_rule[name]["slurm_partition"] == "YOUR_GPU_PARTITION"
    for name, rule in rules.items():  # memory and wall time come from the rules, not from the profile
        if name != "all":
            assert {"mem_mb", "runtime"} <= set(rule["resources"]), name


# ---- the SLURM run -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.slurm
def test_every_job_ran_as_a_completed_slurm_job(slurm_run):
    jobs = slurm_run.jobs
    assert len(jobs) == job_total(slurm_run.output), [j["Comment"] for j in jobs]
    assert {rule_of(j) for j in jobs} == GPU_RULES | CPU_RULES
    assert {j["JobState"] for j in jobs} == {"COMPLETED"}, [(j["JobId"], j["JobState"]) for j in jobs]
    for target in TARGETS:
        assert (slurm_run.workdir / target).stat().st_size > 0


@pytest.mark.slow
@pytest.mark.slurm
def test_gpu_rules_asked_for_a_gpu_and_cpu_rules_did_not(slurm_run):
    calls = re.findall(r"^sbatch call: (sbatch .*?) --wrap=", slurm_run.output, re.M)
    by_rule = {re.search(r"slurm_logs/rule_(\w+)/", call)[1]: call for call in calls}
    assert set(by_rule) == GPU_RULES | CPU_RULES
    for name, call in sorted(by_rule.items()):
        print(f"\n{name}: {call}")
        if name in GPU_RULES:
            assert "--gpus=1" in call and " -p gpu" in call, call
        else:
            assert "--gpu" not in call and "--gres" not in call and " -p cpu" in call, call
        assert " -A xaibench" in call and " --mem " in call and " -t " in call, call
    # ... and SLURM recorded the requests: a GPU each for the GPU rules, none for the others.
    for job in slurm_run.jobs:
        gpu = rule_of(job) in GPU_RULES
        assert (job.get("TresPerJob") == "gres:gpu:1") == gpu, job
        assert job["Partition"] == ("gpu" if gpu else "cpu"), job


@pytest.mark.slow
@pytest.mark.slurm
def test_gpu_jobs_were_granted_a_fake_gpu_and_ran_on_the_cpu(slurm_run):
    logs = slurm_run.workdir / ".snakemake" / "slurm_logs"
    for job in slurm_run.jobs:
        if rule_of(job) in GPU_RULES:
            (log,) = logs.glob(f"rule_{rule_of(job)}/**/{job['JobId']}.log")
            assert re.search(r"'CUDA_VISIBLE_DEVICES': '\d'", log.read_text()), log
    training = pd.read_csv(slurm_run.workdir / "results/tables/training.tsv", sep="\t")
    assert list(training["device"]) == ["cpu"]
    assert "on cpu" in (slurm_run.workdir / "logs/train/ts_rotation/small_cnn/seed0.log").read_text()


def assert_same_file(ours: Path, theirs: Path) -> None:
    if ours.suffix == ".npz":
        with np.load(ours) as a, np.load(theirs) as b:
            assert a.files == b.files, ours
            # also <method>.seconds in explanation files of a group of methods
            for key in {k for k in a.files if k.rsplit(".", 1)[-1] not in TIMING_KEYS}:
                if a[key].dtype.kind == "f":
                    np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=f"{ours}:{key}")
                else:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{ours}:{key}")
    elif ours.suffix == ".tsv":
        a, b = (pd.read_csv(p, sep="\t") for p in (ours, theirs))
        drop = sorted(TIMING_KEYS & set(a.columns))
        pd.testing.assert_frame_equal(a.drop(columns=drop), b.drop(columns=drop), rtol=1e-5, obj=str(ours))
    elif ours.suffix == ".json":
        assert json.loads(ours.read_text()) == json.loads(theirs.read_text()), ours
    elif ours.suffix == ".pt":
        import torch

        a, b = (torch.load(p, weights_only=True) for p in (ours, theirs))
        # model.pt holds one state_dict; checkpoints.pt one per kept epoch ("states")
        states_a = a["states"] if "states" in a else {"final": a["state_dict"]}
        states_b = b["states"] if "states" in b else {"final": b["state_dict"]}
        assert a["spec"] == b["spec"] and states_a.keys() == states_b.keys()
        for epoch, state in states_a.items():
            assert state.keys() == states_b[epoch].keys()
            for key, value in state.items():
                torch.testing.assert_close(value, states_b[epoch][key], msg=f"{ours}:{epoch}:{key}")
    elif ours.suffix == ".png":
        from matplotlib.image import imread

        np.testing.assert_array_equal(imread(ours), imread(theirs), err_msg=str(ours))
    else:
        assert ours.stat().st_size > 0 and theirs.stat().st_size > 0, ours


@pytest.mark.slow
@pytest.mark.slurm
def test_results_equal_a_local_run(slurm_run, local_run):
    ours = sorted(p.relative_to(slurm_run.workdir) for p in (slurm_run.workdir / "results").rglob("*.*"))
    theirs = sorted(p.relative_to(local_run) for p in (local_run / "results").rglob("*.*"))
    assert ours == theirs
    assert len(ours) >= 10
    for path in ours:
        assert_same_file(slurm_run.workdir / path, local_run / path)


@pytest.mark.slow
@pytest.mark.slurm
def test_a_failing_job_is_reported_as_failed(failing_run_started, slurm_run, budget):
    """device=cuda on a node whose GPUs are fake: train_model fails in SLURM, and Snakemake says so."""
    out = failing_run_started.process.wait(limit=120, budget=budget)
    assert out.returncode != 0, out.stdout[-4000:]
    failed = re.search(r"SLURM-job '(\d+)' failed, SLURM status is: 'FAILED'", out.stdout)
    assert failed, out.stdout[-4000:]
    assert "Error in rule train_model" in out.stdout
    jobs = {rule_of(j): j for j in slurm_jobs(re.search(r"SLURM run ID: (\S+)", out.stdout)[1])}
    assert {name: j["JobState"] for name, j in jobs.items()} == {
        "generate_dataset": "COMPLETED",
        "train_model": "FAILED",
    }
    assert jobs["train_model"]["JobId"] == failed[1]
    log = failing_run_started.workdir / "logs/train/ts_rotation/small_cnn/seed0.log"
    assert "no CUDA device" in log.read_text()
