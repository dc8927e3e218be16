# What a contributor runs; `make check` is exactly what CI (.ci/run) runs, in the same order.
# Run it inside the project's virtualenv (see CONTRIBUTING.md): the tools come from `.[test]`.

SOURCES := otel_mcp tests bench
BENCH ?= bench_core
BENCH_ARGS ?=

.PHONY: all check format-check lint types test fmt bench screenshots

all: check

check: format-check lint types test

format-check:
	ruff format --check $(SOURCES)

lint:
	ruff check $(SOURCES)

types:
	mypy

# The README's test command, character for character (tests/repo/test_docs.py keeps it so).
# pytest-xdist workers come from pyproject.toml, so the command stays this short.
test:
	python -m pip install -q -e ".[test]" && python -m pytest -q

# Lint fixes first (ruff's advice: they can leave code to reformat); what cannot be fixed is
# printed, and `make check` still refuses it.
fmt:
	-ruff check --fix $(SOURCES)
	ruff format $(SOURCES)

# `make bench` runs bench_core; `make bench BENCH=bench_claims BENCH_ARGS="--n 100"` runs another.
bench:
	@echo "bench scripts: $(patsubst bench/%.py,%,$(wildcard bench/bench_*.py))"
	python3 -m bench.$(BENCH) $(BENCH_ARGS)

# Every screen of the web pages over a fresh demo store, as PNGs under screenshots/ (git-ignored);
# needs chromium (see .ci/run) and the test extra.
screenshots:
	python -m tests.support.ui_browser screenshots
