# shellcheck shell=bash
# What the deploy scripts share; sourced, never run. The script that sources it sets
# `passed=0` and `failed=0` before its first `check`.

say() { printf '%s\n' "$*"; }

check() { # check DESCRIPTION COMMAND...: runs COMMAND, counts and reports it
    local what=$1
    shift
    if "$@"; then
        say "  pass: $what"
        passed=$((passed + 1))
    else
        say "  FAIL: $what"
        failed=$((failed + 1))
    fi
}

apt_install() { # apt_install PACKAGE: from the distribution, without starting its own service
    # RUNLEVEL=1: the package must not start the system's own server (port 80, 5432).
    if ! RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null; then
        apt-get update -qq
        RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
    fi
}

free_port() { # a port of 127.0.0.1 nothing listens on: the kernel picks it
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
