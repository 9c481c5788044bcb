//! The `Date` header value, shared by all connections and refreshed by the engine's timer
//! thread: a seqlock over atomics, so readers never block and never see a torn value.

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::SystemTime;

/// The length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

pub(crate) struct DateCache {
    /// Odd while the single writer updates `words`.
    sequence: AtomicU64,
    /// The date's bytes, packed into words so that every access is atomic.
    words: [AtomicU64; 4],
}

impl DateCache {
    pub(crate) fn new() -> Self {
        let cache = DateCache {
            sequence: AtomicU64::new(0),
            words: Default::default(),
        };
        cache.refresh();
        cache
    }

    /// Formats the current time. Only the engine's timer thread calls this.
    pub(crate) fn refresh(&self) {
        let text = httpdate::fmt_http_date(SystemTime::now());
        let mut bytes = [0u8; 32];
        bytes[..DATE_LEN].copy_from_slice(&text.as_bytes()[..DATE_LEN]);
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(sequence + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (word, chunk) in self.words.iter().zip(bytes.chunks_exact(8)) {
            let value = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8"));
            word.store(value, Ordering::Relaxed);
        }
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    /// The current date's bytes.
    pub(crate) fn get(&self) -> [u8; DATE_LEN] {
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            let mut bytes = [0u8; 32];
            for (word, chunk) in self.words.iter().zip(bytes.chunks_exact_mut(8)) {
                chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
            }
            fence(Ordering::Acquire);
            if before % 2 == 0 && self.sequence.load(Ordering::Relaxed) == before {
                let mut date = [0u8; DATE_LEN];
                date.copy_from_slice(&bytes[..DATE_LEN]);
                return date;
            }
            std::hint::spin_loop();
        }
    }
}
