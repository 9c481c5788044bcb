#!/usr/bin/env bash
# The `chat` example (release build) against real clients, on loopback:
#   - Python's `websockets` (from PyPI): two clients in one room, each one's message reaching
#     the other as JSON {"room","from","text"}; a handshake of version 12 refused with 426
#     and Sec-WebSocket-Version: 13;
#   - curl -N following /events?room=…: a WebSocket's message in that room arrives as an
#     `event: message` with its `data:` line;
#   - headless Chromium opening the page at /, joining a room with the page's own controls and
#     exchanging messages with a `websockets` client: they show in the page's WebSocket and
#     event-stream lists (Chromium driven over its DevTools protocol);
#   - the example then stops on SIGTERM with no connection forced.
# The clients are deploy/real_clients/chat_clients.py, one check per run, each bounded by its
# own timeouts and by `timeout`. Ends with "N passed, M failed"; the exit status is non-zero
# when a check failed.
#
# Installs what is missing: curl and chromium from the distribution's packages (python3-venv
# too if `python3 -m venv` fails), and `websockets` from PyPI into a virtual environment under
# target/real-clients/. The example runs on a port the kernel picks; it is stopped by PID at
# the end, also on failure, and so are the clients' curl and Chromium (by the client script).
#
#   deploy/real-clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/common.sh
. deploy/common.sh

# How long one client check may run before it is ended (its own waits are shorter).
CHECK_SECONDS=${CHECK_SECONDS:-120}
VENV=target/real-clients/venv

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

# client CHECK: runs one check of the client script against the example, bounded.
client() {
    timeout -k 5 "$CHECK_SECONDS" "$VENV/bin/python" deploy/real_clients/chat_clients.py "$1" "$base"
}

# stop_chat: SIGTERM, then waits (bounded) for the example to exit; false if it did not exit,
# exited unsuccessfully, or forced a connection closed.
stop_chat() {
    kill -TERM "$chat_pid"
    for _ in $(seq 100); do
        if ! kill -0 "$chat_pid" 2>/dev/null; then
            wait "$chat_pid" || return 1
            grep -q '^shut down: 0 connections forced' "$work/chat.out"
            return
        fi
        sleep 0.1
    done
    return 1
}

say "building the chat example (release)"
cargo build -q --release -p examples --bin chat
# The build (often a no-op) is left out of the time the script reports.
built_at=$SECONDS
command -v curl >/dev/null || { say "installing curl"; apt_install curl; }
command -v chromium >/dev/null || { say "installing chromium"; apt_install chromium; }
if [ ! -x "$VENV/bin/python" ]; then
    say "creating a virtual environment in $VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
fi
if ! "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
    say "installing websockets from PyPI"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check 'websockets>=15,<17'
fi

./target/release/chat --port 0 --workers 2 >"$work/chat.out" 2>"$work/chat.log" &
chat_pid=$!
pids+=("$chat_pid")
base=
for _ in $(seq 300); do
    if grep -q '^listening on ' "$work/chat.out" 2>/dev/null; then
        base=$(sed -n 's#^listening on \(http://127.0.0.1:[0-9]*\).*#\1#p' "$work/chat.out")
        break
    fi
    kill -0 "$chat_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$base" ]; then
    say "the chat example did not start:"
    cat "$work/chat.out" "$work/chat.log" >&2
    exit 1
fi

say
say "== the chat example on $base"
say "    $("$VENV/bin/python" --version), websockets $("$VENV/bin/python" -c 'import websockets; print(websockets.__version__)')"
say "    $(curl --version | head -1 | cut -d' ' -f1-2)"
say "    $(chromium --version 2>/dev/null)"
check "websockets: two clients in one room; each message reaches the other as JSON {room, from, text}" \
    client room
check "websockets: a version 12 handshake is refused with 426 and Sec-WebSocket-Version: 13" \
    client version
check "curl -N: /events?room=… delivers a WebSocket's message in that room as an SSE data: line" \
    client events
check "headless Chromium: the page at / exchanges messages by WebSocket and by server-sent events" \
    client chromium
check "the example stops on SIGTERM with 0 connections forced" stop_chat

say
say "took $((SECONDS - built_at)) s after the build"
say "$passed passed, $failed failed"
test "$failed" = 0
