#!/usr/bin/env bash
# CI's black-box fault test: builds the image (scripts/image.sh) and runs one
# seeded schedule of hpaxos-harness against 5 containers (about 2.5 min of
# run after a 1-4 min image build). Skipped, with a visible message, when no
# Docker daemon answers. Output (history, schedule, verdict, summary,
# timeline.svg, node logs) stays in target/harness/SCHEDULE-seedSEED.
#
#   bash scripts/fault-test.sh [--schedule ci|long|byzantine] [--seed N] [harness flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
schedule=ci
seed=1
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --schedule) schedule="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        *) extra+=("$1"); shift ;;
    esac
done
if ! timeout 20 docker info >/dev/null 2>&1; then
    echo "fault test: SKIPPED: no Docker daemon answers (docker info failed)"
    exit 0
fi
tdir="${CARGO_TARGET_DIR:-target}"
bash scripts/image.sh
cargo build -q -p hpaxos-harness
out="$tdir/harness/$schedule-seed$seed"
rm -rf "$out"
echo "== hpaxos-harness --schedule $schedule --seed $seed (output in $out)"
# SIGTERM lets the harness remove its containers before it exits.
timeout -k 60 900 "$tdir/debug/hpaxos-harness" \
    --schedule "$schedule" --seed "$seed" --out "$out" --require-docker "${extra[@]}"
