# Sourced by the install scripts: sets SUDO to "" (root) or "sudo", or exits with a one-line
# message naming what is missing when neither is possible.
# usage: need_root NAME WHAT_TO_INSTALL
need_root() {
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo"
        else
            echo "$1: $2 missing and not root (no sudo): install it by hand" >&2
            exit 1
        fi
    fi
}
