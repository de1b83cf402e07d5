#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the portal's browser test
# (server/tests/portal_browser.rs) if either is missing. Idempotent and
# non-interactive; safe to run on every CI start.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "chromium and chromedriver are installed"
    exit 0
fi

echo "installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
else
    sudo=
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
echo "installed: $(chromium --version 2>/dev/null | head -n 1); $(chromedriver --version | head -n 1)"
