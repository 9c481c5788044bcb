//! The `minihttp_baseline` example answers like the hello route it is measured against.

mod common;

use common::Running;

#[test]
fn minihttp_baseline_says_hello() {
    let server = Running::start(env!("CARGO_BIN_EXE_minihttp_baseline"));
    // may_minihttp ignores `Connection: close`: read one response by its length.
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    while !response.ends_with(b"Hello, world!") {
        let read = stream.read(&mut buffer).unwrap();
        assert!(
            read > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(&response)
        );
        response.extend_from_slice(&buffer[..read]);
    }
    assert!(response.starts_with(b"HTTP/1.1 200"));
}
