//! [`Context`]: per-coroutine storage for request-scoped values.

use std::any::Any;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::coroutine::with_frame;

/// A typed key into the [`Context`]: declare one per value, as a `static`.
///
/// ```
/// use runtime::ContextKey;
///
/// struct User { name: String }
/// static USER: ContextKey<User> = ContextKey::new("user");
/// static REQUEST_ID: ContextKey<u64> = ContextKey::new("request_id");
/// ```
///
/// Why typed keys rather than Hyperf's strings: the value's type is part of the key, so a read
/// can never find a value of another type; two crates cannot collide on a popular name
/// ("user"), since each key is its own static; and a lookup compares integers instead of
/// hashing a string, on the hot path of every request. The name is kept for `Debug` output and
/// logs.
pub struct ContextKey<T> {
    name: &'static str,
    /// Assigned on first use, unique in the process; 0 until then.
    id: AtomicU64,
    _value: PhantomData<fn() -> T>,
}

impl<T> ContextKey<T> {
    /// A key named `name` (for diagnostics; keys are told apart by identity, not by name).
    pub const fn new(name: &'static str) -> Self {
        ContextKey {
            name,
            id: AtomicU64::new(0),
            _value: PhantomData,
        }
    }

    /// The key's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<T> fmt::Debug for ContextKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ContextKey").field(&self.name).finish()
    }
}

/// Any [`ContextKey`], whatever its value type: the element type of the key lists of
/// [`Context::copy_from`].
pub trait AnyContextKey: Sync {
    /// The key's process-wide identity.
    fn key_id(&self) -> u64;
}

impl<T> AnyContextKey for ContextKey<T> {
    #[inline]
    fn key_id(&self) -> u64 {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 { id } else { self.assign_id() }
    }
}

impl<T> ContextKey<T> {
    #[cold]
    fn assign_id(&self) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(assigned) => assigned,
        }
    }
}

type Value = Arc<dyn Any + Send + Sync>;

/// One coroutine's values. A coroutine holds a handful of values, so a vector searched by key
/// id beats hashing.
#[derive(Default)]
struct Values {
    entries: Vec<(u64, &'static str, Value)>,
}

impl Values {
    fn position(&self, key: u64) -> Option<usize> {
        self.entries.iter().position(|(id, _, _)| *id == key)
    }

    fn get(&self, key: u64) -> Option<Value> {
        self.position(key).map(|i| Arc::clone(&self.entries[i].2))
    }

    fn set(&mut self, key: u64, name: &'static str, value: Value) {
        match self.position(key) {
            Some(i) => self.entries[i].2 = value,
            None => self.entries.push((key, name, value)),
        }
    }

    fn remove(&mut self, key: u64) -> Option<Value> {
        self.position(key).map(|i| self.entries.swap_remove(i).2)
    }
}

/// A coroutine's context: locked because other coroutines may read it by id.
type Shared = Arc<Mutex<Values>>;

/// The context slot of a coroutine's frame: created on first write, registered by id so
/// other coroutines can read it, released when the coroutine ends.
#[derive(Default)]
pub(crate) struct ContextCell {
    values: OnceCell<Shared>,
}

const SHARDS: usize = 16;

/// Live coroutines' contexts by coroutine id, for reads from other coroutines.
static LIVE: LazyLock<[Mutex<HashMap<u64, Shared>>; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashMap::new())));

fn shard(coroutine: u64) -> &'static Mutex<HashMap<u64, Shared>> {
    &LIVE[coroutine as usize % SHARDS]
}

impl ContextCell {
    fn get_or_create(&self, coroutine: u64) -> &Shared {
        self.values.get_or_init(|| {
            let values = Shared::default();
            shard(coroutine).lock().insert(coroutine, Arc::clone(&values));
            values
        })
    }

    /// Drops the values and forgets the context; called once the coroutine's defers have run.
    pub(crate) fn release(&self, coroutine: u64) {
        if let Some(values) = self.values.get() {
            shard(coroutine).lock().remove(&coroutine);
            // Dropped outside the lock: a value's destructor may use the context of its own.
            let entries = std::mem::take(&mut values.lock().entries);
            drop(entries);
        }
    }
}

thread_local! {
    // Plain OS threads never migrate, so a thread-local is the right home for their context.
    // Coroutines never use this.
    static THREAD_CONTEXT: Shared = Shared::default();
}

/// Runs `f` with the current context: the coroutine's (created if `create`), or the plain
/// thread's.
fn with_current<R>(create: bool, f: impl FnOnce(Option<&Shared>) -> R) -> R {
    with_frame(|frame| match frame {
        Some(frame) if create => f(Some(frame.context.get_or_create(frame.id()))),
        Some(frame) => f(frame.context.values.get()),
        None if may::coroutine::is_coroutine() => panic!(
            "runtime::Context used in a coroutine not spawned by runtime::spawn: \
             spawn it with runtime::spawn (or runtime::go!) to give it a context"
        ),
        None => THREAD_CONTEXT.with(|values| f(Some(values))),
    })
}

fn downcast<T: Send + Sync + 'static>(value: Value) -> Arc<T> {
    // The key's type parameter is the value's type, so this cannot fail.
    value
        .downcast::<T>()
        .unwrap_or_else(|_| unreachable!("a context key always holds its own value type"))
}

/// Per-coroutine storage for request-scoped values, keyed by typed [`ContextKey`]s.
///
/// Each coroutine spawned by this crate starts with an empty context (a child inherits
/// nothing — copy what it needs with [`copy_from`](Self::copy_from)); its values are dropped
/// when it ends, after its defers (which can still read them). Values are shared as `Arc`s, so
/// a copy is shallow, as in Hyperf. Other live coroutines' contexts can be read by id. On a
/// plain OS thread the context is the thread's own.
///
/// # Example
///
/// ```
/// use runtime::{Context, ContextKey};
///
/// static REQUEST_ID: ContextKey<u64> = ContextKey::new("request_id");
///
/// let id = runtime::spawn(|| {
///     Context::set(&REQUEST_ID, 7);
///     runtime::defer(|| assert_eq!(*Context::get(&REQUEST_ID).unwrap(), 7));
///     let child = runtime::spawn(|| Context::get(&REQUEST_ID)); // inherits nothing
///     assert!(child.join().unwrap().is_none());
///     *Context::get(&REQUEST_ID).unwrap()
/// });
/// assert_eq!(id.join().unwrap(), 7);
/// ```
///
/// # Panics
///
/// Every function panics when called in a may coroutine that was not spawned by this crate:
/// such a coroutine has no context, and a thread-local would be wrong there (coroutines move
/// between threads).
#[derive(Debug)]
pub struct Context {
    _private: (),
}

impl Context {
    /// Stores `value` under `key`, replacing any previous value.
    pub fn set<T: Send + Sync + 'static>(key: &'static ContextKey<T>, value: T) {
        let value: Value = Arc::new(value);
        with_current(true, |values| {
            if let Some(values) = values {
                values.lock().set(key.key_id(), key.name, value);
            }
        });
    }

    /// The value under `key`, if any.
    #[inline]
    pub fn get<T: Send + Sync + 'static>(key: &'static ContextKey<T>) -> Option<Arc<T>> {
        with_current(false, |values| values?.lock().get(key.key_id())).map(downcast)
    }

    /// Whether a value is stored under `key`.
    pub fn has<T>(key: &'static ContextKey<T>) -> bool {
        with_current(false, |values| {
            values.is_some_and(|v| v.lock().position(key.key_id()).is_some())
        })
    }

    /// Removes and returns the value under `key` (Hyperf's `destroy`).
    pub fn remove<T: Send + Sync + 'static>(key: &'static ContextKey<T>) -> Option<Arc<T>> {
        with_current(false, |values| values?.lock().remove(key.key_id())).map(downcast)
    }

    /// Replaces the value under `key` with `f(current value)` and returns the new value
    /// (Hyperf's `override`; `override` is a reserved word in Rust).
    pub fn update<T: Send + Sync + 'static>(
        key: &'static ContextKey<T>,
        f: impl FnOnce(Option<Arc<T>>) -> T,
    ) -> Arc<T> {
        // Only this coroutine writes its context, so read-then-write cannot lose an update;
        // `f` runs without the lock, so it may use the context itself.
        let new = Arc::new(f(Self::get(key)));
        let value: Value = new.clone();
        with_current(true, |values| {
            if let Some(values) = values {
                values.lock().set(key.key_id(), key.name, value);
            }
        });
        new
    }

    /// The value under `key`; when there is none, stores `f()` first. `f` runs only when the
    /// value is absent.
    pub fn get_or_set<T: Send + Sync + 'static>(
        key: &'static ContextKey<T>,
        f: impl FnOnce() -> T,
    ) -> Arc<T> {
        if let Some(value) = Self::get(key) {
            return value;
        }
        Self::update(key, |_| f())
    }

    /// The value under `key` in the context of the live coroutine `coroutine`; `None` if it
    /// has none, or has ended.
    pub fn get_from<T: Send + Sync + 'static>(
        coroutine: u64,
        key: &'static ContextKey<T>,
    ) -> Option<Arc<T>> {
        let values = shard(coroutine).lock().get(&coroutine).cloned()?;
        let value = values.lock().get(key.key_id());
        value.map(downcast)
    }

    /// Whether the live coroutine `coroutine` has a value under `key`.
    pub fn has_in<T>(coroutine: u64, key: &'static ContextKey<T>) -> bool {
        let Some(values) = shard(coroutine).lock().get(&coroutine).cloned() else {
            return false;
        };
        values.lock().position(key.key_id()).is_some()
    }

    /// Replaces the current context with a shallow copy of the live coroutine `coroutine`'s:
    /// only `keys`, or everything when `keys` is empty (Hyperf's `copy`). Returns how many
    /// values were copied; from an ended coroutine, none (and the current context is emptied).
    ///
    /// ```
    /// use runtime::{Context, ContextKey};
    ///
    /// static TRACE: ContextKey<String> = ContextKey::new("trace");
    ///
    /// runtime::spawn(|| {
    ///     Context::set(&TRACE, "abc".to_string());
    ///     let parent = runtime::id().unwrap();
    ///     let child = runtime::spawn(move || {
    ///         Context::copy_from(parent, &[&TRACE]);
    ///         Context::get(&TRACE)
    ///     });
    ///     assert_eq!(child.join().unwrap().as_deref().map(String::as_str), Some("abc"));
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    pub fn copy_from(coroutine: u64, keys: &[&dyn AnyContextKey]) -> usize {
        let source = shard(coroutine).lock().get(&coroutine).cloned();
        let copied: Vec<_> = match &source {
            None => Vec::new(),
            Some(source) => {
                let wanted: Vec<u64> = keys.iter().map(|k| k.key_id()).collect();
                source
                    .lock()
                    .entries
                    .iter()
                    .filter(|(id, _, _)| wanted.is_empty() || wanted.contains(id))
                    .cloned()
                    .collect()
            }
        };
        let count = copied.len();
        let replaced = with_current(true, |values| {
            values.map(|values| std::mem::replace(&mut values.lock().entries, copied))
        });
        // The replaced values drop here, outside the lock.
        drop(replaced);
        count
    }
}

impl fmt::Debug for ContextCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .values
            .get()
            .map(|v| v.lock().entries.iter().map(|(_, name, _)| *name).collect())
            .unwrap_or_default();
        f.debug_struct("Context").field("keys", &names).finish()
    }
}
