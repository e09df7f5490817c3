#!/usr/bin/env bash
# Sets everything up (see setup.sh) and starts the chat UI on http://127.0.0.1:7860.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py
