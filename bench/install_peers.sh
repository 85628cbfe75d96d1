#!/usr/bin/env bash
# Install the peers the benchmarks compare feedsvc against; safe to re-run.
#   Hugo:    Debian's `hugo` package (0.111 on bookworm), via apt-get (sudo unless root)
#   Pelican: `pelican[markdown]` into the benchmark's own venv at $VENV
#            (default: <repo>/bench/out/venv, made with $PYTHON, default python3, when missing)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$repo/bench/out/venv}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

if command -v hugo >/dev/null 2>&1; then
    echo "hugo: already installed ($(hugo version))"
else
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y hugo
fi

if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
if "$venv/bin/python" -c "import pelican, markdown" 2>/dev/null; then
    echo "pelican: already installed in $venv ($("$venv/bin/pelican" --version))"
else
    "$venv/bin/python" -m pip install --quiet 'pelican[markdown]'
fi
