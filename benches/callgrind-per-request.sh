#!/usr/bin/env bash
# Instructions per request of one server of the `http` bench, counted by callgrind: stable
# where requests/s swing with the machine's load.
#
#   benches/callgrind-per-request.sh ours|ours-full|minihttp|actix [DEPTH] [SECONDS]
#
# Builds the bench, starts the server role under callgrind, warms it for 3 s with the bench's
# own load generator (DEPTH-deep pipelining on 64 connections, default 16), zeroes the counters,
# loads it for SECONDS (default 10) and divides the instructions counted since by the requests
# answered. With CALLGRIND_OUT=FILE the profile of the loaded period is kept there, for
# `callgrind_annotate FILE`. Needs valgrind (Debian package `valgrind`).
# `actix` (actix-web on tokio, three threads) needs no other valgrind options: it counts the
# same with `VALGRIND_OPTS=--fair-sched=yes`.
set -euo pipefail

role=${1:?usage: $0 ours|ours-full|minihttp|actix [DEPTH] [SECONDS]}
depth=${2:-16}
seconds=${3:-10}
cd "$(dirname "$0")/.."

# The `http` bench's own executable: the package's binaries (`load`, `todo_axum`, …) are
# built alongside it and listed too.
bin=$(cargo bench -p benches --bench http --no-run --message-format=json 2>/dev/null |
    grep '"kind":\["bench"\]' | grep '"name":"http"' |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill -9 "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

HTTP_BENCH_ROLE=$role valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" \
    >"$work/stdout" 2>"$work/stderr" &
server=$!
for _ in $(seq 1 120); do
    grep -q listening "$work/stdout" && break
    sleep 0.5
done
address=$(awk '/listening/ {print $2}' "$work/stdout")
if [ -z "$address" ]; then
    # Say why: valgrind's and the server's own words, not only that it failed.
    echo "the server did not start within 60 s; its stderr ends:" >&2
    tail -n 20 "$work/stderr" >&2
    exit 1
fi

HTTP_BENCH_ROLE=load "$bin" "$address" "$depth" 3 >/dev/null
callgrind_control -z "$server" >/dev/null 2>&1
per_second=$(HTTP_BENCH_ROLE=load "$bin" "$address" "$depth" "$seconds" | awk '{print $1}')
callgrind_control -d "$server" >/dev/null 2>&1
sleep 1
instructions=$(grep -h '^summary:' "$work"/out.* | tail -1 | awk '{print $2}')
requests=$((per_second * seconds))
if [ -n "${CALLGRIND_OUT:-}" ]; then
    cp "$(ls "$work"/out.* | tail -1)" "$CALLGRIND_OUT"
fi
echo "$role: $requests requests, $instructions instructions, $((instructions / requests)) per request"
