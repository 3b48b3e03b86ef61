#!/usr/bin/env bash
# Set everything up, then run every check: ruff, mypy (strict, over the package, tests/ and benchmarks/:
# see docs/testing.md) and the whole pytest suite, which also checks the package as users install it
# (tests/e2e/test_wheel.py: sdist and wheel built, installed into venvs with the pip that python3 -m venv
# ships, served and driven from there).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy"; mypy
# Coverage of the in-process tests (subprocess servers are not measured); the floor is in pyproject.toml
# ([tool.coverage.report] fail_under), set from the figure when it was introduced: see docs/testing.md.
echo "== pytest"; pytest --cov --cov-report=term:skip-covered --durations=15 "$@"
