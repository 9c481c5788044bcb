//! W3C Trace Context's `traceparent` header: parsing one, and new trace and span ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a valid incoming `traceparent` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    pub(crate) trace_id: u128,
    pub(crate) parent_id: u64,
    pub(crate) flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value (W3C Trace Context, level 1): `version-trace-parent-flags`
    /// in lowercase hex, 2-32-16-2 digits. Version `ff` and all-zero ids are invalid; a later
    /// version than `00` may carry more fields after a `-`, which are ignored.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        if value.len() < 55 {
            return None;
        }
        let (head, rest) = value.split_at(55);
        let version = hex(&head[0..2])? as u8;
        let ok_rest = match version {
            0xff => false,
            0x00 => rest.is_empty(),
            _ => rest.is_empty() || rest[0] == b'-',
        };
        if !ok_rest || head[2] != b'-' || head[35] != b'-' || head[52] != b'-' {
            return None;
        }
        let trace_id = hex(&head[3..35])?;
        let parent_id = hex(&head[36..52])? as u64;
        let flags = hex(&head[53..55])? as u8;
        (trace_id != 0 && parent_id != 0).then_some(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// The value of lowercase hex digits (at most 32); `None` for anything else.
fn hex(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |value, &digit| {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        Some(value << 4 | u128::from(nibble))
    })
}

/// A `traceparent` value: version `00`, `trace_id`, `span_id`, `flags`.
pub(crate) fn format(trace_id: u128, span_id: u64, flags: u8) -> String {
    format!("00-{trace_id:032x}-{span_id:016x}-{flags:02x}")
}

/// A new random, non-zero 64-bit id.
///
/// SplitMix64 over a counter from a random per-process start: each call is one atomic add and
/// a few multiplications, with no lock and no thread-local (the caller may be a coroutine on
/// any thread), and the outputs of one process never repeat (the mixing is a bijection of the
/// counter). Not a cryptographic generator: trace ids only need to be unlikely to collide.
/// std's `RandomState` seeds it, so no RNG crate is needed.
pub(crate) fn random_u64() -> u64 {
    static STATE: OnceLock<AtomicU64> = OnceLock::new();
    let state = STATE.get_or_init(|| AtomicU64::new(RandomState::new().build_hasher().finish()));
    loop {
        let mut z = state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z != 0 {
            return z;
        }
    }
}

/// A new random, non-zero 128-bit trace id.
pub(crate) fn random_trace_id() -> u128 {
    u128::from(random_u64()) << 64 | u128::from(random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_trace_and_parent_ids_and_flags() {
        assert_eq!(
            TraceParent::parse(VALID),
            Some(TraceParent {
                trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
                parent_id: 0x00f067aa0ba902b7,
                flags: 1,
            })
        );
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        let cases: &[&[u8]] = &[
            b"",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ];
        for case in cases {
            assert_eq!(
                TraceParent::parse(case),
                None,
                "{}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later";
        assert!(TraceParent::parse(later).is_some());
    }

    #[test]
    fn formatting_writes_version_00_and_zero_padded_hex() {
        assert_eq!(
            format(0x4bf92f3577b34da6a3ce929d0e0e4736, 0xf067aa0ba902b7, 1),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn random_ids_are_non_zero_and_differ() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| random_u64()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(!ids.contains(&0));
        assert_ne!(random_trace_id(), random_trace_id());
    }
}
