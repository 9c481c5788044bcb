//! A 64 MiB chunked upload read by a streaming handler keeps the process's memory flat: alone
//! in its test binary, so that no other test's allocations move the figure.

mod server_common;

use std::io::{Read, Write};

use hyperf_http::BodyReader;
use hyperf_http::server::Router;
use server_common::{TIMEOUT, connect_to, server, spec, start, stop, within};

/// The process's resident memory, in bytes (Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux's /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

const UPLOAD: usize = 64 * 1024 * 1024;
const PIECE: usize = 64 * 1024;

#[test]
fn a_64_mib_chunked_upload_is_read_with_flat_memory() {
    let mut router = Router::new();
    router
        .post(
            "/upload",
            |mut body: BodyReader| -> std::io::Result<String> {
                let mut buffer = vec![0u8; 16 * 1024];
                let mut total = 0usize;
                loop {
                    match body.read(&mut buffer)? {
                        0 => return Ok(total.to_string()),
                        read => total += read,
                    }
                }
            },
        )
        .unwrap()
        .stream_body(0);
    let running = start(server().server(spec("http").router(router)));
    let mut client = connect_to(&running, "http");
    // A first, small upload, so that what every request allocates once is counted as idle.
    client.send(
        "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
    );
    assert_eq!(client.response().text(), "1");
    let idle = resident_bytes();

    let address = running.local_addr("http").unwrap();
    let uploaded = within(TIMEOUT * 6, move || {
        let mut upload = std::net::TcpStream::connect(address).unwrap();
        upload
            .write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
            .unwrap();
        let piece = vec![b'u'; PIECE];
        let size_line = format!("{PIECE:x}\r\n");
        let mut peak = 0u64;
        for _ in 0..UPLOAD / PIECE {
            upload.write_all(size_line.as_bytes()).unwrap();
            upload.write_all(&piece).unwrap();
            upload.write_all(b"\r\n").unwrap();
            peak = peak.max(resident_bytes());
        }
        upload.write_all(b"0\r\n\r\n").unwrap();
        let mut answer = String::new();
        upload.read_to_string(&mut answer).unwrap();
        (answer, peak)
    });
    let (answer, peak) = uploaded;
    assert!(answer.ends_with(&UPLOAD.to_string()), "{answer}");
    let growth = peak.saturating_sub(idle);
    assert!(
        growth < 8 * 1024 * 1024,
        "resident memory grew by {growth} bytes while a {UPLOAD}-byte body streamed"
    );
    stop(running);
}
