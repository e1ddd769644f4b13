# `make demo` and `make test` work on a fresh clone: each (re)creates .venv from
# pyproject.toml when pyproject.toml is newer than the venv's stamp.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint browser report-png bench bench-quick bench-100k bytecode clean venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The demo connection is blocked, so the tool exits 1 (denied); only 2 (usage or
# input error) and crashes fail the target.
DEMO := diagnose monitoring/prometheus-0 shop/api-7c9d8b6f5-x4kzp --port 9090 --snapshot examples/cluster

demo: $(STAMP)
	@echo '$$ netpol-doctor $(DEMO)'
	@rc=0; $(BIN)/netpol-doctor $(DEMO) || rc=$$?; \
	  if [ $$rc -ne 0 ] && [ $$rc -ne 1 ] && [ $$rc -ne 3 ]; then exit $$rc; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The report's tests run in Debian's headless Chromium (tests/browser.py). Installed
# here when missing and we are root (CI runs as root through .ci/run); otherwise those
# tests say why they are skipped.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else echo "chromium or chromedriver missing and not root: the browser tests will be skipped"; fi

test: lint browser
	$(BIN)/pytest

# docs/report.png: the demo report (examples/cluster), drilled into namespace shop.
report-png: $(STAMP) browser
	mkdir -p build
	$(BIN)/netpol-doctor report --snapshot examples/cluster --out build/demo-report.html \
	  --question 'monitoring/prometheus-0 shop/api-7c9d8b6f5-x4kzp 9090'
	$(BIN)/python tests/browser.py build/demo-report.html docs/report.png

# The scale table runs IBM's network-config-analyzer side by side (its own venv), and
# so does the 10,000-pod comparison over every input format (--versus-sizes: NCA runs
# up to --peer-timeout, 10 minutes, each time); with them, about an hour. `make
# bench-quick` skips the peer and both. All end with the shapes table at 20,000 pods
# (matrix -o summary on json, yaml, stream and diverse inputs); `make bench-100k` is
# that table at 100,000 pods (json, yaml and diverse; the first run generates the
# clusters, ~20 minutes more; ~7 GB of disk).
# Whole-process timings as an installed tool runs: pip compiles a wheel's modules at
# install time, while an editable install under PYTHONDONTWRITEBYTECODE=1 would
# compile every module on every run (0.2-0.3 s each).
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src

bench: $(STAMP) bytecode
	$(BIN)/python bench/run.py
	$(BIN)/python bench/flows.py --records 1000000
	$(BIN)/python bench/scale.py --sizes 1000,5000,20000 --versus-sizes 10000

bench-quick: $(STAMP) bytecode
	$(BIN)/python bench/run.py
	$(BIN)/python bench/flows.py --mb 20
	$(BIN)/python bench/scale.py --sizes 1000,5000,20000 --no-peer --runs 1

bench-100k: $(STAMP) bytecode
	$(BIN)/python bench/scale.py --sizes '' --shape-sizes 100000 --shapes json,yaml,diverse --no-peer --runs 1

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
