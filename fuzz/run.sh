#!/usr/bin/env bash
# Builds every fuzz target and runs each briefly from the seed corpus of
# spec/vectors (fuzz/seeds.py). What CI runs; prints what it cost.
#
#   bash fuzz/run.sh                    # every byte-format target, FUZZ_SECONDS (10) each
#   FUZZ_JSON=1 bash fuzz/run.sh        # also the server's JSON bodies (builds the server)
#   FUZZ_SECONDS=600 bash fuzz/run.sh poster certificate
#
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the pinned stable
# toolchain accept them. The code is forbid(unsafe_code), so no sanitizer:
# what the fuzzer looks for is panics (a parser must return errors) and
# broken round trips (one encoding per value). A crash leaves its input in
# fuzz/artifacts/TARGET/; fix it and copy the input to
# fuzz/regressions/TARGET/ so every later run starts from it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-10}

if ! cargo fuzz --version >/dev/null 2>&1; then
    started=$SECONDS
    cargo install --locked --debug cargo-fuzz
    echo "installed cargo-fuzz in $((SECONDS - started)) s"
fi

cargo fmt --check
features=()
if [ -n "${FUZZ_JSON:-}" ]; then
    features=(--features json)
fi
started=$SECONDS
cargo fuzz build --sanitizer none "${features[@]}"
echo "built the fuzz targets in $((SECONDS - started)) s"

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
python3 seeds.py "$corpus"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
    if [ -z "${FUZZ_JSON:-}" ]; then
        mapfile -t targets < <(printf '%s\n' "${targets[@]}" | grep -v '^json_')
    fi
fi
total=0
started=$SECONDS
for target in "${targets[@]}"; do
    log="$corpus/$target.log"
    if ! cargo fuzz run --sanitizer none "${features[@]}" "$target" "$corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed: its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    total=$((total + runs))
    printf '%-18s %9d runs\n' "$target" "$runs"
done
echo "fuzzed ${#targets[@]} targets, $total runs in $((SECONDS - started)) s; no crash"
