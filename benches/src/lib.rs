//! What the benchmarks share: the "full pipeline" server of the HTTP benches — 50 routes, two
//! global middlewares, lifecycle events on — so the socket harness and the pipeline
//! micro-benchmark measure the same thing.

pub mod load;

use hyperf_http::header::HeaderName;
use hyperf_http::server::{Next, Router, ServerSpec};
use hyperf_http::{BoxError, HeaderValue, Request, Response};

/// The body every hello route answers.
pub const HELLO: &str = "Hello, world!";

/// The header the second middleware adds, named once, as a careful user writes it:
/// `HeaderMap::insert("x-served-by", ..)` would parse and validate the name on every request
/// (≈45 ns a request in this bench's profile: the `http` crate's cost, not the server's).
const SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// The hello route among 49 others (static and with parameters), two global middlewares and
/// lifecycle events on.
pub fn full_pipeline_spec(name: &str, host: &str, port: u16) -> ServerSpec {
    let mut router = Router::new();
    for n in 0..24 {
        router
            .get(&format!("/static/{n}"), |_: Request| "static")
            .expect("distinct routes");
        router
            .get(&format!("/dynamic/{n}/{{id:\\d+}}"), |_: Request| "dynamic")
            .expect("distinct routes");
    }
    router
        .get("/other", |_: Request| "other")
        .expect("distinct routes");
    router
        .get("/hello", |_: Request| {
            let mut response = Response::new(HELLO.into());
            response.headers_mut().insert(
                hyperf_http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain"),
            );
            response
        })
        .expect("distinct routes");
    ServerSpec::new(name, host, port)
        .router(router)
        .middleware(
            |request: Request, next: Next<'_>| -> Result<Response, BoxError> { next.run(request) },
        )
        .middleware(
            |request: Request, next: Next<'_>| -> Result<Response, BoxError> {
                let mut response = next.run(request)?;
                response
                    .headers_mut()
                    .insert(SERVED_BY, HeaderValue::from_static("bench"));
                Ok(response)
            },
        )
        .enable_request_lifecycle(true)
}

/// Prints, for each criterion group named in `groups`, every benchmark's mean beside the
/// group's `baseline_*` one and their ratio — read back from criterion's saved estimates, so it
/// shows what this run (or the last run that measured the group) found.
pub fn print_ratios(groups: &[&str]) {
    let Some(root) = criterion_directory() else {
        return;
    };
    println!(
        "\n{:<34} {:<34} {:>12} {:>12} {:>7}",
        "group", "benchmark", "mean", "baseline", "ratio"
    );
    for group in groups {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        let mut means: Vec<(String, f64)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(e.path().join("new/estimates.json")).ok()?;
                let json: serde_json::Value = serde_json::from_str(&text).ok()?;
                Some((name, json["mean"]["point_estimate"].as_f64()?))
            })
            .collect();
        means.sort_by(|a, b| a.0.cmp(&b.0));
        let Some(&(_, baseline)) = means.iter().find(|(n, _)| n.starts_with("baseline")) else {
            continue;
        };
        for (name, mean) in means.iter().filter(|(n, _)| !n.starts_with("baseline")) {
            println!(
                "{group:<34} {name:<34} {:>12} {:>12} {:>6.2}x",
                nanos(*mean),
                nanos(baseline),
                mean / baseline
            );
        }
    }
}

fn nanos(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{:.2} ms", v / 1e6),
        v if v >= 1e3 => format!("{:.2} µs", v / 1e3),
        v => format!("{v:.2} ns"),
    }
}

/// Where criterion keeps its results: `target/criterion` of this workspace.
fn criterion_directory() -> Option<std::path::PathBuf> {
    if let Ok(home) = std::env::var("CRITERION_HOME") {
        return Some(home.into());
    }
    if let Ok(target) = std::env::var("CARGO_TARGET_DIR") {
        return Some(std::path::Path::new(&target).join("criterion"));
    }
    // The bench runs from target/<profile>/deps/.
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("criterion"))
}
