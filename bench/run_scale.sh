#!/usr/bin/env bash
# The scale benchmark in one command: set up the project's venv when missing, install the
# peers (Debian's hugo when missing and root or sudo; pelican[markdown] into bench/out/venv),
# then run bench_scale.py with the project's venv ($FEEDSVC_VENV, default <repo>/.venv). Arguments go to bench_scale.py:
#   bash bench/run_scale.sh [--sizes 1000,10000,100000] [--repeat 3] [--json PATH]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${FEEDSVC_VENV:-$repo/.venv}"
if [ ! -x "$venv/bin/feedsvc" ]; then
    if [ -n "${FEEDSVC_VENV:-}" ]; then
        echo "no feedsvc in $venv: install the project there (pip install -e .)" >&2
        exit 1
    fi
    EXTRAS=test bash "$repo/scripts/setup.sh" >&2  # the project's own venv, as for the tests
fi
bash "$repo/bench/install_peers.sh" >&2
exec "$venv/bin/python" "$repo/bench/bench_scale.py" "$@"
