#!/usr/bin/env bash
# Installs everything from nothing into .venv: the patched engine, then the service.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
.venv/bin/python vendor/durable_rules/build.py
.venv/bin/python -m pip install -q -e '.[test]'
