#!/usr/bin/env bash
# Install LiteLLM proxy into its own venv (bench/.venv-litellm, gitignored), idempotently.
# The newest `litellm[proxy]` that installs here, plus opentelemetry-sdk (as the issue asks).
# Usage: bash bench/litellm.sh            -> prints the venv's litellm executable path on stdout
#        LITELLM_VERSION=1.106.12 bash bench/litellm.sh   (pin a version)
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv-litellm
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/litellm" ]; then
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  spec="litellm[proxy]"
  [ -n "${LITELLM_VERSION:-}" ] && spec="litellm[proxy]==${LITELLM_VERSION}"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$spec" opentelemetry-sdk >&2
fi
"$VENV/bin/python" -c 'import importlib.metadata as m; print("litellm", m.version("litellm"))' >&2
echo "$PWD/$VENV/bin/litellm"
