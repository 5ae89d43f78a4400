#!/usr/bin/env bash
# Installs the pinned Garage (the replicated S3 object store of `make cluster` and its test)
# from crates.io into target/garage/, compiled once and cached: a second run only checks the
# version. Prints the binary's path on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GARAGE_VERSION=2.5.0
root="$PWD/target/garage/$GARAGE_VERSION"
bin="$root/bin/garage"

# `garage --version` prints e.g. `garage cargo:2.5.0 [features: ...]`.
if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -qF "cargo:$GARAGE_VERSION "; then
    echo "$bin"
    exit 0
fi

echo "garage: compiling garage $GARAGE_VERSION once (cached under target/garage/)" >&2
# sqlite is the metadata engine we use (bundled, no system library); lmdb, k2v and
# metrics are left out, which shortens the compile.
cargo install garage --version "=$GARAGE_VERSION" --locked \
    --root "$root" --target-dir "$PWD/target/garage/build" \
    --no-default-features --features bundled-libs,sqlite >&2
rm -rf "$PWD/target/garage/build"
"$bin" --version >&2
echo "$bin"
