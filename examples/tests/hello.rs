//! The `hello` example answers its one route and stops on SIGTERM.

mod common;

use common::Running;

#[test]
fn hello_example_says_hello_and_stops_on_sigterm() {
    let server = Running::start(env!("CARGO_BIN_EXE_hello"));
    let response = server.get("/");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with("\r\n\r\nHello, world!"), "{response}");
    assert!(server.get("/missing").starts_with("HTTP/1.1 404"));
    server.terminate();
}
