//! Raw `may_minihttp` hello world: the speed baseline the HTTP benches compare against.
//!
//! `cargo run --release -p examples --bin minihttp_baseline [-- --port 9502]`

use std::io;

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(
        &mut self,
        _request: Request<'_, '_, '_>,
        response: &mut Response<'_>,
    ) -> io::Result<()> {
        response.header("Content-Type: text/plain");
        response.body("Hello, world!");
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    may::config().set_worker_pin(false);
    let port = examples::flag("--port", "PORT", 9502u16);
    // may_minihttp cannot report the port the OS picks for 0: find a free one first.
    let port = if port == 0 {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        port
    };
    let server = HttpServer(Hello).start(("127.0.0.1", port))?;
    println!("listening on http://127.0.0.1:{port}");
    server.join().map_err(|_| "the server coroutine panicked")?;
    Ok(())
}
