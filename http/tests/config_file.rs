//! The TOML server configuration: its shape, its checks, and what it sets.

use std::time::Duration;

use hyperf_http::server::{AccessLogFormat, ConfigError, ServerConfig};
use hyperf_http::{EngineConfig, Limits};

const FULL: &str = r#"
[settings]
worker_num = 3
max_request = 100
max_wait_time = 1.5
max_body_bytes = 1024
request_timeout = 2.0

[[servers]]
name = "http"
host = "127.0.0.1"
port = 9501
[servers.settings]
keep_alive_timeout = 5.0
[servers.options]
enable_request_lifecycle = true
access_log = "json_lines"

[[servers]]
name = "admin"
host = "127.0.0.1"
port = 9502
"#;

#[test]
fn a_full_configuration_lists_its_servers_in_order() {
    let config = ServerConfig::from_toml(FULL).unwrap();
    assert_eq!(config.names().collect::<Vec<_>>(), ["http", "admin"]);
    assert!(config.spec("http").is_some());
    assert!(config.spec("missing").is_none());
}

#[test]
fn a_server_gets_the_global_engine_settings_then_its_own() {
    let config = ServerConfig::from_toml(FULL).unwrap();
    let global = EngineConfig::default()
        .limits(Limits::default().max_body_bytes(1024))
        .request_timeout(Duration::from_secs(2));
    let admin = config.spec("admin").unwrap();
    assert_eq!(admin.engine_config(), Some(&global));
    assert!(!admin.request_lifecycle());
    let http = config.spec("http").unwrap();
    let own = global.keep_alive_timeout(Duration::from_secs(5));
    assert_eq!(http.engine_config(), Some(&own));
    assert!(http.request_lifecycle());
}

#[test]
fn unknown_keys_are_refused() {
    let text = FULL.replace("max_request = 100", "max_requests = 100");
    assert!(matches!(
        ServerConfig::from_toml(&text),
        Err(ConfigError::Parse(_))
    ));
}

#[test]
fn a_negative_duration_is_refused() {
    let text = FULL.replace("max_wait_time = 1.5", "max_wait_time = -1.0");
    assert!(matches!(
        ServerConfig::from_toml(&text),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn a_configuration_without_servers_is_refused() {
    assert!(matches!(
        ServerConfig::from_toml("[settings]\nworker_num = 1\nservers = []\n"),
        Err(ConfigError::Parse(_) | ConfigError::Invalid(_))
    ));
    assert!(matches!(
        ServerConfig::from_toml("servers = []"),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn two_servers_with_one_name_are_refused() {
    let text = FULL.replace("name = \"admin\"", "name = \"http\"");
    assert!(matches!(
        ServerConfig::from_toml(&text),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn zero_workers_are_refused() {
    let text = FULL.replace("worker_num = 3", "worker_num = 0");
    assert!(matches!(
        ServerConfig::from_toml(&text),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn a_missing_file_is_an_io_error() {
    assert!(matches!(
        ServerConfig::from_file("no/such/server.toml"),
        Err(ConfigError::Io(_))
    ));
}

#[test]
fn the_lingering_close_is_set_from_the_settings() {
    let text = FULL.replace(
        "request_timeout = 2.0",
        "request_timeout = 2.0\nlinger_timeout = 0.5\nlinger_bytes = 4096",
    );
    let config = ServerConfig::from_toml(&text).unwrap();
    let expected = EngineConfig::default()
        .limits(Limits::default().max_body_bytes(1024))
        .request_timeout(Duration::from_secs(2))
        .linger_timeout(Duration::from_millis(500))
        .linger_bytes(4096);
    assert_eq!(
        config.spec("admin").unwrap().engine_config(),
        Some(&expected)
    );
}

#[test]
fn a_negative_linger_timeout_is_refused() {
    let text = FULL.replace("request_timeout = 2.0", "linger_timeout = -1.0");
    assert!(matches!(
        ServerConfig::from_toml(&text),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn an_access_log_is_set_from_the_options() {
    let config = ServerConfig::from_toml(FULL).unwrap();
    assert_eq!(
        config.spec("http").unwrap().access_log_format(),
        Some(AccessLogFormat::JsonLines)
    );
    assert_eq!(config.spec("admin").unwrap().access_log_format(), None);
}

#[test]
fn an_unknown_access_log_format_is_refused() {
    let text = FULL.replace(r#"access_log = "json_lines""#, r#"access_log = "apache""#);
    assert!(matches!(
        ServerConfig::from_toml(&text),
        Err(ConfigError::Parse(_))
    ));
}

#[test]
fn the_drain_bound_of_unread_streamed_bodies_is_set_from_the_settings() {
    let text = FULL.replace(
        "request_timeout = 2.0",
        "request_timeout = 2.0\ndrain_bytes = 512",
    );
    let config = ServerConfig::from_toml(&text).unwrap();
    let expected = EngineConfig::default()
        .limits(Limits::default().max_body_bytes(1024))
        .request_timeout(Duration::from_secs(2))
        .drain_bytes(512);
    assert_eq!(
        config.spec("admin").unwrap().engine_config(),
        Some(&expected)
    );
}

#[test]
fn reuse_port_is_set_from_the_settings() {
    let text = FULL.replace(
        "request_timeout = 2.0",
        "request_timeout = 2.0\nreuse_port = true",
    );
    let config = ServerConfig::from_toml(&text).unwrap();
    let expected = EngineConfig::default()
        .limits(Limits::default().max_body_bytes(1024))
        .request_timeout(Duration::from_secs(2))
        .reuse_port(true);
    assert_eq!(
        config.spec("admin").unwrap().engine_config(),
        Some(&expected)
    );
}
