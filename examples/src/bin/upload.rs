//! File uploads that are safe to copy: `PUT /files/{name}` streams the request body to a file
//! as it arrives (`Content-Length` or `chunked`), `GET /files/{name}` streams it back.
//!
//! `cargo run --release -p examples --bin upload [-- --port 9501 --dir ./uploads
//! --max-bytes 67108864 --reserve-bytes 268435456 --max-transfers 32 --workers 2]`
//!
//! Try: `head -c 10M /dev/urandom | curl -T - http://127.0.0.1:9501/files/random.bin`
//!
//! | flag | environment | default |
//! |---|---|---|
//! | `--dir` | `UPLOAD_DIR` | `./uploads` (created with mode 0700) |
//! | `--max-bytes` | `UPLOAD_MAX_BYTES` | 64 MiB per upload (past it: `413`) |
//! | `--reserve-bytes` | `UPLOAD_RESERVE_BYTES` | 256 MiB left free on the folder's disk (else `507`) |
//! | `--max-transfers` | `UPLOAD_MAX_TRANSFERS` | 32 uploads and downloads at once (past it: `503`) |
//! | `--workers` | `WORKERS` | one per CPU |
//!
//! Why each measure is there:
//!
//! - **A temporary file of its own per upload**, created exclusively (`create_new`, with
//!   `O_NOFOLLOW`) under an unpredictable name in the destination folder, synced, then
//!   `rename`d over the name: two uploads to one name never share a file, so bytes are never
//!   interleaved; the name always holds one complete upload, and when two race, the last to
//!   finish wins (each is answered `201`). A failed upload (a body past the limit, a client
//!   gone, a full disk) removes its temporary file. Temporary names start with a dot, which
//!   no requested name may, so they can be neither fetched nor overwritten through the API.
//! - **No symlink is followed**: `create_new` refuses any existing path, `rename` replaces a
//!   symlink at the name rather than writing through it, and reads open with `O_NOFOLLOW`
//!   and serve regular files only — a link planted in the folder reaches nothing outside it.
//! - **A size limit** (`stream_body(limit)`; a larger `Content-Length` is refused before the
//!   body is read, a chunked body when it passes the limit) and **a free-space check**
//!   (`statvfs`) before the body is read (before `100 Continue`, for a client that waits for
//!   it): an upload whose `Content-Length` would leave less than the reserve free (a chunked
//!   one: a disk already inside the reserve) is refused with `507 Insufficient Storage`, and
//!   so is a write that finds the disk full. The check is per upload, not a reservation:
//!   uploads running at once can still fill the disk together, which the reserve absorbs.
//! - **A folder of its own**, not a shared, predictable path under `/tmp` (often in RAM, and
//!   writable by every local user): `./uploads` by default, mode 0700, and a world-writable
//!   folder is refused at start.
//! - **File names are checked** (ASCII letters, digits, `.`, `_`, `-`; no leading dot, no
//!   `..`, at most 128 bytes): anything else is a `400`, so no request reaches outside the
//!   folder.
//! - **Blocking file calls run on an OS thread, not on a may worker**: a write or `fsync`
//!   that blocks a worker thread stalls every coroutine on it (other clients' requests). Each
//!   transfer hands its file to a thread of its own ([`offload`]); the two sides pass a
//!   fixed set of buffers back and forth through may channels, so at most 256 KiB
//!   (`BUFFERS` × `CHUNK`) of a transfer are in flight, and a coroutine waiting for its
//!   thread parks only itself. `--max-transfers` bounds the threads. (With one worker, a
//!   1 GiB upload held up another client's GETs by up to 0.66–0.78 s when the example wrote
//!   on the worker; 6–26 ms on a thread: the test `a_get_is_served_during_a_1_gib_upload`.)

use std::ffi::CString;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyperf_http::server::{FromRequest, HttpError, Json, Path, Router, Server, ServerSpec, State};
use hyperf_http::{Body, BodyReader, BoxError, Request, Response, StatusCode, header};
use may::sync::mpsc;

/// The size of one buffer passed between a transfer's coroutine and its thread.
const CHUNK: usize = 64 * 1024;
/// How many buffers one transfer has in flight at most.
const BUFFERS: usize = 4;
/// How many times a temporary name is drawn before giving up (a clash is all but impossible).
const NAME_ATTEMPTS: usize = 8;

/// Where uploads are kept, and the limits on them.
#[derive(Clone)]
struct Store(Arc<Settings>);

struct Settings {
    dir: PathBuf,
    /// Free space an upload must leave on the folder's file system.
    reserve_bytes: u64,
    /// Transfers (uploads and downloads) at once: each holds an OS thread.
    max_transfers: usize,
    transfers: AtomicUsize,
}

/// One of the store's transfer slots, given back when dropped.
struct Slot(Arc<Settings>);

impl Store {
    /// A slot for a transfer, or `503` when all are taken.
    fn slot(&self) -> Result<Slot, HttpError> {
        let settings = &self.0;
        settings
            .transfers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |busy| {
                (busy < settings.max_transfers).then_some(busy + 1)
            })
            .map(|_| Slot(Arc::clone(settings)))
            .map_err(|_| {
                HttpError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many transfers in progress, retry later",
                )
            })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.transfers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `job` on an OS thread of its own, where blocking file calls stall no coroutine.
///
/// This is the one place to change once the project has a blocking-offload pool: hand `job`
/// to the pool instead of spawning a thread. The jobs talk to their coroutines through may
/// channels only, so nothing else changes.
fn offload(job: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name("upload-file-io".into())
        .stack_size(256 * 1024)
        .spawn(job)
        .map(drop)
}

/// A file name from the route: ASCII letters, digits, `.`, `_` and `-`, at most 128 bytes,
/// not starting with a dot (temporary files do) and without `..`, so that no request reaches
/// outside the store or into an upload in progress.
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
            || name.contains("..")
            || !name.chars().all(allowed)
        {
            return Err(HttpError::new(StatusCode::BAD_REQUEST, "invalid file name"));
        }
        Ok(FileName(name))
    }
}

/// The body's declared `Content-Length`, if any (a chunked body declares none).
struct DeclaredLength(Option<u64>);

impl FromRequest for DeclaredLength {
    type Rejection = std::convert::Infallible;

    fn from_request(request: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(DeclaredLength(
            request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse().ok()),
        ))
    }
}

/// From an upload's coroutine to its writer thread.
enum ToWriter {
    /// The first `.1` bytes of the buffer are the body's next.
    Chunk(Vec<u8>, usize),
    /// The body is complete: sync, and rename into place. (The coroutine dropping its sender
    /// without `Commit` means: give up, remove the temporary file.)
    Commit,
}

/// From an upload's writer thread to its coroutine.
enum FromWriter {
    /// Enough free space, and a temporary file: send the body.
    Ready,
    /// A buffer written, to fill again.
    Free(Vec<u8>),
    /// The upload is in place, with this many bytes.
    Stored(u64),
    /// The upload failed; its temporary file is gone.
    Failed(io::Error),
}

/// Streams the body to a temporary file in the store, then renames it over `name`.
fn store(
    State(store): State<Store>,
    FileName(name): FileName,
    DeclaredLength(declared): DeclaredLength,
    mut body: BodyReader,
) -> Result<(StatusCode, Json<serde_json::Value>), BoxError> {
    let slot = store.slot()?;
    let (to_writer, chunks) = mpsc::channel();
    let (replies_to, replies) = mpsc::channel();
    let job = WriteJob {
        dir: store.0.dir.clone(),
        name: name.clone(),
        needed: declared.unwrap_or(0).saturating_add(store.0.reserve_bytes),
    };
    offload(move || {
        job.run(&chunks, &replies_to);
        drop(slot);
    })?;

    let sent = send_body(&mut body, &to_writer, &replies);
    // With `Commit` sent, the writer syncs and renames; without it (the body failed), the
    // closed channel tells it to remove its temporary file. Either way, wait for it to end
    // (the replies' channel closes), so the folder is settled before the answer.
    drop(to_writer);
    let (mut stored, mut failed) = (None, None);
    while let Ok(reply) = replies.recv() {
        match reply {
            FromWriter::Stored(bytes) => stored = Some(bytes),
            FromWriter::Failed(error) => failed = Some(error),
            FromWriter::Ready | FromWriter::Free(_) => {}
        }
    }
    if let Some(error) = failed {
        return Err(error.into());
    }
    sent?;
    let bytes = stored.ok_or_else(thread_gone)?;
    log::info!("stored {name}: {bytes} bytes");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "name": name, "bytes": bytes })),
    ))
}

/// Reads the body and hands it to the writer, then commits it; fails with the body's error
/// (`413`, `408`, a client gone) or the writer's.
fn send_body(
    body: &mut BodyReader,
    to_writer: &mpsc::Sender<ToWriter>,
    replies: &mpsc::Receiver<FromWriter>,
) -> io::Result<()> {
    // The free-space check comes first: a refused client waiting for `100 Continue` sends
    // nothing.
    match replies.recv() {
        Ok(FromWriter::Ready) => {}
        Ok(FromWriter::Failed(error)) => return Err(error),
        _ => return Err(thread_gone()),
    }
    let mut allocated = 0;
    loop {
        let mut buffer = if allocated < BUFFERS {
            allocated += 1;
            vec![0; CHUNK]
        } else {
            // All buffers are with the writer: wait (parking this coroutine only) for one.
            match replies.recv() {
                Ok(FromWriter::Free(buffer)) => buffer,
                Ok(FromWriter::Failed(error)) => return Err(error),
                _ => return Err(thread_gone()),
            }
        };
        let filled = fill(body, &mut buffer)?;
        if filled == 0 {
            break;
        }
        to_writer
            .send(ToWriter::Chunk(buffer, filled))
            .map_err(|_| thread_gone())?;
    }
    to_writer.send(ToWriter::Commit).map_err(|_| thread_gone())
}

/// Reads from `body` until `buffer` is full or the body ends; how many bytes it read.
fn fill(body: &mut BodyReader, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match body.read(&mut buffer[filled..])? {
            0 => break,
            read => filled += read,
        }
    }
    Ok(filled)
}

fn thread_gone() -> io::Error {
    io::Error::other("the transfer's file thread stopped without an answer")
}

/// What an upload's writer thread does.
struct WriteJob {
    dir: PathBuf,
    name: String,
    /// The free space the upload needs: its declared length and the reserve.
    needed: u64,
}

impl WriteJob {
    /// Checks the free space, creates the temporary file, writes the chunks it gets and on
    /// `Commit` moves the file into place. Runs on its own thread: everything here blocks.
    fn run(self, chunks: &mpsc::Receiver<ToWriter>, replies: &mpsc::Sender<FromWriter>) {
        let mut temporary = match self.prepare() {
            Ok(temporary) => temporary,
            Err(error) => {
                let _ = replies.send(FromWriter::Failed(error));
                return;
            }
        };
        let _ = replies.send(FromWriter::Ready);
        let mut bytes = 0u64;
        loop {
            match chunks.recv() {
                Ok(ToWriter::Chunk(buffer, length)) => {
                    if let Err(error) = temporary.file.write_all(&buffer[..length]) {
                        // Dropping `temporary` removes it.
                        let _ = replies.send(FromWriter::Failed(storage_error(error)));
                        return;
                    }
                    bytes += length as u64;
                    let _ = replies.send(FromWriter::Free(buffer));
                }
                Ok(ToWriter::Commit) => {
                    let reply = match temporary.persist(&self.dir, &self.dir.join(&self.name)) {
                        Ok(()) => FromWriter::Stored(bytes),
                        Err(error) => FromWriter::Failed(storage_error(error)),
                    };
                    let _ = replies.send(reply);
                    return;
                }
                // The coroutine gave up (a failed body, a client gone, a cancelled request):
                // dropping `temporary` removes it.
                Err(_) => return,
            }
        }
    }

    /// Refuses with `507` when the upload would leave less than the reserve free; else a new
    /// temporary file.
    fn prepare(&self) -> io::Result<Temporary> {
        let available = available_bytes(&self.dir)?;
        if available < self.needed {
            return Err(io::Error::other(HttpError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "not enough free space for this upload",
            )));
        }
        Temporary::create(&self.dir)
    }
}

/// An upload's temporary file: removed when dropped, unless it was moved into place.
struct Temporary {
    file: File,
    path: Option<PathBuf>,
}

impl Temporary {
    /// A new file under an unpredictable name in `dir`. `create_new` (`O_CREAT | O_EXCL`)
    /// never opens an existing file nor follows a symlink, even a dangling one; `O_NOFOLLOW`
    /// says so again. A name taken already (a clash, or a file planted there) draws another.
    fn create(dir: &FsPath) -> io::Result<Temporary> {
        let mut last = None;
        for _ in 0..NAME_ATTEMPTS {
            let path = dir.join(format!(".upload-{}.partial", random_hex()?));
            let opened = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path);
            match opened {
                Ok(file) => {
                    return Ok(Temporary {
                        file,
                        path: Some(path),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no temporary name")))
    }

    /// Syncs the file, renames it over `target` (atomically: readers see the old file or the
    /// new one, whole; a symlink at `target` is replaced, not followed) and syncs the folder
    /// so that the rename survives a crash.
    fn persist(&mut self, dir: &FsPath, target: &FsPath) -> io::Result<()> {
        self.file.sync_all()?;
        let path = self.path.as_ref().ok_or_else(thread_gone)?;
        std::fs::rename(path, target)?;
        self.path = None;
        if let Err(error) = File::open(dir).and_then(|folder| folder.sync_all()) {
            log::warn!("could not sync {}: {error}", dir.display());
        }
        Ok(())
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// 128 random bits from the kernel, in hex.
fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Free bytes on `dir`'s file system for an unprivileged user (`statvfs`).
fn available_bytes(dir: &FsPath) -> io::Result<u64> {
    let path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the folder's path"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and `stats` points to
    // writable memory of a `statvfs`'s size, which the call fills in when it returns 0.
    if unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `statvfs` returned 0: it filled `stats` in.
    let stats = unsafe { stats.assume_init() };
    #[allow(
        clippy::useless_conversion,
        reason = "the fields are 32 bits wide on some platforms"
    )]
    Ok(u64::from(stats.f_bavail).saturating_mul(u64::from(stats.f_frsize)))
}

/// A full disk (or quota) is the server's storage running out: `507`, not a bare `500`.
fn storage_error(error: io::Error) -> io::Error {
    match error.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => io::Error::other(HttpError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "the server's storage is full",
        )),
        _ => error,
    }
}

/// From a download's reader thread to its coroutine.
enum FromReader {
    /// The file is open, with this many bytes; its chunks follow.
    Opened(u64),
    /// The first `.1` bytes of the buffer are the file's next; 0 at its end.
    Filled(Vec<u8>, usize),
    /// The file could not be opened or read.
    Failed(io::Error),
}

/// Streams a stored file back, read on a thread of its own.
fn fetch(State(store): State<Store>, FileName(name): FileName) -> Result<Response, BoxError> {
    let slot = store.slot()?;
    let (to_reader, empties) = mpsc::channel::<Vec<u8>>();
    let (filled_to, filled) = mpsc::channel();
    let path = store.0.dir.join(&name);
    offload(move || {
        read_file(&path, &empties, &filled_to);
        drop(slot);
    })?;
    let length = match filled.recv() {
        Ok(FromReader::Opened(length)) => length,
        Ok(FromReader::Failed(error)) if error.kind() == io::ErrorKind::NotFound => {
            return Err(HttpError::new(StatusCode::NOT_FOUND, "no such file").into());
        }
        Ok(FromReader::Failed(error)) => return Err(error.into()),
        _ => return Err(thread_gone().into()),
    };
    // No larger than the file needs (one byte more sees its end).
    let size = usize::try_from(length.saturating_add(1)).map_or(CHUNK, |size| size.min(CHUNK));
    Ok(Response::new(Body::stream(move |out| {
        // A small file's reader may be done (and gone) before all of them are sent: what it
        // read, or why it failed, comes through `filled` whatever happens to these sends.
        for _ in 0..BUFFERS {
            let _ = to_reader.send(vec![0; size]);
        }
        // A client gone ends this closure: the dropped sender stops the reader.
        loop {
            match filled.recv() {
                Ok(FromReader::Filled(_, 0)) => return Ok(()),
                Ok(FromReader::Filled(buffer, length)) => {
                    out.write_all(&buffer[..length])?;
                    let _ = to_reader.send(buffer);
                }
                Ok(FromReader::Failed(error)) => return Err(error),
                _ => return Err(thread_gone()),
            }
        }
    })))
}

/// Opens `path` (a regular file, not through a symlink) and reads it into the buffers it gets,
/// until the file ends or the coroutine stops sending buffers.
fn read_file(path: &FsPath, empties: &mpsc::Receiver<Vec<u8>>, filled: &mpsc::Sender<FromReader>) {
    let mut file = match open_regular(path) {
        Ok(file) => file,
        Err(error) => {
            let _ = filled.send(FromReader::Failed(error));
            return;
        }
    };
    let length = match file.metadata() {
        Ok(metadata) => metadata.len(),
        Err(error) => {
            let _ = filled.send(FromReader::Failed(error));
            return;
        }
    };
    let _ = filled.send(FromReader::Opened(length));
    while let Ok(mut buffer) = empties.recv() {
        let reply = match file.read(&mut buffer) {
            Ok(length) => FromReader::Filled(buffer, length),
            Err(error) => FromReader::Failed(error),
        };
        let last = !matches!(reply, FromReader::Filled(_, length) if length > 0);
        if filled.send(reply).is_err() || last {
            return;
        }
    }
}

/// Opens a regular file for reading; a symlink (`O_NOFOLLOW`: `ELOOP`), a folder, a FIFO and
/// a missing file are all "not found". `O_NONBLOCK` keeps a FIFO from blocking the open.
fn open_regular(path: &FsPath) -> io::Result<File> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, "no such file");
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ELOOP | libc::ENOENT | libc::ENOTDIR) => not_found(),
            _ => error,
        })?;
    if !file.metadata()?.is_file() {
        return Err(not_found());
    }
    Ok(file)
}

/// Creates the folder (mode 0700) if need be; refuses one that every user may write to.
fn prepare_folder(dir: &FsPath) -> Result<(), Box<dyn std::error::Error>> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o002 != 0 {
        return Err(format!(
            "{} is writable by every user: give uploads a folder of their own",
            dir.display()
        )
        .into());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_logging();
    let port = examples::flag("--port", "PORT", 9501u16);
    let dir = examples::flag("--dir", "UPLOAD_DIR", PathBuf::from("uploads"));
    let max_bytes = examples::flag("--max-bytes", "UPLOAD_MAX_BYTES", 64u64 << 20);
    let reserve_bytes = examples::flag("--reserve-bytes", "UPLOAD_RESERVE_BYTES", 256u64 << 20);
    let max_transfers = examples::flag("--max-transfers", "UPLOAD_MAX_TRANSFERS", 32usize);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = examples::flag("--workers", "WORKERS", cpus).max(1);
    runtime::configure(runtime::Config::default().workers(workers))?;

    prepare_folder(&dir)?;
    let uploads = Store(Arc::new(Settings {
        dir: dir.clone(),
        reserve_bytes,
        max_transfers: max_transfers.max(1),
        transfers: AtomicUsize::new(0),
    }));
    let mut router = Router::new();
    router.state(uploads);
    router
        .put("/files/{name}", store)?
        .stream_body(max_bytes.max(1));
    router.get("/files/{name}", fetch)?;
    let server = Server::new()
        .worker_num(workers)
        .server(ServerSpec::new("http", "127.0.0.1", port).router(router))
        .start()?;
    println!("listening on http://{}", server.local_addr("http").unwrap());
    let shown = std::fs::canonicalize(&dir).unwrap_or(dir);
    println!("storing uploads in {}", shown.display());
    server.wait(); // until SIGTERM (graceful) or SIGINT (immediate)
    Ok(())
}
