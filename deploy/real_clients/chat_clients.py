"""Real clients against a running `chat` example: Python's `websockets`, curl and headless
Chromium (driven over the DevTools protocol, with `websockets` too).

    python chat_clients.py CHECK BASE_URL      (BASE_URL: http://127.0.0.1:PORT)

CHECK is one of:
  room      two `websockets` clients in one room: each one's message reaches the other as
            JSON {"room", "from", "text"} (and comes back to its sender)
  version   a `websockets` handshake claiming version 12 is refused: 426 with
            Sec-WebSocket-Version: 13
  events    `curl -N` follows /events?room=...; a `websockets` client's message in that room
            arrives as an `event: message` with a `data:` line of that JSON
  chromium  headless Chromium opens the page at /, joins a room there and exchanges messages
            with a `websockets` client; they show in the page's WebSocket and event lists

Prints what it saw; exits 0 when the check holds, 1 when it does not. Every wait is bounded,
and the whole check is ended after WATCHDOG_SECONDS (default 90); the processes it starts
(curl, Chromium) are stopped before it exits.
"""

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

# How long one step (a handshake, a message, a page change) may take.
STEP_SECONDS = 10
# The websockets client's options: no proxy from the environment (the server is local).
OPTIONS = {"open_timeout": STEP_SECONDS, "close_timeout": 5, "proxy": None}


class Failed(Exception):
    """The check does not hold (or a step did not happen in time)."""


def room_name(prefix):
    """A room of this run only."""
    return "%s-%08x" % (prefix, random.getrandbits(32))


def ws_url(base, room, name):
    query = urllib.parse.urlencode({"room": room, "name": name})
    return base.replace("http://", "ws://", 1) + "/ws?" + query


def next_text(socket):
    """The next text message of `socket` (within STEP_SECONDS)."""
    message = socket.recv(timeout=STEP_SECONDS)
    if not isinstance(message, str):
        raise Failed("expected a text message, got %r" % (message,))
    return message


def expect_line(raw, room, sender, text):
    """`raw` must be the chat line {"room", "from", "text"} of `sender`'s `text`."""
    try:
        line = json.loads(raw)
    except ValueError:
        raise Failed("not JSON: %r" % raw)
    expected = {"room": room, "from": sender, "text": text}
    if line != expected:
        raise Failed("expected %r, got %r" % (expected, line))


def check_room(base):
    room = room_name("py")
    with connect(ws_url(base, room, "alice"), **OPTIONS) as alice, connect(
        ws_url(base, room, "bob"), **OPTIONS
    ) as bob:
        # Both are subscribed once their handshakes are done (the server subscribes before
        # its 101), so nothing is missed.
        alice.send("hello from alice")
        raw = next_text(bob)
        print("    bob received:   %s" % raw)
        expect_line(raw, room, "alice", "hello from alice")
        expect_line(next_text(alice), room, "alice", "hello from alice")
        bob.send("hello from bob, with ünïcödé and \"quotes\"")
        raw = next_text(alice)
        print("    alice received: %s" % raw)
        expect_line(raw, room, "bob", "hello from bob, with ünïcödé and \"quotes\"")
        expect_line(next_text(bob), room, "bob", "hello from bob, with ünïcödé and \"quotes\"")
        # Another room hears none of it: once bob has alice's message, it has been handed to
        # every subscriber, and carol's first message is still her own.
        other = room_name("other")
        with connect(ws_url(base, other, "carol"), **OPTIONS) as carol:
            alice.send("only for this room")
            expect_line(next_text(bob), room, "alice", "only for this room")
            carol.send("carol's own")
            expect_line(next_text(carol), other, "carol", "carol's own")


class Version12(ClientConnection):
    """`websockets`' own client, whose handshake claims WebSocket version 12."""

    def __init__(self, socket, protocol, **kwargs):
        make_request = protocol.connect

        def version_12_request():
            request = make_request()
            del request.headers["Sec-WebSocket-Version"]
            request.headers["Sec-WebSocket-Version"] = "12"
            return request

        protocol.connect = version_12_request
        super().__init__(socket, protocol, **kwargs)


def check_version(base):
    try:
        socket = connect(ws_url(base, "lobby", "old"), create_connection=Version12, **OPTIONS)
    except InvalidStatus as error:
        response = error.response
        version = response.headers.get("Sec-WebSocket-Version")
        print("    refused: %d %s, Sec-WebSocket-Version: %s" % (
            response.status_code, response.reason_phrase, version))
        if response.status_code != 426:
            raise Failed("expected 426, got %d" % response.status_code)
        if version != "13":
            raise Failed("expected Sec-WebSocket-Version: 13, got %r" % version)
        return
    socket.close()
    raise Failed("a version 12 handshake was accepted")


class Lines:
    """The lines a child process writes to a pipe, read with deadlines."""

    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""
        self.seen = []

    def until(self, wanted, seconds=STEP_SECONDS):
        """Reads lines until one for which `wanted(line)` holds; returns it."""
        deadline = time.monotonic() + seconds
        while True:
            while b"\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip("\r")
                self.seen.append(line)
                if wanted(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed("not in time; read so far: %r" % self.seen[-20:])
            ready, _, _ = select.select([self.stream], [], [], left)
            if ready:
                chunk = os.read(self.stream.fileno(), 65536)
                if not chunk:
                    raise Failed("the stream ended; read: %r" % self.seen[-20:])
                self.buffer += chunk


def stop(process):
    """Stops a child process: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def check_events(base):
    room = room_name("curl")
    url = "%s/events?%s" % (base, urllib.parse.urlencode({"room": room}))
    # -N: no buffering, each event written out as it arrives; -v: the response's head on
    # standard error as it arrives (curl holds back `-i`'s copy on standard output until body
    # bytes come); --max-time bounds it.
    curl = subprocess.Popen(
        ["curl", "-sS", "-N", "-v", "--noproxy", "*", "--max-time", "60", url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        head = Lines(curl.stderr)
        head.until(lambda line: line.lower().startswith("< content-type: text/event-stream"))
        # The head is out: the stream has subscribed to the room (before its response).
        head.until(lambda line: line.strip() == "<")
        lines = Lines(curl.stdout)
        with connect(ws_url(base, room, "dora"), **OPTIONS) as dora:
            dora.send("hello, curl")
            expect_line(next_text(dora), room, "dora", "hello, curl")
        data = lines.until(lambda line: line.startswith("data:"))
        print("    curl received: %s" % data)
        expect_line(data[len("data:"):].strip(), room, "dora", "hello, curl")
        event = [line for line in lines.seen if line.startswith("event:")]
        if event[-1:] != ["event: message"]:
            raise Failed("expected `event: message` before the data, saw %r" % lines.seen)
    finally:
        stop(curl)


class DevTools:
    """A page of a Chromium, over the DevTools protocol (JSON over a WebSocket)."""

    def __init__(self, url):
        self.socket = connect(url, max_size=None, compression=None, **OPTIONS)
        self.next_id = 0

    def call(self, method, params=None):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + STEP_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed("no answer to %s in time" % method)
            answer = json.loads(self.socket.recv(timeout=left))
            if answer.get("id") == self.next_id:  # anything else is an event
                if "error" in answer:
                    raise Failed("%s: %r" % (method, answer["error"]))
                return answer["result"]

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page."""
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise Failed("%s: %r" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression, what, seconds=STEP_SECONDS):
        """Polls a JavaScript condition until it holds."""
        deadline = time.monotonic() + seconds
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise Failed("not in time: %s" % what)
            time.sleep(0.05)

    def close(self):
        self.socket.close()


def devtools_page(profile, chromium):
    """The DevTools WebSocket URL of the browser's page, once it is up."""
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + 30
    while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
        if chromium.poll() is not None:
            raise Failed("chromium exited with %s" % chromium.returncode)
        if time.monotonic() > deadline:
            raise Failed("chromium did not open its DevTools port in time")
        time.sleep(0.05)
    with open(port_file) as f:
        port = int(f.readline())
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open("http://127.0.0.1:%d/json/list" % port, timeout=STEP_SECONDS) as response:
        targets = json.load(response)
    pages = [t for t in targets if t.get("type") == "page"]
    if not pages:
        raise Failed("no page among %r" % targets)
    return pages[0]["webSocketDebuggerUrl"]


def check_chromium(base, binary="chromium"):
    room = room_name("browser")
    profile = tempfile.mkdtemp(prefix="chat-chromium-")
    log = open(os.path.join(profile, "stderr.log"), "wb")
    chromium = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",  # as root in a container
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-component-update",
            "--no-proxy-server",
            "--user-data-dir=" + profile,
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    page = None
    try:
        page = DevTools(devtools_page(profile, chromium))
        print("    %s" % page.evaluate("navigator.userAgent"))
        page.call("Page.navigate", {"url": base + "/"})
        page.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('join')",
            "the page at / loaded",
        )
        # The page's own controls: the room and name fields, then its join button.
        page.evaluate(
            "document.getElementById('room').value = %s;"
            "document.getElementById('name').value = 'chromium';"
            "document.getElementById('join').click(); true" % json.dumps(room)
        )
        page.wait_for(
            "typeof socket === 'object' && socket.readyState === WebSocket.OPEN"
            " && source.readyState === EventSource.OPEN",
            "the page's WebSocket and event stream are open",
        )
        lists = (
            "({ws: [...document.querySelectorAll('#ws li')].map(li => li.textContent),"
            " sse: [...document.querySelectorAll('#sse li')].map(li => li.textContent)})"
        )

        def shown(line):
            # In both of the page's lists: by WebSocket and by server-sent events.
            return (
                "[...document.querySelectorAll('#ws li')].some(li => li.textContent === %s)"
                " && [...document.querySelectorAll('#sse li')].some(li => li.textContent === %s)"
                % (json.dumps(line), json.dumps(line))
            )

        with connect(ws_url(base, room, "py"), **OPTIONS) as py:
            page.evaluate(
                "document.getElementById('text').value = 'hello from chromium';"
                "document.getElementById('send').click(); true"
            )
            raw = next_text(py)
            print("    python received: %s" % raw)
            expect_line(raw, room, "chromium", "hello from chromium")
            page.wait_for(shown("chromium: hello from chromium"), "the page shows its own message")
            py.send("hello from python")
            expect_line(next_text(py), room, "py", "hello from python")
            try:
                page.wait_for(shown("py: hello from python"), "the page shows python's message")
            finally:
                print("    the page shows: %s" % json.dumps(page.evaluate(lists)))
    finally:
        if page is not None:
            try:
                page.call("Browser.close")
            except Exception:
                pass
            page.close()
        stop(chromium)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


CHECKS = {
    "room": check_room,
    "version": check_version,
    "events": check_events,
    "chromium": check_chromium,
}


def on_alarm(signum, frame):
    raise Failed("the check took longer than its watchdog")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(os.environ.get("WATCHDOG_SECONDS", "90")))
    try:
        CHECKS[sys.argv[1]](sys.argv[2].rstrip("/"))
    except Exception as error:  # a failed step, a refused connect, a closed socket
        print("    %s: %s" % (type(error).__name__, error))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
