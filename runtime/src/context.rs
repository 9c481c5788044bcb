//! [`Context`]: per-coroutine storage for request-scoped values, and its typed [`ContextKey`]s.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::context_store::{ContextCell, Entry, Value, live};
use crate::frame::with_frame;

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

/// Where the key with id `key` is in `entries`.
#[inline]
fn position(entries: &[Entry], key: u64) -> Option<usize> {
    entries.iter().position(|entry| entry.key == key)
}

/// The value of the key with id `key`, which is a `ContextKey<T>`.
#[inline]
fn find_ref<T: 'static>(entries: &[Entry], key: u64) -> Option<&T> {
    let entry = &entries[position(entries, key)?];
    debug_assert!(entry.value().is::<T>());
    // SAFETY: a key id belongs to exactly one `ContextKey<T>` static, and values are only
    // stored under a key through that key's `T` (`Context::set`, or `copy_from`, which copies
    // entries unchanged), so the value is a `T`. Skipping `downcast_ref`'s dynamic type check
    // keeps a read of the context within a few nanoseconds of a coroutine-local read.
    // `data` is that value's data pointer (`Entry::new`), and the entry, borrowed for the
    // returned lifetime, keeps it alive.
    Some(unsafe { &*entry.data().cast::<T>() })
}

/// A clone of the value of the key with id `key`, which is a `ContextKey<T>`.
fn find<T: Clone + 'static>(entries: &[Entry], key: u64) -> Option<T> {
    find_ref::<T>(entries, key).cloned()
}

/// A share of the value of the key with id `key`, which is a `ContextKey<T>`.
fn find_shared<T: Send + Sync + 'static>(entries: &[Entry], key: u64) -> Option<Arc<T>> {
    let value = entries[position(entries, key)?].value();
    // Values of a `ContextKey<T>` are `T`s (see `find`); the checked downcast costs a type-id
    // comparison, next to the reference count it hands out.
    Arc::clone(value).downcast::<T>().ok()
}

thread_local! {
    // Plain OS threads never migrate, so a thread-local is the right home for their context.
    // Coroutines never use this.
    static THREAD_CONTEXT: ContextCell = ContextCell::default();
}

/// Runs `f` with the current context cell and, for a coroutine, its id: the coroutine's own,
/// or the plain thread's.
fn with_current<R>(f: impl FnOnce(&ContextCell, Option<u64>) -> R) -> R {
    with_frame(|frame| match frame {
        Some(frame) => f(frame.context(), Some(frame.id())),
        None if may::coroutine::is_coroutine() => panic!(
            "runtime::Context used in a coroutine not spawned by runtime::spawn: \
             spawn it with runtime::spawn (or runtime::go!) to give it a context; \
             for a coordinator::Timer callback, make the timer with runtime::timer()"
        ),
        None => THREAD_CONTEXT.with(|cell| f(cell, None)),
    })
}

/// Stores `value` under `key` in the current context; returns the value it replaced.
fn store(key: u64, name: &'static str, value: Value) -> Option<Value> {
    with_current(|cell, owner| {
        cell.write(owner, |entries| match position(entries, key) {
            Some(i) => Some(entries[i].replace(value)),
            None => {
                entries.push(Entry::new(key, name, value));
                None
            }
        })
    })
}

/// Per-coroutine storage for request-scoped values, keyed by typed [`ContextKey`]s.
///
/// Each coroutine spawned by this crate starts with an empty context (a child inherits
/// nothing — copy what it needs with [`copy_from`](Self::copy_from)); its values are dropped
/// when it ends, after its defers (which can still read them). Reads return clones (store an
/// `Arc` to share a value); a [`copy_from`](Self::copy_from) is shallow, as in Hyperf. Other
/// live coroutines' contexts can be read by id. On a plain OS thread the context is the
/// thread's own.
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
///     runtime::defer(|| assert_eq!(Context::get(&REQUEST_ID).unwrap(), 7));
///     let child = runtime::spawn(|| Context::get(&REQUEST_ID)); // inherits nothing
///     assert!(child.join().unwrap().is_none());
///     Context::get(&REQUEST_ID).unwrap()
/// });
/// assert_eq!(id.join().unwrap(), 7);
/// ```
///
/// # Panics
///
/// Every function panics when called in a may coroutine that was not spawned by this crate:
/// such a coroutine has no context, and a thread-local would be wrong there (coroutines move
/// between threads). That includes the callbacks of a plain [`coordinator::Timer`]; a timer
/// from [`timer`](crate::timer()) runs each callback call with a context of its own.
#[derive(Debug)]
pub struct Context {
    _private: (),
}

impl Context {
    /// Stores `value` under `key`, replacing any previous value.
    pub fn set<T: Send + Sync + 'static>(key: &'static ContextKey<T>, value: T) {
        drop(store(key.key_id(), key.name, Arc::new(value)));
    }

    /// A clone of the value under `key`, if any. Store an `Arc` for values that are expensive
    /// to clone or must be shared.
    #[inline]
    pub fn get<T: Clone + Send + Sync + 'static>(key: &'static ContextKey<T>) -> Option<T> {
        with_current(|cell, _| cell.read(|entries| find(entries, key.key_id())).flatten())
    }

    /// Calls `f` with the value under `key` (or `None`), borrowed: nothing is cloned, so `T`
    /// need not be `Clone` and a large value costs no copy.
    ///
    /// ```
    /// use runtime::{Context, ContextKey};
    ///
    /// static ROLES: ContextKey<Vec<String>> = ContextKey::new("roles");
    ///
    /// let is_admin = runtime::spawn(|| {
    ///     Context::set(&ROLES, vec!["reader".to_string(), "admin".to_string()]);
    ///     Context::with(&ROLES, |roles| roles.is_some_and(|r| r.iter().any(|r| r == "admin")))
    /// });
    /// assert!(is_admin.join().unwrap());
    /// ```
    ///
    /// # Panics
    ///
    /// If `f` writes the current context (`set`, `remove`, …): the value it borrows would be
    /// pulled from under it. Reads inside `f` are fine.
    #[inline]
    pub fn with<T: Send + Sync + 'static, R>(
        key: &'static ContextKey<T>,
        f: impl FnOnce(Option<&T>) -> R,
    ) -> R {
        with_current(|cell, _| {
            cell.read_or_none(|entries| f(entries.and_then(|e| find_ref::<T>(e, key.key_id()))))
        })
    }

    /// Stores an already shared value under `key` as it is: the context keeps this `Arc`
    /// (no second allocation, as [`set`](Self::set) of an `Arc<T>` would make), and
    /// [`get_shared`](Self::get_shared) hands out shares of it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use runtime::{Context, ContextKey};
    ///
    /// struct Session { user: String }
    /// static SESSION: ContextKey<Session> = ContextKey::new("session");
    ///
    /// runtime::spawn(|| {
    ///     let session = Arc::new(Session { user: "ada".into() });
    ///     Context::set_shared(&SESSION, Arc::clone(&session));
    ///     let read = Context::get_shared(&SESSION).unwrap();
    ///     assert!(Arc::ptr_eq(&read, &session));
    ///     assert_eq!(read.user, "ada");
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    pub fn set_shared<T: Send + Sync + 'static>(key: &'static ContextKey<T>, value: Arc<T>) {
        drop(store(key.key_id(), key.name, value));
    }

    /// A share of the value under `key`, if any: a reference count, never a clone of the
    /// value, so `T` need not be `Clone`. Works for values stored by [`set`](Self::set) too.
    #[inline]
    pub fn get_shared<T: Send + Sync + 'static>(key: &'static ContextKey<T>) -> Option<Arc<T>> {
        with_current(|cell, _| {
            cell.read(|entries| find_shared(entries, key.key_id()))
                .flatten()
        })
    }

    /// Whether a value is stored under `key`.
    pub fn has<T>(key: &'static ContextKey<T>) -> bool {
        with_current(|cell, _| {
            cell.read(|entries| position(entries, key.key_id()).is_some())
                .unwrap_or(false)
        })
    }

    /// Removes and returns the value under `key` (Hyperf's `destroy`).
    #[doc(alias = "destroy")]
    pub fn remove<T: Clone + Send + Sync + 'static>(key: &'static ContextKey<T>) -> Option<T> {
        let removed = with_current(|cell, owner| {
            cell.write(owner, |entries| {
                position(entries, key.key_id()).map(|i| entries.swap_remove(i).into_value())
            })
        })?;
        let removed = removed.downcast::<T>().ok()?;
        // Unshared unless a copy in another coroutine still holds it.
        Some(Arc::try_unwrap(removed).unwrap_or_else(|shared| T::clone(&shared)))
    }

    /// Replaces the value under `key` with `f(current value)` and returns the new value
    /// (Hyperf's `override`; `override` is a reserved word in Rust).
    #[doc(alias = "override")]
    pub fn update<T: Clone + Send + Sync + 'static>(
        key: &'static ContextKey<T>,
        f: impl FnOnce(Option<T>) -> T,
    ) -> T {
        // Only this coroutine writes its context, so read-then-write cannot lose an update;
        // `f` runs without the lock, so it may use the context itself.
        let new = f(Self::get(key));
        Self::set(key, new.clone());
        new
    }

    /// The value under `key`; when there is none, stores `f()` first. `f` runs only when the
    /// value is absent.
    #[doc(alias = "getOrSet")]
    pub fn get_or_set<T: Clone + Send + Sync + 'static>(
        key: &'static ContextKey<T>,
        f: impl FnOnce() -> T,
    ) -> T {
        match Self::get(key) {
            Some(value) => value,
            None => Self::update(key, |_| f()),
        }
    }

    /// A clone of the value under `key` in the context of the live coroutine `coroutine`;
    /// `None` if it has none, or has ended.
    pub fn get_from<T: Clone + Send + Sync + 'static>(
        coroutine: u64,
        key: &'static ContextKey<T>,
    ) -> Option<T> {
        live(coroutine)?.read_shared(|entries| find(entries, key.key_id()))
    }

    /// Whether the live coroutine `coroutine` has a value under `key`.
    pub fn has_in<T>(coroutine: u64, key: &'static ContextKey<T>) -> bool {
        live(coroutine)
            .is_some_and(|values| values.read_shared(|e| position(e, key.key_id()).is_some()))
    }

    /// Replaces the current context with a shallow copy of the live coroutine `coroutine`'s:
    /// only `keys`, or everything when `keys` is empty (Hyperf's `copy`). Values are shared,
    /// not cloned: a copy of an `Arc` points at the same data, as a copied PHP object does.
    /// Returns how many values were copied; from an ended coroutine, none (and the current
    /// context is emptied).
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
    ///     assert_eq!(child.join().unwrap().as_deref(), Some("abc"));
    /// })
    /// .join()
    /// .unwrap();
    /// ```
    #[doc(alias = "copy")]
    pub fn copy_from(coroutine: u64, keys: &[&dyn AnyContextKey]) -> usize {
        let wanted: Vec<u64> = keys.iter().map(|k| k.key_id()).collect();
        let copied: Vec<Entry> = live(coroutine)
            .map(|source| {
                source.read_shared(|entries| {
                    entries
                        .iter()
                        .filter(|entry| wanted.is_empty() || wanted.contains(&entry.key))
                        .cloned()
                        .collect()
                })
            })
            .unwrap_or_default();
        let count = copied.len();
        let replaced = with_current(|cell, owner| {
            cell.write(owner, |entries| std::mem::replace(entries, copied))
        });
        drop(replaced);
        count
    }
}
