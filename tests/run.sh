#!/usr/bin/env bash
# Runs every check CI runs. Safe on a fresh machine: it installs and starts
# what is missing (Rust components, a PostgreSQL for the server suite,
# python3-dbusmock for the Bluetooth suite, Chromium for the portal), here
# and nowhere else.
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

# The key server's suite runs on SQLite and on a real PostgreSQL. Use the
# one given in GREENLIGHT_TEST_POSTGRES, else the machine's on 127.0.0.1:5432,
# installing and starting one if there is none.
step "PostgreSQL"
if [ -z "${GREENLIGHT_TEST_POSTGRES:-}" ]; then
    as_postgres() { su postgres -s /bin/sh -c "$*"; }
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        if ! command -v pg_ctlcluster >/dev/null 2>&1; then
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        fi
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        pg_ctlcluster --skip-systemctl-redirect "$version" main start
        for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
    url="postgres://postgres@127.0.0.1:5432/test"
    if ! psql "$url" -qtAc 'SELECT 1' >/dev/null 2>&1; then
        # A fresh Debian cluster wants a password over TCP: set one, and
        # make sure the database exists.
        as_postgres "psql -qc \"ALTER USER postgres PASSWORD 'greenlight'\"" >/dev/null
        as_postgres "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\" | grep -q 1 || createdb test"
        url="postgres://postgres:greenlight@127.0.0.1:5432/test"
    fi
    psql "$url" -qtAc 'SELECT 1' >/dev/null
    export GREENLIGHT_TEST_POSTGRES="$url"
fi
echo "using PostgreSQL at ${GREENLIGHT_TEST_POSTGRES##*@}"

# The poster sheets' test renders the PDF with poppler's pdftoppm.
step "poppler-utils"
if ! command -v pdftoppm >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi
echo "pdftoppm at $(command -v pdftoppm)"

# Posters print their text in the installed fonts: Noto Sans CJK for
# Chinese names (the poster tests check it), DejaVu Sans for Latin.
step "fonts"
if [ ! -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-noto-cjk fonts-dejavu-core >/dev/null
fi
ls /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf

step "format"
cargo fmt --all --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p greenlight-ble --all-targets --all-features --locked -- -D warnings

# Licenses, duplicate versions and sources of every dependency (deny.toml).
# Advisories need the RustSec database, which is fetched from GitHub: they
# are checked only when a copy is already on this machine.
step "dependencies"
if ! cargo deny --version >/dev/null 2>&1; then
    started=$SECONDS
    # A debug build: a third of the compile time, and the check still takes seconds.
    cargo install --locked --debug cargo-deny
    echo "installed cargo-deny in $((SECONDS - started)) s"
fi
started=$SECONDS
cargo deny --locked check --hide-inclusion-graph licenses bans sources
if compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/*" >/dev/null; then
    cargo deny --locked check --disable-fetch advisories
else
    echo "advisories: skipped (no RustSec database on this machine; 'cargo deny fetch' downloads one)"
fi
echo "dependency check took $((SECONDS - started)) s"

step "tests"
# The BlueZ backend is tested against python3-dbusmock on a private D-Bus;
# the staff portal in a real headless Chromium.
bash crates/ble/tests/setup.sh
bash server/tests/setup-chromium.sh
cargo test -p greenlight-ble --all-features --locked
cargo test --workspace --locked

# The mobile SDK (issue 17): the resident's story in Python (the wheel
# pip-installed into a fresh venv) and in Kotlin on the JVM (JNA), against
# the real binaries, on the library the test step just built; installs the
# Kotlin compiler (npm), JNA (Debian) and pytest when missing.
step "mobile SDK"
bash tests/mobile.sh

# The HTTP contract from outside: Schemathesis against the real server,
# generated from spec/openapi.json (no 5xx, every answer as documented).
step "contract"
bash tests/contract.sh

# The benchmark runner itself (issue 21 item 22): every benchmark built on
# the test build's artifacts (dev profile), its executable resolved and run
# once at the smallest sizes. CI never judges the figures, only that the
# runner and every benchmark work; `bench/run` gives the figures.
step "benchmarks (dry run)"
bash bench/run --dry-run

# Every parser under libFuzzer for a few seconds each, from the seed corpus
# of spec/vectors (fuzz/run.sh prints what it cost).
step "fuzz"
# FUZZ_JSON=1: the server's JSON bodies too (publish through the key
# server's own validation, verify, certificate), so every parser of
# untrusted input is fuzzed, as spec/attack-matrix.md says.
FUZZ_JSON="${FUZZ_JSON-1}" FUZZ_SECONDS="${FUZZ_SECONDS:-5}" bash fuzz/run.sh

