//! A bounded, paced HTTP/1.1 load over keep-alive connections that counts every request's
//! fate: the client of `deploy/rolling-restart.sh`, which restarts servers under it.
//!
//! `load --target 127.0.0.1:8080 [--rate 400] [--connections 8] [--seconds 20]`
//!
//! Each connection sends its share of `--rate` requests per second, alternating
//! `GET /users/{n}` and `POST /users` (a JSON body), waits for each answer (at most 1 s) and
//! reconnects when a response says `Connection: close` or the connection fails. A request is
//! never retried: a reset, an end of stream before the whole response, a refused connect, a
//! timeout and a status outside 2xx each count as one failed request. At the end it prints
//! the totals and one line `sent=… ok=… failed=… longest_gap_ms=… slowest_ms=…` for scripts.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long a request may take, connect included, before it counts as failed.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

const POST_BODY: &str = r#"{"name":"ada"}"#;

struct Settings {
    target: SocketAddr,
    rate: u32,
    connections: u32,
    duration: Duration,
}

/// What one connection's thread saw.
#[derive(Default)]
struct Tally {
    gets: u64,
    posts: u64,
    /// When each 2xx answer arrived, since the start.
    answered_at: Vec<Duration>,
    failures: BTreeMap<String, u64>,
    slowest: Duration,
}

fn main() {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(message) => {
            #[allow(
                clippy::print_stderr,
                reason = "a usage error, for the person running it"
            )]
            {
                eprintln!("load: {message}");
            }
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let threads: Vec<_> = (0..settings.connections)
        .map(|n| {
            let (target, duration) = (settings.target, settings.duration);
            // Each connection sends every `interval`, the connections evenly staggered.
            let interval = Duration::from_secs(1) * settings.connections / settings.rate;
            let offset = interval * n / settings.connections;
            std::thread::spawn(move || drive(target, start, duration, interval, offset, n))
        })
        .collect();
    let mut total = Tally::default();
    for thread in threads {
        let tally = thread.join().expect("a load thread panicked");
        total.gets += tally.gets;
        total.posts += tally.posts;
        total.answered_at.extend(tally.answered_at);
        for (reason, count) in tally.failures {
            *total.failures.entry(reason).or_default() += count;
        }
        total.slowest = total.slowest.max(tally.slowest);
    }
    report(&total, settings.duration);
}

fn settings() -> Result<Settings, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: u32| -> Result<u32, String> {
        value(name).map_or(Ok(default), |raw| {
            raw.parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{name}: {raw:?} is not a positive number"))
        })
    };
    let raw_target = value("--target").ok_or("--target HOST:PORT is required")?;
    let target = raw_target
        .to_socket_addrs()
        .ok()
        .and_then(|mut all| all.next())
        .ok_or(format!("--target: cannot resolve {raw_target:?}"))?;
    let rate = number("--rate", 400)?;
    let connections = number("--connections", 8)?;
    if connections > rate {
        return Err("--connections must not exceed --rate".into());
    }
    Ok(Settings {
        target,
        rate,
        connections,
        duration: Duration::from_secs(number("--seconds", 20)?.into()),
    })
}

/// One connection's loop: a request every `interval` until `duration` has passed.
fn drive(
    target: SocketAddr,
    start: Instant,
    duration: Duration,
    interval: Duration,
    offset: Duration,
    n: u32,
) -> Tally {
    let mut tally = Tally::default();
    let mut connection: Option<BufReader<TcpStream>> = None;
    let mut next = offset;
    let mut sequence = 0u64;
    while next < duration {
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        // Behind schedule (a slow answer): the next request goes at once, no burst to catch up.
        next = next.max(start.elapsed().saturating_sub(interval)) + interval;
        sequence += 1;
        let post = sequence % 2 == 0;
        let request = if post {
            tally.posts += 1;
            format!(
                "POST /users HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{POST_BODY}",
                POST_BODY.len()
            )
        } else {
            tally.gets += 1;
            format!("GET /users/{n} HTTP/1.1\r\nHost: load\r\n\r\n")
        };
        let began = Instant::now();
        match exchange(&mut connection, target, request.as_bytes()) {
            Ok((status, keep_open)) => {
                tally.slowest = tally.slowest.max(began.elapsed());
                if !keep_open {
                    connection = None;
                }
                if (200..300).contains(&status) {
                    tally.answered_at.push(start.elapsed());
                } else {
                    let method = if post { "POST" } else { "GET" };
                    *tally
                        .failures
                        .entry(format!("{method} answered {status}"))
                        .or_default() += 1;
                }
            }
            Err(failure) => {
                tally.slowest = tally.slowest.max(began.elapsed());
                connection = None;
                let method = if post { "POST" } else { "GET" };
                *tally
                    .failures
                    .entry(format!("{method} {failure}"))
                    .or_default() += 1;
            }
        }
    }
    tally
}

/// Sends `request` on the open connection (or a new one) and reads its response: the status
/// and whether the connection stays open; else what went wrong, in a few words.
fn exchange(
    connection: &mut Option<BufReader<TcpStream>>,
    target: SocketAddr,
    request: &[u8],
) -> Result<(u16, bool), String> {
    if connection.is_none() {
        let stream = TcpStream::connect_timeout(&target, ANSWER_WITHIN)
            .map_err(|error| format!("connect failed ({})", kind(&error)))?;
        stream
            .set_read_timeout(Some(ANSWER_WITHIN))
            .and_then(|()| stream.set_write_timeout(Some(ANSWER_WITHIN)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|error| format!("socket setup failed ({})", kind(&error)))?;
        *connection = Some(BufReader::new(stream));
    }
    let reader = connection.as_mut().expect("connected above");
    reader
        .get_mut()
        .write_all(request)
        .map_err(|error| format!("write failed ({})", kind(&error)))?;
    read_response(reader).map_err(|error| format!("no whole response ({})", kind(&error)))
}

/// Reads one response (`Content-Length` or chunked body): its status and whether the
/// connection stays open.
fn read_response(reader: &mut BufReader<TcpStream>) -> io::Result<(u16, bool)> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if head.len() > 64 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let parsed = response
        .parse(&head)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
    if parsed.is_partial() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "partial head"));
    }
    let status = response.code.unwrap_or(0);
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let closes = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
        || response.version == Some(0);
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?;
    } else {
        let length: u64 = header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let copied = io::copy(&mut reader.by_ref().take(length), &mut io::sink())?;
        if copied < length {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok((status, !closes))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<()> {
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = line.trim().split(';').next().unwrap_or("");
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // The trailer section, up to its empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if line == "\r\n" {
                    return Ok(());
                }
            }
        }
        // The chunk and its CRLF.
        let copied = io::copy(&mut reader.by_ref().take(size + 2), &mut io::sink())?;
        if copied < size + 2 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// A failure's kind in the words of the summary.
fn kind(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::ConnectionReset => "reset",
        io::ErrorKind::BrokenPipe => "broken pipe",
        io::ErrorKind::UnexpectedEof => "closed early",
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out",
        io::ErrorKind::InvalidData => "malformed",
        _ => "other error",
    }
}

#[allow(clippy::print_stdout, reason = "the report is the program's output")]
fn report(total: &Tally, duration: Duration) {
    let mut answered = total.answered_at.clone();
    answered.sort_unstable();
    // The longest stretch without a 2xx answer, the run's start and end included.
    let longest_gap = std::iter::once(Duration::ZERO)
        .chain(answered.iter().copied())
        .chain(std::iter::once(duration))
        .collect::<Vec<_>>()
        .windows(2)
        .map(|pair| pair[1].saturating_sub(pair[0]))
        .max()
        .unwrap_or(duration);
    let sent = total.gets + total.posts;
    let failed: u64 = total.failures.values().sum();
    println!(
        "requests sent: {sent} ({} GET, {} POST)",
        total.gets, total.posts
    );
    println!("answered 2xx:  {}", answered.len());
    println!("failed:        {failed}");
    for (reason, count) in &total.failures {
        println!("  {count:>6}  {reason}");
    }
    println!(
        "longest gap without a 2xx answer: {} ms",
        longest_gap.as_millis()
    );
    println!("slowest answer: {} ms", total.slowest.as_millis());
    println!(
        "sent={sent} ok={} failed={failed} longest_gap_ms={} slowest_ms={}",
        answered.len(),
        longest_gap.as_millis(),
        total.slowest.as_millis()
    );
}
