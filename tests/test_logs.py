"""xaibench.logs: a job's output goes to its log, and a finished job's process ends without teardown."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(SCRIPTS), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


def test_end_job_keeps_what_the_job_wrote_and_skips_exit_handlers(tmp_path):
    """The log (closed by job_log) and the restored stdout, still buffered, both arrive; the process exits 0
    and the exit handlers that a normal exit would run do not (the teardown it skips)."""
    code = (
        "import atexit, sys\n"
        "from xaibench.logs import end_job, job_log\n"
        "atexit.register(lambda: print('teardown ran'))\n"
        "with job_log('job.log') as log:\n"
        "    log.info('scored 3 images')\n"
        "    print('to the log')\n"
        "sys.stdout.write('buffered, no newline')\n"
        "end_job()\n"
        "print('after end_job')\n"
    )
    proc = _run(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "buffered, no newline"
    log = (tmp_path / "job.log").read_text()
    assert "scored 3 images" in log and "to the log" in log


def test_a_job_that_raises_exits_as_failed_with_its_traceback_logged(tmp_path):
    code = (
        "from xaibench.logs import end_job, job_log\n"
        "with job_log('job.log'):\n"
        "    raise ValueError('bad input x.npz')\n"
        "end_job()\n"
    )
    proc = _run(code, tmp_path)
    assert proc.returncode == 1 and "bad input x.npz" in proc.stderr
    assert "ValueError: bad input x.npz" in (tmp_path / "job.log").read_text()


def test_every_script_ends_its_job_after_its_log_is_closed():
    """Each rule's script ends with end_job() at module level, right after its `with job_log(...)` block:
    inside the block, the log would never be closed."""
    for path in sorted(SCRIPTS.glob("*.py")):
        body = ast.parse(path.read_text()).body
        last, before = body[-1], body[-2]
        assert isinstance(last, ast.Expr) and ast.unparse(last) == "end_job()", path.name
        assert isinstance(before, ast.With), path.name
        assert ast.unparse(before.items[0].context_expr).startswith("job_log("), path.name
