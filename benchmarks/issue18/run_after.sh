#!/bin/bash
# Issue 18, "after": these configs with this tree.
# Usage: benchmarks/issue18/run_after.sh [config ...]   (outputs and logs: runs/issue18/after)
set -e
ROOT=$(cd "$(dirname "$0")"/../.. && pwd)
export MIAUDIT_DATA=${MIAUDIT_DATA:-$ROOT/../shared/datasets}
export PYTHONPATH=$ROOT/src
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ $# -gt 0 ] || set -- location_shadow mnist_lira_rmia_2_flip mnist_lira_4 mnist_rmia_4 \
  mnist_lira_4_flip location_lira_rmia mnist_rmia_2_flip_allz
mkdir -p "$ROOT/runs/issue18/after"
for c in "$@"; do
  /usr/bin/time -v "$PY" -m miaudit.cli audit "$ROOT/benchmarks/issue18/$c.yaml" \
    --output "$ROOT/runs/issue18/after/$c" --no-progress --overwrite \
    > "$ROOT/runs/issue18/after/$c.log" 2>&1
done
