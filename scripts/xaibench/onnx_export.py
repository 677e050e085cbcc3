"""ONNX export of trained models, and a check that onnxruntime reproduces the PyTorch logits.

``onnx`` and ``onnxruntime`` are imported inside the functions only, so importing this module costs nothing
beyond torch and numpy.

The export uses torch's TorchScript-based exporter (``dynamo=False``): the default torch.export-based one of
torch >= 2.9 needs ``onnxscript``, which is not a dependency. The graph has one input ``input``
(batch, C, H, W) float32 and one output ``logits`` (batch, classes), with a dynamic batch axis.
"""

from __future__ import annotations

import copy
import os
import warnings

import numpy as np
import torch
from torch import nn

__all__ = ["check_onnx", "export_onnx"]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(
    model: nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike[str], opset: int = 17
) -> None:
    """Write ``model`` (in eval mode, on the CPU, float32) as ONNX to ``path``, atomically, for inputs of
    ``input_shape`` (one sample: (C, H, W) of an image, (C, 1, L) of a series, (1, 1, F) of a table).

    The model itself is left as it was (the export runs on a CPU copy); the file is checked with
    ``onnx.checker`` before it replaces ``path``.
    """
    import onnx

    from xaibench.io import atomic_path

    export = copy.deepcopy(model).to("cpu", torch.float32).eval()
    dummy = torch.zeros(1, *(int(size) for size in input_shape))
    with atomic_path(path) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            # the TorchScript exporter announces its own deprecation on every call
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            torch.onnx.export(
                export,
                (dummy,),
                str(tmp),
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=int(opset),
                do_constant_folding=True,
            )
        onnx.checker.check_model(str(tmp))


def check_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    inputs: np.ndarray,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> float:
    """Run ``inputs`` (N, C, H, W) through onnxruntime (CPUExecutionProvider) and through ``model`` (eval
    mode, no gradients; its previous mode is restored); return the largest absolute difference of the logits.

    Raises ``AssertionError`` with the numbers when they differ by more than ``atol + rtol * |torch|``.
    """
    import onnxruntime as ort

    x = np.ascontiguousarray(inputs, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"inputs must be (N, C, H, W), got shape {x.shape}")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})

    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            torch_logits = model(torch.from_numpy(x).to(device)).float().cpu().numpy()
    finally:
        model.train(was_training)

    if onnx_logits.shape != torch_logits.shape:
        raise AssertionError(
            f"ONNX logits have shape {onnx_logits.shape}, PyTorch logits {torch_logits.shape} ({path})"
        )
    diff = np.abs(onnx_logits.astype(np.float64) - torch_logits.astype(np.float64))
    max_diff = float(diff.max()) if diff.size else 0.0
    bound = atol + rtol * np.abs(torch_logits.astype(np.float64))
    if not np.all(diff <= bound):
        worst = np.unravel_index(np.argmax(diff - bound), diff.shape)
        raise AssertionError(
            f"onnxruntime and PyTorch logits differ ({path}): max |diff| = {max_diff:.3g}; worst at "
            f"{tuple(int(i) for i in worst)}: onnx {onnx_logits[worst]:.6g} vs torch "
            f"{torch_logits[worst]:.6g} (rtol={rtol}, atol={atol}, {int((diff > bound).sum())} of "
            f"{diff.size} values out of tolerance)"
        )
    return max_diff
