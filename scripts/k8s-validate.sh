#!/usr/bin/env bash
# Renders the Kubernetes manifests of a 5-node testnet (`hpaxos k8s`) and
# validates them offline: every document against the Kubernetes OpenAPI
# schemas of kubernetes-validate (PyPI; strict: unknown fields are errors),
# and kustomization.yaml as YAML that lists every file. Nothing is applied
# (no cluster here).
#
#   bash scripts/k8s-validate.sh [HPAXOS] [K8S_VERSION]
set -euo pipefail
cd "$(dirname "$0")/.."
H="$(realpath "${1:-${CARGO_TARGET_DIR:-target}/debug/hpaxos}")"
kv="${2:-1.37.0}"
venv="${CARGO_TARGET_DIR:-target}/k8s-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q kubernetes-validate
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$H" testnet --nodes 5 --out "$dir/tn" >/dev/null
"$H" k8s --config "$dir/tn/cluster.toml" --out "$dir/m" >/dev/null
docs=()
for f in "$dir"/m/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || docs+=("$f")
done
"$venv/bin/kubernetes-validate" --strict --quiet -k "$kv" "${docs[@]}"
"$venv/bin/python" - "$dir/m" <<'PY'
import os, sys, yaml
d = sys.argv[1]
k = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
want = sorted(f for f in os.listdir(d) if f != "kustomization.yaml")
assert sorted(k["resources"]) == want, (k["resources"], want)
kinds = {}
for f in want:
    for doc in yaml.safe_load_all(open(os.path.join(d, f))):
        kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
print("k8s-validate: " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())) + f" parsed; kustomization lists every file")
PY
echo "k8s-validate: all manifests passed kubernetes-validate $kv --strict"
