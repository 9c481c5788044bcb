//! Where contexts live: one coroutine's values behind their access protocol, and the registry
//! of live coroutines' contexts that other coroutines read through.

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell, UnsafeCell};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

/// A stored value: shared, so a read from another coroutine or a copy can clone it cheaply.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;
/// A stored value under its key.
#[derive(Clone)]
pub(crate) struct Entry {
    /// The key's id.
    pub(crate) key: u64,
    /// The key's name, for `Debug`.
    pub(crate) name: &'static str,
    value: Value,
    /// Where `value`'s data is (its `Arc::as_ptr`, thin). Reading a value through it skips
    /// the look into the vtable that finding the data behind a `dyn` pointer takes, one more
    /// dependent load on the owner's hot read.
    data: *const (),
}

// SAFETY: `data` only points into the allocation that `value` — `Send + Sync` — keeps alive,
// and is only read through as a shared reference to that value.
unsafe impl Send for Entry {}
// SAFETY: as for `Send`.
unsafe impl Sync for Entry {}

impl Entry {
    pub(crate) fn new(key: u64, name: &'static str, value: Value) -> Self {
        let data = Arc::as_ptr(&value).cast::<()>();
        Entry {
            key,
            name,
            value,
            data,
        }
    }

    pub(crate) fn value(&self) -> &Value {
        &self.value
    }

    /// The value's data, for a read as the key's type.
    pub(crate) fn data(&self) -> *const () {
        self.data
    }

    /// Puts `value` in place of the stored one, which it returns.
    pub(crate) fn replace(&mut self, value: Value) -> Value {
        self.data = Arc::as_ptr(&value).cast::<()>();
        std::mem::replace(&mut self.value, value)
    }

    pub(crate) fn into_value(self) -> Value {
        self.value
    }
}

/// One coroutine's values. A coroutine holds a handful, so a vector searched by key id beats
/// hashing.
///
/// Why the `UnsafeCell` is sound — the access protocol:
/// - only the owning coroutine (or thread) mutates `entries`, and it holds `lock` while it does;
/// - other coroutines read `entries` only while holding `lock`;
/// - the owner reads without the lock: the only accesses that can run at the same time are
///   other coroutines' reads. That keeps the owner's reads, the hot path, free of atomics.
///
/// The owner's own re-entrancy (a value's `Clone` calling back into `Context` while the owner
/// reads) is excluded by [`ContextCell::reading`].
#[derive(Default)]
pub(crate) struct Values {
    lock: Mutex<()>,
    entries: UnsafeCell<Vec<Entry>>,
}

// SAFETY: see the protocol above; every value is `Send + Sync`.
unsafe impl Sync for Values {}

impl Values {
    /// A read by a coroutine other than the owner.
    pub(crate) fn read_shared<R>(&self, f: impl FnOnce(&[Entry]) -> R) -> R {
        let _guard = self.lock.lock();
        // SAFETY: the lock excludes the owner's writes; other accesses are reads.
        f(unsafe { &*self.entries.get() })
    }
}

/// The context slot of a coroutine's frame (or of a plain thread): created on first write,
/// registered by id so that other coroutines can read it, released when the coroutine ends.
#[derive(Default)]
pub(crate) struct ContextCell {
    values: OnceCell<Arc<Values>>,
    /// Set while the owner reads without the lock; a write then would pull the vector out from
    /// under that read, so it panics instead.
    reading: Cell<bool>,
}

const SHARDS: usize = 16;

/// One shard of the live coroutines' contexts, by coroutine id.
type Shard = Mutex<HashMap<u64, Arc<Values>, BuildHasherDefault<IdHasher>>>;

/// Hashes a coroutine id with one multiplication (Fibonacci hashing). Ids are handed out by
/// this crate in sequence, not chosen by a client, so there is no collision attack to defend
/// against, and SipHash cost more than the rest of a registration.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed; this keeps the hasher correct for any other key anyway.
        for &byte in bytes {
            self.write_u64(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// At most this many released contexts are kept per thread for reuse...
const SPARE_CONTEXTS: usize = 64;
/// ...and only those whose entry buffer stayed this small: a context that once held many
/// values gives its buffer back to the allocator.
const SPARE_ENTRIES: usize = 16;

thread_local! {
    /// Released contexts of this thread's coroutines, emptied, for the next coroutine that
    /// writes a context: a request then costs neither the context's nor its buffer's
    /// allocation. Coroutines move between threads, but each take or give is one call that
    /// does not yield, so a thread-local is sound here.
    static SPARE: RefCell<Vec<Arc<Values>>> = const { RefCell::new(Vec::new()) };
}

/// Live coroutines' contexts by coroutine id, for reads from other coroutines.
static LIVE: LazyLock<[Shard; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(HashMap::default())));

fn shard(coroutine: u64) -> &'static Shard {
    &LIVE[coroutine as usize % SHARDS]
}

/// The context of the live coroutine `coroutine`, if it has one.
pub(crate) fn live(coroutine: u64) -> Option<Arc<Values>> {
    shard(coroutine).lock().get(&coroutine).cloned()
}

/// Puts [`ContextCell::reading`] back as it was before a read, however the read ends (a
/// value's `Clone` or a `Context::with` closure may panic). Back as it was, not cleared: a
/// read nested in another (a read inside `Context::with`) must leave the outer one guarded.
struct Reading<'a> {
    flag: &'a Cell<bool>,
    before: bool,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.flag.set(self.before);
    }
}

impl ContextCell {
    /// The owner's read: no lock. `f` gets `None` when nothing was ever stored here.
    #[inline]
    pub(crate) fn read_or_none<R>(&self, f: impl FnOnce(Option<&[Entry]>) -> R) -> R {
        let Some(values) = self.values.get() else {
            return f(None);
        };
        let _reading = Reading {
            flag: &self.reading,
            before: self.reading.replace(true),
        };
        // SAFETY: only the owner writes, and the owner is here, reading (re-entrant writes are
        // refused while `reading` is set); concurrent accesses by others are reads.
        f(Some(unsafe { &*values.entries.get() }))
    }

    /// The owner's read: no lock.
    #[inline]
    pub(crate) fn read<R>(&self, f: impl FnOnce(&[Entry]) -> R) -> Option<R> {
        self.read_or_none(|entries| entries.map(f))
    }

    /// The owner's write, under the lock. `owner` is the coroutine id to register a new context
    /// under (`None` for a plain thread's, which nobody else can read). Whatever `f` returns is
    /// dropped by the caller after the lock is released, so replaced values can be returned to
    /// be dropped there: their destructors may use the context again.
    pub(crate) fn write<R>(&self, owner: Option<u64>, f: impl FnOnce(&mut Vec<Entry>) -> R) -> R {
        assert!(
            !self.reading.get(),
            "runtime::Context written while one of its values was being read (from a Clone impl or inside Context::with?)"
        );
        let values = self.values.get_or_init(|| {
            let values = SPARE
                .with(|spare| spare.borrow_mut().pop())
                .unwrap_or_default();
            if let Some(coroutine) = owner {
                shard(coroutine)
                    .lock()
                    .insert(coroutine, Arc::clone(&values));
            }
            values
        });
        let _guard = values.lock.lock();
        // SAFETY: the owner holds the lock, which excludes every other access but the owner's
        // own reads, and those are not running (`reading` is clear).
        f(unsafe { &mut *values.entries.get() })
    }

    /// Whether anything was ever stored here (only then is there something to release).
    pub(crate) fn is_used(&self) -> bool {
        self.values.get().is_some()
    }

    /// Drops the values and forgets the context; called once the coroutine's defers have run,
    /// with its frame still current (a value's destructor may use the context). Returns the
    /// emptied entry buffer, for [`recycle`](Self::recycle).
    pub(crate) fn release(&self, coroutine: u64) -> Vec<Entry> {
        if self.values.get().is_none() {
            return Vec::new();
        }
        shard(coroutine).lock().remove(&coroutine);
        let mut entries = self.write(None, std::mem::take);
        // The destructors run here, without the lock: they may write the context again.
        entries.clear();
        entries
    }

    /// Keeps the released context, with its emptied `buffer`, for this thread's next coroutine
    /// — unless a reader in another coroutine still holds it, or a destructor stored new values
    /// into it during the release (those are dropped with it now).
    pub(crate) fn recycle(self, buffer: Vec<Entry>) {
        let Some(mut values) = self.values.into_inner() else {
            return;
        };
        let Some(unique) = Arc::get_mut(&mut values) else {
            return;
        };
        let entries = unique.entries.get_mut();
        if !entries.is_empty() || buffer.capacity() > SPARE_ENTRIES {
            return;
        }
        *entries = buffer;
        SPARE.with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_CONTEXTS {
                spare.push(values);
            }
        });
    }
}

impl fmt::Debug for ContextCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .values
            .get()
            .map(|v| v.read_shared(|e| e.iter().map(|entry| entry.name).collect()))
            .unwrap_or_default();
        f.debug_struct("Context").field("keys", &names).finish()
    }
}
