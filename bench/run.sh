#!/usr/bin/env bash
# One command, from a clean clone: direct vs imagegate vs LiteLLM proxy on a mock OpenAI upstream.
#   bash bench/run.sh                      # short default (~10 min): 10 s per measurement, 60 s RSS run
#   bash bench/run.sh --rss-duration 300   # the 5-minute RSS target
#   bash bench/run.sh --help               # every option (bench/run.py)
# Installs what it needs: wrk (Debian), the project + py-spy in .venv, LiteLLM in bench/.venv-litellm.
# Loopback only. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! command -v wrk >/dev/null; then
  apt-get -o DPkg::Lock::Timeout=300 install -y wrk >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get -o DPkg::Lock::Timeout=300 install -y wrk >/dev/null; }
fi
command -v redis-server >/dev/null || apt-get -o DPkg::Lock::Timeout=300 install -y redis-server >/dev/null
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e . py-spy 2>&1 | grep -v '^WARNING: Location' || true
exec .venv/bin/python bench/run.py "$@"
