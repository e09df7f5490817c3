#!/usr/bin/env bash
# Sets up everything on a machine that has only Python 3.11: the virtual
# environment (.venv/), pinned dependencies (torch 2.13.0 CPU), the default
# models (fetched into the user's model store and verified by SHA-256), and the
# index of seeds/ when none exists. Safe to run again: each step is skipped
# or quick when already done.
#   scripts/setup.sh          set up for running the app
#   scripts/setup.sh --test   also the test tools (Chromium for browser tests, tmux for the terminal test, the small test model)
set -euo pipefail
cd "$(dirname "$0")/.."
want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'

if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-$want_tests
if [ ! -e "$stamp" ]; then
  echo "== installing dependencies (first time: llama-cpp-python compiles, ~10 min on 2 cores)"
  if [ $want_tests = 1 ]; then extra=".[test]"; else extra="."; fi
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q -e "$extra"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

echo "== models"
.venv/bin/rag models fetch
if [ $want_tests = 1 ]; then
  .venv/bin/rag models fetch smollm2-135m-instruct-q4_1
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"  # the browser tests
  command -v tmux >/dev/null || missing="$missing tmux"  # the terminal test of rag chat
  if [ -n "$missing" ]; then
    echo "== installing$missing (test tools)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
  fi
fi

if [ ! -s index/CURRENT ]; then
  echo "== building the index of seeds/"
  .venv/bin/rag index
fi
