//! HTTP throughput and memory: our engine's hello route against raw `may_minihttp`'s and
//! actix-web's, each server in a child process of its own, loaded by a generator in this
//! process.
//!
//! `cargo bench -p benches --bench http` (5 s a measurement; `-- --quick` for 1 s;
//! `HTTP_BENCH_WORKERS=N` gives each server and the generator N workers, default 1: may
//! workers, or actix-web's worker threads).
//!
//! The generator shares the machine's cores with the server and is often the limit on a
//! 2-core machine, so besides requests/s each line reports the server's CPU use (from
//! `/proc/PID/stat`) and requests/s per busy server core. Each scenario ends with the whole
//! server (`ours-full`) against actix-web and against may_minihttp, per busy core and at p99.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const ROLE: &str = "HTTP_BENCH_ROLE";
use benches::HELLO;
use benches::load::{self, Load, Window, percentile, response_length};

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("ours") => serve_ours(),
        Ok("ours-full") => serve_ours_full(),
        Ok("minihttp") => serve_minihttp(),
        Ok("actix") => serve_actix(),
        // For profiling a server by hand: `HTTP_BENCH_ROLE=load ADDRESS DEPTH SECONDS`.
        Ok("load") => load_only(),
        _ => harness(),
    }
}

/// May worker threads for each server (and for the load generator).
fn workers() -> usize {
    std::env::var("HTTP_BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1)
}

fn serve_ours() {
    runtime::configure(runtime::Config::default().workers(workers())).unwrap();
    let hello = |_: hyperf_http::Request| -> Result<hyperf_http::Response, hyperf_http::BoxError> {
        let mut response = hyperf_http::Response::new(hyperf_http::Body::from(HELLO));
        response.headers_mut().insert(
            hyperf_http::header::CONTENT_TYPE,
            hyperf_http::HeaderValue::from_static("text/plain"),
        );
        Ok(response)
    };
    let config = hyperf_http::EngineConfig::default().max_connections(20_000);
    let engine = hyperf_http::Engine::start("127.0.0.1:0", config, hello).unwrap();
    announce(engine.local_addr());
    loop {
        std::thread::park();
    }
}

/// The hello route through the whole server: 50 routes, two global middlewares, lifecycle
/// events on with one listener, a worker pool.
fn serve_ours_full() {
    runtime::configure(runtime::Config::default().workers(workers())).unwrap();
    let served = std::sync::atomic::AtomicU64::new(0);
    let server = hyperf_http::server::Server::new()
        .worker_num(1)
        .handle_signals(false)
        .engine(hyperf_http::EngineConfig::default().max_connections(20_000))
        .on_request_terminated(move |_| {
            served.fetch_add(1, Ordering::Relaxed);
        })
        .server(benches::full_pipeline_spec("bench", "127.0.0.1", 0))
        .start()
        .unwrap();
    announce(server.local_addr("bench").unwrap());
    server.wait();
}

#[derive(Clone)]
struct MiniHello;

impl may_minihttp::HttpService for MiniHello {
    fn call(
        &mut self,
        _request: may_minihttp::Request<'_, '_, '_>,
        response: &mut may_minihttp::Response<'_>,
    ) -> std::io::Result<()> {
        response.header("Content-Type: text/plain");
        response.body(HELLO);
        Ok(())
    }
}

fn serve_minihttp() {
    may::config().set_workers(workers()).set_worker_pin(false);
    // may_minihttp cannot bind port 0 and report it: take a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let server = may_minihttp::HttpServer(MiniHello).start(address).unwrap();
    announce(address);
    server.join().unwrap();
}

async fn actix_hello() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/plain")
        .body(HELLO)
}

/// The hello route on actix-web as its users write it: an `App` with one GET route, `workers()`
/// worker threads (each with its own single-threaded runtime), the system allocator.
fn serve_actix() {
    actix_web::rt::System::new().block_on(async {
        let server = actix_web::HttpServer::new(|| {
            actix_web::App::new().route("/hello", actix_web::web::get().to(actix_hello))
        })
        .workers(workers())
        // Ours keeps an idle connection 60 s; actix-web's default is 5 s, which would close the
        // idle connections of the memory figure before the last ones are open.
        .keep_alive(Duration::from_secs(60))
        // The bench stops the child with SIGKILL; it needs no signal handling of its own.
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        announce(server.addrs()[0]);
        server.run().await.unwrap();
    });
}

fn load_only() {
    may::config().set_workers(workers()).set_worker_pin(false);
    let args: Vec<String> = std::env::args().collect();
    let address: SocketAddr = args[1].parse().expect("ADDRESS");
    let depth: usize = args[2].parse().expect("DEPTH");
    let seconds: u64 = args[3].parse().expect("SECONDS");
    // Counted from the start: no warm-up, and no server CPU to read.
    let run = load::closed_loop(
        64,
        Duration::ZERO,
        Duration::from_secs(seconds),
        || Duration::ZERO,
        move |_, window| client(address, depth, &window),
    );
    println!("{} requests/s", run.requests / seconds);
}

fn announce(address: SocketAddr) {
    println!("listening {address}");
    std::io::stdout().flush().unwrap();
}

struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(role: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .trim_start_matches("listening ")
            .parse()
            .unwrap();
        Server { child, address }
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

    /// Resident memory of the server process in bytes, from `/proc/PID/statm`.
    fn resident(&self) -> usize {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).unwrap();
        statm.split(' ').nth(1).unwrap().parse::<usize>().unwrap() * 4096
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `connections` clients, each sending `depth` requests at a time and reading their
/// responses, for `duration` after a warm-up.
fn load(server: &Server, connections: usize, depth: usize, duration: Duration) -> Load {
    let address = server.address;
    load::closed_loop(
        connections,
        Duration::from_millis(500),
        duration,
        || server.cpu_time(),
        move |_, window| client(address, depth, &window),
    )
}

/// One keep-alive client; returns its latency samples (µs per batch of `depth`).
fn client(address: SocketAddr, depth: usize, window: &Window<'_>) -> Vec<u32> {
    let mut stream = may::net::TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let request = b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n".repeat(depth);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut latencies = Vec::new();
    while !window.stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        stream.write_all(&request).unwrap();
        let (mut filled, mut answered) = (0, 0);
        while answered < depth {
            let read = stream.read(&mut buffer[filled..]).unwrap();
            assert!(read > 0, "the server closed the connection");
            filled += read;
            let mut at = 0;
            while let Some(length) = response_length(&buffer[at..filled]) {
                at += length;
                answered += 1;
            }
            buffer.copy_within(at..filled, 0);
            filled -= at;
        }
        if window.counting.load(Ordering::Relaxed) {
            window.completed.fetch_add(depth as u64, Ordering::Relaxed);
            latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    latencies
}

/// Opens `connections` keep-alive connections, makes one request on each, and reports the
/// server's resident memory per connection while they sit idle.
fn idle_memory(server: &Server, connections: usize) -> usize {
    let before = server.resident();
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut stream = std::net::TcpStream::connect(server.address).unwrap();
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n")
            .unwrap();
        let mut buffer = [0u8; 512];
        let mut filled = 0;
        while response_length(&buffer[..filled]).is_none() {
            filled += stream.read(&mut buffer[filled..]).unwrap();
        }
        streams.push(stream);
    }
    std::thread::sleep(Duration::from_millis(500));
    let per = server.resident().saturating_sub(before) / connections;
    drop(streams);
    per
}

/// The servers of every scenario, the baseline (may_minihttp) first.
const ROLES: [&str; 4] = ["minihttp", "actix", "ours", "ours-full"];

/// What one server did in one scenario.
struct Figures {
    role: &'static str,
    rate: f64,
    per_core: f64,
    p99: u32,
}

/// Prints how `ours` stands against `peer`: per busy core, requests/s and p99.
fn compare(figures: &[Figures], ours: &str, peer: &str, peer_name: &str) {
    let find = |role: &str| figures.iter().find(|f| f.role == role).unwrap();
    let (ours, peer) = (find(ours), find(peer));
    println!(
        "{:<24} {} vs {peer_name}: {:.2}x per busy core, {:.2}x req/s, p99 {:.2}x",
        "",
        ours.role,
        ours.per_core / peer.per_core,
        ours.rate / peer.rate,
        f64::from(ours.p99) / f64::from(peer.p99.max(1))
    );
}

fn harness() {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 1 } else { 5 });
    may::config().set_workers(workers()).set_worker_pin(false);
    println!(
        "HTTP hello route, {} s a measurement, {} worker(s) per server and in the generator",
        duration.as_secs(),
        workers()
    );
    println!(
        "{:<24} {:<10} {:>12} {:>9} {:>14} {:>11} {:>8} {:>8} {:>7} {:>10}",
        "scenario",
        "server",
        "req/s",
        "cpu",
        "req/s per core",
        "cpu ns/req",
        "p50 µs",
        "p99 µs",
        "ratio",
        "core ratio"
    );
    // 256 connections: many more connections than cores (with `HTTP_BENCH_WORKERS=2`, the
    // scenario of two workers per server).
    for (scenario, connections, depth) in [
        ("keep-alive, 64 conns", 64, 1),
        ("pipelined 16, 64 conns", 64, 16),
        ("keep-alive, 256 conns", 256, 1),
    ] {
        let mut figures: Vec<Figures> = Vec::new();
        for role in ROLES {
            let server = Server::start(role);
            let run = load(&server, connections, depth, duration);
            let rate = run.rate();
            let cores = run.cores();
            let per_core = rate / cores.max(0.01);
            // Requests/s and per busy core as a share of may_minihttp's (the first role).
            let (ratio, core_ratio) = figures.first().map_or((1.0, 1.0), |base| {
                (rate / base.rate, per_core / base.per_core)
            });
            let p99 = percentile(&run.latencies_us, 0.99);
            println!(
                "{:<24} {:<10} {:>12.0} {:>9.2} {:>14.0} {:>11.0} {:>8} {:>8} {:>6.2}x {:>9.2}x",
                scenario,
                role,
                rate,
                cores,
                per_core,
                // The server's CPU time per request: where the time goes, beside the ratios.
                1e9 / per_core,
                percentile(&run.latencies_us, 0.50),
                p99,
                ratio,
                core_ratio
            );
            figures.push(Figures {
                role,
                rate,
                per_core,
                p99,
            });
        }
        compare(&figures, "ours-full", "actix", "actix-web");
        compare(&figures, "ours-full", "minihttp", "minihttp");
    }
    let idle = if quick { 1_000 } else { 10_000 };
    let mut memory: Vec<(&str, usize)> = Vec::new();
    for role in ROLES {
        let server = Server::start(role);
        let per = idle_memory(&server, idle);
        let baseline = memory.first().map_or(per, |&(_, base)| base).max(1);
        println!(
            "{idle} idle keep-alive connections, {role:<9}: {per:>6} bytes RSS each ({:.2}x)",
            per as f64 / baseline as f64
        );
        memory.push((role, per));
    }
    let find = |role: &str| memory.iter().find(|(r, _)| *r == role).unwrap().1;
    println!(
        "RSS per idle connection, ours-full vs actix-web: {:.2}x, vs minihttp: {:.2}x",
        find("ours-full") as f64 / find("actix").max(1) as f64,
        find("ours-full") as f64 / find("minihttp").max(1) as f64
    );
}
