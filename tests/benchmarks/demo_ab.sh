#!/usr/bin/env bash
# Back-to-back `tunebench demo` runs of two checkouts, alternating, in fresh workspaces (the converted
# embedded model shared through TUNEBENCH_MODELS): prints each run's wall time, training steps and
# gate deltas. The ratio of the two is the time-to-verdict figure of tests/benchmarks/README.md.
#
#   git worktree add /tmp/before 0efac22     # or a clone at the "before" commit
#   bash tests/benchmarks/demo_ab.sh /tmp/before . --quick      # ROUNDS=2 by default
#
# Each checkout runs from its own directory with this checkout's .venv (python -m harness.cli.main
# imports the checkout it runs in). Logs: $LOGS/ab-{old,new}-N.log (default /tmp).
set -u
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); shift 2
venv=$(cd "$(dirname "$0")/../.." && pwd)/.venv
models=${TUNEBENCH_MODELS:-$(cd "$(dirname "$0")/../.." && pwd)/.tunebench/models}
logs=${LOGS:-/tmp}
for round in $(seq 1 "${ROUNDS:-2}"); do
  for side in old new; do
    dir=$old; [ "$side" = new ] && dir=$new
    ws=$(mktemp -d /tmp/tb-ab-ws.XXXXXX)
    log=$logs/ab-$side-$round.log
    start=$(date +%s.%N)
    (cd "$dir" && HF_HUB_OFFLINE=1 TUNEBENCH_MODELS=$models "$venv/bin/python" -m harness.cli.main \
      --workspace "$ws" demo "$@" --no-progress > "$log" 2>&1)
    rc=$?
    end=$(date +%s.%N)
    echo "$side round $round: $(echo "$end - $start" | bc) s (exit $rc, 1-min load $(cut -d' ' -f1 /proc/loadavg));" \
      "$(grep -o 'trained [0-9]* steps in [0-9]*s' "$log");" "$(grep -o 'delta=[-+0-9.]*' "$log" | tr '\n' ' ')"
    rm -rf "$ws"
  done
done
