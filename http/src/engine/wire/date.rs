//! The `Date` header value, shared by all connections and refreshed by the engine's timer
//! thread: a seqlock over atomics, so readers never wait and never see a torn value.

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
        self.store(SystemTime::now());
    }

    /// Stores `time`'s date (the single writer's side of the seqlock).
    fn store(&self, time: SystemTime) {
        let text = httpdate::fmt_http_date(time);
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
        let before = self.sequence.load(Ordering::Acquire);
        let mut bytes = [0u8; 32];
        for (word, chunk) in self.words.iter().zip(bytes.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        fence(Ordering::Acquire);
        let mut date = [0u8; DATE_LEN];
        if before % 2 == 0 && self.sequence.load(Ordering::Relaxed) == before {
            date.copy_from_slice(&bytes[..DATE_LEN]);
        } else {
            // The timer thread is mid-update (it may even have been preempted there): format
            // the date here rather than wait for it.
            let text = httpdate::fmt_http_date(SystemTime::now());
            date.copy_from_slice(&text.as_bytes()[..DATE_LEN]);
        }
        date
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[test]
    fn reads_during_updates_see_a_whole_date_never_a_mix() {
        // Two dates that differ in every field: a torn read would mix them.
        let first = SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200); // 2001-01-01
        let second = SystemTime::UNIX_EPOCH + Duration::from_secs(1_830_297_599); // 2027-12-31
        let cache = Arc::new(DateCache::new());
        cache.store(first);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (cache, stop) = (Arc::clone(&cache), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    cache.store(second);
                    cache.store(first);
                }
            })
        };
        let whole = [
            httpdate::fmt_http_date(first),
            httpdate::fmt_http_date(second),
        ];
        for _ in 0..100_000 {
            let date = cache.get();
            let text = std::str::from_utf8(&date).expect("ASCII");
            // Either stored date, or, when a read met the writer mid-update, the date of now.
            let now = httpdate::parse_http_date(text).is_ok_and(|t| {
                SystemTime::now().duration_since(t).unwrap_or_default() < Duration::from_secs(5)
            });
            assert!(whole.iter().any(|w| w == text) || now, "torn: {text:?}");
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
    }
}
