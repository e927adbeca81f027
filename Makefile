# `make report` builds the PDF on the offline default; `make test` runs the test suite.
# Python packages come only from requirements.lock (exact versions, SHA-256 hashes), made by
# `make lock` from pyproject.toml; see the README, "Setting up".
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: report test watch system data check lock clean clean-results

report: system $(VENV)/.installed
	$(PY) build.py $(ARGS)

test: system $(VENV)/.installed-dev
	$(PY) -m pytest $(ARGS)

# Builds once, then rebuilds the PDF on every saved template, report.toml or source file.
watch: system $(VENV)/.installed
	$(PY) build.py --watch $(ARGS)

check: $(VENV)/.installed
	$(PY) build.py --check $(ARGS)

# Downloads the real datasets (OCTMNIST, LJ Speech) for the `homework` profile.
data: $(VENV)/.installed
	$(PY) build.py --download $(ARGS)

system:
	@scripts/setup_system.sh

# The environment is re-created only when the lock changes. pip is the one that comes with the
# interpreter's venv module (no upgrade from the network), and every file is checked against
# its hash in the lock.
$(VENV)/.installed: requirements.lock
	@scripts/check_python.sh $(PYTHON)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-input --require-hashes --no-deps -r requirements.lock
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(PY) -m pip install --quiet --no-input --require-hashes --no-deps -r requirements-dev.lock
	touch $@

# Re-resolves pyproject.toml into uv.lock and the two hashed requirement files. Needs uv
# (`pipx install uv` or `python3 -m pip install --user uv`). Existing pins are kept unless
# pyproject.toml asks otherwise; `make lock UPGRADE=--upgrade` moves every package to its newest
# allowed release.
UV ?= uv
UPGRADE ?=
lock:
	$(UV) lock $(UPGRADE)
	$(UV) export --quiet --format requirements-txt --no-dev --no-emit-project -o requirements.lock
	$(UV) export --quiet --format requirements-txt --only-group dev --no-emit-project -o requirements-dev.lock

# LaTeX output only (seconds to rebuild); the computed results stay.
clean:
	rm -rf build/tex build/report.pdf

# Every computed result and checkpoint: the next build recomputes everything (about 8 to 10 minutes
# on two CPU cores for the quick profile; hours on a GPU for the homework profile).
clean-results:
	rm -rf build
