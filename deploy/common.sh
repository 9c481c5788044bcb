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

stop_pid() { # stop_pid PID SIGNAL: sends SIGNAL, waits up to 10 s for the process to go, then SIGKILL
    local pid=$1 signal=$2
    kill "-$signal" "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

stop_all() { # stop_all PID...: SIGTERM to all at once, then each is waited for (bounded) as stop_pid does
    local pid
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "$@"; do
        stop_pid "$pid" TERM
    done
}
