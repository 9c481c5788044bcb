//! A process whose `metrics` recorder is someone else's: a server with a metrics route refuses
//! to start, with an error rather than a panic. A binary of its own, as a process has one
//! recorder.
#![cfg(feature = "metrics")]

mod server_common;

use std::sync::Once;

use hyperf_http::server::ServerError;
use server_common::{server, spec, start, stop};

/// Installs a recorder that is not the server's, once for the binary's tests.
fn install_another_recorder() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        metrics::set_global_recorder(metrics::NoopRecorder)
            .expect("no recorder is installed before this one");
    });
}

#[test]
fn a_metrics_route_beside_another_recorder_fails_the_start() {
    install_another_recorder();
    let refused = server()
        .server(spec("metered").metrics_route("/metrics"))
        .start();
    match refused {
        Err(error @ ServerError::Metrics(_)) => {
            assert!(error.to_string().contains("recorder"), "{error}");
        }
        other => panic!("expected ServerError::Metrics, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn a_server_without_a_metrics_route_starts_beside_another_recorder() {
    install_another_recorder();
    let running = start(server().server(spec("plain")));
    stop(running);
}
