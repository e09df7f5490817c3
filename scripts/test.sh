#!/usr/bin/env bash
# Sets everything up, test tools included (see setup.sh), then runs the whole
# suite: lint, type check, unit tests with fakes, end-to-end tests with the real models,
# browser tests in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check rag tests eval app.py
.venv/bin/mypy rag
.venv/bin/python -m pytest "$@"
bash scripts/audit.sh
