//! A database behind the server: `GET /todos/{id}` on SQLite, the `todo` example (our server,
//! each query run on tokio through `runtime::block_on`) against `todo_axum` (the same routes,
//! SQL, pool and SQLite settings on axum + sqlx, `src/bin/todo_axum.rs`).
//!
//! `cargo bench -p benches --bench todo` (five rounds of each server, 5 s each; `-- --quick`
//! for two rounds of 2 s). `TODO_BENCH_WORKERS=N` gives both servers N workers (default 2:
//! `todo --workers N`, `todo_axum --workers N`, tokio's worker threads);
//! `TODO_BENCH_AXUM_WORKERS=N` gives the peer another count (`todo` also runs its queries on
//! the bridge's tokio runtime, one thread per CPU, beside its may workers: this shows whether
//! the peer gains from as many threads).
//!
//! Where the two binaries come from: `cargo bench -p benches` builds this package's binaries
//! for its benches, so `todo_axum` is at hand (`CARGO_BIN_EXE_todo_axum`). `todo` belongs to
//! the `examples` package, which cargo does not build here (a binary of another package cannot
//! be a dependency on stable cargo), so the bench first runs `cargo build --release -p
//! examples --bin todo` itself — a no-op when it is up to date — and takes `todo` from the
//! same target directory as this bench's own executable. `TODO_BENCH_TODO=PATH` names a
//! `todo` binary to use instead, and skips that build.
//!
//! Each server gets a fresh SQLite file in a temporary directory, seeded with `SEEDED` todos
//! through `POST /todos` (each a committed transaction, as the API promises). Then the load
//! runs against one server at a time, alternating (ours, axum, ours, axum, …) to spread the
//! shared machine's noise over both: `CONNECTIONS` keep-alive connections from this process
//! (coroutines on one may worker), each sending `GET /todos/{random seeded id}` and waiting for
//! the answer before the next (a closed loop), counted after a 500 ms warm-up. Every answer
//! must be a `200`. Each round prints its ratios ours/axum, and the end both the pooled figures
//! and the median of the rounds' ratios: on a shared machine one round can run twice as fast
//! as the next. `todo` runs with `RUST_LOG=warn`, so its access log is off: the peer
//! writes none either.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use benches::load::{self, Load, Window, percentile, response_length};

/// Todos created in each database before the load; the load reads them at random.
const SEEDED: u64 = 1_000;
/// Connections the `POST`s that seed a database are spread over.
const SEEDING_CONNECTIONS: u64 = 4;
/// Keep-alive connections of the load.
const CONNECTIONS: usize = 64;
/// Counting starts this long after the load does.
const WARM_UP: Duration = Duration::from_millis(500);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, duration) = if quick {
        (2, Duration::from_secs(2))
    } else {
        (5, Duration::from_secs(5))
    };
    let workers: usize = std::env::var("TODO_BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    let axum_workers: usize = std::env::var("TODO_BENCH_AXUM_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(workers);
    may::config().set_workers(1).set_worker_pin(false);

    let todo = todo_binary();
    let axum = PathBuf::from(env!("CARGO_BIN_EXE_todo_axum"));
    let directory = std::env::temp_dir().join(format!("todo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();

    println!(
        "GET /todos/{{id}} on SQLite ({SEEDED} rows, pool of 8): {CONNECTIONS} keep-alive \
         connections, {rounds} rounds of {} s per server, {workers} worker(s) for ours, \
         {axum_workers} for axum",
        duration.as_secs()
    );
    let servers = [
        Server::start("ours", &todo, workers, &directory.join("ours.db")),
        Server::start("axum", &axum, axum_workers, &directory.join("axum.db")),
    ];
    for server in &servers {
        let took = seed(server.address);
        println!(
            "{:<5} seeded {SEEDED} todos by POST in {:.2} s ({:.0} POST/s, each commit synced)",
            server.name,
            took.as_secs_f64(),
            SEEDED as f64 / took.as_secs_f64()
        );
    }

    println!(
        "\n{:<6} {:<5} {:>10} {:>9} {:>11} {:>8} {:>8}",
        "round", "server", "req/s", "cpu", "cpu ns/req", "p50 µs", "p99 µs"
    );
    let mut totals: Vec<Load> = servers.iter().map(|_| Load::default()).collect();
    // Each round's ratios ours/axum (requests/s, p99): the pooled figures below weigh a fast
    // round by its larger count of requests, these do not.
    let mut round_ratios = Vec::new();
    for round in 1..=rounds {
        let mut figures = Vec::new();
        for (server, total) in servers.iter().zip(&mut totals) {
            let run = load(server, duration);
            println!(
                "{:<6} {:<5} {:>10.0} {:>9.2} {:>11.0} {:>8} {:>8}",
                round,
                server.name,
                run.rate(),
                run.cores(),
                run.cpu_per_request(),
                percentile(&run.latencies_us, 0.50),
                percentile(&run.latencies_us, 0.99),
            );
            figures.push((run.rate(), f64::from(percentile(&run.latencies_us, 0.99))));
            total.add(run);
        }
        let ratios = (
            figures[0].0 / figures[1].0,
            figures[0].1 / figures[1].1.max(1.0),
        );
        println!(
            "{:<6} ours/axum: requests/s {:.2}x, p99 {:.2}x",
            "", ratios.0, ratios.1
        );
        round_ratios.push(ratios);
    }

    println!(
        "\n{:<6} {:>10} {:>7} {:>9} {:>11} {:>8} {:>8} {:>9}",
        "server", "req/s", "ratio", "cpu", "cpu ns/req", "p50 µs", "p99 µs", "p99 ratio"
    );
    for total in &mut totals {
        total.latencies_us.sort_unstable();
    }
    let (ours, axum) = (&totals[0], &totals[1]);
    for (server, total) in servers.iter().zip(&totals) {
        println!(
            "{:<6} {:>10.0} {:>6.2}x {:>9.2} {:>11.0} {:>8} {:>8} {:>8.2}x",
            server.name,
            total.rate(),
            total.rate() / axum.rate(),
            total.cores(),
            total.cpu_per_request(),
            percentile(&total.latencies_us, 0.50),
            percentile(&total.latencies_us, 0.99),
            f64::from(percentile(&total.latencies_us, 0.99))
                / f64::from(percentile(&axum.latencies_us, 0.99).max(1)),
        );
    }
    println!(
        "ours/axum: requests/s {:.2}x (target >= 1.0x), p99 {:.2}x (target <= 1.2x)",
        ours.rate() / axum.rate(),
        f64::from(percentile(&ours.latencies_us, 0.99))
            / f64::from(percentile(&axum.latencies_us, 0.99).max(1))
    );

    let median = |pick: fn(&(f64, f64)) -> f64| {
        let mut values: Vec<f64> = round_ratios.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        if values.len() % 2 == 0 {
            (values[middle - 1] + values[middle]) / 2.0
        } else {
            values[middle]
        }
    };
    println!(
        "median of the rounds' ratios: requests/s {:.2}x, p99 {:.2}x",
        median(|r| r.0),
        median(|r| r.1)
    );

    drop(servers);
    let _ = std::fs::remove_dir_all(&directory);
}

/// The `todo` example's binary: `TODO_BENCH_TODO`, else built (see the module's doc).
fn todo_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TODO_BENCH_TODO") {
        return path.into();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "examples", "--bin", "todo"])
        .arg("--manifest-path")
        .arg(manifest)
        .status()
        .expect("cargo could not run");
    assert!(status.success(), "building the todo example failed");
    // This bench runs from target/release/deps/.
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().and_then(Path::parent).unwrap();
    release.join("todo")
}

/// A server in a child process, killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(name: &'static str, binary: &Path, workers: usize, database: &Path) -> Server {
        let mut child = Command::new(binary)
            .args(["--port", "0", "--workers", &workers.to_string()])
            .arg("--database-url")
            .arg(format!("sqlite://{}?mode=rwc", database.display()))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{}: {error}", binary.display()));
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
        Server {
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates `SEEDED` todos through `POST /todos`; returns how long it took.
fn seed(address: SocketAddr) -> Duration {
    let began = Instant::now();
    let threads: Vec<_> = (0..SEEDING_CONNECTIONS)
        .map(|n| {
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = vec![0u8; 16 * 1024];
                for i in (n..SEEDED).step_by(SEEDING_CONNECTIONS as usize) {
                    let body = format!(r#"{{"title":"todo number {i}"}}"#);
                    let request = format!(
                        "POST /todos HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    stream.write_all(request.as_bytes()).unwrap();
                    let (status, _) = read_response(&mut stream, &mut buffer);
                    assert_eq!(status, 201, "POST /todos answered {status}");
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    began.elapsed()
}

/// Reads one response from `stream`: its status and its length.
fn read_response(stream: &mut impl Read, buffer: &mut [u8]) -> (u16, usize) {
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).unwrap();
        assert!(read > 0, "the server closed the connection");
        filled += read;
        if let Some(length) = response_length(&buffer[..filled]) {
            assert_eq!(length, filled, "one response at a time");
            return (status(&buffer[..filled]), length);
        }
    }
}

/// `CONNECTIONS` closed-loop clients against `server` for `duration` after the warm-up.
fn load(server: &Server, duration: Duration) -> Load {
    let address = server.address;
    load::closed_loop(
        CONNECTIONS,
        WARM_UP,
        duration,
        || server.cpu_time(),
        move |n, window| client(address, n as u64, &window),
    )
}

/// One keep-alive client: `GET /todos/{id}` of a random seeded id, one at a time; returns the
/// latency of each request counted, in µs.
fn client(address: SocketAddr, seed: u64, window: &Window<'_>) -> Vec<u32> {
    let mut stream = may::net::TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut request = Vec::with_capacity(64);
    // xorshift64: a different sequence of ids on each connection, nothing to share.
    let mut random = 0x9E37_79B9_7F4A_7C15u64 ^ (seed + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mut latencies = Vec::new();
    while !window.stop.load(Ordering::Relaxed) {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        let id = 1 + random % SEEDED;
        request.clear();
        write!(request, "GET /todos/{id} HTTP/1.1\r\nHost: bench\r\n\r\n").unwrap();
        let sent = Instant::now();
        stream.write_all(&request).unwrap();
        let (status, _) = read_response(&mut stream, &mut buffer);
        assert_eq!(status, 200, "GET /todos/{id} answered {status}");
        if window.counting.load(Ordering::Relaxed) {
            window.completed.fetch_add(1, Ordering::Relaxed);
            latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    latencies
}

/// The status code of the response at the start of `bytes` (`HTTP/1.1 200 …`).
fn status(bytes: &[u8]) -> u16 {
    std::str::from_utf8(bytes.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
