"""Shared fixtures: a tiny seeded model and T&S-like batch, made by the tests themselves."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_model():
    """A seeded small_cnn (1 channel, 2 classes) in eval mode; untrained but deterministic."""
    import torch

    from xaibench.models import build_model

    torch.manual_seed(0)
    model = build_model("small_cnn", in_channels=1, num_classes=2, image_size=32, width=4)
    return model.eval()


@pytest.fixture(scope="session")
def trained_tiny_model():
    """A small_cnn (width 4) trained for 4 epochs on 1,024 Triangles & Squares images (~90 % test accuracy,
    ~3 s): its outputs depend on the input, so differences of outputs are far above float tolerances (the
    untrained ``tiny_model`` moves its probabilities by ~1e-7 when a window is occluded)."""
    import torch

    from xaibench.datasets import make_dataset
    from xaibench.training import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = make_dataset("triangles_squares", seed=0, image_size=32, n_train=1024, n_val=32, n_test=64)
        result = train(data, "small_cnn", {"width": 4}, epochs=4, batch_size=32, lr=0.003, seed=0)
    finally:
        torch.set_num_threads(threads)
    return result.model.eval()


@pytest.fixture(scope="session")
def tiny_batch():
    """Four 1x32x32 images with a bright square each, labels and exact masks (N, 1, H, W)."""
    rng = np.random.default_rng(0)
    n, size = 4, 32
    x = np.full((n, 1, size, size), 0.2, dtype=np.float32)
    masks = np.zeros((n, 1, size, size), dtype=bool)
    for i in range(n):
        r0, c0 = rng.integers(4, 16, size=2)
        masks[i, 0, r0 : r0 + 10, c0 : c0 + 10] = True
    x[masks] = 0.9
    y = np.array([0, 1, 0, 1], dtype=np.int64)
    return x, y, masks


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread_session():
    """The whole suite runs torch on one intra-op thread, as the workflow's rules do (``threads: 1``): small
    test batches are faster that way on 2 cores, and a test that needs another count sets it itself."""
    with _torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """For tests whose comparison needs one thread, whatever ran before: tiny batches gain little from
    intra-op threads, and while another process keeps the cores busy two OpenMP threads stall each other:
    measured 20-50x slower on 2 cores (DenseNet-121 LRP, 2 images: 35 s with 2 threads, 0.8 s with 1)."""
    with _torch_threads(1):
        yield


@pytest.fixture(scope="session")
def heavy_imports():
    """``heavy_imports(module, heavy)``: those of the ``heavy`` modules that importing ``module`` pulls in, in
    a fresh interpreter (what a job or a workflow parse pays)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from workflow_cli import SKIP_TEARDOWN

    scripts = Path(__file__).resolve().parents[1] / "scripts"

    def check(module: str, heavy: tuple[str, ...]) -> list[str]:
        code = f"import sys, {module}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
        code += f"\n{SKIP_TEARDOWN}"
        env = {**os.environ, "PYTHONPATH": str(scripts)}
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        return [m for m in result.stdout.strip().split(",") if m]

    return check


# The files that run the workflow (a minute or more each, mostly in subprocesses) are collected first, so that
# pytest-xdist (`--dist loadfile --no-loadscope-reorder`, as `make test` runs it, hands out whole files in
# collection order) starts them at once instead of ending on them while the other workers idle: the suite
# took 7 min 51 s in CI with test_workflow.py last. Without --no-loadscope-reorder, xdist hands out the files
# with the most tests first, whatever their order here (tests/test_suite_order.py checks the Makefile).
SLOW_FILES_FIRST = (
    "test_slurm.py",
    "test_workflow.py",
    "test_workflow_minimal.py",
    "test_modalities.py",
    "test_extending.py",
    "test_workflow_config.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOW_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
