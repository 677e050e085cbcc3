"""Load a script of tools/ (not a package) as a module, for the tests of that tool."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_tool(filename: str, module_name: str) -> ModuleType:
    """``tools/<filename>`` executed as a fresh module named ``module_name``."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "tools" / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
