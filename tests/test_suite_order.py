"""The test command hands the end-to-end files out first (tests/conftest.py's SLOW_FILES_FIRST): pytest-xdist
keeps the collection order only with --no-loadscope-reorder; by default it hands out the files with the most
tests first, and the suite ends on the end-to-end runs (the Makefile quotes the times measured)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from conftest import SLOW_FILES_FIRST

ROOT = Path(__file__).resolve().parents[1]


def _test_command() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n\t(.+)$", makefile, re.M)
    assert recipe, "Makefile has no test target"
    return shlex.split(recipe[1])


def test_the_test_command_hands_out_whole_files_in_collection_order():
    command = _test_command()
    assert command[command.index("-m") + 1] == "pytest"
    assert "-n" in command and command[command.index("--dist") + 1] == "loadfile"
    assert "--no-loadscope-reorder" in command


def test_the_files_collected_first_exist():
    for name in SLOW_FILES_FIRST:
        assert (ROOT / "tests" / name).is_file(), name
    assert "test_workflow.py" in SLOW_FILES_FIRST and "test_slurm.py" in SLOW_FILES_FIRST
