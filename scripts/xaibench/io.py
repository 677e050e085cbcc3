"""Atomic file output and the on-disk formats shared by the workflow stages.

Every writer goes through a temporary file in the target folder followed by ``os.replace``, so an
interrupted job never leaves a half-written output that a rerun would mistake for a finished one. A job killed
outright (SIGKILL, a node lost) cannot remove its temporary file; the next write of the same output does.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


def _stale_temporaries(target: Path) -> list[Path]:
    """Temporary files of ``target`` that :func:`atomic_path` left behind when its process was killed:
    ``.<name>.<8 characters of tempfile's alphabet><suffix>`` in the same folder, nothing else."""
    name = re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]{8}" + re.escape(target.suffix))
    return [p for p in target.parent.iterdir() if name.fullmatch(p.name)]


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block succeeds.

    Temporary files of ``path`` left by a writer that was killed are removed first (one job writes an
    output at a time: Snakemake's lock and DAG; a killed run's litter would stay in results/ for good)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_temporaries(target):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp creates 0600; outputs get the usual permissions
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_npz(path: str | os.PathLike[str], **arrays: Any) -> None:
    """Write a compressed ``.npz`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a whole ``.npz`` into a dict (allow_pickle stays off)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc


def save_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def save_table(path: str | os.PathLike[str], frame: Any) -> None:
    """Write a pandas DataFrame as tab-separated text, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)


def load_table(path: str | os.PathLike[str]) -> Any:
    """A tab-separated table written by :func:`save_table`, every float read back exactly as written
    (``float_precision="round_trip"``: pandas' default parser may be one unit in the last place off, and
    which values it misses changed between pandas 3.0 and 3.1; the same run must give the same numbers)."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", float_precision="round_trip")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
