#!/usr/bin/env bash
# Installs Debian's `prometheus` package (prometheus + promtool) for the observability
# tests, when either binary is missing. Idempotent: a machine that has both is left alone.
#
# The tests start their own Prometheus on 127.0.0.1 with a temporary config and storage
# directory, so the system service that the package may start is stopped and disabled.
# Runs as root (CI) or through sudo when it is available.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    echo "install_prometheus: $(prometheus --version 2>&1 | head -n1)"
    exit 0
fi

. "$(dirname "$0")/sudo.sh"
need_root install_prometheus "Debian's 'prometheus' package (prometheus and promtool)"

# Keep the package from starting its service while it is installed (Debian's
# invoke-rc.d honours policy-rc.d exit code 101: "action not allowed"). Only our own
# policy file is removed afterwards; an existing one is left alone.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    OWN_POLICY=1
fi
cleanup() { if [ "$OWN_POLICY" = 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Belt and braces: where systemd or the init script did start it anyway, stop it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/prometheus ]; then
    $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    command -v update-rc.d >/dev/null 2>&1 && { $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true; }
fi

command -v prometheus >/dev/null && command -v promtool >/dev/null
echo "install_prometheus: installed $(prometheus --version 2>&1 | head -n1)"
