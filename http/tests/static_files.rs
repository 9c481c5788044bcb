//! Static files over sockets, from a temporary folder: content types, `304` by `ETag` and by
//! date, ranges (`206`, `416`, `If-Range`), `index.html` and the folder redirect,
//! precompressed siblings, escapes from the folder (all `404`), `HEAD`, a file of a few MiB
//! streamed, and the `Compression` middleware in front.

mod server_common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use hyperf_http::server::{Router, RunningServer, ServeDir, ServerSpec};
use server_common::{Reply, exchange, request, server, spec, start, stop};

/// A folder of its own under the system's temporary folder, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "hyperf-static-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Folder(path)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes that do not repeat (so that ranges and chunks are checked by content).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// `secret.txt` and `Cargo.toml` outside the site, the site in `root`: its folder.
fn site() -> (Folder, PathBuf) {
    let folder = Folder::new();
    folder.write("secret.txt", "secret");
    folder.write("Cargo.toml", "secret = true");
    folder.write("root/index.html", "<h1>home</h1>");
    folder.write("root/app.js", "console.log('plain');");
    folder.write("root/app.js.br", "BROTLI BYTES");
    folder.write("root/app.js.gz", "GZIP BYTES");
    folder.write("root/style.css", "body {}");
    folder.write("root/data.json", "{}");
    folder.write("root/logo.png", [0x89, b'P', b'N', b'G']);
    folder.write("root/unknown.xyz", "?");
    folder.write("root/LICENSE", "text");
    folder.write("root/docs/index.html", "<h1>docs</h1>");
    folder.write("root/empty-folder/.keep", "");
    folder.write("root/digits.txt", "0123456789abcdefghij");
    folder.write("root/big.bin", noise(3 * 1024 * 1024 + 123));
    folder.write("root/page.html", "<p>".repeat(2000));
    let root = folder.0.join("root");
    (folder, root)
}

fn serve(root: &Path, spec: ServerSpec) -> RunningServer {
    let mut router = Router::new();
    router.static_dir("/static", root).unwrap();
    start(server().server(spec.router(router)))
}

fn get_with(running: &RunningServer, path: &str, headers: &[(&str, &str)]) -> Reply {
    exchange(running, request("GET", path, headers))
}

#[test]
fn content_types_come_from_the_extension() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    for (path, expected) in [
        ("/static/index.html", "text/html; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/data.json", "application/json"),
        ("/static/logo.png", "image/png"),
        ("/static/unknown.xyz", "application/octet-stream"),
        ("/static/LICENSE", "application/octet-stream"),
    ] {
        let reply = get_with(&running, path, &[]);
        reply.assert_status(200u16);
        assert_eq!(reply.header("content-type"), Some(expected), "{path}");
        assert_eq!(reply.header("accept-ranges"), Some("bytes"), "{path}");
        assert!(reply.header("etag").is_some() && reply.header("last-modified").is_some());
    }
    let reply = get_with(&running, "/static/digits.txt", &[]);
    assert_eq!(reply.text(), "0123456789abcdefghij");
    assert_eq!(reply.header("content-length"), Some("20"));
    get_with(&running, "/static/missing.txt", &[]).assert_status(404u16);
    stop(running);
}

#[test]
fn validators_answer_304() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    let first = get_with(&running, "/static/digits.txt", &[]);
    let etag = first.header("etag").unwrap().to_owned();
    let last_modified = first.header("last-modified").unwrap().to_owned();

    let by_tag = get_with(&running, "/static/digits.txt", &[("If-None-Match", &etag)]);
    by_tag.assert_status(304u16);
    assert_eq!(by_tag.header("etag"), Some(etag.as_str()));
    assert!(by_tag.body.is_empty());
    let weak = format!("\"other\", W/{etag}");
    get_with(&running, "/static/digits.txt", &[("If-None-Match", &weak)]).assert_status(304u16);
    get_with(&running, "/static/digits.txt", &[("If-None-Match", "*")]).assert_status(304u16);
    get_with(
        &running,
        "/static/digits.txt",
        &[("If-None-Match", "\"other\"")],
    )
    .assert_status(200u16);

    get_with(
        &running,
        "/static/digits.txt",
        &[("If-Modified-Since", &last_modified)],
    )
    .assert_status(304u16);
    let long_ago = "Mon, 01 Jan 2001 00:00:00 GMT";
    get_with(
        &running,
        "/static/digits.txt",
        &[("If-Modified-Since", long_ago)],
    )
    .assert_status(200u16);
    // If-None-Match wins over If-Modified-Since.
    get_with(
        &running,
        "/static/digits.txt",
        &[
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", &last_modified),
        ],
    )
    .assert_status(200u16);
    stop(running);
}

#[test]
fn ranges_answer_206_416_or_the_whole_file() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    let path = "/static/digits.txt";

    let part = get_with(&running, path, &[("Range", "bytes=2-5")]);
    part.assert_status(206u16);
    assert_eq!(part.header("content-range"), Some("bytes 2-5/20"));
    assert_eq!(part.text(), "2345");
    let suffix = get_with(&running, path, &[("Range", "bytes=-3")]);
    assert_eq!(suffix.text(), "hij");
    assert_eq!(suffix.header("content-range"), Some("bytes 17-19/20"));
    let open = get_with(&running, path, &[("Range", "bytes=18-")]);
    assert_eq!(open.text(), "ij");

    let past = get_with(&running, path, &[("Range", "bytes=20-")]);
    past.assert_status(416u16);
    assert_eq!(past.header("content-range"), Some("bytes */20"));

    let several = get_with(&running, path, &[("Range", "bytes=0-1,4-5")]);
    several.assert_status(200u16);
    assert_eq!(several.text(), "0123456789abcdefghij");
    get_with(&running, path, &[("Range", "bytes=x-y")]).assert_status(200u16);

    let whole = get_with(&running, path, &[]);
    let etag = whole.header("etag").unwrap();
    let date = whole.header("last-modified").unwrap();
    get_with(
        &running,
        path,
        &[("Range", "bytes=0-0"), ("If-Range", etag)],
    )
    .assert_status(206u16);
    get_with(
        &running,
        path,
        &[("Range", "bytes=0-0"), ("If-Range", date)],
    )
    .assert_status(206u16);
    let stale = get_with(
        &running,
        path,
        &[("Range", "bytes=0-0"), ("If-Range", "\"old\"")],
    );
    stale.assert_status(200u16);
    assert_eq!(stale.body.len(), 20);
    let old_date = "Mon, 01 Jan 2001 00:00:00 GMT";
    get_with(
        &running,
        path,
        &[("Range", "bytes=0-0"), ("If-Range", old_date)],
    )
    .assert_status(200u16);
    stop(running);
}

#[test]
fn folders_serve_index_html_and_redirect_without_a_slash() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    assert_eq!(get_with(&running, "/static/", &[]).text(), "<h1>home</h1>");
    assert_eq!(
        get_with(&running, "/static/docs/", &[]).text(),
        "<h1>docs</h1>"
    );

    let bare = get_with(&running, "/static", &[]);
    bare.assert_status(301u16);
    assert_eq!(bare.header("location"), Some("/static/"));
    let docs = get_with(&running, "/static/docs?x=1", &[]);
    docs.assert_status(301u16);
    assert_eq!(docs.header("location"), Some("/static/docs/?x=1"));

    get_with(&running, "/static/empty-folder/", &[]).assert_status(404u16);
    stop(running);

    let mut router = Router::new();
    router
        .static_dir("/static", ServeDir::new(&root).index_file(None))
        .unwrap();
    let running = start(server().server(spec("http").router(router)));
    get_with(&running, "/static/", &[]).assert_status(404u16);
    stop(running);
}

#[test]
fn a_precompressed_sibling_is_sent_to_clients_that_accept_it() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    let path = "/static/app.js";

    let br = get_with(&running, path, &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(br.text(), "BROTLI BYTES");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(
        br.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(br.header("vary"), Some("accept-encoding"));

    let gzip = get_with(&running, path, &[("Accept-Encoding", "gzip")]);
    assert_eq!(gzip.text(), "GZIP BYTES");
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_ne!(gzip.header("etag"), br.header("etag"));
    let prefers_gzip = get_with(&running, path, &[("Accept-Encoding", "br;q=0.5, gzip")]);
    assert_eq!(prefers_gzip.text(), "GZIP BYTES");

    let plain = get_with(&running, path, &[]);
    assert_eq!(plain.text(), "console.log('plain');");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));

    // No sibling: no Vary.
    let css = get_with(&running, "/static/style.css", &[("Accept-Encoding", "br")]);
    assert_eq!(css.header("content-encoding"), None);
    assert_eq!(css.header("vary"), None);
    stop(running);
}

#[cfg(unix)]
#[test]
fn nothing_outside_the_folder_is_reachable() {
    let (folder, root) = site();
    std::os::unix::fs::symlink(folder.0.join("secret.txt"), root.join("out-link")).unwrap();
    std::os::unix::fs::symlink(&folder.0, root.join("out-folder")).unwrap();
    std::os::unix::fs::symlink(root.join("digits.txt"), root.join("in-link")).unwrap();
    let running = serve(&root, spec("http"));

    for path in [
        "/static/../secret.txt",
        "/static/../Cargo.toml",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/..%2Fsecret.txt",
        "/static/docs/../../secret.txt",
        "/static/a\\..\\..\\secret.txt",
        "/static/..%5csecret.txt",
        "/static/secret.txt%00.html",
        "/static/out-link",
        "/static/out-folder/secret.txt",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ] {
        let reply = get_with(&running, path, &[]);
        assert_eq!(reply.status, 404, "{path}: {:?}", reply.text());
        assert!(!reply.text().contains("secret"), "{path}");
    }
    // A link that stays inside is followed.
    assert_eq!(
        get_with(&running, "/static/in-link", &[]).text(),
        "0123456789abcdefghij"
    );
    stop(running);
}

#[test]
fn head_gets_the_headers_alone() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    let mut client = server_common::connect_to(&running, "http");
    let head = client
        .send(request("HEAD", "/static/digits.txt", &[]))
        .head_response();
    head.assert_status(200u16);
    assert_eq!(head.header("content-length"), Some("20"));
    assert_eq!(
        head.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    // The connection is still in step: nothing was sent after the head.
    let next = client.exchange(request("GET", "/static/digits.txt", &[]));
    assert_eq!(next.text(), "0123456789abcdefghij");

    let big = client
        .send(request("HEAD", "/static/big.bin", &[]))
        .head_response();
    big.assert_status(200u16);
    assert!(big.header("etag").is_some());
    let next = client.exchange(request(
        "GET",
        "/static/digits.txt",
        &[("Range", "bytes=0-0")],
    ));
    assert_eq!(next.text(), "0");
    stop(running);
}

#[test]
fn a_file_of_a_few_mib_is_streamed_in_chunks() {
    let (_folder, root) = site();
    let running = serve(&root, spec("http"));
    let expected = noise(3 * 1024 * 1024 + 123);

    let whole = get_with(&running, "/static/big.bin", &[]);
    whole.assert_status(200u16);
    assert_eq!(whole.header("transfer-encoding"), Some("chunked"));
    assert_eq!(whole.body.len(), expected.len());
    assert!(whole.body == expected, "the bytes differ");

    let first = 1_000_000;
    let last = 2_500_000;
    let range = format!("bytes={first}-{last}");
    let part = get_with(&running, "/static/big.bin", &[("Range", &range)]);
    part.assert_status(206u16);
    assert!(
        part.body == expected[first..=last],
        "the range's bytes differ"
    );
    stop(running);
}

#[cfg(feature = "compression")]
#[test]
fn compression_in_front_leaves_ranges_and_precompressed_files_alone() {
    use hyperf_http::server::Compression;
    use std::io::Read;

    let (_folder, root) = site();
    let running = serve(&root, spec("http").middleware(Compression::new()));

    let page = get_with(
        &running,
        "/static/page.html",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    let mut html = String::new();
    flate2::read::GzDecoder::new(&page.body[..])
        .read_to_string(&mut html)
        .unwrap();
    assert_eq!(html, "<p>".repeat(2000));
    let etag = page.header("etag").unwrap();
    assert!(etag.starts_with("W/"), "{etag}");
    // The weak tag still validates.
    get_with(
        &running,
        "/static/page.html",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", etag)],
    )
    .assert_status(304u16);

    let part = get_with(
        &running,
        "/static/page.html",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-5")],
    );
    part.assert_status(206u16);
    assert_eq!(part.header("content-encoding"), None);
    assert_eq!(part.text(), "<p><p>");

    let app = get_with(&running, "/static/app.js", &[("Accept-Encoding", "br")]);
    assert_eq!(app.header("content-encoding"), Some("br"));
    assert_eq!(app.text(), "BROTLI BYTES");
    assert_eq!(app.count("vary"), 1);
    stop(running);
}

/// The process's peak resident memory, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A 1 GiB file (sparse: no disk used) streams with flat memory: run by hand (`--ignored`).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "sends 1 GiB over loopback"]
fn a_1_gib_file_streams_with_flat_memory() {
    use std::io::{Read, Write};

    let folder = Folder::new();
    let file = std::fs::File::create(folder.0.join("huge.bin")).unwrap();
    file.set_len(1 << 30).unwrap();
    let mut router = Router::new();
    router.static_dir("/", folder.0.as_path()).unwrap();
    let running = start(server().server(spec("http").router(router)));
    let before = peak_rss_kib();

    // HTTP/1.0: the streamed body runs to the end of the connection, counted as it comes.
    let mut stream = std::net::TcpStream::connect(running.local_addr("http").unwrap()).unwrap();
    stream
        .set_read_timeout(Some(server_common::TIMEOUT))
        .unwrap();
    stream.write_all(b"GET /huge.bin HTTP/1.0\r\n\r\n").unwrap();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    loop {
        match stream.read(&mut buffer).unwrap() {
            0 => break,
            read => received += read as u64,
        }
    }
    let head = 512;
    assert!(
        received > 1 << 30 && received < (1 << 30) + head,
        "{received} bytes"
    );
    let grown = peak_rss_kib().saturating_sub(before);
    println!("1 GiB received; peak memory grew by {grown} KiB");
    assert!(grown < 64 * 1024, "peak memory grew by {grown} KiB");
    stop(running);
}
