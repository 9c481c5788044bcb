//! The smallest server: one route.
//!
//! `cargo run --release -p examples --bin hello [-- --port 9501]`

use hyperf_http::server::{Router, Server, ServerSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = examples::flag("--port", "PORT", 9501);
    let mut router = Router::new();
    router.get("/", |_: hyperf_http::Request| "Hello, world!")?;
    let server = Server::new()
        .server(ServerSpec::new("http", "127.0.0.1", port).router(router))
        .start()?;
    println!("listening on http://{}", server.local_addr("http").unwrap());
    server.wait(); // until SIGTERM (graceful) or SIGINT (immediate)
    Ok(())
}
