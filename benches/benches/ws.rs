//! WebSocket: our server's WebSocket routes against axum's (`src/bin/ws_axum.rs`, axum 0.8's
//! `ws` feature, tokio-tungstenite under it), each server in a child process, each figure
//! beside axum's of the same run.
//!
//! `cargo bench -p benches --bench ws` (10,000 connections, three rounds of 3 s of echo per
//! server, seven fan-outs; `-- --quick`: 2,000 connections, two rounds of 1 s, five
//! fan-outs). `WS_BENCH_WORKERS=N` gives both servers N workers (default: one per CPU, the
//! default of both `Server` and tokio's multi-thread runtime); `WS_BENCH_CONNECTIONS=N` sets
//! the count of idle connections and subscribers.
//!
//! Both servers have the same three routes: `GET /echo` (a WebSocket sending back each text or
//! binary message), `GET /fanout` (a WebSocket subscribed, before its `101`, to one topic:
//! ours a `Hub<String>` of 256-message queues with a forwarding coroutine per socket, as the
//! `chat` example does; axum a `tokio::sync::broadcast` of 256 messages with one task per
//! socket that waits on the channel and the socket at once) and `POST /publish` (the body to
//! every subscriber; answers how many). Ours is the whole server (`Server`, its worker pool of
//! N workers on N may worker threads, routing, `WebSocketUpgrade` with the default
//! `WsConfig`), run from this bench's own executable (`WS_BENCH_ROLE=ours`); axum has a tokio
//! multi-thread runtime of N worker threads and axum's default WebSocket settings.
//!
//! 1. **Idle connections' memory.** 10,000 WebSockets (2,000 quick) on `/echo`, opened by four
//!    threads of this process (the upgrade request written by hand, the `101` checked), each
//!    echoing one message so that the send path has run once; after a second at rest, the
//!    server's resident memory (`VmRSS` of `/proc/PID/status`) minus what it was before they
//!    opened, divided by their count. Also its open descriptors per connection
//!    (`/proc/PID/fd`), and the CPU it burns while they sit idle (`/proc/PID/stat`).
//! 2. **Echo round trips.** 64 connections on `/echo`, each a coroutine of this process (one
//!    may worker) that sends a 16-byte text frame and waits for the echo before the next (a
//!    closed loop); rounds alternate between the servers. Per busy core = round trips/s ÷ the
//!    server process's CPU use over the counted window.
//! 3. **Fan-out.** As many subscribers on `/fanout`, each a coroutine of this process
//!    reading its socket (one may worker); then, a few times, one `POST /publish` of a short
//!    text: the time from writing the `POST` until the last subscriber has read the message
//!    (and until the median one has), the median over the fan-outs.
//!
//! Descriptors: the bench raises its soft `RLIMIT_NOFILE` to the hard limit, and both limits to
//! what the run needs where the process may (`CAP_SYS_RESOURCE`); the servers inherit them. Our
//! server holds three descriptors per WebSocket (see the printed figure), so when the limit
//! stays lower the connection count shrinks to fit and the bench says so.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use benches::load::{self, Load, Window, percentile, response_length};
use hyperf_http::server::ws::{Message, WebSocketUpgrade};
use hyperf_http::server::{Hub, Overflow, Router, ServerSpec, State};

const ROLE: &str = "WS_BENCH_ROLE";
/// Our server's `max_connections`, set by the harness for the child.
const MAX_CONNECTIONS: &str = "WS_BENCH_MAX_CONNECTIONS";
/// Connections of the echo load.
const ECHO_CONNECTIONS: usize = 64;
/// Counting starts this long after the echo load does.
const WARM_UP: Duration = Duration::from_millis(300);
/// What each echo client sends, as one text frame.
const ECHO_TEXT: &[u8] = b"hello, websocket";
/// A subscriber's queue, ours and axum's: 256 messages.
const QUEUE: usize = 256;
/// The one topic of the fan-out.
const TOPIC: &str = "all";
/// Subscribers being connected at once.
const RAMP: usize = 64;
/// Descriptors our server holds per WebSocket: the connection's socket, the upgraded one
/// and the socket's writer (each a `dup`).
const OURS_DESCRIPTORS: u64 = 3;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("ours") => serve_ours(),
        _ => harness(),
    }
}

/// Workers of each server: `WS_BENCH_WORKERS`, else one per CPU.
fn workers() -> usize {
    std::env::var("WS_BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn serve_ours() {
    let workers = workers();
    let connections = std::env::var(MAX_CONNECTIONS)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    runtime::configure(runtime::Config::default().workers(workers)).unwrap();
    let mut router = Router::new();
    router.state(Hub::<String>::new(QUEUE, Overflow::DropOldest));
    router.get("/echo", echo).unwrap();
    router.get("/fanout", fanout).unwrap();
    router.post("/publish", publish).unwrap();
    let server = hyperf_http::server::Server::new()
        .worker_num(workers)
        .handle_signals(false)
        .engine(hyperf_http::EngineConfig::default().max_connections(connections))
        .server(ServerSpec::new("ws", "127.0.0.1", 0).router(router))
        .start()
        .unwrap();
    println!("listening on http://{}", server.local_addr("ws").unwrap());
    std::io::stdout().flush().unwrap();
    server.wait();
}

fn echo(ws: WebSocketUpgrade) -> hyperf_http::Response {
    ws.on_upgrade(|mut socket| {
        // Until the client closes or goes away; pings are answered inside `recv`.
        while let Ok(message) = socket.recv() {
            if let Message::Text(_) | Message::Binary(_) = message {
                if socket.send(message).is_err() {
                    break;
                }
            }
        }
    })
}

fn fanout(ws: WebSocketUpgrade, State(hub): State<Hub<String>>) -> hyperf_http::Response {
    // Subscribed before the `101`: nothing published after the client has its answer is missed.
    let subscription = hub.subscribe(TOPIC);
    ws.on_upgrade(move |mut socket| {
        let sender = socket.sender();
        let closer = subscription.closer();
        let forwarder = runtime::spawn(move || {
            while let Some(text) = subscription.recv() {
                if sender.send_text(text).is_err() {
                    return;
                }
            }
        });
        while socket.recv().is_ok() {}
        drop(socket); // its sender fails from now on
        closer.close(); // the forwarder's recv returns None
        let _ = forwarder.join();
    })
}

fn publish(State(hub): State<Hub<String>>, body: String) -> String {
    hub.publish(TOPIC, body).to_string()
}

/// `RLIMIT_NOFILE`: raises the soft limit to the hard one, and both to `wanted` if the hard
/// one is lower and the process may raise it; returns the soft limit in effect.
fn raise_descriptor_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the call to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_max < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: wanted,
        };
        // SAFETY: `raised` is a valid `rlimit`; a refusal (no privilege) changes nothing.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return wanted;
        }
    }
    let soft = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } == 0 {
        limit.rlim_max
    } else {
        limit.rlim_cur
    }
}

/// A server in a child process, killed when dropped.
struct Peer {
    name: &'static str,
    child: Child,
    address: SocketAddr,
}

impl Peer {
    fn ours(workers: usize, connections: usize) -> Peer {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env(ROLE, "ours")
            .env("WS_BENCH_WORKERS", workers.to_string())
            .env(MAX_CONNECTIONS, (connections + 256).to_string());
        Peer::start("ours", command)
    }

    fn axum(workers: usize) -> Peer {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ws_axum"));
        command.args(["--port", "0", "--workers", &workers.to_string()]);
        Peer::start("axum", command)
    }

    fn start(name: &'static str, mut command: Command) -> Peer {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("{name} said {line:?}"))
            .parse()
            .unwrap();
        // The rest of what it prints, read so that its writes never fail.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Peer {
            name,
            child,
            address,
        }
    }

    /// CPU time the server has used so far (user + system), from `/proc/PID/stat`.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // The kernel reports in clock ticks of 1/100 s on Linux.
        Duration::from_millis(ticks * 10)
    }

    /// Resident memory in bytes: `VmRSS` of `/proc/PID/status`.
    fn resident(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    /// Open descriptors, from `/proc/PID/fd`.
    fn descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map_or(0, |entries| entries.count())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the upgrade request for `path` and reads the answer's head, which must be a `101`;
/// returns what was read past the head.
fn handshake(stream: &mut (impl Read + Write), path: &str) -> Vec<u8> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        let read = stream.read(&mut chunk).unwrap();
        assert!(
            read > 0,
            "the server closed the connection in the handshake"
        );
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(
                head.starts_with(b"HTTP/1.1 101"),
                "not upgraded: {}",
                String::from_utf8_lossy(&head[..end])
            );
            return head.split_off(end + 4);
        }
    }
}

/// A client's text frame of `payload` (under 126 bytes), masked as a client's must be.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let length = u8::try_from(payload.len()).ok().filter(|&n| n < 126);
    let mask = [0x5a, 0x17, 0xc3, 0x8e];
    let mut frame = vec![0x81, 0x80 | length.expect("a short payload"), 0, 0, 0, 0];
    frame[2..6].copy_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// The frame at the start of `bytes` (a server's: unmasked), if it is all there: its opcode
/// and where its payload starts and ends.
fn frame_at(bytes: &[u8]) -> Option<(u8, usize, usize)> {
    if bytes.len() < 2 {
        return None;
    }
    assert_eq!(bytes[1] & 0x80, 0, "a server's frame is masked");
    let (header, length) = match bytes[1] & 0x7f {
        126 => (
            4,
            usize::from(u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?])),
        ),
        127 => {
            let length: [u8; 8] = bytes.get(2..10)?.try_into().unwrap();
            (10, usize::try_from(u64::from_be_bytes(length)).unwrap())
        }
        short => (2, usize::from(short)),
    };
    (bytes.len() >= header + length).then_some((bytes[0] & 0x0f, header, header + length))
}

/// The server's frames on a client's stream.
struct Frames<S> {
    stream: S,
    buffer: Vec<u8>,
    filled: usize,
    /// The frame returned last, dropped at the next call.
    taken: usize,
}

impl<S: Read> Frames<S> {
    fn new(stream: S, leftover: Vec<u8>) -> Self {
        let filled = leftover.len();
        let mut buffer = leftover;
        buffer.resize(filled.max(256), 0);
        Frames {
            stream,
            buffer,
            filled,
            taken: 0,
        }
    }

    /// The payload of the next text or binary frame (pings and pongs are skipped).
    fn next_data(&mut self) -> &[u8] {
        loop {
            if self.taken > 0 {
                self.buffer.copy_within(self.taken..self.filled, 0);
                self.filled -= self.taken;
                self.taken = 0;
            }
            if let Some((opcode, start, end)) = frame_at(&self.buffer[..self.filled]) {
                self.taken = end;
                match opcode {
                    0x1 | 0x2 => return &self.buffer[start..end],
                    0x8 => panic!("the server closed the WebSocket"),
                    _ => continue,
                }
            }
            if self.filled == self.buffer.len() {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
            let read = self.stream.read(&mut self.buffer[self.filled..]).unwrap();
            assert!(read > 0, "the server closed the connection");
            self.filled += read;
        }
    }
}

/// What the idle connections measured.
struct Idle {
    /// Resident bytes per connection.
    resident: f64,
    /// Open descriptors per connection.
    descriptors: f64,
    /// The server's busy cores while they sat idle.
    cores: f64,
}

/// Opens `count` WebSockets on `/echo` from four threads, echoes one message on each, and
/// measures the server while they sit idle.
fn idle_connections(server: &Peer, count: usize, window: Duration) -> Idle {
    let (resident, descriptors) = (server.resident(), server.descriptors());
    let address = server.address;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                (t..count)
                    .step_by(4)
                    .map(|_| {
                        let mut stream = std::net::TcpStream::connect(address).unwrap();
                        stream.set_nodelay(true).unwrap();
                        let leftover = handshake(&mut stream, "/echo");
                        stream.write_all(&text_frame(ECHO_TEXT)).unwrap();
                        let mut frames = Frames::new(stream, leftover);
                        assert_eq!(frames.next_data(), ECHO_TEXT);
                        frames.stream
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let streams: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a connecting thread"))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let per = |after: f64, before: f64| (after - before) / count as f64;
    let idle = Idle {
        resident: per(server.resident() as f64, resident as f64),
        descriptors: per(server.descriptors() as f64, descriptors as f64),
        cores: {
            let (cpu, began) = (server.cpu_time(), Instant::now());
            std::thread::sleep(window);
            (server.cpu_time() - cpu).as_secs_f64() / began.elapsed().as_secs_f64()
        },
    };
    drop(streams);
    // Let the server close them before the next measurement.
    std::thread::sleep(Duration::from_secs(1));
    idle
}

/// One echo client: a 16-byte text frame, then its echo, until the load stops; returns the
/// latency of each round trip counted, in µs.
fn echo_client(address: SocketAddr, window: &Window<'_>) -> Vec<u32> {
    let mut stream = may::net::TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let leftover = handshake(&mut stream, "/echo");
    let frame = text_frame(ECHO_TEXT);
    let mut frames = Frames::new(stream, leftover);
    let mut latencies = Vec::new();
    while !window.stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        frames.stream.write_all(&frame).unwrap();
        assert_eq!(frames.next_data(), ECHO_TEXT);
        if window.counting.load(Ordering::Relaxed) {
            window.completed.fetch_add(1, Ordering::Relaxed);
            latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    latencies
}

/// One fan-out: from the `POST /publish` written until the first, the median and the last
/// subscriber read the message, and until the `POST` was answered.
#[derive(Debug, Clone, Copy)]
struct FanOut {
    first: Duration,
    median: Duration,
    last: Duration,
    answered: Duration,
}

/// The text of fan-out `round` (from 1).
fn round_text(round: usize) -> String {
    format!("round {round:04}")
}

/// Connects `subscribers` WebSockets on `/fanout` (coroutines of this process), then publishes
/// `rounds` messages one after another, each once every subscriber has read the one before.
/// One more, not measured, follows: the subscribers close their sockets once they have read it,
/// and those closes must not fall into a measured fan-out.
fn fan_out(server: &Peer, subscribers: usize, rounds: usize) -> Vec<FanOut> {
    let base = Instant::now();
    // When the current round's `POST` was written, in ns since `base`.
    let published = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    // Each subscriber's arrival time in the current round, in ns after `published`.
    let arrivals: Arc<Vec<AtomicU64>> = Arc::new((0..subscribers).map(|_| 0.into()).collect());
    let (ready, connected) = mpsc::channel::<()>();
    let (all_read, done) = mpsc::channel::<()>();
    let address = server.address;
    let mut clients = Vec::with_capacity(subscribers);
    let mut open = 0;
    for n in 0..subscribers {
        if n >= open + RAMP {
            connected.recv_timeout(Duration::from_secs(30)).unwrap();
            open += 1;
        }
        let (published, received, arrivals) =
            (published.clone(), received.clone(), arrivals.clone());
        let (ready, all_read) = (ready.clone(), all_read.clone());
        clients.push(runtime::spawn(move || {
            let mut stream = may::net::TcpStream::connect(address).unwrap();
            stream.set_nodelay(true).unwrap();
            let leftover = handshake(&mut stream, "/fanout");
            ready.send(()).unwrap();
            let mut frames = Frames::new(stream, leftover);
            for round in 1..=rounds + 1 {
                assert_eq!(frames.next_data(), round_text(round).as_bytes());
                let now = u64::try_from(base.elapsed().as_nanos()).unwrap();
                arrivals[n].store(now - published.load(Ordering::Acquire), Ordering::Relaxed);
                if received.fetch_add(1, Ordering::AcqRel) + 1 == round * subscribers {
                    all_read.send(()).unwrap();
                }
            }
        }));
    }
    while open < subscribers {
        connected.recv_timeout(Duration::from_secs(30)).unwrap();
        open += 1;
    }
    let mut publisher = std::net::TcpStream::connect(address).unwrap();
    publisher.set_nodelay(true).unwrap();
    let mut answer = vec![0u8; 1024];
    let mut fan_outs = Vec::with_capacity(rounds);
    for round in 1..=rounds + 1 {
        std::thread::sleep(Duration::from_millis(300));
        let text = round_text(round);
        let request = format!(
            "POST /publish HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n\
             Content-Length: {}\r\n\r\n{text}",
            text.len()
        );
        let began = u64::try_from(base.elapsed().as_nanos()).unwrap();
        published.store(began, Ordering::Release);
        publisher.write_all(request.as_bytes()).unwrap();
        let mut filled = 0;
        let length = loop {
            let read = publisher.read(&mut answer[filled..]).unwrap();
            assert!(read > 0, "the server closed the publishing connection");
            filled += read;
            if let Some(length) = response_length(&answer[..filled]) {
                break length;
            }
        };
        let answered = base.elapsed() - Duration::from_nanos(began);
        let response = String::from_utf8_lossy(&answer[..length]);
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.ends_with(&format!("\r\n\r\n{subscribers}")),
            "{} did not publish to every subscriber: {response}",
            server.name
        );
        done.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{}: not every subscriber got the message", server.name));
        if round > rounds {
            break;
        }
        let mut times: Vec<u64> = arrivals.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        times.sort_unstable();
        fan_outs.push(FanOut {
            first: Duration::from_nanos(times[0]),
            median: Duration::from_nanos(times[times.len() / 2]),
            last: Duration::from_nanos(times[times.len() - 1]),
            answered,
        });
    }
    for client in clients {
        client.join().expect("a subscriber");
    }
    drop(publisher);
    // Let the server close them before the next measurement.
    std::thread::sleep(Duration::from_secs(1));
    fan_outs
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn harness() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (mut connections, echo_rounds, echo_window, fan_out_rounds, idle_window) = if quick {
        (2_000, 2, Duration::from_secs(1), 5, Duration::from_secs(1))
    } else {
        (10_000, 3, Duration::from_secs(3), 7, Duration::from_secs(3))
    };
    if let Some(n) = std::env::var("WS_BENCH_CONNECTIONS")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        connections = n;
    }
    let wanted = (OURS_DESCRIPTORS + 1) * connections as u64 + 1024;
    let limit = raise_descriptor_limit(wanted);
    let fits = usize::try_from(limit.saturating_sub(1024) / OURS_DESCRIPTORS).unwrap_or(usize::MAX);
    if fits < connections {
        println!(
            "RLIMIT_NOFILE is {limit} and cannot be raised: {fits} connections instead of \
             {connections} (ours holds {OURS_DESCRIPTORS} descriptors per WebSocket)"
        );
        connections = fits;
    }
    let workers = workers();
    may::config().set_workers(1).set_worker_pin(false);
    println!(
        "WebSocket: ours (Server, {workers} workers on {workers} may threads) against axum 0.8 \
         (tokio, {workers} worker threads); clients in this process; open descriptors up to \
         {limit}"
    );
    let servers = [Peer::ours(workers, connections), Peer::axum(workers)];

    // 1. Idle connections.
    let mut idle = Vec::new();
    for server in &servers {
        let figures = idle_connections(server, connections, idle_window);
        println!(
            "{connections} idle WebSockets, {:<4}: {:>8.0} bytes RSS each, {:.2} descriptors \
             each, {:.2} cores busy while idle",
            server.name, figures.resident, figures.descriptors, figures.cores
        );
        idle.push(figures);
    }

    // 2. Echo, rounds alternating between the servers.
    println!(
        "\necho, {ECHO_CONNECTIONS} connections, {echo_rounds} round(s) of {} s per server",
        echo_window.as_secs()
    );
    println!(
        "{:<6} {:<5} {:>10} {:>7} {:>15} {:>11} {:>8} {:>8}",
        "round", "server", "trips/s", "cpu", "trips/s / core", "cpu ns/trip", "p50 µs", "p99 µs"
    );
    let mut totals: Vec<Load> = servers.iter().map(|_| Load::default()).collect();
    let mut round_ratios = Vec::new();
    for round in 1..=echo_rounds {
        let mut per_core = Vec::new();
        for (server, total) in servers.iter().zip(&mut totals) {
            let address = server.address;
            let run = load::closed_loop(
                ECHO_CONNECTIONS,
                WARM_UP,
                echo_window,
                || server.cpu_time(),
                move |_, window| echo_client(address, &window),
            );
            println!(
                "{:<6} {:<5} {:>10.0} {:>7.2} {:>15.0} {:>11.0} {:>8} {:>8}",
                round,
                server.name,
                run.rate(),
                run.cores(),
                run.rate() / run.cores().max(0.01),
                run.cpu_per_request(),
                percentile(&run.latencies_us, 0.50),
                percentile(&run.latencies_us, 0.99),
            );
            per_core.push(run.rate() / run.cores().max(0.01));
            total.add(run);
        }
        round_ratios.push(per_core[0] / per_core[1]);
    }
    for total in &mut totals {
        total.latencies_us.sort_unstable();
    }

    // 3. Fan-out.
    println!("\nfan-out to {connections} subscribers, {fan_out_rounds} messages per server");
    println!(
        "{:<5} {:>9} {:>10} {:>9} {:>14}",
        "server", "first ms", "median ms", "last ms", "POST answered"
    );
    let mut fan_outs = Vec::new();
    for server in &servers {
        let rounds = fan_out(server, connections, fan_out_rounds);
        for round in &rounds {
            println!(
                "{:<5} {:>9.2} {:>10.2} {:>9.2} {:>11.2} ms",
                server.name,
                ms(round.first),
                ms(round.median),
                ms(round.last),
                ms(round.answered)
            );
        }
        fan_outs.push(rounds);
    }
    let fan_out_median = |server: usize, pick: fn(&FanOut) -> Duration| {
        median(fan_outs[server].iter().map(|r| ms(pick(r))).collect())
    };

    // The table: each figure beside axum's.
    let (ours, axum) = (&totals[0], &totals[1]);
    let per_core = |load: &Load| load.rate() / load.cores().max(0.01);
    println!(
        "\n{:<52} {:>12} {:>12} {:>7}  target",
        "what", "ours", "axum", "ratio"
    );
    let row = |what: &str, ours: f64, axum: f64, decimals: usize, target: &str| {
        let ratio = if axum > 0.0 {
            format!("{:.2}x", ours / axum)
        } else {
            "-".to_string()
        };
        println!("{what:<52} {ours:>12.decimals$} {axum:>12.decimals$} {ratio:>7}  {target}");
    };
    row(
        &format!("RSS per idle WebSocket, KiB ({connections})"),
        idle[0].resident / 1024.0,
        idle[1].resident / 1024.0,
        1,
        "ours <= 16 KiB",
    );
    row(
        "open descriptors per WebSocket",
        idle[0].descriptors,
        idle[1].descriptors,
        2,
        "",
    );
    row(
        &format!("server CPU with {connections} idle WebSockets, cores"),
        idle[0].cores,
        idle[1].cores,
        2,
        "",
    );
    row(
        &format!("echo round trips/s ({ECHO_CONNECTIONS} connections)"),
        ours.rate(),
        axum.rate(),
        0,
        "",
    );
    row(
        "echo round trips/s per busy server core",
        per_core(ours),
        per_core(axum),
        0,
        ">= 1.0x",
    );
    row(
        "echo server CPU per round trip, ns",
        ours.cpu_per_request(),
        axum.cpu_per_request(),
        0,
        "",
    );
    row(
        "echo p99, µs",
        f64::from(percentile(&ours.latencies_us, 0.99)),
        f64::from(percentile(&axum.latencies_us, 0.99)),
        0,
        "",
    );
    row(
        &format!("fan-out to {connections}: last subscriber, ms (median)"),
        fan_out_median(0, |r| r.last),
        fan_out_median(1, |r| r.last),
        2,
        "",
    );
    row(
        "fan-out: median subscriber, ms (median)",
        fan_out_median(0, |r| r.median),
        fan_out_median(1, |r| r.median),
        2,
        "",
    );
    row(
        "fan-out: POST /publish answered, ms (median)",
        fan_out_median(0, |r| r.answered),
        fan_out_median(1, |r| r.answered),
        2,
        "",
    );
    println!(
        "echo per busy core, median of the rounds' ratios: {:.2}x",
        median(round_ratios)
    );
}
