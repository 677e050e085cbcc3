"""A test that cannot set up its environment fails in CI instead of skipping silently."""

from __future__ import annotations

import pytest
from environment import unavailable


@pytest.mark.parametrize("value", ["true", "1", "True"])
def test_unavailable_fails_in_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="no SLURM here"):
        unavailable("no SLURM here")


@pytest.mark.parametrize("value", [None, "", "false"])
def test_unavailable_skips_elsewhere(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="no SLURM here"):
        unavailable("no SLURM here")
