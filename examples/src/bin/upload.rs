//! File uploads with flat memory: `PUT /files/{name}` streams the request body to a file as it
//! arrives (any size, `Content-Length` or `chunked`), `GET /files/{name}` streams it back. A
//! custom extractor checks the file name; a 1 GiB upload costs the server a 16 KiB buffer.
//!
//! `cargo run --release -p examples --bin upload [-- --port 9501 --dir /tmp/uploads]`
//!
//! Try: `head -c 1G /dev/zero | curl -T - http://127.0.0.1:9501/files/big.bin`

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use hyperf_http::server::{FromRequest, HttpError, Json, Path, Router, Server, ServerSpec, State};
use hyperf_http::{Body, BodyReader, Request, Response, StatusCode};

/// Where uploads are kept.
#[derive(Clone)]
struct Store(PathBuf);

/// A file name from the route: letters, digits, `.`, `_` and `-`, not starting with a dot, so
/// that no request reaches outside the store.
struct FileName(String);

impl FromRequest for FileName {
    type Rejection = HttpError;

    fn from_request(request: &mut Request) -> Result<Self, HttpError> {
        let Path(name) = Path::<String>::from_request(request)
            .map_err(|rejection| HttpError::new(rejection.status(), rejection.message()))?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if name.is_empty()
            || name.len() > 128
            || name.starts_with('.')
            || !name.chars().all(allowed)
        {
            return Err(HttpError::new(StatusCode::BAD_REQUEST, "invalid file name"));
        }
        Ok(FileName(name))
    }
}

/// Streams the body to the store, 16 KiB at a time. (Writes go to the page cache and are
/// quick; with a slow disk, hand them to a thread rather than block the worker.)
fn store(
    State(store): State<Store>,
    FileName(name): FileName,
    mut body: BodyReader,
) -> io::Result<(StatusCode, Json<serde_json::Value>)> {
    let path = store.0.join(&name);
    let partial = store.0.join(format!(".{name}.partial"));
    let mut file = File::create(&partial)?;
    let mut buffer = vec![0u8; 16 * 1024];
    let mut bytes = 0u64;
    let copied = loop {
        match body.read(&mut buffer) {
            Ok(0) => break Ok(()),
            Ok(read) => {
                if let Err(error) = file.write_all(&buffer[..read]) {
                    break Err(error);
                }
                bytes += read as u64;
            }
            Err(error) => break Err(error),
        }
    };
    // A failed upload (a client gone, a body past the timeout) leaves no file behind.
    if let Err(error) = copied.and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    std::fs::rename(&partial, &path)?;
    log::info!("stored {name}: {bytes} bytes");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "name": name, "bytes": bytes })),
    ))
}

/// Streams a stored file back.
fn fetch(State(store): State<Store>, FileName(name): FileName) -> Result<Response, HttpError> {
    let mut file = File::open(store.0.join(&name))
        .map_err(|_| HttpError::new(StatusCode::NOT_FOUND, "no such file"))?;
    Ok(Response::new(Body::stream(move |out| {
        io::copy(&mut file, out).map(|_| ())
    })))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_logging();
    let port = examples::flag("--port", "PORT", 9501u16);
    let dir = examples::flag(
        "--dir",
        "UPLOAD_DIR",
        std::env::temp_dir().join("hyperf-uploads"),
    );
    std::fs::create_dir_all(&dir)?;
    let mut router = Router::new();
    router.state(Store(dir.clone()));
    router.put("/files/{name}", store)?.stream_body(0);
    router.get("/files/{name}", fetch)?;
    let server = Server::new()
        .server(ServerSpec::new("http", "127.0.0.1", port).router(router))
        .start()?;
    println!("listening on http://{}", server.local_addr("http").unwrap());
    println!("storing uploads in {}", dir.display());
    server.wait(); // until SIGTERM (graceful) or SIGINT (immediate)
    Ok(())
}
