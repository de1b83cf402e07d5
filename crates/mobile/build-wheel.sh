#!/usr/bin/env bash
# Builds the SDK's Python wheel with maturin (the way to make a release):
#
#   bash crates/mobile/build-wheel.sh [MATURIN BUILD OPTIONS…]
#   bash crates/mobile/build-wheel.sh --release --out dist
#
# maturin packs uniffi bindings by running `uniffi-bindgen`, which it looks
# for on PATH; the SDK's generator is crates/mobile/bindgen (a workspace of
# its own, see crates/mobile/README.md), so this builds it and puts it on
# PATH first. maturin itself comes from PyPI (`pip install maturin`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
maturin=${MATURIN:-maturin}
if ! command -v "$maturin" >/dev/null; then
    echo "build-wheel.sh: maturin is not installed: pip install 'maturin>=1.9,<2' (or set MATURIN)" >&2
    exit 2
fi
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --locked -q --manifest-path crates/mobile/bindgen/Cargo.toml --target-dir "$target/uniffi-bindgen"
cd crates/mobile
PATH="$target/uniffi-bindgen/debug:$PATH" "$maturin" build --locked "$@"
