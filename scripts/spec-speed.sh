#!/usr/bin/env bash
# States per second of the Rust reference model's BFS and of TLC, on the same
# instance, in one run: spec/MCHPaxos.cfg with MaxMsgs = N (default 6, the CI
# instance). Both must reach the same number of distinct states (checked)
# and both check Safety and every conjunct of FullSafetyInvariant on every
# state. TLC runs with TLC_WORKERS workers (default 2); the Rust BFS with one
# thread.
#
# Usage: scripts/spec-speed.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-6}
case "$N" in ''|*[!0-9]*) echo "usage: scripts/spec-speed.sh [MAX_MSGS]" >&2; exit 2 ;; esac

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p hpaxos-spec --bin hpaxos-spec-explore
rust_json=$("$CARGO_TARGET_DIR/release/hpaxos-spec-explore" --max-msgs "$N" --json)
num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$rust_json"; }
rust_distinct=$(num distinct)
rust_secs=$(num seconds)
rust_rate=$(num states_per_second)
if ! grep -q '"violation":null' <<<"$rust_json"; then
    echo "Rust exploration found a violation: $rust_json" >&2
    exit 1
fi
printf 'Rust %-26s %9s distinct states  %6ss  %7s states/s  no violation\n' \
    "MaxMsgs=$N" "$rust_distinct" "$rust_secs" "$rust_rate"

cfg=$(mktemp --suffix=.cfg)
trap 'rm -f "$cfg"' EXIT
sed "s/^    MaxMsgs = .*/    MaxMsgs = $N/" spec/MCHPaxos.cfg >"$cfg"
# tlc.sh fails unless TLC reaches exactly the Rust count.
tlc_line=$(bash scripts/tlc.sh "$cfg" "$rust_distinct")
tlc_rate=$(awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "states/s") print $i }' <<<"$tlc_line")
tlc_secs=$(awk '{ for (i = 1; i < NF; i++) if ($(i+1) == "distinct") s = $(i+3); print s }' <<<"$tlc_line" | tr -d s)
printf 'TLC  %-26s %9s distinct states  %6ss  %7s states/s  no violation\n' \
    "MaxMsgs=$N" "$rust_distinct" "$tlc_secs" "$tlc_rate"
awk -v r="$rust_rate" -v t="$tlc_rate" 'BEGIN { printf "Rust/TLC states per second: %.1fx\n", r / t }'
