//! The peer of the `todo` bench: `POST /todos` and `GET /todos/{id}` of
//! `examples/src/bin/todo.rs`, written the usual way with axum and sqlx on a tokio
//! multi-thread runtime. Same JSON, same SQL, same pool (`AnyPool`, 8 connections, 5 s acquire
//! timeout), same SQLite settings (WAL, `synchronous = FULL`, the same schema), so that the
//! bench compares the servers and not the database work.
//!
//! `todo_axum [--port 9503] [--workers 2] [--database-url sqlite://./todo.db?mode=rwc]`:
//! `--workers` is the runtime's worker thread count. Prints `listening on http://ADDRESS`
//! once it accepts connections, as `todo` does. No access log, no request id: the bench runs
//! `todo` with its access log off (`RUST_LOG=warn`).

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Connections in the pool, as `todo`.
const POOL_SIZE: u32 = 8;
/// How long a request waits for a free connection before it is answered `503`, as `todo`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
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

/// A client or server error, answered as `{"error": "…"}`.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<sqlx::Error> for Failure {
    fn from(error: sqlx::Error) -> Failure {
        if matches!(error, sqlx::Error::PoolTimedOut) {
            return Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is busy".into(),
            );
        }
        Failure(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
    }
}

/// Opens the pool and creates the table, as `todo` does on SQLite.
async fn open(url: &str) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(|connection, _| {
            Box::pin(async move {
                connection.execute("PRAGMA synchronous = FULL").await?;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    pool.execute("PRAGMA journal_mode = WAL").await?;
    pool.execute(
        "CREATE TABLE IF NOT EXISTS todos (id INTEGER PRIMARY KEY AUTOINCREMENT, \
         title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)))",
    )
    .await?;
    Ok(pool)
}

/// A todo from a row of `id, title, done` (`done` 0 or 1 on SQLite).
fn todo(row: &AnyRow) -> Result<Todo, sqlx::Error> {
    Ok(Todo {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        done: row.try_get::<i64, _>("done")? != 0,
    })
}

/// A title as stored: surrounding blanks removed, not empty, not past `MAX_TITLE`.
fn checked_title(title: &str) -> Result<String, Failure> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            "title: must not be empty".into(),
        ));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(Failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("title: at most {MAX_TITLE} characters"),
        ));
    }
    Ok(title.to_string())
}

async fn create(
    State(db): State<AnyPool>,
    axum::Json(new): axum::Json<NewTodo>,
) -> Result<impl IntoResponse, Failure> {
    let title = checked_title(&new.title)?;
    let mut transaction = db.begin().await?;
    let row = sqlx::query("INSERT INTO todos (title) VALUES ($1) RETURNING id, title, done")
        .bind(title)
        .fetch_one(&mut *transaction)
        .await?;
    let created = todo(&row)?;
    // Committed before the `201` is written, as `todo` does.
    transaction.commit().await?;
    let location = format!("/todos/{}", created.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(created),
    ))
}

async fn show(State(db): State<AnyPool>, Path(id): Path<i64>) -> Result<axum::Json<Todo>, Failure> {
    let row = sqlx::query("SELECT id, title, done FROM todos WHERE id = $1")
        .bind(id)
        .fetch_optional(&db)
        .await?;
    let row = row.ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no todo {id}")))?;
    Ok(axum::Json(todo(&row)?))
}

/// The value of `--name VALUE` on the command line, else `default`.
fn flag<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|raw| raw.parse().ok())
            .unwrap_or_else(|| panic!("{name}: a value is needed")),
        None => default,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = flag("--port", 9503u16);
    let workers = flag("--workers", 2usize);
    let url = flag("--database-url", "sqlite://./todo.db?mode=rwc".to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let pool = open(&url).await?;
        let app = Router::new()
            .route("/todos", post(create))
            .route("/todos/{id}", get(show))
            .with_state(pool);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("listening on http://{}", listener.local_addr()?);
        // Responses leave at once, as the engine's do (it sets `TCP_NODELAY` on each
        // connection too).
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, app).await?;
        Ok(())
    })
}
