//! A handler that overflows its connection's stack, in a server process of its own: the client
//! sees its connection close, and the process goes on serving with nothing of that connection
//! left open — not its socket (also when a streamed body's reader holds a duplicate of it),
//! not its place among the engine's connections. (may ends the process instead when an
//! overflow writes over the stack's lowest words; this one, 4 KiB frames from a small stack,
//! does not, in debug and release builds alike.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hyperf_http::server::{Router, ServerSpec};
use hyperf_http::{BodyReader, Engine, EngineConfig};

/// Set in the child process: it serves instead of testing.
const CHILD: &str = "HYPERF_STACK_OVERFLOW_CHILD";

/// Recurses with a 4 KiB frame a level, for ever: the stack overflows.
#[inline(never)]
#[allow(unconditional_recursion, reason = "it is meant to overflow")]
fn recurse(level: usize) -> u8 {
    let frame = std::hint::black_box([level as u8; 4096]);
    recurse(level + 1).wrapping_add(frame[4095])
}

/// The child's server: `GET /overflow` overflows, and `POST /overflow`, a route that streams
/// its body; a line on stdin asks how many connections are open.
fn serve() {
    let mut router = Router::new();
    router.get("/overflow", || recurse(0).to_string()).unwrap();
    // A streamed body's reader holds a duplicate of the socket's descriptor.
    router
        .post("/overflow", |_: BodyReader| recurse(0).to_string())
        .unwrap()
        .stream_body(0);
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router)
        .into_service();
    let config = EngineConfig::default().stack_size(64 * 1024);
    let engine = std::sync::Arc::new(Engine::start_shared("127.0.0.1:0", config, service).unwrap());
    println!("port={}", engine.local_addr().port());
    // One line per request on stdin: the engine's open connections.
    for _ in std::io::stdin().lines() {
        println!("connections={}", engine.connections());
    }
}

fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A guard against a hang only.
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => {}
        // A reset closes the connection too.
        Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(error) => panic!("the connection was not closed: {error}"),
    }
    answer
}

#[test]
fn a_handler_overflowing_its_stack_closes_its_connection_and_leaves_nothing_open() {
    if std::env::var_os(CHILD).is_some() {
        return serve();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_handler_overflowing_its_stack_closes_its_connection_and_leaves_nothing_open",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port: u16 = loop {
        line.clear();
        assert!(output.read_line(&mut line).unwrap() > 0, "the child ended");
        // The test harness writes the test's name on the same line first.
        if let Some((_, port)) = line.trim().split_once("port=") {
            break port.parse().unwrap();
        }
    };
    let overflows: [&[u8]; 2] = [
        b"GET /overflow HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /overflow HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    ];
    let mut stdin = child.stdin.take().unwrap();
    for request in overflows {
        let answer = exchange(port, request);
        assert!(answer.is_empty(), "{:?}", String::from_utf8_lossy(&answer));
        // The process serves on (may did not end it: the overflow left the stack's lowest
        // words alone), with no connection left open.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            writeln!(stdin).unwrap();
            line.clear();
            assert!(
                output.read_line(&mut line).unwrap() > 0,
                "the process ended"
            );
            if line.trim().ends_with("connections=0") {
                break;
            }
            assert!(Instant::now() < deadline, "still open: {line}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let answer = exchange(
        port,
        b"GET /missing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    drop(stdin);
    child.wait().unwrap();
}
