#!/bin/bash
# Shared by run_before.sh and run_after.sh: run each config with the miaudit at $PYTHONPATH.
# Usage: _run.sh LABEL config ...   (outputs and logs: runs/issue18/LABEL)
set -e
ROOT=$(cd "$(dirname "$0")"/../.. && pwd)
LABEL=$1; shift
export MIAUDIT_DATA=${MIAUDIT_DATA:-$ROOT/../shared/datasets}
PY=${PYTHON:-$ROOT/.venv/bin/python}
mkdir -p "$ROOT/runs/issue18/$LABEL"
for c in "$@"; do
  /usr/bin/time -v "$PY" -m miaudit.cli audit "$ROOT/benchmarks/issue18/$c.yaml" \
    --output "$ROOT/runs/issue18/$LABEL/$c" --no-progress --overwrite \
    > "$ROOT/runs/issue18/$LABEL/$c.log" 2>&1
done
