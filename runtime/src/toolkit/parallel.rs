//! [`Parallel`]: run keyed callbacks at once, collect their results in insertion order.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use super::slots::Slots;
use crate::panic::panic_message;

/// The error a [`Parallel`] callback returns. Any error type converts into it with `?` or
/// `.into()`, and so do `&str` and `String` messages.
pub type TaskError = Box<dyn Error + Send + Sync + 'static>;

type Task<T> = Arc<dyn Fn() -> Result<T, TaskError> + Send + Sync + 'static>;

/// A set of keyed callbacks run in parallel, each in its own coroutine, optionally at most
/// `limit` at once; [`wait`](Self::wait) returns their results in the order they were added.
///
/// Use it to fan out independent calls — several backend queries for one request — and go on
/// with all their results. If any callback fails (returns an error or panics),
/// [`wait`](Self::wait) returns one [`ParallelError`] holding the successful results and every
/// failure.
///
/// As in Hyperf, the callbacks stay after `wait`: a second `wait` runs them all again, until
/// [`clear`](Self::clear). That is why they are `Fn`, not `FnOnce`.
///
/// # Example
///
/// ```
/// use runtime::Parallel;
///
/// let mut parallel = Parallel::with_limit(2);
/// parallel.add("user", || Ok("ada".to_string()));
/// parallel.add("orders", || Ok(3.to_string()));
/// parallel.add("cart", || Ok("empty".to_string()));
///
/// let results = parallel.wait().unwrap();
/// assert_eq!(
///     results,
///     [("user", "ada".to_string()), ("orders", "3".to_string()), ("cart", "empty".to_string())]
/// );
///
/// parallel.add("stock", || Err("the stock service is down".into()));
/// let error = parallel.wait().unwrap_err();
/// assert_eq!(error.to_string(), "1 failures during parallel execution");
/// assert_eq!(error.results.len(), 3);
/// assert_eq!(error.failures[0].0, "stock");
/// ```
pub struct Parallel<K, T> {
    tasks: Vec<(K, Task<T>)>,
    limit: Option<usize>,
}

/// How one [`Parallel`] callback failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskFailure {
    /// The callback returned this error.
    Error(TaskError),
    /// The callback panicked (or its coroutine was cancelled) with this message.
    Panicked(String),
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Error(error) => write!(f, "{error}"),
            TaskFailure::Panicked(message) => write!(f, "panicked: {message}"),
        }
    }
}

impl Error for TaskFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TaskFailure::Error(error) => Some(&**error),
            TaskFailure::Panicked(_) => None,
        }
    }
}

/// The error of [`Parallel::wait`] when at least one callback failed: the results of the
/// callbacks that succeeded and the failure of every other one, each in insertion order.
#[derive(Debug)]
pub struct ParallelError<K, T> {
    /// The results of the callbacks that succeeded, in insertion order.
    pub results: Vec<(K, T)>,
    /// The key and failure of every callback that failed, in insertion order (never empty).
    pub failures: Vec<(K, TaskFailure)>,
}

impl<K, T> fmt::Display for ParallelError<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failures during parallel execution",
            self.failures.len()
        )
    }
}

impl<K: fmt::Debug, T: fmt::Debug> Error for ParallelError<K, T> {}

impl<K, T> Parallel<K, T>
where
    K: Clone + Send + 'static,
    T: Send + 'static,
{
    /// An empty set that runs every callback at once.
    pub fn new() -> Self {
        Parallel {
            tasks: Vec::new(),
            limit: None,
        }
    }

    /// An empty set that runs at most `limit` callbacks at once. As in Hyperf, a limit of 0
    /// means no limit.
    pub fn with_limit(limit: usize) -> Self {
        Parallel {
            tasks: Vec::new(),
            limit: (limit > 0).then_some(limit),
        }
    }

    /// Adds a callback under `key`. Keys need not be unique; results are reported per callback,
    /// in the order of the `add` calls.
    pub fn add<F>(&mut self, key: K, f: F) -> &mut Self
    where
        F: Fn() -> Result<T, TaskError> + Send + Sync + 'static,
    {
        self.tasks.push((key, Arc::new(f)));
        self
    }

    /// Runs every callback, each in its own coroutine, and waits for all of them. The caller
    /// parks while `limit` callbacks run, and until the last one has finished.
    ///
    /// # Errors
    ///
    /// [`ParallelError`] when at least one callback returned an error or panicked; it carries
    /// the other callbacks' results. Every callback has finished either way.
    pub fn wait(&self) -> Result<Vec<(K, T)>, ParallelError<K, T>> {
        let slots = self.limit.map(Slots::new);
        let running: Vec<_> = self
            .tasks
            .iter()
            .map(|(key, task)| {
                let slot = slots.as_ref().map(|slots| {
                    slots
                        .acquire(None)
                        .expect("a wait without a deadline cannot time out")
                });
                let task = Arc::clone(task);
                let handle = crate::spawn(move || {
                    // Freed however the callback ends, so a failure never leaks a slot.
                    let _slot = slot;
                    task()
                });
                (key.clone(), handle)
            })
            .collect();

        let mut results = Vec::with_capacity(running.len());
        let mut failures = Vec::new();
        for (key, handle) in running {
            match handle.join() {
                Ok(Ok(value)) => results.push((key, value)),
                Ok(Err(error)) => failures.push((key, TaskFailure::Error(error))),
                Err(payload) => failures.push((
                    key,
                    TaskFailure::Panicked(panic_message(&payload).to_owned()),
                )),
            }
        }
        if failures.is_empty() {
            Ok(results)
        } else {
            Err(ParallelError { results, failures })
        }
    }

    /// Removes every callback.
    pub fn clear(&mut self) {
        self.tasks.clear();
    }

    /// How many callbacks are added.
    #[doc(alias = "count")]
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no callback is added.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The most callbacks that run at once, `None` for no limit.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }
}

impl<K, T> Default for Parallel<K, T>
where
    K: Clone + Send + 'static,
    T: Send + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<K: fmt::Debug, T> fmt::Debug for Parallel<K, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parallel")
            .field(
                "keys",
                &self.tasks.iter().map(|(key, _)| key).collect::<Vec<_>>(),
            )
            .field("limit", &self.limit)
            .finish()
    }
}
