//! Third-party clients against the engine: ureq always, curl when it is installed.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::{echo_body, start};
use hyperf_http::{Body, BoxError, Request, Response, header};

#[test]
fn ureq_get_reads_status_headers_and_body() {
    let engine = start(|request: Request| -> Result<Response, BoxError> {
        let greeting = format!("hello from {}", request.uri().path());
        Ok(http::Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(greeting.into())?)
    });
    let response = ureq::get(&format!("http://{}/ureq", engine.local_addr()))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.into_string().unwrap(), "hello from /ureq");
}

#[test]
fn ureq_post_sends_a_body_that_is_echoed() {
    let engine = start(echo_body());
    let body = "posted by ureq ".repeat(1000);
    let response = ureq::post(&format!("http://{}/echo", engine.local_addr()))
        .send_string(&body)
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_string().unwrap(), body);
}

#[test]
fn ureq_reads_a_streamed_response() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(Response::new(Body::stream(|out| {
            for n in 0..100 {
                write!(out, "{n},")?;
            }
            Ok(())
        })))
    });
    let agent = ureq::agent();
    let url = format!("http://{}/", engine.local_addr());
    let expected: String = (0..100).map(|n| format!("{n},")).collect();
    // Twice on the agent's pooled connection: the chunked body ended where it should.
    for _ in 0..2 {
        let mut text = String::new();
        agent
            .get(&url)
            .call()
            .unwrap()
            .into_reader()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, expected);
    }
}

/// Runs curl with `args` (and a time bound), feeding it `input`; its output, or `None` when
/// curl is not installed.
fn curl(args: &[&str], input: &[u8]) -> Option<String> {
    let spawned = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            println!("curl is not installed: skipped");
            return None;
        }
        Err(error) => panic!("running curl failed: {error}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: curl may produce output before it has read all of its input.
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn curl_get_reads_the_body() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(Response::new("hello, curl".into()))
    });
    let url = format!("http://{}/", engine.local_addr());
    if let Some(body) = curl(&[&url], b"") {
        assert_eq!(body, "hello, curl");
    }
}

#[test]
fn curl_post_waiting_for_100_continue_is_echoed() {
    let engine = start(echo_body());
    let url = format!("http://{}/echo", engine.local_addr());
    let body = "c".repeat(2 * 1024 * 1024);
    // curl holds the body back until `100 Continue` arrives, for longer than its time bound:
    // without the interim response this fails.
    let args = [
        "--header",
        "Expect: 100-continue",
        "--expect100-timeout",
        "60",
        "--data-binary",
        "@-",
        &url,
    ];
    if let Some(echoed) = curl(&args, body.as_bytes()) {
        assert_eq!(echoed.len(), body.len());
        assert!(echoed == body, "the echo differs from what curl sent");
    }
}
