#!/usr/bin/env bash
# Generates the SDK's bindings from the compiled library with uniffi-bindgen:
#   bash crates/mobile/generate-bindings.sh swift  [OUT]   (default OUT: target/bindings/swift)
#   bash crates/mobile/generate-bindings.sh kotlin [OUT]
#   bash crates/mobile/generate-bindings.sh python [OUT]
# The library is the workspace build's (`cargo build --workspace --lib`,
# target/debug/libgreenlight_mobile.so); the generator is
# crates/mobile/bindgen, built into a target directory of its own. The
# Swift output (greenlight_mobile.swift, greenlight_mobileFFI.h and
# greenlight_mobileFFI.modulemap) goes into an Xcode project beside the
# library built for iOS; it is generated here but not compiled (no Swift
# toolchain on Linux CI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
language="${1:?usage: generate-bindings.sh swift|kotlin|python [OUT]}"
case "$language" in
    swift | kotlin | python) ;;
    *) echo "generate-bindings.sh: unknown language '$language' (swift, kotlin or python)" >&2; exit 2 ;;
esac
out="${2:-target/bindings/$language}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --locked --workspace --lib
cargo build --locked -q --manifest-path crates/mobile/bindgen/Cargo.toml --target-dir "$target/uniffi-bindgen"
mkdir -p "$out"
"$target/uniffi-bindgen/debug/uniffi-bindgen" generate --no-format \
    --library "$target/debug/libgreenlight_mobile.so" --language "$language" --out-dir "$out"
ls "$out"
