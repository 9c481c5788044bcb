//! `EngineConfig::reuse_port`: a new engine binds the address an old one still listens on,
//! the old one's stop ends promptly although its wake-up may reach the new one, and from then
//! on the new one answers every connection.

mod common;

use std::time::{Duration, Instant};

use common::{Client, answer, get, start_with};
use hyperf_http::{Engine, EngineConfig};

/// A grace far longer than any stop below should take: a stop that waits it out fails.
const GRACE: Duration = Duration::from_secs(10);

fn reusing() -> EngineConfig {
    EngineConfig::default().reuse_port(true)
}

#[test]
fn a_second_engine_with_reuse_port_binds_the_address_the_first_listens_on() {
    let old = start_with(reusing(), answer("old"));
    let new = Engine::start(old.local_addr(), reusing(), answer("new"));
    let new = new.expect("both set SO_REUSEPORT: the port is shared");
    assert_eq!(new.local_addr(), old.local_addr());
}

#[test]
fn reuse_port_on_the_second_engine_alone_does_not_share_a_taken_port() {
    let old = start_with(EngineConfig::default(), answer("old"));
    let error = Engine::start(old.local_addr(), reusing(), answer("new"))
        .expect_err("the first listener did not agree to share");
    assert_eq!(error.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn after_the_old_engine_stops_the_new_one_answers_every_connection() {
    let old = start_with(reusing(), answer("old"));
    let address = old.local_addr();
    let new = Engine::start(address, reusing(), answer("new")).expect("the port is shared");
    let started = Instant::now();
    old.stop(GRACE);
    assert!(
        started.elapsed() < GRACE,
        "the old engine's stop waited for a wake-up that reached the new engine"
    );
    for _ in 0..50 {
        assert_eq!(Client::connect(address).exchange(get("/")).text(), "new");
    }
    drop(new);
}

#[test]
fn a_keep_alive_connection_to_the_old_engine_is_answered_by_it_until_the_handover() {
    let old = start_with(reusing(), answer("old"));
    let address = old.local_addr();
    let mut kept = Client::connect(address);
    assert_eq!(kept.exchange(get("/")).text(), "old");
    let _new = Engine::start(address, reusing(), answer("new")).expect("the port is shared");
    // Binding the new engine does not move an open connection.
    assert_eq!(kept.exchange(get("/")).text(), "old");
    old.stop(GRACE);
    kept.assert_closed();
}
