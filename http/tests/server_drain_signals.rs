//! With a drain delay the server watches the signals itself: SIGTERM begins the delay (the
//! health route turns `503`), SIGINT shuts down at once, cutting it short. A binary of its
//! own: signals are process-wide.

mod server_common;

use std::time::Duration;

use hyperf_http::server::Router;
use server_common::{TIMEOUT, connect_to, get, server, spec, start, within};

#[test]
fn sigterm_begins_the_drain_delay_and_sigint_cuts_it_short() {
    let mut router = Router::new();
    router.get("/", || "hello").unwrap();
    let running = start(
        server()
            .handle_signals(true)
            // Far longer than the test: only SIGINT can end it in time.
            .drain_delay(Duration::from_secs(600))
            .server(spec("http").router(router).health_route("/health")),
    );
    let health = || connect_to(&running, "http").exchange(get("/health")).status;
    assert_eq!(health(), 200);
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    // The signal is handled on a thread of the server's: wait until it has turned not-ready.
    server_common::eventually(TIMEOUT, "SIGTERM turns the server not-ready", || {
        health() == 503
    });
    signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
    within(TIMEOUT, move || running.wait());
}
