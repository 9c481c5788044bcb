//! A `log` recorder for tests that look at what the code under test logged.
//!
//! The `log` facade takes one logger per process, for good: a second `log::set_logger` fails.
//! A test binary is one process whose tests run side by side on threads, so every test in it
//! shares this one recorder and sees every other test's records. [`record_logs`] installs it
//! (idempotent, any thread, any number of times); a test then finds its own records by a marker
//! of its own (a path, a value, a message) rather than by counting all of them.
//!
//! It keeps every record at `Debug` and above, of every target; a test that cares about one
//! target or level filters when it reads ([`messages_of`], [`logged_at`], [`records`]).

use std::sync::{Mutex, Once};

/// One log record as it was logged: its level, its target and its formatted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's level.
    pub level: log::Level,
    /// The record's target (the module path unless the call named one).
    pub target: String,
    /// The formatted message.
    pub message: String,
}

/// Every record of this process since [`record_logs`] was first called.
static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

/// The process's one logger: appends to [`RECORDS`].
struct Recorder;

impl log::Log for Recorder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Debug
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let record = Record {
                level: record.level(),
                target: record.target().to_owned(),
                message: record.args().to_string(),
            };
            lock().push(record);
        }
    }

    fn flush(&self) {}
}

/// The records, even after a test panicked while holding them.
fn lock() -> std::sync::MutexGuard<'static, Vec<Record>> {
    RECORDS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the recorder as this process's logger, at `Debug`; later calls do nothing.
///
/// # Panics
///
/// If another logger was installed first: the process has one logger, and it must be this one.
pub fn record_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Recorder).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Debug);
    });
}

/// A copy of every record so far, of every test of this process, oldest first.
pub fn records() -> Vec<Record> {
    lock().clone()
}

/// The messages of the records with target `target` that mention `marker`, oldest first.
pub fn messages_of(target: &str, marker: &str) -> Vec<String> {
    lock()
        .iter()
        .filter(|record| record.target == target && record.message.contains(marker))
        .map(|record| record.message.clone())
        .collect()
}

/// Whether a record at `level` or more severe mentions `text` (`Level::Error` is the most
/// severe: `logged_at(Level::Error, ..)` looks at error records only).
pub fn logged_at(level: log::Level, text: &str) -> bool {
    lock()
        .iter()
        .any(|record| record.level <= level && record.message.contains(text))
}
