//! A todo list as a JSON API on a database: SQLite by default, PostgreSQL when the URL says
//! `postgres://…`, through one code path (`sqlx`'s `AnyPool`). The handlers are blocking-style
//! like every handler here; each database call is a future of `sqlx` run through
//! `runtime::block_on`, which parks only the handler's coroutine while tokio runs the query.
//!
//! `cargo run --release -p examples --bin todo [-- --port 9502 --workers 2
//! --database-url sqlite://./todo.db?mode=rwc --drain-delay-ms 0 --reuse-port]` (or `PORT=…
//! WORKERS=… DATABASE_URL=… DRAIN_DELAY_MS=… REUSE_PORT=1`). Ctrl-C or SIGTERM shuts it down
//! gracefully, after the drain delay if one is set (`/health` answers `503` meanwhile), as the
//! `api` example does. `deploy/todo-postgres.sh` runs it on PostgreSQL.
//!
//! | route | answer |
//! |---|---|
//! | `POST /todos` `{"title": "…"}` | `201` `{"id", "title", "done": false}`, `Location: /todos/{id}` |
//! | `GET /todos/{id}` | `200` the todo, or `404` |
//! | `GET /todos?done=true&limit=100&offset=0` | `200` a JSON array by id; `limit` at most 1,000 (else `400`) |
//! | `PATCH /todos/{id}` `{"title"?, "done"?}` | `200` the todo as changed, or `404` |
//! | `DELETE /todos/{id}` | `204`, or `404` |
//!
//! Bad input is a client error with a JSON body `{"error": "…"}`, never a `500`: a body that
//! is not `application/json` `415`, malformed JSON `400`, JSON of the wrong shape `422` (so is
//! a field the API does not know: they are refused, not ignored, so that a typo such as
//! `"dnoe"` is not silently dropped), an empty or blank title `422`, a title past 1,000
//! characters `422`, a bad id or query `400`.
//!
//! **A `201` (or a `200` to a `PATCH`, a `204` to a `DELETE`) means the change is durable**:
//! every change runs in a transaction whose `COMMIT` has returned before the response is
//! written. On SQLite the database is in WAL mode with `synchronous = FULL`: the commit
//! returns once the write-ahead log is synced to disk, so the row survives the server being
//! killed (`kill -9`) and the machine losing power. (WAL rather than the default rollback
//! journal because readers then do not wait for a writer, nor a writer for readers; `FULL`
//! rather than WAL's usual `NORMAL`, which may lose the last commits on a power cut.) On
//! PostgreSQL, a `COMMIT` returns once the commit is flushed to its WAL (its default,
//! `synchronous_commit = on`).

use std::sync::Arc;
use std::time::Duration;

use hyperf_http::server::{
    AccessLog, AccessLogFormat, ExceptionHandler, HttpError, Json, Path, Propagation, Query,
    RequestId, Router, Server, ServerSpec, State, find_client_error,
};
use hyperf_http::{BoxError, EngineConfig, HeaderValue, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Connections in the pool. SQLite writes one transaction at a time whatever the pool size
/// (the others wait for the lock, up to sqlx's busy timeout of 5 s), and its reads are quick;
/// a PostgreSQL server allows 100 connections by default, shared by every instance of the
/// service. Eight lets reads and writes overlap without taking much of either. A request that
/// finds all eight busy waits for one (its coroutine parks), for at most `ACQUIRE_TIMEOUT`.
const POOL_SIZE: u32 = 8;
/// How long a request waits for a free connection before it is answered `503`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The most todos one `GET /todos` returns.
const MAX_LIMIT: u32 = 1_000;
/// The longest title, in characters.
const MAX_TITLE: usize = 1_000;

/// A todo as stored and as answered.
#[derive(Serialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
}

/// The body of `POST /todos`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTodo {
    title: String,
}

/// The body of `PATCH /todos/{id}`: what it leaves out stays as it was.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    title: Option<String>,
    done: Option<bool>,
}

/// The query of `GET /todos`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Listing {
    done: Option<bool>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// Which SQL dialect the URL chose: only the schema differs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The pool, shared with the handlers as a `State` (a clone shares the same connections).
#[derive(Clone)]
struct Db(AnyPool);

impl Db {
    /// Opens the pool and creates the table if it is not there. Runs on tokio (`block_on`).
    async fn open(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                "the database URL must start with sqlite: or postgres:".into(),
            ));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // A setting of each connection (see the module's doc): a commit is on
                        // disk when it returns. SQLite's default, said here on purpose.
                        connection.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let schema = match dialect {
            // AUTOINCREMENT: the id of a deleted todo is never given to a new one. SQLite has
            // no boolean type (`BOOLEAN` would be an integer too, which sqlx's `Any` driver
            // refuses to map): 0 or 1, read back by `todo`.
            Dialect::Sqlite => {
                "CREATE TABLE IF NOT EXISTS todos (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                 title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)))"
            }
            Dialect::Postgres => {
                "CREATE TABLE IF NOT EXISTS todos (id BIGSERIAL PRIMARY KEY, \
                 title TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE)"
            }
        };
        if dialect == Dialect::Sqlite {
            // A setting of the file, kept across restarts: once, before any other connection
            // is open (switching needs the database to itself).
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        pool.execute(schema).await?;
        Ok(Db(pool))
    }
}

/// A todo from a row of `id, title, done`; `done` is a boolean on PostgreSQL, 0 or 1 on
/// SQLite.
fn todo(row: &AnyRow) -> Result<Todo, sqlx::Error> {
    let done = match row.try_get::<bool, _>("done") {
        Ok(done) => done,
        Err(_) => row.try_get::<i64, _>("done")? != 0,
    };
    Ok(Todo {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        done,
    })
}

/// A database failure as the client sees it: `503` when no connection was free in time,
/// else a `500` that says nothing of the cause (which goes to the log).
fn unavailable(error: sqlx::Error) -> BoxError {
    if matches!(error, sqlx::Error::PoolTimedOut) {
        return HttpError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is busy").into();
    }
    Box::new(error)
}

fn not_found(id: i64) -> BoxError {
    HttpError::new(StatusCode::NOT_FOUND, format!("no todo {id}")).into()
}

/// A title as stored: surrounding blanks removed, not empty, not past `MAX_TITLE`.
fn checked_title(title: &str) -> Result<String, HttpError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title: must not be empty",
        ));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("title: at most {MAX_TITLE} characters"),
        ));
    }
    Ok(title.to_string())
}

fn create(
    State(db): State<Db>,
    Json(new): Json<NewTodo>,
) -> Result<(StatusCode, Json<Todo>), BoxError> {
    let title = checked_title(&new.title)?;
    let created = runtime::block_on(async move {
        let mut transaction = db.0.begin().await?;
        let row = sqlx::query("INSERT INTO todos (title) VALUES ($1) RETURNING id, title, done")
            .bind(title)
            .fetch_one(&mut *transaction)
            .await?;
        let created = todo(&row)?;
        // Committed before the `201` is written: see the module's doc.
        transaction.commit().await?;
        Ok::<_, sqlx::Error>(created)
    })
    .map_err(unavailable)?;
    let location = HeaderValue::from_str(&format!("/todos/{}", created.id))?;
    hyperf_http::server::RequestContext::set_response_header(header::LOCATION, location);
    Ok((StatusCode::CREATED, Json(created)))
}

fn show(State(db): State<Db>, Path(id): Path<i64>) -> Result<Json<Todo>, BoxError> {
    let row = runtime::block_on(async move {
        sqlx::query("SELECT id, title, done FROM todos WHERE id = $1")
            .bind(id)
            .fetch_optional(&db.0)
            .await
    })
    .map_err(unavailable)?;
    let row = row.ok_or_else(|| not_found(id))?;
    Ok(Json(todo(&row)?))
}

fn list(State(db): State<Db>, Query(listing): Query<Listing>) -> Result<Json<Vec<Todo>>, BoxError> {
    let limit = listing.limit.unwrap_or(100);
    if limit > MAX_LIMIT {
        return Err(HttpError::new(
            StatusCode::BAD_REQUEST,
            format!("limit: at most {MAX_LIMIT}"),
        )
        .into());
    }
    let offset = i64::from(listing.offset.unwrap_or(0));
    let rows = runtime::block_on(async move {
        let query = match listing.done {
            Some(done) => sqlx::query(
                "SELECT id, title, done FROM todos WHERE done = $1 ORDER BY id LIMIT $2 OFFSET $3",
            )
            .bind(done),
            None => sqlx::query("SELECT id, title, done FROM todos ORDER BY id LIMIT $1 OFFSET $2"),
        };
        query
            .bind(i64::from(limit))
            .bind(offset)
            .fetch_all(&db.0)
            .await
    })
    .map_err(unavailable)?;
    let todos = rows.iter().map(todo).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(todos))
}

fn change(
    State(db): State<Db>,
    Path(id): Path<i64>,
    Json(changes): Json<Changes>,
) -> Result<Json<Todo>, BoxError> {
    let title = changes.title.as_deref().map(checked_title).transpose()?;
    let row = runtime::block_on(async move {
        let mut transaction = db.0.begin().await?;
        // One statement: a field left out keeps its value, whatever another request changed.
        let row = sqlx::query(
            "UPDATE todos SET title = COALESCE($1, title), done = COALESCE($2, done) \
             WHERE id = $3 RETURNING id, title, done",
        )
        .bind(title)
        .bind(changes.done)
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok::<_, sqlx::Error>(row)
    })
    .map_err(unavailable)?;
    let row = row.ok_or_else(|| not_found(id))?;
    Ok(Json(todo(&row)?))
}

fn remove(State(db): State<Db>, Path(id): Path<i64>) -> Result<StatusCode, BoxError> {
    let deleted = runtime::block_on(async move {
        let mut transaction = db.0.begin().await?;
        let deleted = sqlx::query("DELETE FROM todos WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        transaction.commit().await?;
        Ok::<_, sqlx::Error>(deleted)
    })
    .map_err(unavailable)?;
    if deleted == 0 {
        return Err(not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Answers every error as JSON: `{"error": "..."}` with the error's status; anything but a
/// client error is a `500` that says nothing of its cause.
struct JsonErrors;

impl ExceptionHandler for JsonErrors {
    fn is_valid(&self, _: &BoxError) -> bool {
        true
    }

    fn handle(
        &self,
        error: &BoxError,
        mut response: Response,
        propagation: &mut Propagation,
    ) -> Result<Response, BoxError> {
        let client_error = find_client_error(&**error)
            .map(|error| (error.status(), error.client_message().into_owned()));
        let (status, message) = client_error.unwrap_or_else(|| {
            log::error!("request failed: {error}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".to_string(),
            )
        });
        *response.status_mut() = status;
        *response.body_mut() = serde_json::to_vec(&serde_json::json!({ "error": message }))?.into();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        propagation.stop();
        Ok(response)
    }
}

fn routes(db: Db) -> Result<Router, hyperf_http::server::RouteError> {
    let mut router = Router::new();
    router.state(db);
    router.post("/todos", create)?;
    router.get("/todos", list)?;
    router.get("/todos/{id:\\d+}", show)?;
    router.patch("/todos/{id:\\d+}", change)?;
    router.delete("/todos/{id:\\d+}", remove)?;
    Ok(router)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    examples::init_logging();
    let port = examples::flag("--port", "PORT", 9502u16);
    let workers = examples::flag("--workers", "WORKERS", 2usize);
    let database_url = examples::flag(
        "--database-url",
        "DATABASE_URL",
        "sqlite://./todo.db?mode=rwc".to_string(),
    );
    let drain_delay =
        Duration::from_millis(examples::flag("--drain-delay-ms", "DRAIN_DELAY_MS", 0));
    // A new instance can bind the port while the old one drains (see the README's Deploying).
    let reuse_port = examples::switch("--reuse-port", "REUSE_PORT");

    // Once, at startup, on the bridge's tokio runtime (this thread blocks meanwhile).
    let url = database_url.clone();
    let db = runtime::block_on(async move { Db::open(&url).await })?;
    let pool = Arc::new(db.0.clone());

    let spec = ServerSpec::new("http", "127.0.0.1", port)
        .engine(EngineConfig::default().reuse_port(reuse_port))
        .router(routes(db)?)
        .health_route("/health")
        .middleware_with_priority(RequestId::new(), 10)
        .access_log(AccessLog::new(AccessLogFormat::Combined))
        .exception_handler(JsonErrors);
    let server = Server::new()
        .worker_num(workers)
        .max_wait_time(Duration::from_secs(3))
        .drain_delay(drain_delay)
        // Ctrl-C and SIGTERM both shut down gracefully here (see below).
        .handle_signals(false)
        .server(spec)
        .start()?;

    let signals = examples::termination_signals()?;
    let address = server.local_addr("http").unwrap();
    println!("listening on http://{address}");
    println!("database: {}", redacted(&database_url));
    println!("try:");
    println!(
        "  curl -i -H 'Content-Type: application/json' -d '{{\"title\":\"write the report\"}}' http://{address}/todos"
    );
    println!("  curl http://{address}/todos/1");
    println!("  curl 'http://{address}/todos?done=false&limit=10'");
    println!(
        "  curl -X PATCH -H 'Content-Type: application/json' -d '{{\"done\":true}}' http://{address}/todos/1"
    );
    println!("  curl -i -X DELETE http://{address}/todos/1");

    let examples::Drained { drained, forced } = examples::shut_down_on_signal(server, signals);
    // The connections close once no request holds them any more.
    runtime::block_on(async move { pool.close().await });
    println!("shut down: {drained} connections drained, {forced} forced");
    Ok(())
}

/// The database URL without its password, for the startup line.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
