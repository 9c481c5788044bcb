//! The client's address over real connections: the peer, forwarded headers believed only from
//! trusted proxies (in code and TOML), the request's head, the access log, and a request that
//! did not come from a connection.

mod server_common;

use hyperf_http::server::{
    ACCESS_LOG_TARGET, AccessLog, AccessLogFormat, ClientAddr, RequestContext, Router, ServerSpec,
    TrustedProxies,
};
use hyperf_http::{Bytes, Incoming, Request};
use server_common::{connect_to, request, server, spec, start, stop};
use test_support::{messages_of, record_logs};

/// `/whoami` answers `ip port scheme direct`; `/head` the client of the request's head.
fn router() -> Router {
    let mut router = Router::new();
    router
        .get("/whoami", |client: ClientAddr| {
            format!(
                "{} {} {} {}",
                client.ip(),
                client
                    .port()
                    .map_or("-".to_string(), |port| port.to_string()),
                client.scheme(),
                client.is_direct()
            )
        })
        .unwrap();
    router
        .get("/head", || {
            RequestContext::request()
                .and_then(|head| head.client)
                .map_or("none".to_string(), |client| client.to_string())
        })
        .unwrap();
    router
}

/// The answer to `GET path` with `headers` from a server built from `spec`.
fn ask(spec: ServerSpec, path: &str, headers: &[(&str, &str)]) -> (String, u16) {
    let running = start(server().server(spec.router(router())));
    let mut client = connect_to(&running, "http");
    let port = client.local_addr().port();
    let reply = client.exchange(request("GET", path, headers));
    stop(running);
    (reply.text(), port)
}

#[test]
fn a_direct_client_is_the_connections_peer() {
    let (answer, port) = ask(spec("http"), "/whoami", &[]);
    assert_eq!(answer, format!("127.0.0.1 {port} http true"));
}

#[test]
fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let spoofed = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "https"),
        ("Forwarded", "for=198.51.100.1;proto=https"),
    ];
    let (answer, port) = ask(spec("http"), "/whoami", &spoofed);
    assert_eq!(answer, format!("127.0.0.1 {port} http true"));
}

#[test]
fn a_trusted_proxy_forwards_the_client_and_its_scheme() {
    let trusted = spec("http").trusted_proxies("127.0.0.1".parse().unwrap());
    let headers = [
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Proto", "https"),
    ];
    let (answer, _) = ask(trusted, "/whoami", &headers);
    assert_eq!(answer, "203.0.113.9 - https false");
}

#[test]
fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
    let trusted = spec("http").trusted_proxies("127.0.0.0/8, 10.0.0.0/8".parse().unwrap());
    let headers = [("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 10.0.0.7")];
    let (answer, _) = ask(trusted, "/whoami", &headers);
    assert_eq!(answer, "203.0.113.9 - http false");
}

#[test]
fn the_requests_head_carries_its_client() {
    let trusted = spec("http").trusted_proxies("127.0.0.1".parse().unwrap());
    let headers = [("Forwarded", r#"for="[2001:db8::17]:4711""#)];
    let (answer, _) = ask(trusted, "/head", &headers);
    assert_eq!(answer, "[2001:db8::17]:4711");
}

#[test]
fn the_access_log_names_the_forwarded_client() {
    record_logs();
    let logged = spec("http")
        .trusted_proxies("127.0.0.1".parse().unwrap())
        .access_log(AccessLog::new(AccessLogFormat::Common));
    ask(
        logged,
        "/whoami?client_log_marker",
        &[("X-Forwarded-For", "203.0.113.44")],
    );
    let lines = messages_of(ACCESS_LOG_TARGET, "client_log_marker");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("203.0.113.44 - - ["), "{}", lines[0]);
}

#[test]
fn the_access_log_names_a_direct_client() {
    record_logs();
    let logged = spec("http").access_log(AccessLog::new(AccessLogFormat::Combined));
    ask(
        logged,
        "/whoami?direct_log_marker",
        &[("X-Forwarded-For", "203.0.113.44")],
    );
    let lines = messages_of(ACCESS_LOG_TARGET, "direct_log_marker");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{}", lines[0]);
}

#[cfg(feature = "toml")]
#[test]
fn trusted_proxies_are_read_from_toml() {
    let config = hyperf_http::server::ServerConfig::from_toml(
        r#"
        [[servers]]
        name = "http"
        host = "127.0.0.1"
        port = 0
        [servers.options]
        trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]
        "#,
    )
    .unwrap();
    let trusted = config.spec("http").unwrap();
    let (answer, _) = ask(trusted, "/whoami", &[("X-Forwarded-For", "203.0.113.9")]);
    assert_eq!(answer, "203.0.113.9 - http false");
}

#[cfg(feature = "toml")]
#[test]
fn a_trusted_proxy_that_is_not_a_network_is_a_configuration_error() {
    let refused = hyperf_http::server::ServerConfig::from_toml(
        r#"
        [[servers]]
        name = "http"
        host = "127.0.0.1"
        port = 0
        [servers.options]
        trusted_proxies = ["10.0.0.0/33"]
        "#,
    );
    let message = refused.unwrap_err().to_string();
    assert!(message.contains("10.0.0.0/33"), "{message}");
}

fn whoami() -> Request {
    let mut request = Request::new(Bytes::new());
    *request.uri_mut() = "/whoami".parse().unwrap();
    request
}

#[test]
fn a_request_that_did_not_come_from_a_connection_has_no_client_address() {
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .router(router())
        .into_service();
    let response = service.call(whoami().into()).unwrap();
    assert_eq!(response.status(), 500);
}

#[test]
fn an_in_process_request_can_be_given_its_addresses() {
    let service = ServerSpec::new("http", "127.0.0.1", 0)
        .trusted_proxies(TrustedProxies::none())
        .router(router())
        .into_service();
    let incoming = Incoming::from(whoami()).with_addresses(
        "192.0.2.5:4000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
    );
    let response = service.call(incoming).unwrap();
    assert_eq!(
        response.body().as_bytes(),
        Some(&b"192.0.2.5 4000 http true"[..])
    );
}

#[cfg(feature = "json")]
#[test]
fn a_json_access_line_carries_the_client() {
    record_logs();
    let logged = spec("http").access_log(AccessLog::new(AccessLogFormat::JsonLines));
    ask(logged, "/whoami?json_client_marker", &[]);
    let lines = messages_of(ACCESS_LOG_TARGET, "json_client_marker");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["client"], "127.0.0.1");
}
