//! [`ServerConfig`]: the servers and their settings from a TOML file, in the shape of Hyperf's
//! `config/autoload/server.php`. Routes, middlewares and handlers stay in code.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use crate::engine::{EngineConfig, Limits};
use crate::server::access_log::{AccessLog, AccessLogFormat};
use crate::server::client_addr::TrustedProxies;
use crate::server::process::builder::Server;
use crate::server::process::spec::ServerSpec;

/// Servers and settings read from TOML.
///
/// ```
/// use hyperf_http::server::{Router, ServerConfig};
///
/// let config = ServerConfig::from_toml(r#"
///     [settings]
///     worker_num = 2
///     max_request = 10000
///     max_wait_time = 3.0          # seconds
///     drain_delay = 5.0            # seconds not ready, still serving, before the drain
///     max_body_bytes = 1048576     # engine limits apply to every server...
///
///     [[servers]]
///     name = "http"
///     host = "127.0.0.1"
///     port = 9501
///     [servers.settings]
///     keep_alive_timeout = 30.0    # ...unless a server overrides them
///     reuse_port = true            # a new process may bind the port while this one drains
///     [servers.options]
///     enable_request_lifecycle = true
///     access_log = "combined"      # or "common", "json_lines"; absent: none
///     health_route = "/health"     # 200 while serving, 503 once draining
///     body_limit = 262144          # bytes Json/Form/Bytes/String take (default 2 MiB)
///     json_depth = 16              # levels a Json body may nest (default 32)
///     trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]  # whose X-Forwarded-For to believe
///     time_limit = 5.0             # seconds a request may take (default: no limit)
///     time_limit_status = 504      # its answer past the limit (default 503)
///     [servers.websocket]          # WebSocket routes' limits (feature `ws`)
///     max_message_size = 65536     # bytes (default 1 MiB); larger: close 1009
///     max_frame_size = 16384       # bytes (default 1 MiB)
///     idle_timeout = 30.0          # seconds of silence before a ping, as long again: close (0: none)
///     close_timeout = 2.0          # seconds a close waits for the client's reply
///     write_timeout = 10.0         # seconds one write may stall
/// "#).unwrap();
///
/// let mut router = Router::new();
/// router.get("/", |_: hyperf_http::Request| "hello").unwrap();
/// let server = config.server().server(config.spec("http").unwrap().router(router));
/// # let _ = server;
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[doc(alias = "server.php")]
pub struct ServerConfig {
    #[serde(default)]
    settings: Settings,
    servers: Vec<ServerEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    worker_num: Option<usize>,
    max_request: Option<u64>,
    /// Seconds.
    max_wait_time: Option<f64>,
    /// Seconds.
    drain_delay: Option<f64>,
    #[serde(flatten)]
    engine: EngineSettings,
}

/// Engine settings; every field optional, seconds for durations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineSettings {
    max_connections: Option<usize>,
    max_head_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_uri_bytes: Option<usize>,
    max_body_bytes: Option<usize>,
    request_timeout: Option<f64>,
    keep_alive_timeout: Option<f64>,
    write_timeout: Option<f64>,
    linger_timeout: Option<f64>,
    linger_bytes: Option<usize>,
    drain_bytes: Option<usize>,
    max_buffered_output: Option<usize>,
    reuse_port: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    name: String,
    host: String,
    port: u16,
    #[serde(default)]
    settings: EngineSettings,
    #[serde(default)]
    options: Options,
    /// WebSocket routes' limits, registered as the server's `WsConfig` state.
    #[cfg(feature = "ws")]
    websocket: Option<WebSocketSettings>,
}

/// `[servers.websocket]`: sizes in bytes, durations in seconds.
#[cfg(feature = "ws")]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebSocketSettings {
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
    /// 0: no idle timeout.
    idle_timeout: Option<f64>,
    close_timeout: Option<f64>,
    write_timeout: Option<f64>,
}

#[cfg(feature = "ws")]
impl WebSocketSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("idle_timeout", self.idle_timeout),
            ("close_timeout", self.close_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if let Some(value) = value {
                seconds(name, value)?;
            }
        }
        for (name, value) in [
            ("max_message_size", self.max_message_size),
            ("max_frame_size", self.max_frame_size),
        ] {
            if value == Some(0) {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        Ok(())
    }

    fn config(&self) -> crate::server::ws::WsConfig {
        let secs = |value: f64| Duration::try_from_secs_f64(value).unwrap_or_default();
        let mut config = crate::server::ws::WsConfig::new();
        if let Some(bytes) = self.max_message_size {
            config = config.max_message_size(bytes);
        }
        if let Some(bytes) = self.max_frame_size {
            config = config.max_frame_size(bytes);
        }
        if let Some(idle) = self.idle_timeout {
            config = config.idle_timeout((idle > 0.0).then(|| secs(idle)));
        }
        if let Some(close) = self.close_timeout {
            config = config.close_timeout(secs(close));
        }
        if let Some(write) = self.write_timeout {
            config = config.write_timeout(secs(write).max(Duration::from_millis(1)));
        }
        config
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    enable_request_lifecycle: bool,
    /// `"common"`, `"combined"` or `"json_lines"`: an access log in that format.
    access_log: Option<AccessLogFormat>,
    /// The health route's path (`ServerSpec::health_route`).
    health_route: Option<String>,
    /// Bytes the body extractors take (`ServerSpec::body_limit`).
    body_limit: Option<usize>,
    /// Levels a `Json` body may nest (`ServerSpec::json_depth`).
    json_depth: Option<usize>,
    /// The proxies whose forwarded headers are believed (`ServerSpec::trusted_proxies`).
    trusted_proxies: Option<TrustedProxies>,
    /// Seconds a request may take (`ServerSpec::time_limit`).
    time_limit: Option<f64>,
    /// The status of a request past it (`ServerSpec::time_limit_status`).
    time_limit_status: Option<u16>,
}

/// Why a configuration was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The TOML is malformed or does not have the expected shape (unknown keys included).
    Parse(String),
    /// A value is out of range.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io(e) => write!(f, "could not read the server configuration: {e}"),
            ConfigError::Parse(e) => write!(f, "invalid server configuration: {e}"),
            ConfigError::Invalid(e) => write!(f, "invalid server configuration: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

fn seconds(name: &str, value: f64) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        ConfigError::Invalid(format!(
            "{name} must be a non-negative number of seconds, not {value}"
        ))
    })
}

impl EngineSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("request_timeout", self.request_timeout),
            ("keep_alive_timeout", self.keep_alive_timeout),
            ("write_timeout", self.write_timeout),
            ("linger_timeout", self.linger_timeout),
        ] {
            if let Some(value) = value {
                seconds(name, value)?;
            }
        }
        Ok(())
    }

    /// `base` with these settings (then `over`'s) applied.
    fn apply(&self, mut config: EngineConfig) -> EngineConfig {
        let mut limits: Limits = config.limits.clone();
        if let Some(v) = self.max_head_bytes {
            limits = limits.max_head_bytes(v);
        }
        if let Some(v) = self.max_headers {
            limits = limits.max_headers(v);
        }
        if let Some(v) = self.max_uri_bytes {
            limits = limits.max_uri_bytes(v);
        }
        if let Some(v) = self.max_body_bytes {
            limits = limits.max_body_bytes(v);
        }
        config = config.limits(limits);
        if let Some(v) = self.max_connections {
            config = config.max_connections(v);
        }
        // Validated when parsed.
        let duration = |v: f64| Duration::try_from_secs_f64(v).unwrap_or_default();
        if let Some(v) = self.request_timeout {
            config = config.request_timeout(duration(v));
        }
        if let Some(v) = self.keep_alive_timeout {
            config = config.keep_alive_timeout(duration(v));
        }
        if let Some(v) = self.write_timeout {
            config = config.write_timeout(duration(v));
        }
        if let Some(v) = self.linger_timeout {
            config = config.linger_timeout(duration(v));
        }
        if let Some(v) = self.linger_bytes {
            config = config.linger_bytes(v);
        }
        if let Some(v) = self.drain_bytes {
            config = config.drain_bytes(v);
        }
        if let Some(v) = self.max_buffered_output {
            config = config.max_buffered_output(v);
        }
        if let Some(v) = self.reuse_port {
            config = config.reuse_port(v);
        }
        config
    }
}

impl ServerConfig {
    /// Parses and checks a configuration.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: ServerConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        if config.servers.is_empty() {
            return Err(ConfigError::Invalid("no [[servers]] entry".into()));
        }
        if let Some(v) = config.settings.max_wait_time {
            seconds("max_wait_time", v)?;
        }
        if let Some(v) = config.settings.drain_delay {
            seconds("drain_delay", v)?;
        }
        if config.settings.worker_num == Some(0) {
            return Err(ConfigError::Invalid("worker_num must be at least 1".into()));
        }
        config.settings.engine.validate()?;
        for (i, server) in config.servers.iter().enumerate() {
            server.settings.validate()?;
            #[cfg(feature = "ws")]
            if let Some(websocket) = &server.websocket {
                websocket.validate()?;
            }
            if let Some(limit) = server.options.time_limit {
                seconds("time_limit", limit)?;
            }
            if let Some(status) = server.options.time_limit_status
                && !(100..=599).contains(&status)
            {
                return Err(ConfigError::Invalid(format!(
                    "time_limit_status = {status} is not an HTTP status (100 to 599)"
                )));
            }
            if config.servers[..i].iter().any(|s| s.name == server.name) {
                return Err(ConfigError::Invalid(format!(
                    "two servers are named {:?}",
                    server.name
                )));
            }
        }
        Ok(config)
    }

    /// Reads and parses a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(ConfigError::Io)?;
        Self::from_toml(&text)
    }

    /// A [`Server`] with the global settings applied (add the specs with
    /// [`spec`](Self::spec)).
    pub fn server(&self) -> Server {
        let settings = &self.settings;
        let mut server = Server::new().engine(settings.engine.apply(EngineConfig::default()));
        if let Some(workers) = settings.worker_num {
            server = server.worker_num(workers);
        }
        if let Some(requests) = settings.max_request {
            server = server.max_request(requests);
        }
        if let Some(wait) = settings.max_wait_time {
            server = server.max_wait_time(Duration::try_from_secs_f64(wait).unwrap_or_default());
        }
        if let Some(delay) = settings.drain_delay {
            server = server.drain_delay(Duration::try_from_secs_f64(delay).unwrap_or_default());
        }
        server
    }

    /// The spec of the server named `name`: its address, engine settings (global, then its
    /// own) and options. Add its routes and middlewares in code.
    pub fn spec(&self, name: &str) -> Option<ServerSpec> {
        let entry = self.servers.iter().find(|s| s.name == name)?;
        let engine = entry
            .settings
            .apply(self.settings.engine.apply(EngineConfig::default()));
        let mut spec = ServerSpec::new(&entry.name, &entry.host, entry.port)
            .engine(engine)
            .enable_request_lifecycle(entry.options.enable_request_lifecycle);
        if let Some(format) = entry.options.access_log {
            spec = spec.access_log(AccessLog::new(format));
        }
        if let Some(path) = &entry.options.health_route {
            spec = spec.health_route(path.clone());
        }
        if let Some(bytes) = entry.options.body_limit {
            spec = spec.body_limit(bytes);
        }
        if let Some(levels) = entry.options.json_depth {
            spec = spec.json_depth(levels);
        }
        if let Some(proxies) = &entry.options.trusted_proxies {
            spec = spec.trusted_proxies(proxies.clone());
        }
        if let Some(limit) = entry.options.time_limit {
            spec = spec.time_limit(Duration::try_from_secs_f64(limit).unwrap_or_default());
        }
        if let Some(status) = entry.options.time_limit_status {
            // Checked when the file was read.
            if let Ok(status) = StatusCode::from_u16(status) {
                spec = spec.time_limit_status(status);
            }
        }
        #[cfg(feature = "ws")]
        if let Some(websocket) = &entry.websocket {
            spec = spec.state(websocket.config());
        }
        Some(spec)
    }

    /// The servers' names, in the file's order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.servers.iter().map(|s| s.name.as_str())
    }
}
