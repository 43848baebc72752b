#!/usr/bin/env bash
# Builds the container image `hpaxos:latest` from nothing a registry
# provides: a statically linked `hpaxos` (musl when its target is
# installed, else the gnu target with crt-static) copied into a
# `FROM scratch` image (deploy/Dockerfile). The build context is a scratch
# directory holding only the binary.
#
#   bash scripts/image.sh [--tag NAME:TAG] [--target TRIPLE] [--no-docker]
#
# Prints the binary's and the image's size and the build times.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="hpaxos:latest"
target=""
docker_build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag="$2"; shift 2 ;;
        --target) target="$2"; shift 2 ;;
        --no-docker) docker_build=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

musl_installed() { rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; }
if [ -z "$target" ]; then
    if ! musl_installed && command -v rustup >/dev/null; then
        timeout 180 rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
    fi
    if musl_installed; then
        target=x86_64-unknown-linux-musl
    else
        target=x86_64-unknown-linux-gnu
        echo "image.sh: warning: no musl target; a static glibc binary cannot resolve host names" >&2
        echo "image.sh: (NSS), so use IP addresses in its cluster files" >&2
    fi
fi
case "$target" in
    *-gnu) export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" ;;
esac

tdir="${CARGO_TARGET_DIR:-target}"
echo "== static hpaxos for $target (cargo build --release -p hpaxos-cli)"
t0=$(date +%s)
cargo build --release -p hpaxos-cli --target "$target"
t1=$(date +%s)
bin="$tdir/$target/release/hpaxos"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
if command -v strip >/dev/null; then
    strip -o "$ctx/hpaxos" "$bin"
else
    cp "$bin" "$ctx/hpaxos"
fi
if command -v file >/dev/null && ! file "$ctx/hpaxos" | grep -q 'static'; then
    echo "image.sh: $bin is not statically linked" >&2
    file "$ctx/hpaxos" >&2
    exit 1
fi
"$ctx/hpaxos" --version
bin_bytes=$(stat -c %s "$ctx/hpaxos")
echo "binary: $bin_bytes bytes stripped; cargo build took $((t1 - t0)) s"

[ "$docker_build" -eq 1 ] || exit 0
echo "== docker build -t $tag (FROM scratch)"
cp deploy/Dockerfile "$ctx/Dockerfile"
t2=$(date +%s)
docker build -q -t "$tag" "$ctx" >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; exit 1; }
t3=$(date +%s)
img_bytes=$(docker image inspect -f '{{.Size}}' "$tag")
echo "image $tag: $img_bytes bytes ($((img_bytes / 1024 / 1024)) MiB); docker build took $((t3 - t2)) s"
