"""The library's architecture, enforced: import layers (import-linter), no import cycles, small modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "scripts" / "xaibench"
MAX_LINES = 600


def lint_imports(scripts: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's contracts (.importlinter) on the library under ``scripts``."""
    env = {**os.environ, "PYTHONPATH": str(scripts)}
    command = [
        str(Path(sys.executable).parent / "lint-imports"),
        "--no-cache",
        "--config",
        str(ROOT / ".importlinter"),
    ]
    return subprocess.run(command, cwd=scripts, env=env, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept():
    result = lint_imports(ROOT / "scripts")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("io.py", "import xaibench.methods"),  # a core utility importing a library package: upward
        ("methods/core.py", "from xaibench.methods import gradients"),  # core importing a family: a cycle
        ("models/core.py", "import xaibench.datasets"),  # two independent packages
    ],
)
def test_a_reverse_import_breaks_a_contract(tmp_path, module, line):
    """The contracts can fail: the same check on a copy of the library with one planted import."""
    copy = tmp_path / "scripts" / "xaibench"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as handle:
        handle.write(f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path / "scripts")
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout


def test_no_import_cycles():
    import grimp

    graph = grimp.build_graph("xaibench")  # scripts/ is on sys.path (pyproject: pythonpath)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            path = graph.find_shortest_chain(importer=imported, imported=module)
            if path:
                cycles.append(" -> ".join([module, *path]))
    assert not cycles, "import cycles:\n" + "\n".join(cycles[:10])


def test_no_library_module_over_600_lines():
    sizes = {p.relative_to(LIBRARY): len(p.read_text().splitlines()) for p in LIBRARY.rglob("*.py")}
    assert not {p: n for p, n in sizes.items() if n > MAX_LINES}, "split by family: " + str(
        sorted((n, str(p)) for p, n in sizes.items() if n > MAX_LINES)
    )
