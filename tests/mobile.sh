#!/usr/bin/env bash
# The mobile SDK's bindings, tested against the real server binaries
# (crates/mobile/README.md). Installs what is missing into a cache
# directory (maturin and pytest in a virtual environment), builds the
# server and client binaries and the SDK's Python wheel, installs the wheel
# into a fresh virtual environment and plays the story there
# (tests/mobile/python/test_story.py). Bounded: every step has a timeout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache=${GREENLIGHT_MOBILE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/greenlight-mobile}
target=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$cache"
started=$SECONDS

if [ ! -x "$cache/venv/bin/maturin" ] || [ ! -x "$cache/venv/bin/pytest" ]; then
    echo "installing maturin and pytest into $cache/venv"
    python3 -m venv "$cache/venv"
    timeout 600 "$cache/venv/bin/pip" install -q maturin pytest
fi

echo "building the server and client binaries"
timeout 1800 cargo build --locked -q -p greenlight-server -p greenlight --bins

echo "building the SDK's Python wheel"
wheels=$(mktemp -d)
scratch=$(mktemp -d)
trap 'rm -rf "$wheels" "$scratch"' EXIT
(cd crates/mobile && CARGO_TARGET_DIR="$target" timeout 1800 "$cache/venv/bin/maturin" build --locked --quiet --out "$wheels")

echo "installing the wheel into a fresh virtual environment"
python3 -m venv "$scratch/venv"
timeout 300 "$scratch/venv/bin/pip" install -q "$wheels"/greenlight_mobile-*.whl
# pytest comes from the cache's copy, not from the wheel under test.
timeout 300 "$scratch/venv/bin/pip" install -q --no-index --find-links "$cache/wheels" pytest 2>/dev/null || {
    "$cache/venv/bin/pip" download -q -d "$cache/wheels" pytest
    timeout 300 "$scratch/venv/bin/pip" install -q --no-index --find-links "$cache/wheels" pytest
}

echo "the Python story"
GREENLIGHT_BIN_DIR="$target/debug" timeout 600 "$scratch/venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/mobile/python
echo "mobile SDK checks took $((SECONDS - started)) s"
