#!/usr/bin/env bash
# Set up the test environment and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/setup.sh
.venv/bin/python -m pytest "$@"
