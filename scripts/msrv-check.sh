#!/usr/bin/env bash
# The stated MSRV (`rust-version` in the root Cargo.toml, inherited by every
# crate) against what the build uses, without a second toolchain (this
# machine reaches crates.io but not the Rust release server):
# - every crate of the workspace states the same rust-version;
# - no locked dependency states a higher one (from `cargo metadata`);
# - standard-library APIs newer than it are clippy's `incompatible_msrv`
#   (in `.ci/run`'s clippy step).
# Not covered: language features newer than the MSRV that no lint sees.
set -euo pipefail
cd "$(dirname "$0")/.."
meta="$(mktemp)"
trap 'rm -f "$meta"' EXIT
cargo metadata --format-version 1 --locked >"$meta"
python3 - "$meta" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def ver(s):
    return tuple(int(x) for x in s.split("."))
ws = [p for p in d["packages"] if p["id"] in d["workspace_members"]]
stated = {p.get("rust_version") for p in ws}
if len(stated) != 1 or None in stated:
    sys.exit("msrv: workspace crates state different rust-versions: "
             + ", ".join(f"{p['name']} {p.get('rust_version')}" for p in ws))
msrv = stated.pop()
above = [f"{p['name']} {p['version']} needs {p['rust_version']}"
         for p in d["packages"]
         if p.get("rust_version") and ver(p["rust_version"]) > ver(msrv)]
if above:
    sys.exit("msrv: dependencies above rust-version " + msrv + ": " + "; ".join(above))
print(f"msrv: rust-version {msrv}: {len(ws)} crates state it, "
      f"{len(d['packages'])} packages locked, none needs more")
PY
