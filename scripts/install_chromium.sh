#!/usr/bin/env bash
# Installs Debian's `chromium` package for the run-report tests (tests/test_report.py
# opens the report in real headless Chromium through Playwright, which is given
# /usr/bin/chromium: Playwright's own browser download is never used, so nothing but
# Debian's packages is fetched). Idempotent: a machine that has it is left alone.
# Runs as root (CI) or through sudo when it is available.
set -euo pipefail

BIN=/usr/bin/chromium
if [ -x "$BIN" ]; then
    echo "install_chromium: $("$BIN" --version 2>/dev/null | head -n1)"
    exit 0
fi

. "$(dirname "$0")/sudo.sh"
need_root install_chromium "Debian's 'chromium' package ($BIN)"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Recommends bring fonts; without any font the report's text would not render at all.
$SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null

[ -x "$BIN" ]
echo "install_chromium: installed $("$BIN" --version 2>/dev/null | head -n1)"
