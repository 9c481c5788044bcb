//! HTTP throughput and memory: our engine's hello route against raw `may_minihttp`'s, each
//! server in a child process of its own, loaded by a generator in this process.
//!
//! `cargo bench -p benches --bench http` (5 s a measurement; `-- --quick` for 1 s;
//! `HTTP_BENCH_WORKERS=N` gives each server and the generator N may workers, default 1).
//!
//! The generator shares the machine's cores with the server and is often the limit on a
//! 2-core machine, so besides requests/s each line reports the server's CPU use (from
//! `/proc/PID/stat`) and requests/s per busy server core.

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

fn harness() {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 1 } else { 5 });
    may::config().set_workers(workers()).set_worker_pin(false);
    println!(
        "HTTP hello route, {} s a measurement, {} may worker(s) per server and in the generator",
        duration.as_secs(),
        workers()
    );
    println!(
        "{:<24} {:<10} {:>12} {:>9} {:>14} {:>11} {:>8} {:>8} {:>7}",
        "scenario",
        "server",
        "req/s",
        "cpu",
        "req/s per core",
        "cpu ns/req",
        "p50 µs",
        "p99 µs",
        "ratio"
    );
    // 256 connections: many more connections than cores (with `HTTP_BENCH_WORKERS=2`, the
    // scenario of two may workers per server).
    for (scenario, connections, depth) in [
        ("keep-alive, 64 conns", 64, 1),
        ("pipelined 16, 64 conns", 64, 16),
        ("keep-alive, 256 conns", 256, 1),
    ] {
        let mut baseline = None;
        for role in ["minihttp", "ours", "ours-full"] {
            let server = Server::start(role);
            let run = load(&server, connections, depth, duration);
            let rate = run.requests as f64 / run.elapsed.as_secs_f64();
            let cores = run.server_cpu.as_secs_f64() / run.elapsed.as_secs_f64();
            let per_core = rate / cores.max(0.01);
            let ratio = baseline.map_or(1.0, |(base_rate, _): (f64, f64)| rate / base_rate);
            println!(
                "{:<24} {:<10} {:>12.0} {:>9.2} {:>14.0} {:>11.0} {:>8} {:>8} {:>6.2}x",
                scenario,
                role,
                rate,
                cores,
                per_core,
                // The server's CPU time per request: where the time goes, beside the ratios.
                1e9 / per_core,
                percentile(&run.latencies_us, 0.50),
                percentile(&run.latencies_us, 0.99),
                ratio
            );
            if let Some((_, base_per_core)) = baseline {
                println!(
                    "{:<24} {:<10} per busy core: {:.2}x of minihttp",
                    "",
                    "",
                    per_core / base_per_core
                );
            }
            baseline.get_or_insert((rate, per_core));
        }
    }
    let idle = if quick { 1_000 } else { 10_000 };
    let mut baseline = 0;
    for role in ["minihttp", "ours", "ours-full"] {
        let server = Server::start(role);
        let per = idle_memory(&server, idle);
        let ratio = if baseline == 0 {
            1.0
        } else {
            per as f64 / baseline as f64
        };
        println!(
            "{idle} idle keep-alive connections, {role:<8}: {per:>6} bytes RSS each ({ratio:.2}x)"
        );
        if baseline == 0 {
            baseline = per.max(1);
        }
    }
}
