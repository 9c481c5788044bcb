//! The `upload` example: a streamed upload lands in a file whole and comes back; uploads to one
//! name never mix; a planted symlink is not followed; limits answer `413` and `507`, bad names
//! `400`; and a GET is served while an upload is in flight on the same (only) worker.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Running;

const SIZE: usize = 3 * 1024 * 1024;
/// A guard against a hung test, never what decides it.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh folder of this test's own under the build's temporary folder (not a shared `/tmp`).
fn store(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("upload-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The example binary (`UPLOAD_BIN` runs another build of it, for measurements).
fn binary() -> String {
    std::env::var("UPLOAD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_upload").to_string())
}

fn start(dir: &Path, args: &[&str]) -> Running {
    let mut all = vec!["--dir", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    Running::start_with(&binary(), &all)
}

fn connect(server: &Running) -> TcpStream {
    let stream = TcpStream::connect(&server.address).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// The whole response to a request already sent with `Connection: close`.
fn answer(mut stream: TcpStream) -> String {
    let mut bytes = Vec::new();
    // A server that refused a body it did not read may reset the connection after answering.
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `PUT /files/{name}` with `Content-Length`; the response.
fn put(server: &Running, name: &str, body: &[u8]) -> String {
    let mut stream = connect(server);
    let head = format!(
        "PUT /files/{name} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // A refused upload may be answered (and closed) before its body is sent.
    let _ = stream.write_all(body);
    answer(stream)
}

/// `PUT /files/{name}` with a chunked body of `size` bytes of `byte`; the response.
fn put_chunked(server: &Running, name: &str, size: usize, byte: u8) -> String {
    let mut stream = connect(server);
    stream
        .write_all(format!("PUT /files/{name} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let piece = vec![byte; 64 * 1024];
    let mut left = size;
    while left > 0 {
        let length = left.min(piece.len());
        let sent = stream
            .write_all(format!("{length:x}\r\n").as_bytes())
            .and_then(|()| stream.write_all(&piece[..length]))
            .and_then(|()| stream.write_all(b"\r\n"));
        if sent.is_err() {
            // Refused part way (past the limit): the answer is waiting.
            return answer(stream);
        }
        left -= length;
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    answer(stream)
}

/// Byte `i` of a test body: a pattern that shows bytes moved, lost or repeated.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Names in the folder starting with a dot: temporary files left behind.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect()
}

#[test]
fn upload_example_stores_a_streamed_body_and_serves_it_back() {
    let dir = store("roundtrip");
    let server = start(&dir, &[]);

    let answer = put_chunked(&server, "data.bin", SIZE, b'z');
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(
        answer.ends_with(&format!(r#"{{"bytes":{SIZE},"name":"data.bin"}}"#)),
        "{answer}"
    );
    let stored = std::fs::read(dir.join("data.bin")).unwrap();
    assert_eq!(stored.len(), SIZE);
    assert!(stored.iter().all(|&byte| byte == b'z'));
    assert_eq!(leftovers(&dir), Vec::<String>::new());

    let fetched = server.get("/files/data.bin");
    assert!(fetched.starts_with("HTTP/1.1 200"), "{fetched}");
    assert!(
        fetched.contains("transfer-encoding: chunked"),
        "streamed back"
    );
    assert!(server.get("/files/missing.bin").starts_with("HTTP/1.1 404"));

    // Small files come back whole, every time (their reader is done before it has all its
    // buffers).
    assert!(put(&server, "small.txt", b"small").starts_with("HTTP/1.1 201"));
    for _ in 0..50 {
        let fetched = server.get("/files/small.txt");
        assert!(
            fetched.ends_with("\r\n5\r\nsmall\r\n0\r\n\r\n"),
            "{fetched:?}"
        );
    }

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_file_names_are_refused_with_400() {
    let dir = store("names");
    let server = start(&dir, &[]);
    let long = "a".repeat(129);
    for name in [
        "..%2Fescape",
        "a%2Fb",
        "..",
        "a..b",
        ".hidden",
        ".upload-0.partial",
        "tab%09name",
        "nul%00name",
        "new%0Aline",
        "caf%C3%A9",
        long.as_str(),
    ] {
        let answer = put(&server, name, b"x");
        assert!(answer.starts_with("HTTP/1.1 400"), "{name}: {answer}");
        let fetched = server.get(&format!("/files/{name}"));
        assert!(fetched.starts_with("HTTP/1.1 400"), "{name}: {fetched}");
    }
    assert!(!dir.join("../escape").exists());
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    assert!(put(&server, &"a".repeat(128), b"x").starts_with("HTTP/1.1 201"));

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_upload_past_the_limit_is_refused_with_413_and_leaves_nothing() {
    let dir = store("limit");
    let server = start(&dir, &["--max-bytes", "100000"]);

    // Declared too large: refused before the body is read.
    let declared = put(&server, "big.bin", &vec![b'x'; 100_001]);
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    // Chunked: refused once it passes the limit, its temporary file removed.
    let chunked = put_chunked(&server, "big.bin", 300_000, b'x');
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // At the limit: stored.
    let fits = put(&server, "fits.bin", &vec![b'x'; 100_000]);
    assert!(fits.starts_with("HTTP/1.1 201"), "{fits}");

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_upload_that_would_fill_the_disk_is_refused_with_507() {
    let dir = store("space");
    // A reserve no disk has: every upload would eat into it.
    let server = start(&dir, &["--reserve-bytes", &u64::MAX.to_string()]);

    let declared = put(&server, "any.bin", b"hello");
    assert!(declared.starts_with("HTTP/1.1 507"), "{declared}");
    let chunked = put_chunked(&server, "any.bin", 1000, b'x');
    assert!(chunked.starts_with("HTTP/1.1 507"), "{chunked}");
    // Refused before the body: a client waiting for `100 Continue` is answered at once.
    let mut waiting = connect(&server);
    waiting
        .write_all(b"PUT /files/any.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        .unwrap();
    let waiting = answer(waiting);
    assert!(waiting.starts_with("HTTP/1.1 507"), "{waiting}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Polls `done` until it holds or `TIMEOUT` passes (the pauses only pace the polling).
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn a_client_that_leaves_mid_upload_leaves_no_file() {
    let dir = store("leaves");
    let server = start(&dir, &[]);

    let mut upload = connect(&server);
    upload
        .write_all(b"PUT /files/gone.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 8388608\r\n\r\n")
        .unwrap();
    upload.write_all(&vec![b'x'; 1024 * 1024]).unwrap();
    // The temporary file exists while the body comes in...
    assert!(eventually(|| leftovers(&dir).len() == 1));
    drop(upload);
    // ...and is removed once the client is gone.
    assert!(
        eventually(|| std::fs::read_dir(&dir).unwrap().count() == 0),
        "{:?}",
        leftovers(&dir)
    );
    // The server goes on.
    assert!(put(&server, "after.bin", b"after").starts_with("HTTP/1.1 201"));

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_uploads_to_one_name_never_mix() {
    let dir = store("same-name");
    let server = start(&dir, &[]);
    const LENGTH: usize = 2 * 1024 * 1024;
    const PIECE: usize = 64 * 1024;

    for round in 0..3 {
        // Two clients upload to one name, their bodies sent piece by piece in turn.
        let head = format!(
            "PUT /files/shared.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {LENGTH}\r\nConnection: close\r\n\r\n"
        );
        let mut first = connect(&server);
        let mut second = connect(&server);
        first.write_all(head.as_bytes()).unwrap();
        second.write_all(head.as_bytes()).unwrap();
        for _ in 0..LENGTH / PIECE {
            first.write_all(&[b'a'; PIECE]).unwrap();
            second.write_all(&[b'b'; PIECE]).unwrap();
        }
        let (first, second) = (answer(first), answer(second));
        assert!(first.starts_with("HTTP/1.1 201"), "{first}");
        assert!(second.starts_with("HTTP/1.1 201"), "{second}");

        // The last to finish wins, whole.
        let stored = std::fs::read(dir.join("shared.bin")).unwrap();
        assert_eq!(stored.len(), LENGTH, "round {round}");
        assert!(
            stored.iter().all(|&byte| byte == b'a') || stored.iter().all(|&byte| byte == b'b'),
            "round {round}: the stored file mixes the two uploads"
        );
        assert_eq!(leftovers(&dir), Vec::<String>::new());
    }

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_planted_symlink_is_not_followed() {
    let dir = store("symlink");
    let outside = store("symlink-outside");
    let precious = outside.join("precious.txt");
    std::fs::write(&precious, "precious").unwrap();
    let store_dir = dir.join("files");
    std::fs::create_dir(&store_dir).unwrap();
    // At the name itself, and at the temporary name earlier versions of the example used.
    std::os::unix::fs::symlink(&precious, store_dir.join("victim.txt")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("planted"),
        store_dir.join(".victim.txt.partial"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&precious, store_dir.join("leak.txt")).unwrap();
    let server = start(&store_dir, &[]);

    let answer = put(&server, "victim.txt", b"uploaded");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
    assert!(!outside.join("planted").exists());
    // The link was replaced by the upload, not written through.
    let victim = store_dir.join("victim.txt");
    assert!(std::fs::symlink_metadata(&victim).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "uploaded");
    // A link is not served either.
    let leak = server.get("/files/leak.txt");
    assert!(leak.starts_with("HTTP/1.1 404"), "{leak}");
    assert!(!leak.contains("precious"));

    server.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}

#[test]
fn the_folder_is_created_private_and_a_world_writable_one_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = store("folder");
    let created = dir.join("new");
    let server = start(&created, &[]);
    let mode = std::fs::metadata(&created).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    server.terminate();

    std::fs::set_permissions(&created, std::fs::Permissions::from_mode(0o777)).unwrap();
    let status = std::process::Command::new(binary())
        .args(["--port", "0", "--dir", created.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Uploads `length` bytes of [`pattern`] with one worker, sending the first `paused_at` of
/// them, then GETs a small file on another connection while the upload is still open (and
/// keeps GETting while the rest is sent); the GETs' durations.
fn get_during_upload(dir: &Path, length: usize, paused_at: usize) -> Vec<Duration> {
    let limit = (length + 1).to_string();
    let server = start(dir, &["--workers", "1", "--max-bytes", &limit]);
    assert!(put(&server, "small.txt", b"small").starts_with("HTTP/1.1 201"));

    // One period more than a piece: a piece starting at any offset is a slice of it.
    let body: Vec<u8> = (0..CHUNK_OF_PATTERN + 251).map(pattern).collect();
    let mut upload = connect(&server);
    upload
        .write_all(
            format!("PUT /files/big.bin HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let send = |upload: &mut TcpStream, from: usize, to: usize| {
        let mut at = from;
        while at < to {
            let length = (to - at).min(CHUNK_OF_PATTERN);
            let offset = at % 251;
            upload.write_all(&body[offset..offset + length]).unwrap();
            at += length;
        }
    };
    send(&mut upload, 0, paused_at);

    // The upload is open (the server has not got its whole body): a GET is answered.
    let mut durations = Vec::new();
    let started = Instant::now();
    let fetched = server.get("/files/small.txt");
    durations.push(started.elapsed());
    assert!(fetched.starts_with("HTTP/1.1 200"), "{fetched}");
    assert!(fetched.contains("small"), "{fetched}");

    // The rest, sent from a thread while GETs go on.
    let rest = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            send(&mut upload, paused_at, length);
            let mut response = Vec::new();
            upload.read_to_end(&mut response).unwrap();
            String::from_utf8_lossy(&response).into_owned()
        });
        while !sender.is_finished() {
            let started = Instant::now();
            let fetched = server.get("/files/small.txt");
            durations.push(started.elapsed());
            assert!(fetched.starts_with("HTTP/1.1 200"), "{fetched}");
        }
        sender.join().unwrap()
    });
    assert!(rest.starts_with("HTTP/1.1 201"), "{rest}");
    assert!(rest.contains(&format!(r#""bytes":{length}"#)), "{rest}");

    let mut stored = std::fs::File::open(dir.join("big.bin")).unwrap();
    assert_eq!(stored.metadata().unwrap().len(), length as u64);
    let mut piece = vec![0u8; CHUNK_OF_PATTERN];
    let mut at = 0;
    while at < length {
        let read = stored.read(&mut piece).unwrap();
        assert!(read > 0, "the stored file ends at {at}");
        for (i, &byte) in piece[..read].iter().enumerate() {
            assert_eq!(byte, pattern(at + i), "byte {}", at + i);
        }
        at += read;
    }
    server.terminate();
    durations
}

/// How much of the [`pattern`] is written or checked at a time.
const CHUNK_OF_PATTERN: usize = 256 * 1024;

#[test]
fn a_get_is_served_while_an_upload_is_in_flight_on_the_only_worker() {
    let dir = store("in-flight");
    get_during_upload(&dir, 16 * 1024 * 1024, 4 * 1024 * 1024);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same with a 1 GiB upload (slow: `cargo test --release -p examples --test upload --
/// --ignored --nocapture`); prints how long the GETs took.
#[test]
#[ignore = "uploads 1 GiB"]
fn a_get_is_served_during_a_1_gib_upload() {
    let dir = store("one-gib");
    let mut durations = get_during_upload(&dir, 1 << 30, 64 * 1024 * 1024);
    durations.sort();
    let count = durations.len();
    let mean = durations.iter().sum::<Duration>() / count as u32;
    println!(
        "{count} GETs during a 1 GiB upload: median {:?}, mean {mean:?}, p99 {:?}, max {:?}",
        durations[count / 2],
        durations[count * 99 / 100],
        durations[count - 1]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
