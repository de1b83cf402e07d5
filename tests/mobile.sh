#!/usr/bin/env bash
# The mobile SDK's bindings, tested against the real server binaries
# (crates/mobile/README.md): the resident's story in Python (pytest, the
# wheel pip-installed into a fresh virtual environment) and in Kotlin on
# the JVM (JNA). Installs what is missing (pytest into a cache directory,
# the Kotlin compiler from npm, Java and JNA from Debian).
#
# Nothing is built apart from the workspace: the library both languages load
# is the workspace build's own target/debug/libgreenlight_mobile.so, with
# the features of `cargo test --workspace`, so after tests/run.sh's test
# step only the binding generator is compiled here (crates/mobile/bindgen,
# once per machine). The Python wheel is laid
# out from that library by crates/mobile/wheel.py, as maturin lays out a
# uniffi wheel (maturin would build every dependency again with other
# features: over 10 minutes on 2 cores). Bounded: every step has a timeout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache=${GREENLIGHT_MOBILE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/greenlight-mobile}
export GREENLIGHT_MOBILE_CACHE=$cache
target=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$cache"
started=$SECONDS

echo "building the binaries, the SDK's library and the binding generator"
# --tests: the features of `cargo test --workspace` (dev-dependencies
# included), whose artifacts are then reused as they are.
timeout 1800 cargo build --workspace --locked -q --lib --bins --tests
# uniffi-bindgen, a workspace of its own (crates/mobile/bindgen/Cargo.toml
# says why), in a target directory of its own.
timeout 1800 cargo build --locked -q --manifest-path crates/mobile/bindgen/Cargo.toml \
    --target-dir "$target/uniffi-bindgen"
library="$target/debug/libgreenlight_mobile.so"
bindgen="$target/uniffi-bindgen/debug/uniffi-bindgen"
echo "built in $((SECONDS - started)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

echo "the Python wheel, from the workspace's library"
"$bindgen" generate --no-format --library "$library" --language python --out-dir "$scratch/python" >/dev/null
wheel=$(python3 crates/mobile/wheel.py "$library" "$scratch/python" "$scratch/wheels")
echo "installing $(basename "$wheel") into a fresh virtual environment"
python3 -m venv "$scratch/venv"
timeout 300 "$scratch/venv/bin/pip" install -q --disable-pip-version-check "$wheel"
# pytest from the cache's copy, not from the wheel under test.
if ! timeout 300 "$scratch/venv/bin/pip" install -q --disable-pip-version-check --no-index \
    --find-links "$cache/wheels" pytest 2>/dev/null; then
    timeout 300 "$scratch/venv/bin/pip" download -q --disable-pip-version-check -d "$cache/wheels" pytest
    timeout 300 "$scratch/venv/bin/pip" install -q --disable-pip-version-check --no-index \
        --find-links "$cache/wheels" pytest
fi

echo "the Python story"
(cd "$scratch" && GREENLIGHT_BIN_DIR="$target/debug" timeout 600 "$scratch/venv/bin/python" -m pytest -q \
    -p no:cacheprovider "$OLDPWD/tests/mobile/python")

echo "the Kotlin story"
classpath=$(timeout 1200 bash tests/mobile/kotlin.sh "$bindgen" "$library")
timeout 600 java -cp "$classpath" -Djna.library.path="$(dirname "$library")" \
    -Dgreenlight.deployment=tests/mobile/deployment.py StoryKt "$target/debug"

echo "the Swift bindings (generated, not compiled: no Swift toolchain here)"
"$bindgen" generate --no-format --library "$library" --language swift --out-dir "$scratch/swift" >/dev/null
for file in greenlight_mobile.swift greenlight_mobileFFI.h greenlight_mobileFFI.modulemap; do
    [ -s "$scratch/swift/$file" ] || { echo "mobile.sh: uniffi-bindgen wrote no $file" >&2; exit 1; }
done
# The app-facing names the README's Swift snippet uses.
for name in 'class GreenlightPhone' 'func generateDeviceKey' 'enum GreenlightError' 'func advertisement' \
    'openWithKey(dir: String, deviceKey' 'func recordSightings' 'func checkIn' 'func sync' 'func status' 'func report'; do
    grep -q "$name" "$scratch/swift/greenlight_mobile.swift" \
        || { echo "mobile.sh: the Swift bindings have no '$name'" >&2; exit 1; }
done

echo "mobile SDK checks took $((SECONDS - started)) s"
