# xaibench: two commands.
#   make run    set up .venv (pinned, offline-capable) and run the default workflow
#   make test   set up .venv and run the whole test suite (lint, format, unit, dry-runs, tiny end-to-end)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test report lint clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python tools/warm_caches.py
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores all

report: $(STAMP)
	$(BIN)/snakemake --report report.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint

# Three pytest workers on 2 cores, whole files each (pytest-xdist): torch runs one thread per worker
# (tests/conftest.py); the SLURM module mostly waits on its cluster, and the third worker uses that time
# (measured: 2 workers 8 min 48 s, 3 workers 6 min 50 s for the same suite; on a slower day, 2026-12-03,
# 3 workers 9 min 10 s and 4 workers 9 min 30 s: the suite is CPU-bound, a fourth worker only adds contention).
# --no-loadscope-reorder: files go out in collection order, the end-to-end files first (tests/conftest.py);
# xdist's default hands out the files with the most tests first, and the suite ended on the end-to-end runs
# (2026-12-04, back to back: 6:06 and 6:16 with xdist's order, 5:34 and 6:04 with ours).
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder

clean:
	rm -rf results logs benchmarks .snakemake report.html
