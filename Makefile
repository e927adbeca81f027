# `make report` builds the PDF on the offline default; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: report test system data check clean

report: system $(VENV)/.installed
	$(PY) build.py $(ARGS)

test: system $(VENV)/.installed
	$(PY) -m pytest $(ARGS)

check: $(VENV)/.installed
	$(PY) build.py --check $(ARGS)

# Downloads the real datasets (OCTMNIST, LJ Speech) for the `homework` profile.
data: $(VENV)/.installed
	$(PY) build.py --download $(ARGS)

system:
	@scripts/setup_system.sh

# The environment is re-created only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

clean:
	rm -rf build
