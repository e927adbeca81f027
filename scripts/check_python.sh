#!/usr/bin/env bash
# Checks that the interpreter the Makefile will use satisfies pyproject.toml's requires-python.
set -euo pipefail
python=${1:-python3}
need=$(sed -n 's/^requires-python *= *">=\([0-9.]*\)".*/\1/p' "$(dirname "$0")/../pyproject.toml")
if ! "$python" -c "" >/dev/null 2>&1; then
    echo "setup: '$python' does not run; this project needs Python >= $need." >&2
    echo "setup: install it (Debian: apt-get install python3 python3-venv), or run make PYTHON=/path/to/python3.X" >&2
    exit 1
fi
if ! "$python" -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$need'.split('.'))))"; then
    have=$("$python" -c 'import platform; print(platform.python_version())')
    echo "setup: $python is Python $have, but this project needs Python >= $need (pyproject.toml, requires-python)." >&2
    echo "setup: run make PYTHON=/path/to/python3.11 (or newer), e.g. make PYTHON=python3.11 report" >&2
    exit 1
fi
if ! "$python" -c "import ensurepip, venv" >/dev/null 2>&1; then
    echo "setup: $python cannot create virtual environments (the venv/ensurepip modules are missing)." >&2
    echo "setup: on Debian, run: sudo apt-get install python3-venv" >&2
    exit 1
fi
