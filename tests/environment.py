"""Tests that need something from the machine (root, apt-get, package data) and cannot set it up."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True on a CI runner (``CI=true``, as GitHub Actions, GitLab CI and this project's CI set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip with ``reason`` on a developer's machine; fail with it in CI, where the environment is the one
    the tests are written for and a test that cannot set itself up is a broken environment, not a skip."""
    if in_ci():
        pytest.fail(f"CI=true and this test cannot set itself up: {reason}", pytrace=False)
    pytest.skip(reason)
