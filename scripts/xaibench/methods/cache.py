"""Exact-replay cache of re-explanations: :class:`ExplanationCache` wraps a Quantus ``explain_func``.

Within one evaluation job several metrics re-explain the same inputs: MaxSensitivity and AvgSensitivity, run
one after the other from the same seed with the same noise, explain the same noisy copies of x in the same
random states. The cache answers a repeated call with the stored map, so the second metric costs no
explanation (for LIME, KernelSHAP, Occlusion, ... the bulk of its time).

Replay is exact by construction. The key is everything the call can depend on: the explain_func's keyword
arguments (method name and parameters, as canonical JSON), the model's content (class, ``repr``, the name,
dtype, shape, device and bytes of every parameter and buffer: Quantus randomises deep copies of the model
for MPRT, so the key never uses ``id``), the bytes, dtype and shape of inputs and targets, and the global
random states a method could draw from (torch CPU and, once initialised, CUDA; numpy; python ``random``).
The value is the returned map **and** the random states after the call; a hit restores those states, so
everything that runs afterwards (the metric's next noise draw) sees exactly what it would have seen
without the cache. A model with hooks (a forward hook changes the function without changing a parameter)
and keyword arguments that are not plain data are never cached (``bypassed``).

The cache is bounded by the bytes it holds (LRU); :meth:`ExplanationCache.clear` drops every entry (the
evaluation clears it between methods).

:class:`ForwardCache` does the same one level down, for the model's forward passes: metrics whose perturbed
inputs do not depend on the attributions repeat the same passes for every method, and the evaluation keeps
one forward cache across all the methods of a job.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CacheStats",
    "ExplanationCache",
    "ForwardCache",
    "model_digest",
    "rng_state",
    "set_rng_state",
]

DEFAULT_MAX_BYTES = 512 * 2**20

# Module hook tables whose entries change what a forward/backward pass computes.
_HOOK_TABLES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_GLOBAL_HOOK_TABLES = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


@dataclass
class CacheStats:
    """Counters of an :class:`ExplanationCache` (cumulative; :meth:`ExplanationCache.clear` keeps them).

    ``calls`` = ``hits`` + ``misses`` + ``bypassed``; real explanations = ``misses`` + ``bypassed``.
    ``key_s`` is the time spent building keys (hashing model, inputs and random states)."""

    hits: int = 0
    misses: int = 0
    bypassed: int = 0
    evictions: int = 0
    key_s: float = 0.0

    @property
    def calls(self) -> int:
        return self.hits + self.real_calls

    @property
    def real_calls(self) -> int:
        return self.misses + self.bypassed

    def copy(self) -> CacheStats:
        return CacheStats(**vars(self))


@dataclass
class _Entry:
    attributions: np.ndarray
    rng_after: dict[str, Any]


class _BoundedLru:
    """Values by key; the least recently used are dropped while all hold more than ``max_bytes``, and a value
    larger than ``max_bytes`` is not kept. ``stats.evictions`` counts the dropped ones."""

    def __init__(self, max_bytes: int, stats: CacheStats):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes!r}")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self._stats = stats
        self._entries: OrderedDict[bytes, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> Any:
        """The value stored under ``key`` (now the most recently used), or ``None``."""
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key][0]

    def put(self, key: bytes, value: Any, nbytes: int) -> None:
        if nbytes > self.max_bytes:
            return
        self._entries[key] = (value, nbytes)
        self.nbytes += nbytes
        while self.nbytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.nbytes -= dropped
            self._stats.evictions += 1

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0


class _Uncacheable(Exception):
    """The call's dependencies cannot be keyed (hooks, a non-data keyword argument): run it uncached."""


class ExplanationCache:
    """``explain_func`` (Quantus signature ``(model, inputs, targets, **kwargs) -> np.ndarray``) with an
    exact-replay cache (see the module docstring). Call it like ``explain_func``; ``stats`` counts."""

    def __init__(self, explain_func: Callable[..., np.ndarray], max_bytes: int = DEFAULT_MAX_BYTES):
        self.explain_func = explain_func
        self.stats = CacheStats()
        self._entries = _BoundedLru(max_bytes, self.stats)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held by the entries (maps and random states)."""
        return self._entries.nbytes

    def clear(self) -> None:
        """Drop every entry (the counters are kept)."""
        self._entries.clear()

    def __call__(self, model: Any, inputs: Any, targets: Any, **kwargs: Any) -> np.ndarray:
        start = time.perf_counter()
        try:
            rng_before = rng_state()
            key = _call_key(model, inputs, targets, kwargs, rng_before)
        except _Uncacheable:
            key = None
        self.stats.key_s += time.perf_counter() - start
        if key is None:
            self.stats.bypassed += 1
            return self.explain_func(model, inputs, targets, **kwargs)
        entry = self._entries.get(key)
        if entry is not None:
            self.stats.hits += 1
            set_rng_state(entry.rng_after)
            return entry.attributions.copy()
        self.stats.misses += 1
        attributions = self.explain_func(model, inputs, targets, **kwargs)
        stored, rng_after = np.array(attributions, copy=True), _copy_state(rng_state())
        self._entries.put(key, _Entry(stored, rng_after), stored.nbytes + _state_nbytes(rng_after))
        return attributions


class ForwardCache:
    """Exact replay of a model's forward passes, shared by the methods of one evaluation job.

    Some metrics perturb the inputs in ways that do not depend on the attributions: FaithfulnessCorrelation's
    random subsets and NonSensitivity's pixel groups are the same for every method, since every metric call
    starts from the same seed. Their forward passes therefore repeat, method after method. While
    :meth:`serving` a model, a forward pass on an input seen before returns a copy of the stored output
    instead of running the model. The key is everything the output depends on: the model's content
    (:func:`model_digest`, hashed again whenever a tensor or submodule of it changes), that every module is
    in eval mode and that no gradient is recorded, and the input's dtype, shape, device and bytes. A forward
    pass on CPU is a deterministic function of these, so a replayed output, and the score built on it, is
    bit-identical to a computed one.
    Any other call runs the model: gradients enabled, a module in training mode, hooks on the model,
    more than one argument, a non-tensor output, or a different model object (a deep copy of the served
    model, e.g. MPRT's randomised one, runs its own forward).
    """

    def __init__(self, max_bytes: int = 64 * 2**20):
        self.stats = CacheStats()
        self._entries = _BoundedLru(max_bytes, self.stats)
        self._digest: tuple[weakref.ref, tuple, bytes] | None = None  # (module, state, digest): last key

    def __len__(self) -> int:
        return len(self._entries)

    @contextmanager
    def serving(self, model: Any) -> Iterator[None]:
        """Replay ``model``'s repeated forward passes (a torch module or a Quantus model wrapping one)
        inside the ``with`` block; its ``forward`` is restored on leaving."""
        module = _torch_model(model)
        had_own = "forward" in module.__dict__
        inner = module.forward

        def forward(this: nn.Module, *args: Any, **kwargs: Any) -> Any:
            if this is not module:  # a copy of the served model carries this method along
                return type(this).forward(this, *args, **kwargs)
            return self._forward(module, inner, args, kwargs)

        module.forward = types.MethodType(forward, module)
        try:
            yield
        finally:
            if had_own:
                module.forward = inner
            else:
                del module.forward

    def _forward(self, module: nn.Module, inner: Callable, args: tuple, kwargs: dict) -> Any:
        start = time.perf_counter()
        key = self._key(module, args, kwargs)
        self.stats.key_s += time.perf_counter() - start
        if key is None:
            self.stats.bypassed += 1
            return inner(*args, **kwargs)
        stored = self._entries.get(key)
        if stored is not None:
            self.stats.hits += 1
            return stored.clone()
        self.stats.misses += 1
        out = inner(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            self._entries.put(key, out.detach().clone(), out.element_size() * out.numel())
        return out

    def _key(self, module: nn.Module, args: tuple, kwargs: dict) -> bytes | None:
        if kwargs or len(args) != 1 or not isinstance(args[0], torch.Tensor) or torch.is_grad_enabled():
            return None
        if any(m.training for m in module.modules()) or _has_hooks(module):
            return None
        digest = self._model_digest(module)
        h = hashlib.blake2b(digest, digest_size=32)
        x = args[0]
        h.update(f"{x.dtype}:{tuple(x.shape)}:{x.device}\n".encode())
        h.update(_tensor_bytes(x))
        return h.digest()

    def _model_digest(self, module: nn.Module) -> bytes:
        """:func:`model_digest` of ``module``, hashed again unless nothing changed since the last hash: the
        same module object, the same submodule objects, and every parameter and buffer with the same storage
        and in-place version counter (an optimiser step, ``copy_``, ``load_state_dict`` and ``p.data = ...``
        all change one)."""
        tensors = [*module.parameters(), *module.buffers()]
        state = (
            tuple(map(id, module.modules())),
            tuple((t.data_ptr(), t._version, t.dtype, tuple(t.shape)) for t in tensors),
        )
        last = self._digest
        if last is None or last[0]() is not module or last[1] != state:
            self._digest = last = (weakref.ref(module), state, _model_digest(module))
        return last[2]


# --- random states ------------------------------------------------------------------------------------


def rng_state() -> dict[str, Any]:
    """The global random states an explanation may draw from: torch (CPU; CUDA once initialised), numpy's
    legacy global generator, python's ``random``."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - Captum and Quantus draw from the global generator
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states returned by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = state["numpy"]
    out = {**state, "torch": state["torch"].clone(), "numpy": (name, keys.copy(), pos, has_gauss, gauss)}
    if "cuda" in state:
        out["cuda"] = [s.clone() for s in state["cuda"]]
    return out


def _state_nbytes(state: dict[str, Any]) -> int:
    n = state["torch"].numel() + state["numpy"][1].nbytes + 8 * len(state["python"][1])
    return n + sum(s.numel() for s in state.get("cuda", ()))


def _state_parts(state: dict[str, Any]) -> Iterator[bytes]:
    yield _tensor_bytes(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    yield repr((name, pos, has_gauss, float(gauss))).encode()
    yield np.ascontiguousarray(keys).tobytes()
    yield repr(state["python"]).encode()
    for s in state.get("cuda", ()):
        yield b"cuda"
        yield _tensor_bytes(s)


# --- the key -----------------------------------------------------------------------------------------


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    flat = t.detach().reshape(-1).contiguous().cpu()
    return memoryview(flat.view(torch.uint8).numpy()) if flat.numel() else memoryview(b"")


def _torch_model(model: Any) -> nn.Module:
    if not isinstance(model, nn.Module) and hasattr(model, "get_model"):  # a Quantus ModelInterface
        model = model.get_model()
    if not isinstance(model, nn.Module):
        raise _Uncacheable(f"not a torch model: {type(model).__name__}")
    return model


def _has_hooks(model: nn.Module) -> bool:
    from torch.nn.modules import module as module_globals

    if any(getattr(module_globals, table, None) for table in _GLOBAL_HOOK_TABLES):
        return True
    return any(getattr(m, table, None) for m in model.modules() for table in _HOOK_TABLES)


def model_digest(model: Any) -> bytes:
    """Digest of a torch model's content (class, ``repr``, every parameter's and buffer's name, dtype, shape,
    device, ``requires_grad`` and bytes). Raises ``ValueError`` for a model with hooks (a hook changes what
    the model computes but not its content)."""
    try:
        return _model_digest(_torch_model(model))
    except _Uncacheable as exc:
        raise ValueError(str(exc)) from None


def _model_digest(model: nn.Module) -> bytes:
    if _has_hooks(model):
        raise _Uncacheable("the model has hooks")
    h = hashlib.blake2b(digest_size=32)
    cls = type(model)
    h.update(f"{cls.__module__}.{cls.__qualname__}\n{model!r}\n".encode())
    tensors = [("p", n, t) for n, t in model.named_parameters(remove_duplicate=False)]
    tensors += [("b", n, t) for n, t in model.named_buffers(remove_duplicate=False)]
    for kind, name, t in tensors:
        h.update(f"{kind}:{name}:{t.dtype}:{tuple(t.shape)}:{t.device}:{t.requires_grad}\n".encode())
        h.update(_tensor_bytes(t))
    return h.digest()


def _array_parts(value: Any) -> Iterator[bytes]:
    if isinstance(value, torch.Tensor):
        yield f"tensor:{value.dtype}:{tuple(value.shape)}:{value.device}\n".encode()
        yield _tensor_bytes(value)
        return
    arr = np.asarray(value)
    if arr.dtype == object:
        raise _Uncacheable("object array")
    arr = np.ascontiguousarray(arr)
    yield f"ndarray:{arr.dtype.str}:{arr.shape}\n".encode()
    yield memoryview(arr.reshape(-1).view(np.uint8))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | torch.Tensor):
        h = hashlib.blake2b(digest_size=32)
        for part in _array_parts(value):
            h.update(part)
        return {"__array__": h.hexdigest()}
    raise _Uncacheable(f"keyword argument of type {type(value).__name__}")


def _call_key(model: Any, inputs: Any, targets: Any, kwargs: dict, rng: dict[str, Any]) -> bytes:
    try:
        params = json.dumps(kwargs, sort_keys=True, default=_json_default, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise _Uncacheable(str(exc)) from None
    h = hashlib.blake2b(digest_size=32)
    h.update(params.encode())
    h.update(b"\0model\0")
    h.update(_model_digest(_torch_model(model)))
    for label, value in (("inputs", inputs), ("targets", targets)):
        h.update(f"\0{label}\0".encode())
        for part in _array_parts(value):
            h.update(part)
    h.update(b"\0rng\0")
    for part in _state_parts(rng):
        h.update(part)
    return h.digest()
