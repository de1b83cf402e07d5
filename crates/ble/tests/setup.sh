#!/usr/bin/env bash
# Installs what the BlueZ tests of crates/ble need on a Debian machine: a
# dbus-daemon to run a private system bus, and python3-dbusmock (for the
# system Python, /usr/bin/python3) to stand in for bluetoothd on it.
# Nothing else: libdbus itself is compiled from source by the `dbus` crate
# (its `vendored` feature). Idempotent; does nothing when both are present.
set -euo pipefail

present() {
    command -v dbus-daemon >/dev/null 2>&1 && /usr/bin/python3 -c 'import dbusmock' >/dev/null 2>&1
}

if present; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "crates/ble/tests/setup.sh: installing dbus-daemon and python3-dbusmock" >&2
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends dbus-daemon python3-dbusmock >/dev/null

if ! present; then
    echo "crates/ble/tests/setup.sh: dbus-daemon or python3-dbusmock is still missing" >&2
    exit 1
fi
