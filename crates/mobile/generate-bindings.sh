#!/usr/bin/env bash
# Generates the SDK's bindings from the compiled library with uniffi-bindgen:
#   bash crates/mobile/generate-bindings.sh swift  [OUT]   (default OUT: target/bindings/swift)
#   bash crates/mobile/generate-bindings.sh kotlin [OUT]
#   bash crates/mobile/generate-bindings.sh python [OUT]
# The Swift output (greenlight_mobile.swift, greenlight_mobileFFI.h and
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
cargo build --locked -p greenlight-mobile --lib
mkdir -p "$out"
cargo run --locked -q -p greenlight-mobile --features bindgen --bin uniffi-bindgen -- \
    generate --library "$target/debug/libgreenlight_mobile.so" --language "$language" --out-dir "$out"
ls "$out"
