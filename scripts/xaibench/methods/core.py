"""Registry and entry points of the explanation methods: :data:`METHODS`, :func:`register`, :func:`explain`.

Every entry of :data:`METHODS` is a :class:`MethodSpec` whose ``fn(model, inputs, targets, **params)``
returns a tensor of shape (n, 1, H, W) or (n, C, H, W) for one chunk of inputs. :func:`explain` validates the
parameters against ``fn``'s signature (the config must be exact), runs the chunks with gradients enabled and
the model in eval mode, reduces the channel axis by **summing** it and returns float32 numpy. Non-finite
values are returned as they are: the evaluation counts them, so they are never hidden here.

Also the helpers the method families share to handle a model: :func:`grad_input`, :func:`without_inplace`,
:func:`activation_types` and :func:`not_applicable` (a :class:`MethodNotApplicable` naming method and model).
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from xaibench.methods.params import positive_int
from xaibench.registry import Registry

__all__ = [
    "METHODS",
    "MethodNotApplicable",
    "MethodSpec",
    "explain",
    "method_params",
    "quantus_explain_func",
    "register",
]


class MethodNotApplicable(Exception):
    """The method cannot explain this model (its architecture), for the reason given in the message."""


@dataclass(frozen=True)
class MethodSpec:
    """One explanation method: ``fn(model, inputs, targets, **params)`` -> (n, 1|C, H, W) tensor."""

    fn: Callable[..., torch.Tensor]
    library: str  # "captum", "zennit", "grad-cam", "xaibench" (implemented here) or "control"
    description: str  # one line, for the README and the report
    imports: tuple[str, ...] = ()  # modules its first call imports besides its library's (LIBRARY_MODULES)


METHODS: Registry[MethodSpec] = Registry("method")

#: The modules each library's methods import on their first call (lazily: importing xaibench stays light).
LIBRARY_MODULES: dict[str, tuple[str, ...]] = {
    "captum": ("captum.attr",),
    "zennit": ("zennit.attribution", "zennit.composites"),
    "grad-cam": ("pytorch_grad_cam",),
}


def import_libraries(methods: Iterable[str]) -> float:
    """Import now what registered ``methods`` would import on their first call (their library's modules and
    their spec's ``imports``); returns the seconds it took. A job that times each method calls this first, so
    that the first method of a library is not charged with the library's import (1-4 s per library)."""
    start = time.perf_counter()
    for name in sorted(set(methods)):
        spec = METHODS.get(name)
        for module in (*LIBRARY_MODULES.get(spec.library, ()), *spec.imports):
            importlib.import_module(module)
    return time.perf_counter() - start


# Captum warns on every call that it hooks the activations (and removes the hooks again): noise in job logs.
_QUIET = (
    "Setting forward, backward hooks and attributes on non-linear",
    "Setting backward hooks on ReLU activations",
    "Input Tensor 0 did not already require gradients",
)


def register(
    name: str, *, library: str, description: str, imports: tuple[str, ...] = ()
) -> Callable[[Callable[..., torch.Tensor]], Any]:
    """Decorator registering ``fn(model, inputs, targets, **params)`` in :data:`METHODS` under ``name``, with
    its ``library``, one-line ``description`` and the extra modules its first call ``imports`` (see
    :class:`MethodSpec`); a duplicate name is an error.

    The stored (and returned) ``fn`` always runs with gradients enabled and without Captum's warnings about
    the hooks it sets. Its parameters after ``targets`` (with their defaults) are the method's parameters:
    :func:`explain` accepts exactly those."""

    def decorator(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> torch.Tensor:
            with torch.enable_grad(), warnings.catch_warnings():
                for message in _QUIET:
                    warnings.filterwarnings("ignore", message=message)
                return fn(*args, **kwargs)

        METHODS.add(name, MethodSpec(fn=wrapped, library=library, description=description, imports=imports))
        return wrapped

    return decorator


def named(fn: Callable[..., torch.Tensor], name: str, doc: str | None) -> Callable[..., torch.Tensor]:
    """``fn``, built by a factory shared by several methods, renamed to ``name`` with docstring ``doc``
    (so :func:`register` and the docs see one function per method, its signature written once)."""
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


def grad_input(inputs: torch.Tensor) -> torch.Tensor:
    """A leaf copy of ``inputs`` that requires gradients (the caller's tensor is never touched)."""
    return inputs.detach().clone().requires_grad_(True)


def not_applicable(method: str, model: nn.Module, reason: str) -> MethodNotApplicable:
    return MethodNotApplicable(f"method {method!r} is not applicable to {type(model).__name__}: {reason}")


def cam_layer(method: str, model: nn.Module) -> nn.Module:
    """The model's declared CAM layer; a model without one (an MLP: ``cam_layer_name = None``) makes
    ``method`` not applicable."""
    from xaibench.models import get_cam_layer

    if getattr(model, "cam_layer_name", None) is None:
        raise not_applicable(method, model, "it has no convolutional layer to read (cam_layer_name is None)")
    return get_cam_layer(model)


def without_inplace(model: nn.Module) -> nn.Module:
    """``model``, or a deep copy with ``inplace=False`` everywhere if it has in-place modules (ReLU, SiLU,
    Dropout, ...): backward hooks (Captum's, Zennit's) fail on a module output that is modified in place.
    Names of submodules are kept, so ``cam_layer_name`` resolves in the copy."""
    if not any(getattr(m, "inplace", False) is True for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for module in model.modules():
        if getattr(module, "inplace", False) is True:
            module.inplace = False
    return model


def activation_types() -> tuple[type[nn.Module], ...]:
    from torch.nn.modules import activation

    return tuple(
        cls
        for name in activation.__all__
        if isinstance(cls := getattr(activation, name), type) and issubclass(cls, nn.Module)
    )


def method_params(name: str) -> dict[str, Any]:
    """The parameters of method ``name`` and their defaults (for docs, configs and provenance records)."""
    signature = inspect.signature(METHODS.get(name).fn)
    return {p.name: p.default for p in list(signature.parameters.values())[3:]}


def _check_params(name: str, params: Mapping[str, Any]) -> None:
    allowed = method_params(name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        listed = ", ".join(repr(p) for p in unknown)
        raise ValueError(
            f"method {name!r}: unknown parameter(s) {listed}; allowed: {sorted(allowed) or '(none)'}"
        )


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in model.parameters():
        return tensor.device, tensor.dtype
    for tensor in model.buffers():
        return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


def explain(
    name: str,
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    batch_size: int = 64,
    **params: Any,
) -> np.ndarray:
    """Explain ``inputs`` (N, C, H, W) for class indices ``targets`` (N,) -> float32 (N, 1, H, W).

    Inputs are processed in chunks of ``batch_size``; channels are reduced by summing over the channel axis;
    non-finite values are kept. The model is put in eval mode for the call (its previous mode is restored) and
    never modified. Unknown parameters raise ``ValueError`` naming the method and the parameter; an unknown
    method raises ``KeyError`` listing the known ones.
    """
    spec = METHODS.get(name)
    _check_params(name, params)
    batch_size = positive_int(name, "batch_size", batch_size)
    device, dtype = _model_device_dtype(model)
    x = torch.as_tensor(inputs).to(device=device, dtype=dtype)
    if x.ndim != 4:
        raise ValueError(f"method {name!r}: inputs must be (N, C, H, W), got shape {tuple(x.shape)}")
    y = torch.as_tensor(targets).to(device=device, dtype=torch.long).reshape(-1)
    if y.numel() == 1 and x.shape[0] != 1:
        y = y.expand(x.shape[0])
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"method {name!r}: {x.shape[0]} inputs but {y.shape[0]} targets")
    out = np.empty((x.shape[0], 1, *x.shape[2:]), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, x.shape[0], batch_size):
            chunk = x[start : start + batch_size]
            attr = spec.fn(model, chunk, y[start : start + batch_size], **params)
            if attr.ndim != 4 or attr.shape[0] != chunk.shape[0] or attr.shape[2:] != chunk.shape[2:]:
                raise RuntimeError(
                    f"method {name!r} returned shape {tuple(attr.shape)} for inputs {tuple(chunk.shape)}"
                )
            attr = attr.detach().to(torch.float32)
            if attr.shape[1] != 1:
                attr = attr.sum(dim=1, keepdim=True)
            out[start : start + chunk.shape[0]] = attr.cpu().numpy()
    finally:
        model.train(was_training)
    return out


def quantus_explain_func(model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
    """Quantus ``explain_func``: numpy (or tensor) inputs/targets -> float32 numpy (N, 1, H, W).

    ``kwargs``: ``method`` (registry name, required), optional ``batch_size`` (64), optional ``device``
    (accepted because Quantus injects it, but the inputs always go to the device of the ``model`` passed in:
    under MPRT that is Quantus's randomised copy), and the method's own parameters. A Quantus
    ``ModelInterface`` is unwrapped to its torch model.
    """
    params = dict(kwargs)
    name = params.pop("method", None)
    if name is None:
        raise ValueError("quantus_explain_func needs explain_func_kwargs['method'] (a registry name)")
    batch_size = params.pop("batch_size", 64)
    params.pop("device", None)
    if not isinstance(model, nn.Module) and hasattr(model, "get_model"):
        model = model.get_model()
    x = torch.from_numpy(np.asarray(inputs)) if not isinstance(inputs, torch.Tensor) else inputs
    y = torch.from_numpy(np.asarray(targets)) if not isinstance(targets, torch.Tensor) else targets
    return explain(name, model, x, y, batch_size=batch_size, **params)
