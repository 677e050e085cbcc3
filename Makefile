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

# Two pytest workers, whole files each (pytest-xdist): torch runs one thread per worker (tests/conftest.py), so
# the second core is otherwise idle while one worker computes and the other waits on Snakemake or SLURM.
test: $(STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf results logs benchmarks .snakemake report.html
