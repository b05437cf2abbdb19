#!/bin/bash
# Issue 18, "before": these configs with the tree before issue 18, in a worktree:
#   git -C <repo> worktree add --detach ../baseline-18 170b9d3
# Usage: benchmarks/issue18/run_before.sh [config ...]   (outputs and logs: runs/issue18/before)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH=${BEFORE_SRC:-$HERE/../../../baseline-18/src}
[ $# -gt 0 ] || set -- location_lira_rmia location_shadow mnist_lira_rmia_2
exec bash "$HERE/_run.sh" before "$@"
