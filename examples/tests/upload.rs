//! The `upload` example: a streamed upload lands in a file whole, comes back, and a file name
//! that would leave the store is refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Running;

const SIZE: usize = 3 * 1024 * 1024;

/// A directory of this test's own under the system's temporary one.
fn store() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperf-upload-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn upload_example_stores_a_streamed_body_and_serves_it_back() {
    let dir = store();
    let server = Running::start_with(
        env!("CARGO_BIN_EXE_upload"),
        &["--dir", dir.to_str().unwrap()],
    );

    let mut client = TcpStream::connect(&server.address).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    client
        .write_all(b"PUT /files/data.bin HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .unwrap();
    let piece = vec![b'z'; 64 * 1024];
    for _ in 0..SIZE / piece.len() {
        client
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .unwrap();
        client.write_all(&piece).unwrap();
        client.write_all(b"\r\n").unwrap();
    }
    client.write_all(b"0\r\n\r\n").unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(
        answer.ends_with(&format!(r#"{{"bytes":{SIZE},"name":"data.bin"}}"#)),
        "{answer}"
    );
    assert_eq!(
        std::fs::metadata(dir.join("data.bin")).unwrap().len(),
        SIZE as u64
    );

    let fetched = server.get("/files/data.bin");
    assert!(fetched.starts_with("HTTP/1.1 200"), "{fetched}");
    assert!(
        fetched.contains("transfer-encoding: chunked"),
        "streamed back"
    );

    let escaping = server.request(
        "PUT /files/..%2Fescape HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    );
    assert!(escaping.starts_with("HTTP/1.1 400"), "{escaping}");
    assert!(!dir.join("../escape").exists());

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}
