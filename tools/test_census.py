"""Which tests compare with a value? A census of the test suite, by reading each test's source.

    python tools/test_census.py [--rev REV] [--list smoke]

Collects the suite (``pytest --collect-only``, so parametrised cases count once each) and sorts every
collected test into one of three kinds by the assertions in its function body (helpers it calls in the
same file count too):

* ``value``: compares with a value: ``np.testing.assert_allclose / assert_array_equal / assert_equal``,
  ``torch.equal`` / ``torch.testing.assert_close``, ``pytest.approx``, or an ``==``/``!=``/``<``/``>``
  comparison whose sides are not only shapes, dtypes, lengths, types or finiteness checks;
* ``error``: only checks that bad input raises (``pytest.raises``) with a message (``raises(AssertionError)``
  around a known-answer case with an injected fault counts as ``value``);
* ``smoke``: anything else: shapes, dtypes, finiteness, "not blank", truthiness, or no assertion.

It reads text, so it is a census, not a proof: a ``value`` test may still compare with a weak value. With
``--rev`` it reads the tests of another commit (checked out into a temporary worktree).
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALUE_CALLS = {
    "assert_allclose",
    "assert_array_equal",
    "assert_equal",
    "assert_array_almost_equal",
    "assert_almost_equal",
    "assert_close",
    "assert_frame_equal",
    "assert_series_equal",
    "approx",
    "equal",  # torch.equal / np.array_equal
    "array_equal",
    "allclose",
    "isclose",
}
# Names whose comparison says nothing about a value: x.shape == ..., len(x) == ..., x.dtype == ...; and
# bookkeeping: the input left unchanged, hooks removed, the model's mode restored, constants.
STRUCTURAL = re.compile(
    r"\.(shape|ndim|dtype|size|suffix|name|training)\b|^len\(|isfinite|isinstance|\.exists\(\)|std\(\)"
    r"|_before\b|\bstate\b|_hooks\(|^(\[\]|\{\}|None|True|False)$"
)


def _is_structural(node: ast.AST) -> bool:
    return bool(STRUCTURAL.search(ast.unparse(node)))


def _kind_of(body: list[ast.AST], helpers: dict[str, ast.FunctionDef], seen: set[str]) -> str:
    kinds = set()
    for node in (n for stmt in body for n in ast.walk(stmt)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in VALUE_CALLS and not any(_is_structural(arg) for arg in node.args):
                kinds.add("value")
            elif name == "raises":  # raises(AssertionError): a known answer must fail under a fault
                mutation = any(getattr(arg, "id", "") == "AssertionError" for arg in node.args)
                kinds.add("value" if mutation else "error")
            elif isinstance(func, ast.Subscript):  # CASES[name](...): every case the table holds
                name = getattr(func.value, "id", "")
            if name in helpers and name not in seen:
                kinds.add(_kind_of(helpers[name].body, helpers, seen | {name}))
        elif isinstance(node, ast.Assert):
            for compare in (n for n in ast.walk(node.test) if isinstance(n, ast.Compare)):
                ops_ok = any(
                    isinstance(op, ast.Eq | ast.NotEq | ast.Lt | ast.Gt | ast.LtE | ast.GtE)
                    for op in compare.ops
                )
                sides = [compare.left, *compare.comparators]
                if ops_ok and not any(_is_structural(side) for side in sides):
                    kinds.add("value")
    for kind in ("value", "error"):
        if kind in kinds:
            return kind
    return "smoke"


def _case_tables(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """Module-level dicts of test functions (``CASES = {"saliency": _saliency, ...}``) as pseudo-helpers
    whose body calls each value, so ``CASES[name](...)`` is classified by the cases it can run."""
    tables = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(getattr(node, "value", None), ast.Dict) and isinstance(target, ast.Name):
            calls = [
                ast.Expr(ast.Call(v.func if isinstance(v, ast.Call) else v, [], []))
                for v in node.value.values
            ]
            tables[target.id] = ast.FunctionDef(
                target.id, ast.arguments([], [], None, [], [], None, []), calls, []
            )
    return tables


def _sibling_functions(path: Path, tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """Functions a test module imports from a sibling module of tests/ (``from faults import ...``)."""
    found = {}
    for node in tree.body:
        sibling = path.parent / f"{getattr(node, 'module', '') or ''}.py"
        if isinstance(node, ast.ImportFrom) and node.level == 0 and sibling.is_file():
            names = {alias.name for alias in node.names}
            module = ast.parse(sibling.read_text())
            found |= {
                n.name: n for n in ast.walk(module) if isinstance(n, ast.FunctionDef) and n.name in names
            }
    return found


def _built_tests(tree: ast.Module, helpers: dict[str, ast.FunctionDef]) -> dict[str, str]:
    """Tests bound by unpacking a builder's result (``test_a, test_b = known_answer_tests(...)``): each is
    classified by the builder's body."""
    built = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            builder = getattr(node.value.func, "id", "")
            targets = node.targets[0].elts if isinstance(node.targets[0], ast.Tuple) else node.targets
            if builder in helpers:
                kind = _kind_of(helpers[builder].body, helpers, {builder})
                built |= {t.id: kind for t in targets if getattr(t, "id", "").startswith("test")}
    return built


def classify(root: Path) -> dict[str, str]:
    """{test node id: kind} for the suite under ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root / "scripts")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(root / "tests"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    ids = [line for line in out.splitlines() if "::" in line]
    kinds: dict[str, str] = {}
    cache: dict[str, dict[str, str]] = {}
    for node_id in ids:
        path, _, rest = node_id.partition("::")
        func = rest.split("[")[0].split("::")[-1]
        if path not in cache:
            tree = ast.parse((root / path).read_text())
            helpers = _sibling_functions(root / path, tree)
            helpers |= {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            helpers |= _case_tables(tree)
            cache[path] = {
                name: _kind_of(node.body, helpers, {name})
                for name, node in helpers.items()
                if name.startswith("test")
            }
            cache[path] |= _built_tests(tree, helpers)
        kinds[node_id] = cache[path].get(func, "smoke")
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="a git revision to read the tests of (default: the working tree)")
    parser.add_argument("--list", choices=["value", "error", "smoke"], help="also list the tests of a kind")
    args = parser.parse_args()
    if args.rev:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["git", "worktree", "add", "-q", "--detach", tmp, args.rev], cwd=ROOT, check=True)
            try:
                kinds = classify(Path(tmp))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", tmp], cwd=ROOT, check=False)
    else:
        kinds = classify(ROOT)
    counts = collections.Counter(kinds.values())
    total = sum(counts.values())
    print(f"{total} tests ({args.rev or 'working tree'})")
    for kind in ("value", "error", "smoke"):
        print(f"  {kind:6s} {counts[kind]:5d}  {100 * counts[kind] / max(total, 1):5.1f} %")
    if args.list:
        print("\n".join(sorted(k for k, v in kinds.items() if v == args.list)))


if __name__ == "__main__":
    main()
