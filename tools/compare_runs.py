"""Do two workflow runs hold the same results? Bit for bit, apart from what measures time.

    python tools/compare_runs.py RUN_A RUN_B [--figures]

RUN_A and RUN_B are workflow directories (each with a ``results/`` folder), e.g. one run of a config before
and one after a refactor. Compared exactly:

* every ``.npz`` under ``results/`` (data, curves, views): same keys, same dtypes and shapes, identical
  values (NaN equals NaN), except the wall-time key ``seconds``;
* explanations per (dataset, model, method), whichever files hold them (one per method, or one per group of
  ``explain.methods_per_job``): the same arrays, except wall time;
* every ``.tsv`` table: same columns and rows, identical values, except timing columns (``seconds``,
  ``seconds_per_image``, ``seconds_<stage>`` such as the embeddings' ``seconds_tsne``, ``<stage>_seconds``
  such as the sweeps' ``train_seconds``, ``elapsed_s``,
  ``wall_s`` and the ``timing`` tables);
* model weights (``model.pt``): identical state dicts;
* with ``--figures``: PNGs pixel for pixel (matplotlib output is deterministic for the same data).

Prints one line per differing file and exits 1 if any differ, 0 otherwise. Files present in only one run
count as differences.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TIME_KEYS = {"seconds", "seconds_per_image", "elapsed_s", "wall_s", "s", "cpu_time", "max_rss"}


def is_timing(column: str) -> bool:
    """Does a table column measure wall time (never equal between two runs)?"""
    return column in TIME_KEYS or column.startswith("seconds_") or column.endswith("_seconds")


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _npz(a: Path, b: Path) -> str:
    with np.load(a, allow_pickle=False) as fa, np.load(b, allow_pickle=False) as fb:
        keys_a, keys_b = ({k for k in f.files if k.rsplit(".", 1)[-1] not in TIME_KEYS} for f in (fa, fb))
        if keys_a != keys_b:
            return f"keys differ: {sorted(keys_a ^ keys_b)}"
        bad = [k for k in sorted(keys_a) if not _same_array(fa[k], fb[k])]
    return f"arrays differ: {bad}" if bad else ""


def _tsv(a: Path, b: Path) -> str:
    ta, tb = (pd.read_csv(p, sep="\t", float_precision="round_trip") for p in (a, b))
    keep = [c for c in ta.columns if not is_timing(c)]
    if list(ta.columns) != list(tb.columns):
        return f"columns differ: {list(ta.columns)} vs {list(tb.columns)}"
    if len(ta) != len(tb):
        return f"{len(ta)} vs {len(tb)} rows"
    bad = [c for c in keep if not ta[c].equals(tb[c])]
    return f"columns differ in value: {bad}" if bad else ""


def _weights(a: Path, b: Path) -> str:
    import torch

    def states(path: Path) -> dict[str, torch.Tensor]:
        """Every tensor of a saved model (``state_dict``) or of saved checkpoints (``states``: epoch ->
        state_dict), by a flat name."""
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if "states" in saved:
            return {f"epoch {e}: {k}": v for e, state in saved["states"].items() for k, v in state.items()}
        return saved["state_dict"]

    sa, sb = states(a), states(b)
    if sa.keys() != sb.keys():
        return "state dict keys differ"
    bad = [k for k in sa if not torch.equal(sa[k], sb[k])]
    return f"weights differ: {bad[:5]}" if bad else ""


def _png(a: Path, b: Path) -> str:
    from matplotlib.image import imread

    return "" if _same_array(imread(a), imread(b)) else "pixels differ"


def explanations(run: Path) -> dict[str, dict[str, np.ndarray]]:
    """``<dataset>/<model>[/seed<replicate>]/<method>`` -> that method's arrays (without wall time),
    whichever way the run grouped methods into explanation files: one file per group (``methods``,
    ``<name>.<key>``) or, before grouping, one file per method named after it."""
    found = {}
    for path in sorted((run / "results" / "explanations").rglob("*.npz")):  # <dataset>/<model>[/seed<r>]
        pair = path.parent.relative_to(run / "results" / "explanations").as_posix()
        with np.load(path, allow_pickle=False) as f:
            stored = {k: f[k] for k in f.files if k.rsplit(".", 1)[-1] not in TIME_KEYS}
        if "methods" not in stored:
            found[f"{pair}/{path.stem}"] = stored
            continue
        for name in (str(m) for m in stored["methods"]):
            shared = {k: v for k, v in stored.items() if "." not in k and k != "methods"}
            own = {k.split(".", 1)[1]: v for k, v in stored.items() if k.startswith(f"{name}.")}
            found[f"{pair}/{name}"] = shared | own
    return found


def _compare_explanations(run_a: Path, run_b: Path) -> list[str]:
    ea, eb = explanations(run_a), explanations(run_b)
    lines = [
        f"explanations of {k}: only in {run_a if k in ea else run_b}" for k in sorted(ea.keys() ^ eb.keys())
    ]
    for key in sorted(ea.keys() & eb.keys()):
        a, b = ea[key], eb[key]
        if a.keys() != b.keys():
            lines.append(f"explanations of {key}: keys differ: {sorted(a.keys() ^ b.keys())}")
            continue
        bad = [k for k in sorted(a) if not _same_array(a[k], b[k])]
        if bad:
            lines.append(f"explanations of {key}: arrays differ: {bad}")
    return lines


def compare(run_a: Path, run_b: Path, figures: bool = False) -> list[str]:
    """Lines naming every file whose results differ between the two runs. Explanations are compared per
    (dataset, model, method), not per file, so runs that group methods differently still compare."""
    checks = {".npz": _npz, ".tsv": _tsv, ".pt": _weights}
    if figures:
        checks[".png"] = _png

    def files(run: Path) -> set[Path]:
        found = {p.relative_to(run) for p in (run / "results").rglob("*") if p.suffix in checks}
        return {f for f in found if f.parts[1] != "explanations"}

    files_a, files_b = files(run_a), files(run_b)
    lines = [f"{f}: only in {run_a if f in files_a else run_b}" for f in sorted(files_a ^ files_b)]
    for rel in sorted(files_a & files_b):
        if "timing" in rel.name:
            continue
        problem = checks[rel.suffix](run_a / rel, run_b / rel)
        if problem:
            lines.append(f"{rel}: {problem}")
    return lines + _compare_explanations(run_a, run_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--figures", action="store_true", help="also compare PNG figures pixel for pixel")
    args = parser.parse_args()
    lines = compare(args.run_a, args.run_b, args.figures)
    n = sum(1 for _ in (args.run_a / "results").rglob("*") if _.is_file())
    print("\n".join(lines) if lines else f"identical: {n} result files of {args.run_a} and {args.run_b}")
    sys.exit(1 if lines else 0)


if __name__ == "__main__":
    main()
