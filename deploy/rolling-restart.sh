#!/usr/bin/env bash
# Rolling restarts under load, on loopback, in two setups:
#   1. nginx (deploy/nginx.conf) in front of two `api` instances; each is restarted in turn
#      with SIGTERM (drain delay, then drain) and a fresh start on its port;
#   2. no balancer: `api` instances with --reuse-port hand one port over, old and new
#      process listening together while the old one drains.
# A bounded load (the workspace's `load` client: GETs and POSTs over keep-alive, never
# retried) runs through each. Prints what it saw and ends with "N passed, M failed"; the exit
# status is non-zero when a check failed. Installs nginx from the distribution's packages if
# it is missing. Every process it starts is stopped by PID at the end, also on failure.
#
#   deploy/rolling-restart.sh            (RATE=400 LOAD_SECONDS=20 DRAIN_DELAY_MS=2000)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/common.sh
. deploy/common.sh

RATE=${RATE:-400}
LOAD_SECONDS=${LOAD_SECONDS:-20}
DRAIN_DELAY_MS=${DRAIN_DELAY_MS:-2000}
# Each restart waits this long after the previous one, so the load sees both instances again.
SETTLE_SECONDS=${SETTLE_SECONDS:-4}

work=$(mktemp -d)
pids=()
passed=0
failed=0

cleanup() {
    # Bounded: whatever has not exited within 10 s is killed.
    stop_all "${pids[@]}"
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# start_api NAME PORT [ARGS...]: starts an instance; sets $api_pid and $api_port.
start_api() {
    local name=$1 port=$2
    shift 2
    ./target/debug/api --port "$port" --workers 1 --drain-delay-ms "$DRAIN_DELAY_MS" "$@" \
        >"$work/$name.out" 2>"$work/$name.log" &
    api_pid=$!
    pids+=("$api_pid")
    for _ in $(seq 300); do
        if grep -q '^listening on ' "$work/$name.out" 2>/dev/null; then
            api_port=$(sed -n 's#^listening on http://127.0.0.1:##p' "$work/$name.out")
            return
        fi
        kill -0 "$api_pid" 2>/dev/null || break
        sleep 0.1
    done
    say "instance $name did not start:"
    cat "$work/$name.log" >&2
    exit 1
}

# stop_api PID: SIGTERM, then waits (bounded) for the instance to exit; false if it did not
# exit, or not successfully.
stop_api() {
    local pid=$1
    kill -TERM "$pid"
    for _ in $(seq 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            return
        fi
        sleep 0.1
    done
    return 1
}

load_field() { # load_field FILE NAME: a value of the load's last line
    sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$1" | tail -1
}

# Checks a finished load's report.
check_load() {
    local report=$1
    sed 's/^/    /' "$report"
    check "every request answered 2xx (GET and POST)" \
        test "$(load_field "$report" failed)" = 0 -a "$(load_field "$report" sent)" -gt 0
    check "every request answered within 1 s" test "$(load_field "$report" slowest_ms)" -lt 1000
}

say "building the api example and the load client"
cargo build -q -p examples --bin api -p benches --bin load
command -v nginx >/dev/null || { say "installing nginx from the distribution's packages"; apt_install nginx; }

say
say "== 1. nginx in front of two instances, each restarted in turn"
start_api a 0
a_pid=$api_pid a_port=$api_port
start_api b 0
b_pid=$api_pid b_port=$api_port
nginx_port=$(free_port)
mkdir -p "$work/nginx"
sed -e "s/127.0.0.1:9501/127.0.0.1:$a_port/" -e "s/127.0.0.1:9502/127.0.0.1:$b_port/" \
    -e "s/listen 127.0.0.1:8080/listen 127.0.0.1:$nginx_port/" \
    deploy/nginx.conf >"$work/nginx/nginx.conf"
nginx -p "$work/nginx/" -c nginx.conf -e error.log -g 'daemon off;' &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$nginx_port/health" >/dev/null 2>&1 && break
    sleep 0.1
done
say "instances on $a_port and $b_port, nginx on $nginx_port; ${RATE} requests/s for ${LOAD_SECONDS} s"
./target/debug/load --target "127.0.0.1:$nginx_port" --rate "$RATE" --seconds "$LOAD_SECONDS" \
    >"$work/load-nginx.txt" &
load_pid=$!
pids+=("$load_pid")
sleep "$SETTLE_SECONDS"
say "restarting the instance on $a_port"
check "instance on $a_port drained and exited cleanly" stop_api "$a_pid"
start_api a2 "$a_port"
sleep "$SETTLE_SECONDS"
say "restarting the instance on $b_port"
check "instance on $b_port drained and exited cleanly" stop_api "$b_pid"
start_api b2 "$b_port"
wait "$load_pid"
check_load "$work/load-nginx.txt"
resets=$(grep -cE 'reset by peer|prematurely closed|upstream timed out' "$work/nginx/error.log" || true)
refused=$(grep -c 'Connection refused' "$work/nginx/error.log" || true)
say "    nginx's error log: $refused refused connects (retried on the other instance), $resets resets or early closes"
check "no upstream connection reset or closed under a request" test "$resets" = 0
if [ "$resets" != 0 ]; then
    grep -E 'reset by peer|prematurely closed|upstream timed out' "$work/nginx/error.log" | sed 's/^/    /'
fi

say
say "== 2. one port, no balancer: old and new process share it (reuse_port)"
start_api c 0 --reuse-port
c_pid=$api_pid port=$api_port
say "instance on $port; ${RATE} requests/s for ${LOAD_SECONDS} s"
./target/debug/load --target "127.0.0.1:$port" --rate "$RATE" --seconds "$LOAD_SECONDS" \
    >"$work/load-reuse-port.txt" &
load_pid=$!
pids+=("$load_pid")
sleep "$SETTLE_SECONDS"
say "handing port $port to a new process"
start_api d "$port" --reuse-port
d_pid=$api_pid
check "old process drained and exited cleanly" stop_api "$c_pid"
sleep "$SETTLE_SECONDS"
say "handing port $port to another new process"
start_api e "$port" --reuse-port
check "old process drained and exited cleanly" stop_api "$d_pid"
wait "$load_pid"
check_load "$work/load-reuse-port.txt"

say
say "$passed passed, $failed failed"
test "$failed" = 0
