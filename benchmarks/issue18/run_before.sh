#!/bin/bash
# Issue 18, "before": these configs with the tree before issue 18, in a worktree:
#   git -C <repo> worktree add --detach ../baseline-18 170b9d3
# Usage: benchmarks/issue18/run_before.sh [config ...]   (outputs and logs: runs/issue18/before)
set -e
ROOT=$(cd "$(dirname "$0")"/../.. && pwd)
export MIAUDIT_DATA=${MIAUDIT_DATA:-$ROOT/../shared/datasets}
export PYTHONPATH=${BEFORE_SRC:-$ROOT/../baseline-18/src}
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ $# -gt 0 ] || set -- location_lira_rmia location_shadow mnist_lira_rmia_2
mkdir -p "$ROOT/runs/issue18/before"
for c in "$@"; do
  /usr/bin/time -v "$PY" -m miaudit.cli audit "$ROOT/benchmarks/issue18/$c.yaml" \
    --output "$ROOT/runs/issue18/before/$c" --no-progress --overwrite \
    > "$ROOT/runs/issue18/before/$c.log" 2>&1
done
