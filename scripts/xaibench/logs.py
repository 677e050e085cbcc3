"""Per-job logging: everything a job prints goes to its ``log:`` file; errors name the config key."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager


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


@contextmanager
def config_key(key: str) -> Iterator[None]:
    """Re-raise a ValueError/KeyError/TypeError from the library with the config key that caused it."""
    try:
        yield
    except (ValueError, KeyError, TypeError) as exc:
        message = exc.args[0] if exc.args else str(exc)
        raise ValueError(f"config {key}: {message}") from exc
