//! Message framing on the wire: keep-alive, pipelining, `HEAD`, `100 Continue`, chunked bodies
//! both ways, bodies the handler ignores, HTTP/1.0 and `Connection: close`.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{Client, answer, echo_body, echo_path, get, start};
use hyperf_http::{Body, BoxError, Request, Response, StatusCode, header};

#[test]
fn pipelined_requests_in_one_write_are_answered_in_order() {
    let engine = start(echo_path());
    let mut client = Client::connect(engine.local_addr());
    let requests: String = (0..100).map(|n| get(&format!("/{n}"))).collect();
    client.send(requests);
    for n in 0..100 {
        let reply = client.response();
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.text(), format!("/{n}"));
    }
}

#[test]
fn large_responses_to_pipelined_requests_arrive_whole_and_in_order() {
    let engine = start(|request: Request| -> Result<Response, BoxError> {
        // Large enough to be written straight from the handler's bytes.
        let fill = request.uri().path().as_bytes()[1];
        Ok(Response::new(vec![fill; 100 * 1024].into()))
    });
    let mut client = Client::connect(engine.local_addr());
    client.send(format!("{}{}{}", get("/a"), get("/b"), get("/c")));
    for fill in [b'a', b'b', b'c'] {
        let reply = client.response();
        assert_eq!(reply.body.len(), 100 * 1024);
        assert!(reply.body.iter().all(|&byte| byte == fill));
    }
}

#[test]
fn header_values_and_bodies_a_handler_keeps_survive_later_pipelined_requests() {
    // What a handler keeps of a request shares the connection's read buffer; the requests
    // after it refill that buffer many times over.
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keeper = Arc::clone(&kept);
    let engine = start(move |request: Request| -> Result<Response, BoxError> {
        let tag = request.headers()["x-tag"].clone();
        keeper.lock().unwrap().push((tag, request.into_body()));
        Ok(Response::new("kept".into()))
    });
    let mut client = Client::connect(engine.local_addr());
    let requests: String = (0..300)
        .map(|n| {
            let body = format!("body {n}");
            format!(
                "POST / HTTP/1.1\r\nHost: t\r\nX-Tag: tag {n}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        })
        .collect();
    client.send(requests);
    for _ in 0..300 {
        client.response().assert_status(StatusCode::OK);
    }
    let kept = kept.lock().unwrap();
    assert_eq!(kept.len(), 300);
    for (n, (tag, body)) in kept.iter().enumerate() {
        assert_eq!(tag.as_bytes(), format!("tag {n}").as_bytes());
        assert_eq!(&body[..], format!("body {n}").as_bytes());
    }
}

#[test]
fn empty_lines_before_a_request_line_are_ignored() {
    let engine = start(echo_path());
    let mut client = Client::connect(engine.local_addr());
    // Some clients send a stray CRLF after a request's body.
    client.send(format!(
        "POST /first HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nok\r\n{}",
        get("/second")
    ));
    assert_eq!(client.response().text(), "/first");
    assert_eq!(client.response().text(), "/second");
}

#[test]
fn asterisk_and_absolute_form_targets_are_served() {
    let engine = start(|request: Request| -> Result<Response, BoxError> {
        Ok(Response::new(request.uri().to_string().into()))
    });
    let mut client = Client::connect(engine.local_addr());
    let asterisk = client.exchange("OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(asterisk.text(), "*");
    let absolute =
        client.exchange("GET http://example.test/path?q=1 HTTP/1.1\r\nHost: example.test\r\n\r\n");
    assert_eq!(absolute.text(), "http://example.test/path?q=1");
}

#[test]
fn keep_alive_connection_serves_a_second_request() {
    let engine = start(echo_path());
    let mut client = Client::connect(engine.local_addr());
    let first = client.exchange(get("/first"));
    assert_eq!(first.text(), "/first");
    assert!(!first.closes());
    let second = client.exchange(get("/second"));
    assert_eq!(second.text(), "/second");
}

#[test]
fn head_has_the_get_content_length_and_no_body() {
    let engine = start(answer("twelve bytes"));
    let mut client = Client::connect(engine.local_addr());
    // HEAD then GET in one write: the GET's response must start right after HEAD's head.
    client
        .send("HEAD /page HTTP/1.1\r\nHost: test\r\n\r\nGET /page HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = client.head_response();
    head.assert_status(StatusCode::OK);
    assert_eq!(head.header("content-length"), Some("12"));
    let get = client.response();
    get.assert_status(StatusCode::OK);
    assert_eq!(get.header("content-length"), Some("12"));
    assert_eq!(get.text(), "twelve bytes");
}

#[test]
fn head_of_a_streamed_route_sends_no_chunks() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(Response::new(Body::stream(|out| {
            out.write_all(b"never sent")
        })))
    });
    let mut client = Client::connect(engine.local_addr());
    client.send("HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = client.head_response();
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let next = client.exchange("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    assert_eq!(next.text(), "never sent");
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let engine = start(echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send(
        "POST /upload HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(client.read_exact(interim.len()), interim);
    client.send("hello");
    let reply = client.response();
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.text(), "hello");
}

#[test]
fn expect_100_continue_with_a_chunked_body_is_answered_before_the_body_is_sent() {
    let engine = start(echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send(
        "POST /upload HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
    );
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(client.read_exact(interim.len()), interim);
    client.send("5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(client.response().text(), "hello");
}

#[test]
fn unsupported_expectation_is_refused_with_417() {
    let engine = start(echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send("POST / HTTP/1.1\r\nHost: test\r\nExpect: something\r\nContent-Length: 5\r\n\r\n");
    let reply = client.response();
    reply.assert_status(StatusCode::EXPECTATION_FAILED);
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn chunked_request_body_with_extensions_and_trailers_is_decoded() {
    let engine = start(echo_body());
    let mut client = Client::connect(engine.local_addr());
    client.send(
        "POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;name=value\r\nhello\r\n\
         1 ; quoted=\"a;b\"\r\n,\r\n\
         6\r\n world\r\n\
         0\r\nChecksum: abc\r\nOther-Trailer: 1\r\n\r\n",
    );
    let reply = client.response();
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.text(), "hello, world");
    // The trailer was consumed with the body: the connection goes on.
    assert_eq!(client.exchange(get("/next")).status, 200);
}

#[test]
fn streamed_response_is_chunked_with_the_handler_headers() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        let body = Body::stream(|out| {
            for n in 0..3 {
                writeln!(out, "line {n}")?;
            }
            Ok(())
        });
        Ok(http::Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .header("x-streamed", "yes")
            .body(body)?)
    });
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange(get("/stream"));
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.header("transfer-encoding"), Some("chunked"));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.header("x-streamed"), Some("yes"));
    assert_eq!(reply.header("content-length"), None);
    assert_eq!(reply.text(), "line 0\nline 1\nline 2\n");
    // The final chunk ended the body: the connection goes on.
    assert_eq!(client.exchange(get("/after")).status, 200);
}

#[test]
fn streamed_response_to_http_10_runs_until_the_close() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(Response::new(Body::stream(|out| {
            out.write_all(b"first ")?;
            out.write_all(b"second")
        })))
    });
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.header("content-length"), None);
    assert!(reply.closes());
    // Read to the close by the client helper: the body is exactly what was written.
    assert_eq!(reply.text(), "first second");
}

#[test]
fn ignored_body_holding_a_request_gets_exactly_one_response() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let engine = start(move |_: Request| -> Result<Response, BoxError> {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new("ignored your body".into()))
    });
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut client = Client::connect(engine.local_addr());
    client.send(format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{smuggled}",
        smuggled.len()
    ));
    let reply = client.response();
    reply.assert_status(StatusCode::OK);
    client.assert_closed();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn ignored_chunked_body_holding_a_request_gets_exactly_one_response() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let engine = start(move |_: Request| -> Result<Response, BoxError> {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new("ignored your body".into()))
    });
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut client = Client::connect(engine.local_addr());
    client.send(format!(
        "POST /upload HTTP/1.1\r\nHost: test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{smuggled}\r\n0\r\n\r\n",
        smuggled.len()
    ));
    client.response().assert_status(StatusCode::OK);
    client.assert_closed();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn request_after_an_ignored_body_is_served_on_the_same_connection() {
    let engine = start(echo_path());
    let mut client = Client::connect(engine.local_addr());
    client.send("POST /first HTTP/1.1\r\nHost: test\r\nContent-Length: 7\r\n\r\nignored");
    client.send(get("/second"));
    assert_eq!(client.response().text(), "/first");
    assert_eq!(client.response().text(), "/second");
}

#[test]
fn http_10_request_is_answered_then_the_connection_closes() {
    let engine = start(answer("old"));
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange("GET / HTTP/1.0\r\n\r\n");
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.text(), "old");
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn http_10_keep_alive_request_keeps_the_connection_open() {
    let engine = start(echo_path());
    let mut client = Client::connect(engine.local_addr());
    let first = client.exchange("GET /first HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(first.text(), "/first");
    // An HTTP/1.0 client keeps the connection only when the response says so.
    assert_eq!(first.header("connection"), Some("keep-alive"));
    let second = client.exchange("GET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(second.text(), "/second");
}

#[test]
fn connection_close_request_closes_after_the_response() {
    let engine = start(answer("bye"));
    let mut client = Client::connect(engine.local_addr());
    // A pipelined request after the close is never served.
    client.send(format!(
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n{}",
        get("/never")
    ));
    let reply = client.response();
    assert_eq!(reply.text(), "bye");
    assert!(reply.closes());
    client.assert_closed();
}

#[test]
fn handler_asking_to_close_closes_after_the_response() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(http::Response::builder()
            .header(header::CONNECTION, "close")
            .body("bye".into())?)
    });
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange(get("/"));
    assert_eq!(reply.text(), "bye");
    assert!(reply.closes());
    assert_eq!(reply.count("connection"), 1);
    client.assert_closed();
}

#[test]
fn framing_headers_set_by_the_handler_are_replaced_by_the_true_ones() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(http::Response::builder()
            .header(header::CONTENT_LENGTH, "999")
            .header(header::TRANSFER_ENCODING, "chunked")
            .body("short".into())?)
    });
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange(get("/"));
    assert_eq!(reply.header("content-length"), Some("5"));
    assert_eq!(reply.count("content-length"), 1);
    assert_eq!(reply.header("transfer-encoding"), None);
    assert_eq!(reply.text(), "short");
    assert_eq!(client.exchange(get("/again")).text(), "short");
}

#[test]
fn no_content_response_has_neither_body_nor_length() {
    let engine = start(|_: Request| -> Result<Response, BoxError> {
        Ok(http::Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body("dropped".into())?)
    });
    let mut client = Client::connect(engine.local_addr());
    client.send(format!("{}{}", get("/a"), get("/b")));
    for _ in 0..2 {
        let reply = client.response();
        reply.assert_status(StatusCode::NO_CONTENT);
        assert_eq!(reply.header("content-length"), None);
        assert_eq!(reply.header("transfer-encoding"), None);
    }
}

#[test]
fn every_response_has_an_imf_fixdate_date_header() {
    let engine = start(answer("dated"));
    let mut client = Client::connect(engine.local_addr());
    let reply = client.exchange(get("/"));
    let date = reply.header("date").expect("a Date header");
    // `Sun, 06 Nov 1994 08:49:37 GMT`
    let shape: Vec<&str> = date.split(' ').collect();
    assert_eq!(date.len(), 29, "{date:?}");
    assert_eq!(shape.len(), 6, "{date:?}");
    assert!(
        ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"].contains(&shape[0]),
        "{date:?}"
    );
    assert!(shape[1].len() == 2 && shape[1].bytes().all(|b| b.is_ascii_digit()));
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    assert!(months.contains(&shape[2]), "{date:?}");
    assert!(shape[3].len() == 4 && shape[3].bytes().all(|b| b.is_ascii_digit()));
    let time: Vec<&str> = shape[4].split(':').collect();
    assert!(time.len() == 3 && time.iter().all(|part| part.len() == 2));
    assert_eq!(shape[5], "GMT");
    // And it is the time now, give or take the engine's refresh.
    let sent = httpdate::parse_http_date(date).expect("a valid HTTP date");
    let skew = SystemTime::now()
        .duration_since(sent)
        .unwrap_or_else(|early| early.duration());
    assert!(skew < Duration::from_secs(60), "Date is {skew:?} off");
}
