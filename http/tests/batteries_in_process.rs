//! The batteries through the in-process test client, as a user's own tests would drive them:
//! CORS, compression, static files and cookies answer the same without a socket.
#![cfg(all(feature = "compression", feature = "cookies"))]

use std::io::Read;
use std::path::PathBuf;

use hyperf_http::server::{Compression, Cookie, CookieJar, Cookies, Cors, Router, ServerSpec};
use hyperf_http::testing::TestClient;
use hyperf_http::{Method, StatusCode};

/// A folder of its own for a test, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("hyperf-batteries-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Folder(path)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text_of(length: usize) -> String {
    "all work and no play makes a dull body. ".repeat(length / 40 + 1)[..length].to_string()
}

#[test]
fn a_preflight_is_answered_through_the_test_client() {
    let cors = Cors::builder()
        .allow_origin("http://localhost:3000")
        .allow_methods([Method::GET, Method::POST])
        .build()
        .unwrap();
    let mut router = Router::new();
    router.get("/users", || "users").unwrap();
    let client = TestClient::new(
        ServerSpec::new("http", "127.0.0.1", 0)
            .router(router)
            .middleware_with_priority(cors, 90),
    );
    let preflight = client
        .request(Method::OPTIONS, "/users")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
}

#[test]
fn a_body_is_compressed_through_the_test_client() {
    let body = text_of(4096);
    let mut router = Router::new();
    let served = body.clone();
    router.get("/text", move || served.clone()).unwrap();
    let client = TestClient::new(
        ServerSpec::new("http", "127.0.0.1", 0)
            .router(router)
            .middleware(Compression::new()),
    );
    let response = client.get("/text").header("accept-encoding", "gzip").send();
    assert_eq!(response.header("content-encoding"), Some("gzip"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&response.bytes()[..])
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, body);
}

#[test]
fn a_static_file_range_and_its_etag_work_through_the_test_client() {
    let folder = Folder::new("static");
    std::fs::write(folder.0.join("a.txt"), "0123456789").unwrap();
    let mut router = Router::new();
    router.static_dir("/static", folder.0.as_path()).unwrap();
    let client = TestClient::new(ServerSpec::new("http", "127.0.0.1", 0).router(router));
    let part = client
        .get("/static/a.txt")
        .header("range", "bytes=2-4")
        .send();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.text(), "234");
    let etag = part.header("etag").expect("an ETag").to_string();
    let unchanged = client
        .get("/static/a.txt")
        .header("if-none-match", etag.as_str())
        .send();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
}

#[test]
fn cookies_are_read_and_set_through_the_test_client() {
    let mut router = Router::new();
    router
        .get("/", |jar: CookieJar| {
            let seen = jar.get("seen").map_or("never", |c| c.value()).to_string();
            Cookies::add(Cookie::new("locale", "fr"));
            (jar.add(Cookie::new("seen", "yes")), seen)
        })
        .unwrap();
    let client = TestClient::new(ServerSpec::new("http", "127.0.0.1", 0).router(router));
    let first = client.get("/").send();
    assert_eq!(first.text(), "never");
    let set: Vec<&str> = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert!(set.iter().any(|c| c.starts_with("seen=yes")), "{set:?}");
    assert!(set.iter().any(|c| c.starts_with("locale=fr")), "{set:?}");
    let again = client.get("/").header("cookie", "seen=yes").send();
    assert_eq!(again.text(), "yes");
}
