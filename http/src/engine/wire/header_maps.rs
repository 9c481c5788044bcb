//! Header maps recycled between requests, so that a keep-alive request allocates no map of its
//! own: once a response's head is written, its map is cleared (`HeaderMap::clear` keeps what
//! it allocated) and kept by the thread, and the next request decoded there, or response the
//! server builds, takes it.
//!
//! Kept per thread rather than per connection: an idle connection holds no map, and the
//! request path takes and returns one without a lock. A map is only borrowed from the pool
//! for the instant of a push or a pop, never across a coroutine's switch, so a coroutine that
//! moves to another thread between requests is harmless: it takes from the pool of the thread
//! it is on.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps kept per thread: more than the responses one worker writes in a batch of pipelined
/// requests, few enough to be a few KiB.
const KEPT_PER_THREAD: usize = 32;
/// A map that grew past this many fields (a response with a hundred cookies) is dropped
/// rather than kept, so that the pool's memory stays small.
const LARGEST_KEPT: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map with room for at least `fields` fields: a recycled one when the thread has
/// one.
pub(crate) fn take(fields: usize) -> HeaderMap {
    let spare = SPARE
        .try_with(|spare| spare.borrow_mut().pop())
        .ok()
        .flatten();
    match spare {
        Some(mut map) => {
            map.reserve(fields);
            map
        }
        None => HeaderMap::with_capacity(fields),
    }
}

/// Keeps `map`, cleared, for a later [`take`] on this thread; drops it when it holds no
/// allocation worth keeping, is larger than the pool keeps, or the pool is full.
pub(crate) fn recycle(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > LARGEST_KEPT {
        return;
    }
    // Cleared now, not when taken: the values share the read buffer they were received in
    // (or a handler's bytes), which must not stay pinned by a map nobody uses.
    map.clear();
    let _ = SPARE.try_with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < KEPT_PER_THREAD {
            spare.push(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use http::header::{CONTENT_TYPE, HOST};
    use http::{HeaderMap, HeaderValue};

    use super::*;

    fn drain() {
        SPARE.with(|spare| spare.borrow_mut().clear());
    }

    #[test]
    fn a_recycled_map_comes_back_empty_with_its_room() {
        drain();
        let mut map = HeaderMap::with_capacity(8);
        map.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let room = map.capacity();
        recycle(map);
        let again = take(1);
        assert!(again.is_empty());
        assert_eq!(again.capacity(), room);
    }

    #[test]
    fn a_map_without_room_is_not_kept() {
        drain();
        recycle(HeaderMap::new());
        assert_eq!(take(0).capacity(), 0);
    }

    #[test]
    fn a_map_that_grew_large_is_dropped() {
        drain();
        let mut large = HeaderMap::with_capacity(LARGEST_KEPT * 2);
        large.insert(HOST, HeaderValue::from_static("example"));
        recycle(large);
        assert!(take(0).capacity() <= LARGEST_KEPT);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_maps() {
        drain();
        for _ in 0..KEPT_PER_THREAD * 2 {
            recycle(HeaderMap::with_capacity(4));
        }
        let kept = SPARE.with(|spare| spare.borrow().len());
        assert_eq!(kept, KEPT_PER_THREAD);
    }

    #[test]
    fn a_taken_map_has_the_room_asked_for() {
        drain();
        recycle(HeaderMap::with_capacity(2));
        assert!(take(20).capacity() >= 20);
    }
}
