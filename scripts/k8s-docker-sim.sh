#!/usr/bin/env bash
# Runs the pods that `hpaxos k8s` renders as plain containers, as Kubernetes
# would run them as far as Docker can say: the cluster file from the
# ConfigMap, each key from its Secret (mode 0440, group 65532), user
# 65532:65532, read-only root, no capabilities, a writable /data owned by
# the pod's group (tmpfs here, a volume claim there), and the pod DNS names
# `nI-0.nI` as network aliases on a private network. Then one command is
# decided through n1-0 and read back on every pod. Everything it creates is
# removed on exit. Skipped without a Docker daemon.
#
#   bash scripts/k8s-docker-sim.sh [HPAXOS]   # needs the image hpaxos:latest
set -euo pipefail
cd "$(dirname "$0")/.."
H="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/hpaxos}")"
if ! timeout 20 docker info >/dev/null 2>&1; then
    echo "k8s-docker-sim: SKIPPED: no Docker daemon answers"; exit 0
fi
venv="${CARGO_TARGET_DIR:-target}/k8s-venv"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q kubernetes-validate; }
dir=$(mktemp -d)
run="k8ssim$$"
cleanup() {
    docker rm -f $(docker ps -aq --filter "label=hpaxos.k8ssim=$run") >/dev/null 2>&1 || true
    docker network rm "$run" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"$H" testnet --nodes 5 --out "$dir/tn" >/dev/null
"$H" k8s --config "$dir/tn/cluster.toml" --out "$dir/m" >/dev/null
# What the pods would mount: the ConfigMap's file and each Secret's key.
"$venv/bin/python" - "$dir" <<'PY'
import os, sys, yaml
d = sys.argv[1]
cm = yaml.safe_load(open(os.path.join(d, "m", "config.yaml")))
os.makedirs(os.path.join(d, "etc"), exist_ok=True)
open(os.path.join(d, "etc", "cluster.toml"), "w").write(cm["data"]["cluster.toml"])
for s in yaml.safe_load_all(open(os.path.join(d, "m", "keys.yaml"))):
    node = s["metadata"]["labels"]["app.kubernetes.io/instance"]
    os.makedirs(os.path.join(d, "key", node), exist_ok=True)
    p = os.path.join(d, "key", node, "node.key")
    open(p, "w").write(s["stringData"]["node.key"])
PY
chmod 0755 "$dir" "$dir/etc" "$dir/key"
chmod 0644 "$dir/etc/cluster.toml"
chgrp -R 65532 "$dir/key"
find "$dir/key" -type d -exec chmod 0750 {} +
find "$dir/key" -type f -exec chmod 0440 {} +
docker network create --internal --label "hpaxos.k8ssim=$run" "$run" >/dev/null
for i in 1 2 3 4 5; do
    n="n$i"
    docker run -d --name "$run-$n" --label "hpaxos.k8ssim=$run" \
        --network "$run" --network-alias "$n-0.$n" --hostname "$n-0" \
        --user 65532:65532 --read-only --cap-drop ALL --security-opt no-new-privileges \
        --tmpfs /data:uid=65532,gid=65532,mode=0770 \
        -v "$dir/etc:/etc/hpaxos:ro" -v "$dir/key/$n:/etc/hpaxos-key:ro" \
        hpaxos:latest node --config /etc/hpaxos/cluster.toml --name "$n" \
        --key /etc/hpaxos-key/node.key --data-dir /data >/dev/null
done
c() { docker exec "$run-n1" /usr/local/bin/hpaxos client "$@"; }
for i in 1 2 3 4 5; do
    ok=0
    for _ in $(seq 1 60); do
        c --addr "n$i-0.n$i:810$i" --timeout 1 health >/dev/null 2>&1 && { ok=1; break; }
        sleep 0.5
    done
    [ "$ok" -eq 1 ] || { echo "k8s-docker-sim: pod n$i-0 not healthy" >&2; docker logs "$run-n$i" >&2; exit 1; }
done
c --addr n1-0.n1:8101 --timeout 20 --learner alice put k8s "sim$$" >/dev/null
for i in 1 2 3 4 5; do
    for l in alice bob; do
        ok=0
        for _ in $(seq 1 50); do
            c --addr "n$i-0.n$i:810$i" --json read "$l" k8s 2>/dev/null | grep -q "\"sim$$\"" && { ok=1; break; }
            sleep 0.2
        done
        [ "$ok" -eq 1 ] || { echo "k8s-docker-sim: $l on n$i-0 lacks the command" >&2; exit 1; }
    done
done
echo "k8s-docker-sim: 5 pods (non-root, read-only root, no capabilities) found each other as nI-0.nI; a command decided through n1-0 was applied by alice and bob on all 5"
