#!/bin/bash
# Issue 18, "after": these configs with this tree.
# Usage: benchmarks/issue18/run_after.sh [config ...]   (outputs and logs: runs/issue18/after)
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
export PYTHONPATH=$HERE/../../src
[ $# -gt 0 ] || set -- location_shadow mnist_lira_rmia_2_flip mnist_lira_4 mnist_rmia_4 \
  mnist_lira_4_flip location_lira_rmia mnist_rmia_2_flip_allz
exec bash "$HERE/_run.sh" after "$@"
