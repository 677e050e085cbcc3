"""Process-level settings: device choice, seeding, determinism, thread counts."""

from __future__ import annotations

import os
import random

import numpy as np


def select_device(requested: str = "auto") -> torch.device:  # noqa: F821
    """``auto`` picks CUDA when a usable GPU exists and the CPU otherwise.

    A scheduler may set ``CUDA_VISIBLE_DEVICES`` without a real GPU behind it; ``torch.cuda.is_available``
    then returns False and we fall back to the CPU. Asking for ``cuda`` explicitly without a GPU is an error.
    """
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"config device={requested!r} but no CUDA device is available")
    return torch.device(requested)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, numpy and torch; with CUDA present, also force deterministic CUDA kernels.

    Torch's CPU kernels used here are deterministic already. ``torch.use_deterministic_algorithms``
    imports TorchDynamo (~2 s, measured), a fixed cost every explain/evaluate job would pay for nothing on
    a CPU, so it is only switched on where it matters.
    """
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - libraries (Quantus, Captum) draw from the global state
    torch.manual_seed(seed)
    if deterministic and torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def set_threads(threads: int) -> None:
    """Match torch's intra-op threads to the job's ``threads:`` so parallel jobs do not oversubscribe."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
