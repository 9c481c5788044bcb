//! Helpers shared by the examples in `src/bin/`; the library also runs the README's Rust
//! snippets as doc tests, so the README cannot drift from the code.

use std::str::FromStr;

pub mod api;

/// SIGINT and SIGTERM, caught from now on: install them before saying where a server listens,
/// so that a signal sent right after finds them in place.
pub fn termination_signals() -> std::io::Result<signal_hook::iterator::Signals> {
    signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
}

/// How a graceful shutdown went: connections closed within the drain, and those cut after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Connections that closed within `max_wait_time`.
    pub drained: usize,
    /// Connections closed by force after it.
    pub forced: usize,
}

/// Waits for one of `signals`, then shuts `server` down gracefully (its drain delay first, if
/// it has one) and waits for the end.
pub fn shut_down_on_signal(
    server: hyperf_http::server::RunningServer,
    mut signals: signal_hook::iterator::Signals,
) -> Drained {
    if let Some(signal) = signals.forever().next() {
        log::info!("signal {signal}: shutting down gracefully");
    }
    server.shutdown();
    let reports = server.wait();
    Drained {
        drained: reports.iter().map(|(_, report)| report.drained).sum(),
        forced: reports.iter().map(|(_, report)| report.forced).sum(),
    }
}

/// The value of `--name VALUE` on the command line, else of the environment variable `env`,
/// else `default`. An unparsable value is an error message and exit, not a panic.
pub fn flag<T: FromStr>(name: &str, env: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    let from_args = args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned());
    let Some(raw) = from_args.or_else(|| std::env::var(env).ok()) else {
        return default;
    };
    raw.parse().unwrap_or_else(|_| {
        #[allow(
            clippy::print_stderr,
            reason = "a command-line error, for the person running it"
        )]
        {
            eprintln!("{name} / {env}: cannot use {raw:?}");
        }
        std::process::exit(2)
    })
}

/// Whether `--name` is on the command line, or the environment variable `env` is set to
/// `1` or `true`.
pub fn switch(name: &str, env: &str) -> bool {
    std::env::args().any(|a| a == name)
        || std::env::var(env).is_ok_and(|value| value == "1" || value == "true")
}

/// Sends `log` lines to standard error, at `info` unless `RUST_LOG` says otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
}

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeSnippets;
