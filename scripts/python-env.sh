#!/usr/bin/env bash
# Creates (once) the Python venv used around the project: fixture generators and peer comparisons.
# Python is never on the path of `auge` itself. Prints the venv's python path on stdout.
# Usage: PY=$(scripts/python-env.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${AUGE_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import onnx, onnxruntime, numpy, PIL' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check \
        onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 pillow==13.0.0 >&2
fi
echo "$venv/bin/python"
