#!/usr/bin/env bash
# Data through a rolling restart: two `todo` instances (release build) on a throwaway
# PostgreSQL cluster, behind nginx (deploy/nginx.conf), each restarted in turn with SIGTERM
# (drain delay, then drain) and a fresh start on its port while a paced client sends POSTs and
# GETs through nginx, never retried. Then the database is read with psql and compared with what
# the client was told:
#   - every `201` the client got is a row with that id and that title (no acknowledged write
#     lost);
#   - every row's title is one the client sent, once (no row nobody asked for). A POST that
#     timed out or failed without an answer may or may not have taken effect: its row is
#     counted apart, "unacknowledged but present", and is not a failure.
# Ends with "N passed, M failed"; the exit status is non-zero when a check failed.
#
# Installs PostgreSQL and nginx from the distribution's packages if they are missing. The
# cluster lives in a temporary folder, on a free port of 127.0.0.1, trust authentication, and
# runs as an unprivileged user (PostgreSQL refuses to run as root): the invoking user, or when
# that is root, PG_USER (default: `postgres` if it exists, else `nobody`, else a system user
# created for it). Every process it starts is stopped by PID at the end, also on failure, and
# the folder is removed.
#
#   deploy/todo-postgres.sh      (RATE=100 LOAD_SECONDS=20 DRAIN_DELAY_MS=2000 CONNECTIONS=4)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/common.sh
. deploy/common.sh

RATE=${RATE:-100}
LOAD_SECONDS=${LOAD_SECONDS:-20}
DRAIN_DELAY_MS=${DRAIN_DELAY_MS:-2000}
CONNECTIONS=${CONNECTIONS:-4}
WORKERS=${WORKERS:-2}
# Each restart waits this long after the previous one, so the load sees both instances again.
SETTLE_SECONDS=${SETTLE_SECONDS:-5}
# How long the client waits for an answer before it counts the request as timed out.
ANSWER_WITHIN_SECONDS=${ANSWER_WITHIN_SECONDS:-2}

work=$(mktemp -d)
pids=()
pg_pid=
passed=0
failed=0

cleanup() {
    stop_all "${pids[@]}"
    # The database last, once nothing uses it. SIGINT is PostgreSQL's fast shutdown (SIGTERM
    # would wait for clients to disconnect); its own processes follow the postmaster out.
    if [ -n "$pg_pid" ]; then
        stop_pid "$pg_pid" INT
    fi
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Prints the folder of PostgreSQL's server programs (initdb, pg_ctl, postgres): the one of
# pg_ctl on PATH, else Debian's layout (/usr/lib/postgresql/VERSION/bin, the newest), which
# does not put them on PATH.
find_pg_bin() {
    local found
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    found=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)
    if [ -x "$found" ]; then
        dirname "$found"
        return
    fi
    return 1
}

# as_pg COMMAND...: runs COMMAND as the cluster's user, from the work folder (its only
# accessible folder when that user is `nobody`).
as_pg() {
    if [ "$(id -u)" != 0 ]; then
        (cd "$work" && "$@")
    elif command -v runuser >/dev/null; then
        (cd "$work" && runuser -u "$pg_user" -- "$@")
    else
        (cd "$work" && su -s /bin/sh "$pg_user" -c "$(printf '%q ' "$@")")
    fi
}

sql() { # sql STATEMENT: runs it on the test database, unaligned, tuples only
    "$psql" -X -q -v ON_ERROR_STOP=1 -At -h 127.0.0.1 -p "$pg_port" -U postgres -d todo -c "$1"
}

# start_todo NAME PORT: starts an instance on PORT, waits until it answers; sets $todo_pid.
start_todo() {
    local name=$1 port=$2
    ./target/release/todo --port "$port" --workers "$WORKERS" --database-url "$database_url" \
        --drain-delay-ms "$DRAIN_DELAY_MS" >"$work/$name.out" 2>"$work/$name.log" &
    todo_pid=$!
    pids+=("$todo_pid")
    for _ in $(seq 300); do
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/todos?limit=1" 2>/dev/null; then
            return
        fi
        kill -0 "$todo_pid" 2>/dev/null || break
        sleep 0.1
    done
    say "instance $name did not start on port $port:"
    cat "$work/$name.out" "$work/$name.log" >&2
    exit 1
}

# stop_todo PID: SIGTERM, then waits (bounded) for the instance to exit; false if it did not
# exit, or not successfully.
stop_todo() {
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

field() { # field FILE NAME: a value of the last `name=value …` line of FILE
    sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$1" | tail -1
}

# The client: paced POSTs and GETs over keep-alive connections, never retried. Writes what
# every POST got to a JSON file for the check against the database.
cat >"$work/client.py" <<'PY'
import http.client, json, random, socket, sys, threading, time

host, port, rate, seconds, connections, within, out = sys.argv[1:]
port, rate, seconds, connections, within = int(port), float(rate), float(seconds), int(connections), float(within)
run = "run-%08x" % random.getrandbits(32)
start = time.monotonic()
lock = threading.Lock()
posts = []  # one {"title", "outcome", "status", "id"} per POST sent
gets = {"sent": 0, "ok": 0, "statuses": {}, "wrong": 0, "timeouts": 0, "errors": {}}
slowest = [0.0]

def request(conn, method, path, body=None):
    """(status, body) or (None, "timeout") or (None, error name); never retried."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    began = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    except socket.timeout:  # TimeoutError since 3.10, a subclass of OSError: first
        conn.close()
        return None, "timeout"
    except (OSError, http.client.HTTPException) as error:
        # A reset, a refused connect, an end of stream before the whole response.
        conn.close()
        return None, type(error).__name__
    finally:
        with lock:
            slowest[0] = max(slowest[0], time.monotonic() - began)

def post(conn, title, known):
    status, body = request(conn, "POST", "/todos", json.dumps({"title": title}))
    record = {"title": title, "status": status, "id": None}
    if status is None:
        record["outcome"] = "timeout" if body == "timeout" else "error:" + body
    elif status == 201:
        try:
            todo = json.loads(body)
            ok = type(todo["id"]) is int and todo["title"] == title and todo["done"] is False
        except (ValueError, KeyError, TypeError):
            ok = False
        # A 201 whose body does not describe what was sent is acknowledged, but with no id
        # to look for: it counts as another status.
        record["outcome"] = "201" if ok else "201 with a wrong body"
        if ok:
            record["id"] = todo["id"]
            known.append((todo["id"], title))
    else:
        record["outcome"] = "status %d" % status
    with lock:
        posts.append(record)

def get(conn, known, n):
    # Mostly one of this connection's acknowledged todos (it must be there, with its title);
    # every fifth a page of the list.
    if n % 5 == 0 or not known:
        path, expect = "/todos?limit=5&offset=0", None
    else:
        expect = random.choice(known)
        path = "/todos/%d" % expect[0]
    status, body = request(conn, "GET", path)
    with lock:
        gets["sent"] += 1
        if status is None and body == "timeout":
            gets["timeouts"] += 1
        elif status is None:
            gets["errors"][body] = gets["errors"].get(body, 0) + 1
        elif status != 200:
            gets["statuses"][str(status)] = gets["statuses"].get(str(status), 0) + 1
        else:
            try:
                value = json.loads(body)
                ok = isinstance(value, list) if expect is None else (
                    value["id"] == expect[0] and value["title"] == expect[1])
            except (ValueError, KeyError, TypeError):
                ok = False
            gets["ok" if ok else "wrong"] += 1

def drive(n):
    # Each connection sends every `interval`, alternating POST and GET, the connections
    # evenly staggered; a late request is sent at once, not skipped, but none starts after
    # the end, so that a slow server cannot stretch the run.
    interval = connections / rate
    at = start + interval * n / connections
    end = start + seconds
    conn = http.client.HTTPConnection(host, port, timeout=within)
    known, i = [], 0
    while at < end and time.monotonic() < end:
        time.sleep(max(0.0, at - time.monotonic()))
        if i % 2 == 0:
            post(conn, "%s-%d-%d" % (run, n, i), known)
        else:
            get(conn, known, i // 2)
        at += interval
        i += 1
    conn.close()

threads = [threading.Thread(target=drive, args=(n,)) for n in range(connections)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()

def tally(counts):
    return ", ".join("%s: %d" % item for item in sorted(counts.items())) or "none"

outcomes = {}
for record in posts:
    outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
created = outcomes.pop("201", 0)
timeouts = outcomes.pop("timeout", 0)
errors = {k: v for k, v in outcomes.items() if k.startswith("error:")}
others = {k: v for k, v in outcomes.items() if not k.startswith("error:")}
print("POSTs sent: %d; 201: %d; other statuses: %d (%s); timeouts: %d; errors: %d (%s)" % (
    len(posts), created, sum(others.values()), tally(others), timeouts, sum(errors.values()), tally(errors)))
print("GETs sent: %d; OK: %d; other statuses: %d (%s); 200 with a wrong body: %d; timeouts: %d; errors: %d (%s)" % (
    gets["sent"], gets["ok"], sum(gets["statuses"].values()), tally(gets["statuses"]), gets["wrong"],
    gets["timeouts"], sum(gets["errors"].values()), tally(gets["errors"])))
print("slowest answer: %d ms; the load took %.1f s" % (slowest[0] * 1000, time.monotonic() - start))
print("posts=%d created=%d gets=%d gets_ok=%d unanswered=%d" % (
    len(posts), created, gets["sent"], gets["ok"],
    len(posts) - created + gets["sent"] - gets["ok"]))
with open(out, "w") as f:
    json.dump(posts, f)
PY

# The comparison of the client's record with the rows (CSV: id,title).
cat >"$work/compare.py" <<'PY'
import csv, json, sys

with open(sys.argv[1]) as f:
    posts = json.load(f)
with open(sys.argv[2], newline="") as f:
    rows = [(int(id), title) for id, title in csv.reader(f)]

by_id = {}
for id, title in rows:
    by_id[id] = title
sent = {p["title"] for p in posts}
acknowledged = [p for p in posts if p["outcome"] == "201"]
unacknowledged = {p["title"] for p in posts if p["outcome"] != "201"}

lost = [p for p in acknowledged if by_id.get(p["id"]) != p["title"]]
seen, foreign = set(), []
for id, title in rows:
    # A title nobody sent, or one sent once that is there twice.
    if title not in sent or title in seen:
        foreign.append((id, title))
    seen.add(title)
present_unacked = sorted(unacknowledged & seen)

print("rows in the database: %d; acknowledged POSTs: %d, of them missing or changed: %d" % (
    len(rows), len(acknowledged), len(lost)))
print("rows the client did not ask for: %d; unacknowledged but present: %d of %d unacknowledged" % (
    len(foreign), len(present_unacked), len(unacknowledged)))
for p in lost[:10]:
    print("  lost: id %s, title %r, in the database: %r" % (p["id"], p["title"], by_id.get(p["id"])))
for id, title in foreign[:10]:
    print("  not asked for: id %s, title %r" % (id, title))
print("rows=%d lost=%d foreign=%d unacknowledged_present=%d" % (
    len(rows), len(lost), len(foreign), len(present_unacked)))
PY

say "building the todo example (release)"
cargo build -q --release -p examples --bin todo
# The build (often a no-op) is left out of the time the script reports.
built_at=$SECONDS
command -v nginx >/dev/null || { say "installing nginx"; apt_install nginx; }
if ! pg_bin=$(find_pg_bin); then
    say "installing PostgreSQL"
    apt_install postgresql
    pg_bin=$(find_pg_bin)
fi
# psql beside the server programs, else the one on PATH (Debian's wrapper).
psql="$pg_bin/psql"
[ -x "$psql" ] || psql=$(command -v psql)

say
say "== PostgreSQL ($("$pg_bin/postgres" --version)) in a throwaway cluster"
if [ "$(id -u)" = 0 ]; then
    pg_user=${PG_USER:-}
    if [ -z "$pg_user" ]; then
        for candidate in postgres nobody; do
            if id "$candidate" >/dev/null 2>&1; then
                pg_user=$candidate
                break
            fi
        done
    fi
    if [ -z "$pg_user" ]; then
        pg_user=hyperf-pg
        id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home "$pg_user"
    fi
    chown "$pg_user" "$work"
else
    pg_user=$(id -un)
fi
pg_port=$(free_port)
as_pg "$pg_bin/initdb" -D "$work/pgdata" -U postgres --auth=trust --encoding=UTF8 --no-instructions \
    >"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
# TCP on loopback only, no Unix socket (its default folder may not exist or not be writable
# by this user); trust, as initdb set it, for local connections only.
cat >>"$work/pgdata/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = ''
EOF
as_pg "$pg_bin/pg_ctl" -D "$work/pgdata" -l "$work/postgres.log" -w -t 30 start >/dev/null ||
    { cat "$work/postgres.log" >&2; exit 1; }
pg_pid=$(head -1 "$work/pgdata/postmaster.pid")
"$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres \
    -c 'CREATE DATABASE todo'
database_url="postgres://postgres@127.0.0.1:$pg_port/todo"
say "cluster as user $pg_user on 127.0.0.1:$pg_port (postmaster $pg_pid): $(sql 'SELECT version()' | cut -d, -f1)"

say
say "== two todo instances behind nginx, each restarted in turn under paced POSTs and GETs"
a_port=$(free_port)
b_port=$(free_port)
# The first instance creates the schema; the second starts once it is there.
start_todo a "$a_port"
a_pid=$todo_pid
start_todo b "$b_port"
b_pid=$todo_pid
nginx_port=$(free_port)
mkdir -p "$work/nginx"
# The same rewrite of deploy/nginx.conf's ports as deploy/rolling-restart.sh.
sed -e "s/127.0.0.1:9501/127.0.0.1:$a_port/" -e "s/127.0.0.1:9502/127.0.0.1:$b_port/" \
    -e "s/listen 127.0.0.1:8080/listen 127.0.0.1:$nginx_port/" \
    deploy/nginx.conf >"$work/nginx/nginx.conf"
nginx -p "$work/nginx/" -c nginx.conf -e error.log -g 'daemon off;' &
nginx_pid=$!
pids+=("$nginx_pid")
for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/todos?limit=1" 2>/dev/null && break
    sleep 0.1
done
say "instances on $a_port and $b_port ($WORKERS workers, --drain-delay-ms $DRAIN_DELAY_MS), nginx on $nginx_port"
say "${RATE} requests/s (half POST, half GET) over $CONNECTIONS connections for ${LOAD_SECONDS} s"
python3 "$work/client.py" 127.0.0.1 "$nginx_port" "$RATE" "$LOAD_SECONDS" "$CONNECTIONS" \
    "$ANSWER_WITHIN_SECONDS" "$work/posts.json" >"$work/client.txt" &
client_pid=$!
pids+=("$client_pid")
sleep "$SETTLE_SECONDS"
say "restarting the instance on $a_port"
check "instance on $a_port drained and exited cleanly" stop_todo "$a_pid"
start_todo a2 "$a_port"
sleep "$SETTLE_SECONDS"
say "restarting the instance on $b_port"
check "instance on $b_port drained and exited cleanly" stop_todo "$b_pid"
start_todo b2 "$b_port"
if ! wait "$client_pid"; then
    say "the client failed"
    exit 1
fi
sed 's/^/    /' "$work/client.txt"
resets=$(grep -cE 'reset by peer|prematurely closed|upstream timed out' "$work/nginx/error.log" || true)
refused=$(grep -c 'Connection refused' "$work/nginx/error.log" || true)
say "    nginx's error log: $refused refused connects (retried on the other instance), $resets resets or early closes"
if [ "$resets" != 0 ]; then
    grep -E 'reset by peer|prematurely closed|upstream timed out' "$work/nginx/error.log" | sed 's/^/    /'
fi
check "every request answered (POST 201, GET 200 with what was written), none timed out" \
    test "$(field "$work/client.txt" unanswered)" = 0 -a "$(field "$work/client.txt" posts)" -gt 0

say
say "== the database against what the client was told"
# The schema is the example's: the table is the one with an `id` and a `title` column.
table=$(sql "SELECT quote_ident(table_name) FROM information_schema.columns
             WHERE table_schema = current_schema() AND column_name IN ('id', 'title')
             GROUP BY table_name HAVING count(*) = 2")
if [ -z "$table" ] || [ "$(printf '%s\n' "$table" | wc -l)" != 1 ]; then
    say "no single table with an id and a title column: '$table'"
    exit 1
fi
sql "COPY (SELECT id, title FROM $table) TO STDOUT WITH (FORMAT csv)" >"$work/rows.csv"
python3 "$work/compare.py" "$work/posts.json" "$work/rows.csv" >"$work/compare.txt"
sed 's/^/    /' "$work/compare.txt"
check "every 201 is a row with that id and title (0 acknowledged writes lost)" \
    test "$(field "$work/compare.txt" lost)" = 0 -a "$(field "$work/client.txt" created)" -gt 0
check "no row the client did not ask for" test "$(field "$work/compare.txt" foreign)" = 0

say
say "took $((SECONDS - built_at)) s after the build"
say "$passed passed, $failed failed"
test "$failed" = 0
