//! How deep the request path's stack goes, measured by may on the worst inputs the server
//! accepts: the figures behind the default stack sizes (README, "Limits and their defaults").
//!
//! `cargo run --release -p benches --bin stack_use [-- --depths 8,16,32,64]`
//!
//! may reports how much of a coroutine's stack was ever written when the coroutine ends, if
//! its stack size is an odd number of words (it fills such a stack with a pattern when it
//! creates it, and looks for where the pattern stops). So this starts the whole server — a
//! router, the `RequestId` middleware, an access log, an exception handler — in a child
//! process whose connection coroutines have a 1 MiB + 1 word stack and are never reused
//! (`idle_coroutines(0)`), sends each case on a connection of its own, and reads may's report
//! for that connection's coroutine from the child's output once the connection has closed.
//!
//! The cases: JSON nested `depth` deep (the body's whole nesting, as the `Json` extractor's
//! depth limit counts it: at the default limit, 32, the deepest body it accepts), in through
//! `Json<T>` and back out as `Json<T>`, for a
//! `serde_json::Value`, an internally tagged enum that buffers an unknown nested field
//! through serde's recursive content type, and a recursive struct; the largest head the
//! default limits accept (100 fields in 64 KiB), a long query and a large form; a handler's
//! error through the exception chain; and a plain `GET` for comparison. A runtime spawn with a
//! trivial body gives the runtime's own share of a spawned coroutine's stack.
//!
//! `stack_use --memory` measures memory with the default configuration instead: resident
//! memory per idle keep-alive connection before and after a burst of the deepest accepted
//! `Json` bodies, and the peak of one request with a body at the default body limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};

/// The connection stack while measuring: far more than any case needs, and an odd number of
/// words, which turns on may's report.
const MEASURING_STACK: usize = 1024 * 1024 + size_of::<usize>();
/// The trivial spawn's stack: odd too; the spawn is named, so that its report is told apart.
const SPAWN_STACK: usize = 512 * 1024 + size_of::<usize>();

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--serve") => return serve(true),
        Some("--serve-default") => return serve(false),
        Some("--memory") => return memory(),
        _ => {}
    }
    let depths: Vec<usize> = match args.iter().position(|arg| arg == "--depths") {
        Some(at) => args[at + 1]
            .split(',')
            .map(|depth| depth.parse().expect("--depths takes numbers, e.g. 8,16,32"))
            .collect(),
        None => vec![8, 16, 32, 64],
    };
    let mut child = Command::new(std::env::current_exe().expect("the tool's own path"))
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server process starts");
    let mut output = BufReader::new(child.stdout.take().expect("piped"));
    // The trivial spawn ends before the server starts.
    let runtime_own = read_report(&mut output, "Some(\"trivial\")", SPAWN_STACK);
    let port = read_line_with(&mut output, "port=")
        .trim()
        .parse::<u16>()
        .expect("a port");
    println!(
        "runtime spawn, trivial body: {} bytes",
        words_to_bytes(&runtime_own)
    );
    let mut measure = |label: &str, request: Vec<u8>| {
        let status = exchange(port, &request);
        let used = words_to_bytes(&read_report(&mut output, "None", MEASURING_STACK));
        println!("{label:<58} {status:<4} {used:>7} bytes");
    };
    measure("GET / (plain)", get("/", ""));
    measure(
        "handler error through the exception chain",
        get("/fail", ""),
    );
    measure("largest head: 100 fields in 64 KiB", largest_head());
    measure("query of 1,000 pairs into Query<HashMap>", query(1_000));
    measure(
        "form of 100,000 pairs into Form<Vec<(String, String)>>",
        form(100_000),
    );
    for &depth in &depths {
        measure(
            &format!("Json<Value>, objects {depth} deep, echoed"),
            post_json("/value", &nested_objects(depth)),
        );
        measure(
            &format!("Json<Value>, arrays {depth} deep, echoed"),
            post_json("/value", &nested_arrays(depth)),
        );
        measure(
            &format!("Json<tagged enum>, {depth} deep (the ignored field)"),
            post_json(
                "/tagged",
                &format!(
                    r#"{{"type":"A","name":"x","junk":{}}}"#,
                    nested_objects(depth - 1)
                ),
            ),
        );
        measure(
            &format!("Json<recursive struct>, {depth} deep, echoed"),
            post_json("/comment", &nested_comments(depth / 2)),
        );
    }
    websocket_echo(port);
    let used = words_to_bytes(&read_report(&mut output, "None", MEASURING_STACK));
    println!(
        "{:<58} {:<4} {used:>7} bytes",
        "WebSocket on /ws: upgrade, one echo, close", "101"
    );
    stop(child);
}

/// Memory, with the default configuration: resident memory per idle keep-alive connection
/// before and after each served the deepest `Json` body the default depth accepts (a reused
/// stack keeps the pages a deep request touched), and the peak of one request with a body at
/// the default body limit.
fn memory() {
    const CONNECTIONS: usize = 1_000;
    let (child, port) = start_default();
    let pid = child.id();
    let base = status_kib(pid, "VmRSS:");
    let mut connections: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let keep_alive = |request: Vec<u8>| -> Vec<u8> {
        String::from_utf8(request)
            .expect("ASCII")
            .replace("Connection: close\r\n", "")
            .into_bytes()
    };
    let shallow = keep_alive(get("/", ""));
    let deep = keep_alive(post_json("/value", &nested_objects(32)));
    for stream in &mut connections {
        answer_one(stream, &shallow);
    }
    let idle = status_kib(pid, "VmRSS:");
    for stream in &mut connections {
        answer_one(stream, &deep);
    }
    let after_deep = status_kib(pid, "VmRSS:");
    let per = |kib: u64| kib as f64 / CONNECTIONS as f64;
    println!(
        "{CONNECTIONS} idle keep-alive connections: {:.1} KiB each after a GET, {:.1} KiB after a 32-deep Json<Value> each",
        per(idle - base),
        per(after_deep - base)
    );
    drop(connections);
    // New connections after those closed: a reused coroutine would bring a deep one's pages.
    let mut connections: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    for stream in &mut connections {
        answer_one(stream, &shallow);
    }
    let after_new = status_kib(pid, "VmRSS:");
    println!(
        "then {CONNECTIONS} new ones after those closed: {:.1} KiB each after a GET",
        per(after_new - base)
    );
    drop(connections);
    stop(child);
    let form = "a=b&".repeat(2 * 1024 * 1024 / 4 - 1);
    let zeros = format!("[{}0]", "0,".repeat(2 * 1024 * 1024 / 2 - 2));
    for (label, request) in [
        (
            "a 2 MiB form into Form<Vec<(String, String)>>",
            post("/form", "application/x-www-form-urlencoded", &form),
        ),
        (
            "a 2 MiB JSON array of zeros into Json<Value>",
            post_json("/value", &zeros),
        ),
    ] {
        let (child, port) = start_default();
        let before = status_kib(child.id(), "VmHWM:");
        let status = exchange(port, &request);
        let peak = status_kib(child.id(), "VmHWM:");
        println!(
            "{label:<50} {status:<4} peak +{:.1} MiB",
            (peak - before) as f64 / 1024.0
        );
        stop(child);
    }
}

/// The child with the default configuration, and its port.
fn start_default() -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().expect("the tool's own path"))
        .arg("--serve-default")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server process starts");
    let mut output = BufReader::new(child.stdout.take().expect("piped"));
    let port = read_line_with(&mut output, "port=")
        .parse()
        .expect("a port");
    (child, port)
}

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .expect("the field")
}

/// Sends `request` on a keep-alive connection and reads its one response (with a
/// `Content-Length`).
fn answer_one(stream: &mut TcpStream, request: &[u8]) {
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let read = stream.read(&mut chunk).expect("the answer");
        assert!(read > 0, "the server closed a keep-alive connection");
        answer.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| {
                    line.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|value| value.trim().to_owned())
                })
                .and_then(|value| value.parse().ok())
                .expect("a Content-Length");
            if answer.len() >= end + 4 + length {
                return;
            }
        }
    }
}

/// Reads the child's output until a line holding `marker`; what follows the marker.
fn read_line_with(output: &mut BufReader<ChildStdout>, marker: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if output.read_line(&mut line).expect("the child's output") == 0 {
            panic!("the server process ended before it printed {marker:?}");
        }
        if let Some(at) = line.find(marker) {
            return line[at + marker.len()..].trim().to_owned();
        }
    }
}

/// may's report of the next coroutine to end whose name (as may prints it) is `name` and
/// whose stack is at least `stack` bytes: the words it used. (may rounds a stack up to whole
/// pages and reports that size.)
fn read_report(output: &mut BufReader<ChildStdout>, name: &str, stack: usize) -> String {
    loop {
        let line = read_line_with(output, "coroutine name = ");
        let Some((named, rest)) = line.split_once(", stack size = ") else {
            continue;
        };
        let Some((size, used)) = rest.split_once(",  used size = ") else {
            continue;
        };
        let size: usize = size.trim().parse().unwrap_or(0);
        if named == name && size * size_of::<usize>() >= stack {
            return used.trim().to_owned();
        }
    }
}

fn words_to_bytes(words: &str) -> usize {
    words.parse::<usize>().expect("may's report, in words") * size_of::<usize>()
}

/// Sends `request` on a new connection and reads the answer to its end; the status.
fn exchange(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the answer");
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .unwrap_or("none")
        .to_owned()
}

/// A WebSocket on `/ws`: the upgrade, one text message echoed, then the close handshake,
/// written by hand (masked with a zero key, which RFC 6455 allows) so that the server's side
/// alone is measured.
fn websocket_echo(port: u16) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .expect("send the upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the 101's head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "no 101");
    // FIN + text, masked, 2 bytes, key 0: the payload goes as is.
    stream
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .expect("send a message");
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).expect("the echo");
    assert_eq!(echo, [0x81, 0x02, b'h', b'i']);
    // FIN + close, masked, no payload.
    stream
        .write_all(&[0x88, 0x80, 0, 0, 0, 0])
        .expect("send a close");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the close");
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn get(path: &str, extra_headers: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra_headers}Connection: close\r\n\r\n")
        .into_bytes()
}

fn largest_head() -> Vec<u8> {
    // 97 fields of ~640 bytes beside Host and Connection: under 64 KiB and 100 fields.
    let value = "v".repeat(640);
    let fields: String = (0..97)
        .map(|n| format!("X-Field-{n}: {value}\r\n"))
        .collect();
    get("/", &fields)
}

fn query(pairs: usize) -> Vec<u8> {
    let query: Vec<String> = (0..pairs).map(|n| format!("k{n}=v")).collect();
    get(&format!("/query?{}", query.join("&")), "")
}

fn form(pairs: usize) -> Vec<u8> {
    let body = vec!["a=b"; pairs].join("&");
    post("/form", "application/x-www-form-urlencoded", &body)
}

fn post_json(path: &str, body: &str) -> Vec<u8> {
    post(path, "application/json", body)
}

fn post(path: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn nested_objects(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

fn nested_arrays(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// `comments` comments, each the only reply of the one before: two JSON levels each.
fn nested_comments(comments: usize) -> String {
    format!(
        "{}[]{}",
        r#"{"text":"x","replies":["#.repeat(comments - 1) + r#"{"text":"x","replies":"#,
        "}]".repeat(comments - 1) + "}"
    )
}

/// The child: the whole server, one worker, connection stacks measured by may.
/// The child: the whole server on one worker; with `measuring`, connection stacks measured by
/// may and never reused, otherwise the default configuration.
fn serve(measuring: bool) {
    use hyperf_http::server::ws::WebSocketUpgrade;
    use hyperf_http::server::{
        AccessLog, AccessLogFormat, ExceptionHandler, Form, HttpError, Json, Propagation, Query,
        RequestId, Router, Server, ServerSpec,
    };
    use hyperf_http::{BoxError, EngineConfig, Response, StatusCode};
    use std::collections::HashMap;

    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(tag = "type")]
    enum Tagged {
        A { name: String },
    }

    #[derive(serde::Deserialize, serde::Serialize)]
    struct Comment {
        text: String,
        replies: Vec<Comment>,
    }

    /// An exception handler that looks at every error, so the chain is walked.
    struct Marks;

    impl ExceptionHandler for Marks {
        fn is_valid(&self, _: &BoxError) -> bool {
            true
        }
        fn handle(
            &self,
            _: &BoxError,
            mut response: Response,
            _: &mut Propagation,
        ) -> Result<Response, BoxError> {
            response
                .headers_mut()
                .insert("x-handled", hyperf_http::HeaderValue::from_static("1"));
            Ok(response)
        }
    }

    let config = runtime::Config::default().workers(1);
    runtime::configure(if measuring {
        config.idle_coroutines(0)
    } else {
        config
    })
    .expect("configured before the first spawn");
    // The runtime's own share of a spawned coroutine's stack.
    runtime::Builder::new()
        .name("trivial")
        .stack_size(SPAWN_STACK)
        .spawn(|| ())
        .expect("a trivial spawn")
        .join()
        .expect("it ends");

    let mut router = Router::new();
    router.get("/", || "hello").unwrap();
    router
        .get("/ws", |upgrade: WebSocketUpgrade| {
            upgrade.on_upgrade(|mut socket| {
                while let Ok(message) = socket.recv() {
                    if socket.send(message).is_err() {
                        break;
                    }
                }
            })
        })
        .unwrap();
    router
        .get("/fail", || -> Result<&'static str, HttpError> {
            Err(HttpError::new(StatusCode::CONFLICT, "failed"))
        })
        .unwrap();
    router
        .get("/query", |Query(query): Query<HashMap<String, String>>| {
            query.len().to_string()
        })
        .unwrap();
    router
        .post("/form", |Form(form): Form<Vec<(String, String)>>| {
            form.len().to_string()
        })
        .unwrap();
    router
        .post("/value", |Json(value): Json<serde_json::Value>| Json(value))
        .unwrap();
    router
        .post("/tagged", |Json(value): Json<Tagged>| Json(value))
        .unwrap();
    router
        .post("/comment", |Json(value): Json<Comment>| Json(value))
        .unwrap();
    let spec = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .middleware_with_priority(RequestId::new(), 10)
        .exception_handler(Marks)
        .access_log(AccessLog::new(AccessLogFormat::Combined))
        .engine(if measuring {
            EngineConfig::default().stack_size(MEASURING_STACK)
        } else {
            EngineConfig::default()
        });
    let server = Server::new()
        .worker_num(1)
        .handle_signals(false)
        .process_coordinators(false)
        .server(spec)
        .start()
        .expect("the server starts");
    let port = server.local_addr("http").expect("listening").port();
    println!("port={port}");
    std::io::stdout().flush().expect("stdout");
    server.wait();
}
