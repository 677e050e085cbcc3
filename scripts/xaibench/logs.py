"""Per-job logging: everything a job prints goes to its ``log:`` file; errors name the config key."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


@contextmanager
def job_log(path: str) -> Iterator[logging.Logger]:
    """Send stdout, stderr, warnings and logging to ``path`` for the duration of a job.

    On an exception the traceback is written to the log, the streams are restored and the exception
    propagates, so Snakemake marks the job failed (and removes its incomplete outputs).
    """
    fh = open(path, "w", buffering=1)
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = fh
    logging.basicConfig(
        stream=fh, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.captureWarnings(True)
    logger = logging.getLogger("xaibench")  # our own progress at INFO; libraries only from WARNING
    logger.setLevel(logging.INFO)
    try:
        yield logger
    except BaseException:
        traceback.print_exc(file=fh)
        raise
    finally:
        logging.shutdown()
        sys.stdout, sys.stderr = saved
        fh.close()


def end_job() -> NoReturn:
    """End a rule's process once its outputs are written and closed, without the interpreter's teardown.

    A job that imported torch (and Captum, Zennit, Quantus) spends 1-3 s tearing down modules at exit. On
    config/minimal.yaml with two replicates, evaluation jobs took 6.8-7.0 s before and 4.3 s after, training
    jobs 5.1-5.2 s and 2.9-3.0 s, the whole run 52-61 CPU-s and 40-41 (same results, tools/compare_runs.py).
    multiprocessing's workers end the same way. Call it as the script's last line, after ``job_log`` has
    closed: no ``atexit`` handler or finaliser runs after it, so nothing may still be open for writing. A job
    that raised never gets here and exits as usual.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@contextmanager
def config_key(key: str) -> Iterator[None]:
    """Re-raise a ValueError/KeyError/TypeError from the library with the config key that caused it."""
    try:
        yield
    except (ValueError, KeyError, TypeError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise ValueError(f"config {key}: {message}") from exc
