#!/usr/bin/env bash
# Runs every check CI runs. Safe on a fresh machine: it installs what is
# missing (today only the Rust components; later suites add a PostgreSQL,
# a private D-Bus with a mock BlueZ, and Chromium here, and nowhere else).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
        rustup component add "${component}"
    fi
done
cargo --version

step "format"
cargo fmt --all --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked
