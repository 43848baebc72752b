#!/usr/bin/env bash
# Starts the compose cluster that `hpaxos testnet --nodes 5 --compose` writes
# (image hpaxos:latest, from scripts/image.sh), waits until every node is
# healthy, decides one command through n1 and reads it back from every node
# for both learners, then removes every container, network and volume it
# created (also on failure). Skipped (exit 0, with a message) when no
# Docker daemon answers or the image is missing.
#
#   bash scripts/compose-smoke.sh [HPAXOS]     # HPAXOS: host binary (default: target/debug/hpaxos)
set -euo pipefail
cd "$(dirname "$0")/.."
H="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/hpaxos}")"

if ! docker info >/dev/null 2>&1; then
    echo "compose-smoke: SKIPPED (no Docker daemon answers)"; exit 0
fi
if docker compose version >/dev/null 2>&1; then dc=(docker compose)
elif command -v docker-compose >/dev/null; then dc=(docker-compose)
else echo "compose-smoke: SKIPPED (no docker compose / docker-compose)"; exit 0; fi
docker image inspect hpaxos:latest >/dev/null 2>&1 || { echo "compose-smoke: no image hpaxos:latest (run scripts/image.sh)" >&2; exit 1; }

dir=$(mktemp -d)
proj="hpxsmoke$$"
cleanup() {
    (cd "$dir/net" 2>/dev/null && timeout 120 "${dc[@]}" -p "$proj" down -v --remove-orphans >/dev/null 2>&1) || true
    rm -rf "$dir"
}
trap cleanup EXIT
"$H" testnet --nodes 5 --compose --out "$dir/net" >/dev/null
cd "$dir/net"
t0=$(date +%s)
if ! timeout 120 "${dc[@]}" -p "$proj" up -d >"$dir/up.log" 2>&1; then
    echo "compose-smoke: '${dc[*]} up' failed (a port of 127.0.0.1:8101-8105 in use?):" >&2
    tail -20 "$dir/up.log" >&2
    exit 1
fi
for i in $(seq 1 60); do
    healthy=$(docker ps --filter "label=com.docker.compose.project=$proj" --filter health=healthy -q | wc -l)
    [ "$healthy" -eq 5 ] && break
    [ "$i" -eq 60 ] && { echo "compose-smoke: only $healthy of 5 nodes healthy after 60 s" >&2; "${dc[@]}" -p "$proj" ps >&2; exit 1; }
    sleep 1
done
echo "compose-smoke: 5 nodes healthy after $(( $(date +%s) - t0 )) s"
"$H" client --addr 127.0.0.1:8101 --timeout 20 put smoke "v$$"
for n in 1 2 3 4 5; do
    for l in alice bob; do
        ok=0
        for _ in $(seq 1 50); do
            v=$("$H" client --addr "127.0.0.1:810$n" --json read "$l" smoke 2>/dev/null | sed -n 's/.*"value":"\([^"]*\)".*/\1/p')
            [ "$v" = "v$$" ] && { ok=1; break; }
            sleep 0.2
        done
        [ "$ok" -eq 1 ] || { echo "compose-smoke: n$n $l does not have the command" >&2; exit 1; }
    done
done
echo "compose-smoke: decided and applied by alice and bob on all 5 nodes; removing the cluster"
