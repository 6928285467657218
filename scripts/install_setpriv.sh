#!/usr/bin/env bash
# Makes sure `setpriv` (util-linux) is there: tests/test_sandbox_jail.py re-runs the jail's
# tests with every capability dropped through it (how an unprivileged pod runs), and skips
# that run without it. util-linux is essential on Debian, so this is almost always a no-op.
# Idempotent; runs as root (CI) or through sudo when it is available.
set -euo pipefail

if command -v setpriv >/dev/null; then
    exit 0
fi

. "$(dirname "$0")/sudo.sh"
need_root install_setpriv "Debian's 'util-linux' package (setpriv)"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq util-linux >/dev/null
command -v setpriv >/dev/null
