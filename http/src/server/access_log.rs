//! [`AccessLog`]: one line per request through `log`, written once the response is final
//! (after the exception handlers), in the Common or Combined Log Format or as JSON lines.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{self, HeaderName};

use crate::engine::Response;
use crate::server::request_context::RequestHead;

/// The `log` target of access lines, so that a logger can route them to a file of their own.
pub const ACCESS_LOG_TARGET: &str = "hyperf_http::access";

/// An access log for a server ([`ServerSpec::access_log`](crate::server::ServerSpec::access_log)):
/// one `info` line per request on the target [`ACCESS_LOG_TARGET`], written when the response
/// is final — after the middlewares, the exception handlers and the response draft, so a
/// request that failed is logged with the status its client gets.
///
/// Every line has the method, target, version, status, body bytes (`-` for a streamed body,
/// whose length is not known yet), the time from the request's arrival in the pipeline to its
/// final response (not counting the write), and the request id: the response's `X-Request-Id`
/// (set by the [`RequestId`](crate::server::RequestId) middleware), else the request's, else
/// `-`.
///
/// ```
/// use hyperf_http::server::{AccessLog, AccessLogFormat, RequestId, ServerSpec};
///
/// let spec = ServerSpec::new("http", "127.0.0.1", 9501)
///     .middleware_with_priority(RequestId::new(), 100)
///     .access_log(AccessLog::new(AccessLogFormat::JsonLines));
/// # let _ = spec;
/// ```
///
/// The formats, for `GET /users/1?full=yes` answered `200` with 12 bytes in 0.25 ms:
///
/// - [`Common`](AccessLogFormat::Common): the Common Log Format — the client's address
///   ([`ClientAddr`](crate::server::ClientAddr): behind trusted proxies, the forwarded one;
///   `-` for a request that did not come from a connection) first — with the duration in
///   seconds and the request id after it:
///   `192.0.2.7 - - [03/Dec/2026:08:30:00 +0000] "GET /users/1?full=yes HTTP/1.1" 200 12 0.000250 4f2a…`
/// - [`Combined`](AccessLogFormat::Combined): the same with the `Referer` and `User-Agent`
///   before the duration: `… 200 12 "-" "curl/8.5.0" 0.000250 4f2a…`
/// - [`JsonLines`](AccessLogFormat::JsonLines): one JSON object per line, with `time`
///   (RFC 3339, UTC), `client` (the address, `null` when none), `method`, `target`,
///   `version`, `status`, `bytes` (`null` when streamed), `duration_us`, `request_id`,
///   `referer` and `user_agent` (`null` when absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLog {
    format: AccessLogFormat,
}

/// How an [`AccessLog`] writes its lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// The Common Log Format, then the duration and the request id.
    #[default]
    Common,
    /// The Combined Log Format (Common + `Referer` + `User-Agent`), then the duration and the
    /// request id.
    Combined,
    /// One JSON object per line (feature `json`).
    #[cfg(feature = "json")]
    JsonLines,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl AccessLog {
    /// An access log in `format`.
    pub fn new(format: AccessLogFormat) -> Self {
        AccessLog { format }
    }

    /// Its format.
    pub fn format(&self) -> AccessLogFormat {
        self.format
    }

    /// Writes the line of one request, if `info` lines of the access target are enabled.
    pub(crate) fn record(&self, request: &RequestHead, response: &Response, elapsed: Duration) {
        if !log::log_enabled!(target: ACCESS_LOG_TARGET, log::Level::Info) {
            return;
        }
        let line = self.line(request, response, elapsed, SystemTime::now());
        log::info!(target: ACCESS_LOG_TARGET, "{line}");
    }

    /// The line of one request, answered at `now`.
    pub(crate) fn line(
        &self,
        request: &RequestHead,
        response: &Response,
        elapsed: Duration,
        now: SystemTime,
    ) -> String {
        let bytes = response.body().as_bytes().map(<[u8]>::len);
        let request_id = header_text(response.headers(), &REQUEST_ID)
            .or_else(|| header_text(request.headers(), &REQUEST_ID));
        let referer = header_text(request.headers(), &header::REFERER);
        let user_agent = header_text(request.headers(), &header::USER_AGENT);
        let target = request
            .uri
            .path_and_query()
            .map_or_else(|| request.uri.to_string(), |target| target.to_string());
        let status = response.status();
        match self.format {
            #[cfg(feature = "json")]
            AccessLogFormat::JsonLines => serde_json::json!({
                "time": rfc3339(now),
                "client": request.client.map(|client| client.ip().to_string()),
                "method": request.method.as_str(),
                "target": target,
                "version": format!("{:?}", request.version),
                "status": status.as_u16(),
                "bytes": bytes,
                "duration_us": u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                "request_id": request_id,
                "referer": referer,
                "user_agent": user_agent,
            })
            .to_string(),
            AccessLogFormat::Common | AccessLogFormat::Combined => {
                let mut line = String::with_capacity(128);
                match request.client {
                    Some(client) => {
                        let _ = write!(line, "{}", client.ip());
                    }
                    None => line.push('-'),
                }
                let _ = write!(
                    line,
                    " - - [{}] \"{} {} {:?}\" {} ",
                    clf_time(now),
                    request.method,
                    escaped(&target),
                    request.version,
                    status.as_u16(),
                );
                match bytes {
                    Some(bytes) => line.push_str(itoa::Buffer::new().format(bytes)),
                    None => line.push('-'),
                }
                if self.format == AccessLogFormat::Combined {
                    let _ = write!(
                        line,
                        " \"{}\" \"{}\"",
                        escaped(referer.unwrap_or("-")),
                        escaped(user_agent.unwrap_or("-"))
                    );
                }
                let _ = write!(
                    line,
                    " {:.6} {}",
                    elapsed.as_secs_f64(),
                    escaped(request_id.unwrap_or("-"))
                );
                line
            }
        }
    }
}

/// A header's value as text, when it is there and visible ASCII.
fn header_text<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `text` with `"` and `\` escaped, and anything outside printable ASCII as `\xHH`, so that a
/// client cannot forge or break a log line.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out
}

/// The civil date (year, month 1..=12, day 1..=31) of a count of days since 1970-01-01
/// (the proleptic Gregorian calendar, by 400-year eras).
fn civil_date(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468; // from 0000-03-01
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The date, the second of the day and the microsecond of the second (UTC) of `now`.
fn utc(now: SystemTime) -> (i64, u32, u32, u64, u32) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (year, month, day) = civil_date(i64::try_from(seconds / 86_400).unwrap_or(i64::MAX));
    (year, month, day, seconds % 86_400, since.subsec_micros())
}

/// `03/Dec/2026:08:30:00 +0000`, the Common Log Format's time.
fn clf_time(now: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, time, _) = utc(now);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[month as usize - 1],
        time / 3_600,
        time / 60 % 60,
        time % 60
    )
}

/// `2026-12-03T08:30:00.123456Z`, RFC 3339 in UTC.
#[cfg(feature = "json")]
fn rfc3339(now: SystemTime) -> String {
    let (year, month, day, time, micros) = utc(now);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        time / 3_600,
        time / 60 % 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_790), (2026, 12, 3));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }

    #[test]
    fn times_are_formatted_in_utc() {
        let at = UNIX_EPOCH + Duration::from_micros(1_796_286_600_000_250);
        assert_eq!(clf_time(at), "03/Dec/2026:08:30:00 +0000");
        #[cfg(feature = "json")]
        assert_eq!(rfc3339(at), "2026-12-03T08:30:00.000250Z");
    }

    #[test]
    fn quotes_and_control_bytes_are_escaped() {
        assert_eq!(escaped("a\"b\\c\nd"), "a\\\"b\\\\c\\x0ad");
    }
}
