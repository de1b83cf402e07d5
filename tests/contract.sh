#!/usr/bin/env bash
# The HTTP contract, from outside: Schemathesis generates requests from
# spec/openapi.json against the real `greenlight-server` (key server and
# health authority in one process, embedded SQLite) and checks that no
# answer is a 5xx and every answer matches the document (status code,
# content type, headers, body schema). Bounded in time; a fixed seed, so a
# run is reproducible (SCHEMATHESIS_SEED changes it).
#
# Installs Schemathesis from PyPI into a private virtualenv once
# (~/.cache/greenlight). Expects the server binary built (`cargo build
# --bins`; tests/run.sh has built it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=4.32.5
venv="${HOME}/.cache/greenlight/schemathesis-${version}"
if [ ! -x "${venv}/bin/schemathesis" ]; then
    rm -rf "${venv}"
    if ! python3 -m venv "${venv}" 2>/dev/null; then
        # Debian's python3 needs its venv module as a package.
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        rm -rf "${venv}"
        python3 -m venv "${venv}"
    fi
    "${venv}/bin/pip" install --quiet "schemathesis==${version}"
fi

server="${CARGO_TARGET_DIR:-target}/debug/greenlight-server"
[ -x "${server}" ] || cargo build --quiet --locked -p greenlight-server --bin greenlight-server
scratch=$(mktemp -d)
pid=""
cleanup() {
    [ -n "${pid}" ] && kill "${pid}" 2>/dev/null && wait "${pid}" 2>/dev/null
    rm -rf "${scratch}"
}
trap cleanup EXIT
echo "a long contract-test password" | "${server}" authority init --data-dir "${scratch}/data" --password-stdin >/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
GREENLIGHT_LOG=warn "${server}" --data-dir "${scratch}/data" --listen "127.0.0.1:${port}" 2>"${scratch}/server.log" &
pid=$!
python3 - "${port}" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/health"
for _ in range(300):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(f"{url} did not answer within 30 s")
PY

# Run from the scratch directory: Schemathesis keeps its example database
# in the working directory.
(cd "${scratch}" && "${venv}/bin/schemathesis" run "${OLDPWD}/spec/openapi.json" \
    --url "http://127.0.0.1:${port}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-time "${CONTRACT_SECONDS:-45}" --workers 2 --seed "${SCHEMATHESIS_SEED:-1}" --no-color)
if grep -q " ERROR \|panicked" "${scratch}/server.log"; then
    echo "the server logged errors during the contract run:" >&2
    cat "${scratch}/server.log" >&2
    exit 1
fi
